"""An incoming event that keeps failing by its own content is set aside, never retried forever.

What the adapters' guard (`bot/intake.py`) calls once an event has used its tries: the event is
stored whole (`SetAsideEvent`, so nothing the user sent is lost), the station's staff are told
once with the text, so a person can handle it by hand, and the sender is told it reached a
person. Outages (the database gone) never come here: they pause intake instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.events import EventKind, Incoming
from handlers.i18n import _, translator
from storage import people as people_repo
from storage import set_aside as set_aside_repo
from storage import stations as stations_repo
from storage.models import ChatPurpose, RoleName, SetAsideEvent, Station
from storage.rows import id_of, new_row

MAX_QUOTED = 500  # characters of the original text quoted in the staff notice


@dataclass(frozen=True)
class SetAside:
    """What is kept of an event that is set aside; adapters describe their own events this way."""

    platform: str
    event_id: str  # the platform's id of the event (Telegram update id, Matrix event id …)
    chat_id: str | None = None
    message_id: str | None = None  # set for a message: the sender is answered under it
    sender: str | None = None  # platform:user id
    sender_name: str | None = None
    text: str = ""
    payload: str = ""  # the platform's own serialisation, for whoever investigates

    @classmethod
    def of(cls, incoming: Incoming, *, event_id: str | None = None, payload: str = "") -> SetAside:
        """From a core event (the console's, or an adapter's converted one)."""
        is_message = incoming.kind in (EventKind.MESSAGE, EventKind.EDIT)
        anchor = incoming.press_id or incoming.message_id or (
            f"t{int(incoming.timestamp.timestamp() * 1000)}" if incoming.timestamp else "?"
        )
        return cls(
            platform=incoming.platform,
            event_id=event_id or f"{incoming.chat_id}:{incoming.kind}:{anchor}",
            chat_id=incoming.chat_id,
            message_id=incoming.message_id if is_message else None,
            sender=incoming.sender.key,
            sender_name=incoming.sender.display_name or incoming.sender.username,
            text=incoming.text or incoming.button_label or incoming.button_data or "",
            payload=payload,
        )


async def record(
    *, session: AsyncSession, event: SetAside, error: str, attempts: int, now: datetime, config: CoreConfig
) -> bool:
    """Store the event and tell the people who can act on it; False if it was set aside before."""
    row = new_row(
        SetAsideEvent, platform=event.platform, event_id=event.event_id, chat_id=event.chat_id,
        message_id=event.message_id, sender=event.sender, sender_name=event.sender_name, text=event.text,
        payload=event.payload, error=error, attempts=attempts, created_at=now,
    )
    if not await set_aside_repo.add(session=session, row=row):
        return False
    station = None
    if event.chat_id is not None:
        _binding, station = await stations_repo.binding_with_station(
            session=session, platform=event.platform, chat_id=event.chat_id
        )
    await _tell_staff(session=session, event=event, row_id=id_of(row), station=station, now=now, config=config)
    if event.chat_id is not None and event.message_id is not None:
        tr = translator((station.language if station else None) or config.language)
        await outbox.to_chat(
            session=session, key=f"set-aside:{row.id}:sender", purpose="set_aside", platform=event.platform,
            chat_id=event.chat_id, reply_to=event.message_id, now=now, station_id=station.id if station else None,
            text=tr(_("抱歉，机器人处理这条消息时出错了。消息已保存并转给工作人员人工处理，您不必重发。")),
        )
    return True


async def _tell_staff(
    *, session: AsyncSession, event: SetAside, row_id: int, station: Station | None, now: datetime,
    config: CoreConfig,
) -> None:
    """The station's staff chats; else its head and liaisons directly; else the admins."""
    tr = translator((station.language if station else None) or config.language)
    quoted = event.text if len(event.text) <= MAX_QUOTED else event.text[:MAX_QUOTED] + "…"
    text = tr(
        _(
            "有一条消息机器人多次处理失败，已另行保存，没有自动处理（{platform} 事件 {event_id}，记录 #{row}）。\n"
            "发送人：{sender}\n原文：{text}\n请人工跟进；技术人员可按事件编号查看日志。"
        ),
        platform=event.platform, event_id=event.event_id, row=row_id,
        sender=event.sender_name or event.sender or "?", text=quoted,
    )
    key = f"set-aside:{row_id}"
    if station is not None:
        staff_chats = await stations_repo.bindings_of(
            session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF
        )
        for binding in staff_chats:
            await outbox.to_chat(
                session=session, key=f"{key}:chat:{binding.id}", purpose="set_aside", platform=binding.platform,
                chat_id=binding.chat_id, text=text, now=now, station_id=station.id,
            )
        if staff_chats:
            return
        people = [
            person
            for role in (RoleName.HEAD, RoleName.LIAISON)
            for person in await people_repo.people_with_role(session=session, station_id=id_of(station), role=role)
        ]
        for person in people:
            await outbox.to_person(
                session=session, key=f"{key}:person:{person.id}", purpose="set_aside", person_id=id_of(person),
                text=text, now=now, station_id=station.id,
            )
        if people:
            return
    await outbox.to_admins(session=session, admins=config.admins, key=f"{key}:person", purpose="set_aside", text=text,
                           now=now)
