"""Rules about the bot's own presence in chats: who may bring it in, and whom it tells about a
message it could not read. Adapters ask these; they don't decide themselves."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.i18n import _, translator
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import ChatPurpose, RoleName, Station
from storage.rows import id_of

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


async def report_unreadable_message(
    *, session: AsyncSession, config: CoreConfig, platform: str, chat_id: str, chat_title: str, sender: str,
    sent_at: datetime, message_id: str, now: datetime,
) -> None:
    """An encrypted message the bot never got the key for: it was not handled, so the people who
    can ask for it again are told — the station's staff chats, or the admins when the chat belongs
    to no station. Once per message."""
    binding = await stations_repo.get_binding(session=session, platform=platform, chat_id=chat_id)
    station = await session.get(Station, binding.station_id) if binding is not None else None
    zone = ZoneInfo(station.timezone if station else config.timezone)
    tr = translator(station.language if station and station.language else config.language)
    text = tr(
        _("「{room}」里 {sender} 在 {time} 发的一条加密消息，机器人一直没有收到它的密钥，无法读取，所以没有处理。"
          "请联系对方重新发送。"),
        room=chat_title, sender=sender, time=sent_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    )
    key = f"unreadable:{platform}:{message_id}"
    staff = (
        await stations_repo.bindings_of(session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
        if station is not None else []
    )
    for chat in staff:
        await outbox.to_chat(
            session=session, key=f"{key}:chat:{chat.id}", purpose="unreadable", platform=chat.platform,
            chat_id=chat.chat_id, text=text, now=now, station_id=station.id if station else None,
        )
    if not staff:
        await outbox.to_admins(session=session, admins=config.admins, key=f"{key}:admin", purpose="unreadable",
                               text=text, now=now)
