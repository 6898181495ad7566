"""Rules about the bot's own presence in chats: who may bring it in, and what it says where it
cannot read. Adapters ask these; they don't decide themselves."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.i18n import _, translator
from storage import people as people_repo
from storage.models import RoleName

MAY_INVITE_ROLES = {RoleName.ADMIN, RoleName.HEAD, RoleName.LIAISON}


async def may_add_bot(
    *, session: AsyncSession, config: CoreConfig, platform: str, user_id: str, direct: bool
) -> bool:
    """Admins, heads and liaisons may bring the bot into any chat; for a direct chat, anyone the bot
    already knows (a resident who wrote in a bound chat) may too. Strangers may not."""
    if f"{platform}:{user_id}" in config.admins:
        return True
    account = await people_repo.get_account(session=session, platform=platform, user_id=user_id)
    if account is None:
        return False
    if direct:
        return True
    roles = await people_repo.roles_of(session=session, person_id=account.person_id)
    return any(role.role in MAY_INVITE_ROLES for role in roles)


async def announce_unreadable_chat(
    *, session: AsyncSession, config: CoreConfig, platform: str, chat_id: str, title: str, now: datetime
) -> None:
    """An end-to-end encrypted chat: never ignored silently — say so there, and tell every admin. Once."""
    tr = translator(config.language)
    await outbox.to_chat(
        session=session, key=f"unreadable:{platform}:{chat_id}", purpose="unreadable", platform=platform,
        chat_id=chat_id, now=now, private=False,
        text=tr(_(
            "这个房间开启了端到端加密，机器人无法读取加密消息，所以不会处理这里的任何留言。"
            "请使用未加密的房间，或私信联络员。"
        )),
    )
    for key in sorted(config.admins):
        admin_platform, _sep, admin_id = key.partition(":")
        account = await people_repo.ensure_account(
            session=session, platform=admin_platform, user_id=admin_id, display_name=None, now=now, touch=False
        )
        await outbox.to_person(
            session=session, key=f"unreadable:{platform}:{chat_id}:admin:{account.person_id}", purpose="unreadable",
            person_id=account.person_id, now=now,
            text=tr(_("机器人在加密房间「{room}」（{room_id}）中无法读取消息，请改用未加密的房间。"),
                    room=title, room_id=chat_id),
        )
