"""Chasing overdue items (催办) on a ladder: the assignee at the deadline, the head and the staff
chat two days later, the admins five days later. Each step is one outbox row per deadline, so a
restart or a repeated tick never chases twice, and a new deadline (re-assignment) starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.i18n import _, translator
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import OPEN_STATUSES, ChatPurpose, Item, Person, RoleName, Station
from storage.rows import id_of


@dataclass(frozen=True)
class Step:
    level: int
    after: timedelta


LADDER = (Step(1, timedelta(0)), Step(2, timedelta(days=2)), Step(3, timedelta(days=5)))


async def _open_items_with_deadline(session: AsyncSession) -> list[Item]:
    result = await session.exec(
        select(Item).where(col(Item.status).in_(list(OPEN_STATUSES)), col(Item.due_at).is_not(None))
    )
    return list(result.all())


def _key(step: Step, item: Item, target: str) -> str:
    assert item.due_at is not None
    return f"chase{step.level}:item:{item.id}:due:{int(item.due_at.timestamp())}:{target}"


class OverdueChaser:
    name = "overdue"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        for item in await _open_items_with_deadline(session):
            assert item.due_at is not None
            station = await session.get(Station, item.station_id)
            if station is None:
                continue
            for step in LADDER:
                if now >= item.due_at + step.after:
                    await self._chase(session, step, item, station, now, config)

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        moments = [
            item.due_at + step.after
            for item in await _open_items_with_deadline(session)
            for step in LADDER
            if item.due_at is not None and item.due_at + step.after > now
        ]
        return min(moments, default=None)

    async def _chase(
        self, session: AsyncSession, step: Step, item: Item, station: Station, now: datetime, config: CoreConfig
    ) -> None:
        assert item.due_at is not None
        tr = translator(station.language or config.language)
        due = item.due_at.astimezone(ZoneInfo(station.timezone)).strftime("%Y-%m-%d %H:%M")
        assignee = await session.get(Person, item.assignee_id) if item.assignee_id else None
        values = {
            "number": item.number, "text": _short(item.text), "due": due, "station": station.name,
            "assignee": assignee.display_name if assignee else tr(_("（无）")),
        }
        if step.level == 1 and assignee is not None:
            text = tr(_("催办：事项 #{number}「{text}」已到办理时限（{due}）。请尽快办理，并用 /progress {number} 或 /close {number} 反馈。"), **values)
            await outbox.to_person(
                session=session, key=_key(step, item, f"person:{assignee.id}"), purpose="chase",
                person_id=id_of(assignee), text=text, now=now, station_id=station.id, item_id=item.id,
            )
        elif step.level == 2:
            text = tr(_("督办：{station} 的事项 #{number}「{text}」已超期两天（时限 {due}，承办代表 {assignee}），请站长督促办理。"), **values)
            heads = await people_repo.people_with_role(session=session, station_id=id_of(station), role=RoleName.HEAD)
            for head in heads:
                await outbox.to_person(
                    session=session, key=_key(step, item, f"person:{head.id}"), purpose="chase",
                    person_id=id_of(head), text=text, now=now, station_id=station.id, item_id=item.id,
                )
            for binding in await stations_repo.bindings_of(
                session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF
            ):
                await outbox.to_chat(
                    session=session, key=_key(step, item, f"chat:{binding.id}"), purpose="chase",
                    platform=binding.platform, chat_id=binding.chat_id, text=text, now=now,
                    station_id=station.id, item_id=item.id, private=True,
                )
        elif step.level == 3:
            text = tr(_("督办：{station} 的事项 #{number}「{text}」已超期五天（时限 {due}，承办代表 {assignee}），请管理员过问。"), **values)
            await outbox.to_admins(
                session=session, admins=config.admins, key=_key(step, item, "person"), purpose="chase", text=text,
                now=now, station_id=station.id, item_id=item.id,
            )


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
