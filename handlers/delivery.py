"""Rules about reaching people: which station a DM acts on, answers that go privately, and what
happens when a message can't be delivered."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import Context, CoreConfig
from handlers.i18n import Translator, _, translator
from handlers.transport import Platforms
from storage import kv
from storage import stations as stations_repo
from storage.models import Account, ChatPurpose, Outbox, Person, RoleAssignment, Station
from storage.rows import id_of

log = logging.getLogger(__name__)

CHOSEN_STATION_KEY = "dm-station:{person_id}"
LINK_CODE_KEY = "link-code:{code}"
PRIVATE_ANSWER = "private_answer"
PRIVATE_NOTE = "private_note"  # a short personal note, posted in the group instead when no DM can reach them
UNDELIVERABLE = "undeliverable"  # a staff chat told that a message could not be delivered
UNDELIVERABLE_TO_ADMINS = "undeliverable_admins"  # the admins told, the last resort
# Where a private answer came from, so a failed DM can be explained there (without its content).
PRIVATE_ANSWER_ORIGIN_KEY = "private-answer-origin:{key}"


async def station_for_private_chat(
    *, session: AsyncSession, person_id: int, roles: list[RoleAssignment]
) -> Station | None:
    """In a DM: the station chosen with /use, else the only station the person works for, else the only station."""
    chosen = await kv.get_value(session=session, key=CHOSEN_STATION_KEY.format(person_id=person_id))
    if chosen:
        station = await stations_repo.get_station_by_code(session=session, code=chosen)
        if station is not None:
            return station
    station_ids = {role.station_id for role in roles if role.station_id is not None}
    if len(station_ids) == 1:
        return await session.get(Station, station_ids.pop())
    if not station_ids:
        result = await session.exec(select(Station).order_by(col(Station.id)).limit(2))
        stations = list(result.all())
        if len(stations) == 1:
            return stations[0]
    return None


async def answer_privately(ctx: Context, text: str, *, item_id: int | None = None) -> None:
    """An answer about someone's own items carries personal data: sent in a group other than the
    staff chat, it goes to the sender by direct message, with a short pointer in the group. When
    the direct message cannot be delivered, the group is told how to start the private chat."""
    if ctx.in_private_place:
        await ctx.reply(text, item_id=item_id)
        return
    incoming = ctx.incoming
    if ctx.account.dm_blocked:  # known from an earlier attempt: say at once what to do
        await ctx.reply(await how_to_reach_text(
            session=ctx.session, tr=ctx.tr, platforms=ctx.platforms, account=ctx.account, name=ctx.person.display_name,
            command=ctx.command or "help", now=ctx.now(),
        ))
        return
    key = f"private:{incoming.platform}:{incoming.chat_id}:{incoming.message_id}"
    await outbox.to_person(
        session=ctx.session, key=key, purpose=PRIVATE_ANSWER, person_id=id_of(ctx.person), text=text,
        now=ctx.now(), station_id=ctx.station.id if ctx.station else None, item_id=item_id, account=ctx.account,
    )
    origin = {"platform": incoming.platform, "chat_id": incoming.chat_id, "reply_to": incoming.message_id,
              "thread_id": incoming.thread_id, "command": ctx.command, "language": ctx.tr.language}
    await kv.set_value(session=ctx.session, key=PRIVATE_ANSWER_ORIGIN_KEY.format(key=key), value=json.dumps(origin),
                       now=ctx.now())
    await outbox.to_chat(
        session=ctx.session, key=_pointer_key(key), purpose="private_answer_pointer", platform=incoming.platform,
        chat_id=incoming.chat_id, reply_to=incoming.message_id, thread_id=incoming.thread_id,
        text=ctx.tr(_("已私信回复您（您的事项信息只在私聊中显示）。")), now=ctx.now(),
        station_id=ctx.station.id if ctx.station else None, follow_moves=False, private=False,
    )


async def note_privately(ctx: Context, text: str, *, fallback: str, item_id: int | None = None) -> None:
    """A short personal note (e.g. "your +1 was recorded") goes by direct message, and nothing is
    said in the group; when no direct message can reach the sender (known already, or found when
    it fails), `fallback`, written for the group, is posted there as a reply instead."""
    if ctx.in_private_place:
        await ctx.reply(text, item_id=item_id)
        return
    if ctx.account.dm_blocked:
        await ctx.reply(fallback, item_id=item_id)
        return
    incoming = ctx.incoming
    key = f"note:{incoming.platform}:{incoming.chat_id}:{incoming.message_id}"
    await outbox.to_person(
        session=ctx.session, key=key, purpose=PRIVATE_NOTE, person_id=id_of(ctx.person), text=text,
        now=ctx.now(), station_id=ctx.station.id if ctx.station else None, item_id=item_id, account=ctx.account,
    )
    origin = {"platform": incoming.platform, "chat_id": incoming.chat_id, "reply_to": incoming.message_id,
              "thread_id": incoming.thread_id, "fallback": fallback}
    await kv.set_value(session=ctx.session, key=PRIVATE_ANSWER_ORIGIN_KEY.format(key=key), value=json.dumps(origin),
                       now=ctx.now())


async def _private_note_failed(*, session: AsyncSession, row: Outbox, code: str, now: datetime) -> None:
    """The note could not go privately: its group version is posted where it was asked for."""
    origin_raw = await kv.get_value(session=session, key=PRIVATE_ANSWER_ORIGIN_KEY.format(key=row.key))
    account = await session.get(Account, row.account_id) if row.account_id is not None else None
    if origin_raw is None:
        log.warning("private note %s could not be delivered (%s) and has no group to post it in", row.key, code)
        return
    if code == "dm_blocked" and account is not None:
        account.dm_blocked = True
        session.add(account)
    origin = json.loads(origin_raw)
    await outbox.to_chat(
        session=session, key=f"note-in-group:{row.key}", purpose="private_note_in_group", platform=origin["platform"],
        chat_id=origin["chat_id"], reply_to=origin.get("reply_to"), thread_id=origin.get("thread_id"),
        text=origin["fallback"], now=now, station_id=row.station_id, item_id=row.item_id, private=False,
    )


def _pointer_key(answer_key: str) -> str:
    return f"private-pointer:{answer_key}"


async def how_to_reach_text(
    *, session: AsyncSession, tr: Translator, platforms: Platforms, account: Account, name: str, command: str,
    now: datetime,
) -> str:
    """What a resident must do so the bot can write to them privately; never the answer itself."""
    link_maker = platforms.dm_invite_links(account.platform)
    if link_maker is not None:
        link = link_maker(await link_code_for(session=session, person_id=account.person_id, now=now))
        return tr(_("{name}，机器人无法私信您（您还没有与机器人开始私聊）。请打开 {link} 并点「开始」，"
                    "然后重新发送 /{command}，答复会私信发给您。"), name=name, link=link, command=command)
    return tr(_("{name}，机器人无法私信您。请先与机器人开始私聊（在机器人的资料页点「发消息」），"
                "然后重新发送 /{command}，答复会私信发给您。"), name=name, command=command)


async def _private_answer_failed(
    *, session: AsyncSession, row: Outbox, code: str, now: datetime, config: CoreConfig, platforms: Platforms
) -> None:
    """Explain in the group the command came from (as a reply to it) why no answer arrived."""
    origin_raw = await kv.get_value(session=session, key=PRIVATE_ANSWER_ORIGIN_KEY.format(key=row.key))
    account = await session.get(Account, row.account_id) if row.account_id is not None else None
    if origin_raw is None or account is None:
        log.warning("private answer %s could not be delivered (%s) and has no group to explain it in", row.key, code)
        return
    if code == "dm_blocked":
        account.dm_blocked = True
        session.add(account)
    origin = json.loads(origin_raw)
    person = await session.get(Person, account.person_id)
    text = await how_to_reach_text(
        session=session, tr=translator(origin.get("language") or config.language), platforms=platforms, account=account,
        name=person.display_name if person else account.user_id, command=origin.get("command") or "help", now=now,
    )
    # The pointer ("已私信回复您") is usually still waiting behind the direct message: it says this instead.
    if await outbox.revise_pending(session=session, key=_pointer_key(row.key), text=text, private=False):
        return
    await outbox.to_chat(
        session=session, key=f"private-failed:{row.key}", purpose="private_answer_failed", platform=origin["platform"],
        chat_id=origin["chat_id"], reply_to=origin.get("reply_to"), thread_id=origin.get("thread_id"), text=text,
        now=now, station_id=row.station_id, private=False,
    )


async def on_undeliverable(
    *, session: AsyncSession, row: Outbox, code: str, now: datetime, config: CoreConfig, platforms: Platforms
) -> None:
    """A message could not be delivered: remember a blocked DM and tell the station's staff chats,
    or the admins when there is no station or it has no staff chat to tell (a private answer is
    explained where it was asked for instead). A report that itself fails goes to the admins once."""
    if row.purpose == PRIVATE_ANSWER:
        await _private_answer_failed(
            session=session, row=row, code=code, now=now, config=config, platforms=platforms
        )
        return
    if row.purpose == PRIVATE_NOTE:
        await _private_note_failed(session=session, row=row, code=code, now=now)
        return
    if row.purpose == UNDELIVERABLE_TO_ADMINS:
        log.error("the admins could not be told that outbox row %s was undeliverable (%s)", row.key, code)
        return
    station = await session.get(Station, row.station_id) if row.station_id is not None else None
    tr = translator((station.language if station else None) or config.language)
    text = await _undeliverable_text(session=session, tr=tr, row=row, code=code, now=now, platforms=platforms)
    staff_chats = []
    if station is not None and row.purpose != UNDELIVERABLE:
        bound = await stations_repo.bindings_of(session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
        # never into the chat that just failed
        staff_chats = [chat for chat in bound if (chat.platform, chat.chat_id) != (row.platform, row.chat_id)]
    for binding in staff_chats:
        await outbox.to_chat(
            session=session, key=f"undeliverable:{row.id}:chat:{binding.id}", purpose=UNDELIVERABLE,
            platform=binding.platform, chat_id=binding.chat_id, text=text, now=now, station_id=row.station_id,
            private=True,
        )
    if not staff_chats:
        await outbox.to_admins(
            session=session, admins=config.admins, key=f"undeliverable:{row.id}:admin",
            purpose=UNDELIVERABLE_TO_ADMINS, text=text, now=now, station_id=row.station_id,
        )


# What staff read for each reason an adapter gives (`Undeliverable.code`); others read as 发送失败.
_REASONS: dict[str, str] = {
    "exhausted": _("多次重试仍未成功"),
    "forbidden": _("机器人没有权限在那里发言"),
    "bot_removed": _("机器人已被移出该群"),
    "chat_not_found": _("找不到该聊天"),
    "chat_gone": _("该聊天已不存在"),
    "no_rights": _("机器人在该群没有发言权限"),
    "user_deactivated": _("对方账号已注销"),
    "dm_failed": _("无法建立私聊"),
    "dm_blocked": _("对方还没有与机器人开始私聊"),
}


def _reason(tr: Translator, code: str) -> str:
    return tr(_REASONS.get(code, _("发送失败")))


async def _undeliverable_text(
    *, session: AsyncSession, tr: Translator, row: Outbox, code: str, now: datetime, platforms: Platforms
) -> str:
    """What the staff (or the admins) read: whom the message did not reach, why, and what it said;
    for a person who never opened a private chat with the bot, the link that would let it."""
    account = await session.get(Account, row.account_id) if row.account_id is not None else None
    if account is None:
        binding = await stations_repo.get_binding(session=session, platform=row.platform, chat_id=row.chat_id or "")
        name = (binding.title if binding is not None else None) or row.chat_id or "?"
        return tr(_("无法把消息送达 {name}（{reason}）。原文：{text}"), name=name, reason=_reason(tr, code), text=row.text)
    if code == "dm_blocked":
        account.dm_blocked = True
        session.add(account)
    person = await session.get(Person, account.person_id)
    name = person.display_name if person else account.user_id
    link_maker = platforms.dm_invite_links(account.platform)
    if code == "dm_blocked" and link_maker is not None:
        link = link_maker(await link_code_for(session=session, person_id=account.person_id, now=now))
        return tr(
            _(
                "无法私信 {name}：对方还没有与机器人开始私聊。"
                "请让 {name} 打开 {link} 并点「开始」，之后的提醒就能送达。"
            ),
            name=name, link=link,
        )
    return tr(_("无法把消息送达 {name}（{reason}）。原文：{text}"), name=name, reason=_reason(tr, code), text=row.text)


async def link_code_for(*, session: AsyncSession, person_id: int, now: datetime) -> str:
    """A stable code that links a platform account to this person (`/start CODE`)."""
    key = f"person-link:{person_id}"
    code = await kv.get_value(session=session, key=key)
    if code is None:
        code = secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")
        await kv.set_value(session=session, key=key, value=code, now=now)
        await kv.set_value(session=session, key=LINK_CODE_KEY.format(code=code), value=str(person_id), now=now)
    return code
