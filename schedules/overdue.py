"""Chasing items by their deadline (催办) on a ladder of working days, each step at the reminder
hour of a working day in the station's own zone:

| step | when | to |
| --- | --- | --- |
| 0 | the working day before the deadline | the assignee (the deputy, the handling unit's contact) |
| 1 | the deadline's day (the next working day if it is none) | the assignee and the staff chat |
| 2 | two working days overdue | the head (the liaisons when there is none) |
| 3 | five working days overdue | the admins and the parent station's staff chat |

Each step is one outbox row per target and deadline (the key carries the deadline), so a restart
or a repeated tick never chases twice, and a new deadline (/assign, /extend, /reopen, 不满意)
starts over. A step whose moment came before the deadline was set is not sent (a one-day
deadline gets no "due tomorrow"), nor a step 0 once the deadline's day has come.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.i18n import Translator, _, translator
from storage import people as people_repo
from storage import stations as stations_repo
from storage import workdays
from storage.models import OPEN_STATUSES, ChatPurpose, HandlingUnit, Item, Person, RoleName, Station
from storage.rows import id_of

log = logging.getLogger(__name__)

BEFORE, DUE, HEAD, ADMINS = 0, 1, 2, 3
STEPS = (BEFORE, DUE, HEAD, ADMINS)
MARGIN = timedelta(days=21)  # around the deadlines, for the calendar: five working days and a holiday


@dataclass(frozen=True)
class Moment:
    step: int
    day: date  # the local working day of the step
    at: datetime  # the reminder hour of that day, aware UTC


def moments(item: Item, station: Station, calendar: workdays.WorkCalendar, hour: int) -> list[Moment]:
    """When each step of the item's deadline is due."""
    assert item.due_at is not None
    zone = ZoneInfo(station.timezone)
    deadline = item.due_at.astimezone(zone).date()
    days = {
        BEFORE: calendar.workday_before(deadline),
        DUE: calendar.workday_on_or_after(deadline),
        HEAD: calendar.add_workdays(deadline, 2),
        ADMINS: calendar.add_workdays(deadline, 5),
    }
    return [Moment(step, day, datetime.combine(day, time(hour), tzinfo=zone).astimezone(item.due_at.tzinfo))
            for step, day in days.items()]


def wanted(moment: Moment, item: Item, all_moments: list[Moment], now: datetime) -> bool:
    """A step is sent once its moment came, unless the deadline was set after that moment, or it is
    the day-before reminder and the deadline's day has come."""
    if moment.at > now:
        return False
    if item.due_set_at is not None and moment.at < item.due_set_at:
        return False
    return not (moment.step == BEFORE and all_moments[DUE].at <= now)


async def _open_items_with_deadline(session: AsyncSession) -> list[Item]:
    result = await session.exec(
        select(Item).where(col(Item.status).in_(list(OPEN_STATUSES)), col(Item.due_at).is_not(None))
    )
    return list(result.all())


async def _calendar(session: AsyncSession, items: list[Item]) -> workdays.WorkCalendar | None:
    dues = [item.due_at.date() for item in items if item.due_at is not None]
    if not dues:
        return None
    return await workdays.calendar(session=session, first=min(dues) - MARGIN, last=max(dues) + MARGIN)


def _key(step: int, item: Item, target: str) -> str:
    assert item.due_at is not None
    return f"chase{step}:item:{item.id}:due:{int(item.due_at.timestamp())}:{target}"


class OverdueChaser:
    name = "overdue"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        items = await _open_items_with_deadline(session)
        calendar = await _calendar(session, items)
        if calendar is None:
            return
        stations: dict[int, Station | None] = {}
        for item in items:
            if item.station_id not in stations:
                stations[item.station_id] = await session.get(Station, item.station_id)
            station = stations[item.station_id]
            if station is None:
                continue
            steps = moments(item, station, calendar, config.reminder_hour)
            for moment in steps:
                if wanted(moment, item, steps, now):
                    await Chase(session, item, station, moment, now, config).send()

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        items = await _open_items_with_deadline(session)
        calendar = await _calendar(session, items)
        if calendar is None:
            return None
        upcoming: list[datetime] = []
        stations: dict[int, Station | None] = {}
        for item in items:
            if item.station_id not in stations:
                stations[item.station_id] = await session.get(Station, item.station_id)
            station = stations[item.station_id]
            if station is not None:
                upcoming.extend(moment.at for moment in moments(item, station, calendar, config.reminder_hour)
                                if moment.at > now)
        return min(upcoming, default=None)


BEFORE_HANDLING = _("提醒：您承办的事项 #{number}「{text}」办理时限为 {due}，只剩 1 个工作日。请抓紧办理，办结后发送 "
                    "/close {number} <办理结果>；确需延期，请发送 /extend {number} <工作日天数> <理由> 申请。")
BEFORE_SUPERVISING = _("提醒：您督办的事项 #{number}「{text}」（承办：{unit}）办理时限为 {due}，只剩 1 个工作日。"
                       "请督促承办单位按时办结；单位办结后，您或联络员可发送 /close {number} <办理结果>。")
DUE_HANDLING = (
    _("催办：您承办的事项 #{number}「{text}」今天（{due}）到期，尚未办结。请今天办结并发送 "
      "/close {number} <办理结果>；确需延期，请发送 /extend {number} <工作日天数> <理由> 申请。"),
    _("催办：您承办的事项 #{number}「{text}」已于 {due} 到期，尚未办结。请尽快办结并发送 "
      "/close {number} <办理结果>；确需延期，请发送 /extend {number} <工作日天数> <理由> 申请。"),
)
DUE_SUPERVISING = (
    _("催办：您督办的事项 #{number}「{text}」（承办：{unit}）今天（{due}）到期，尚未办结。请督促承办单位今天办结；"
      "确需延期，请发送 /extend {number} <工作日天数> <理由> 申请。"),
    _("催办：您督办的事项 #{number}「{text}」（承办：{unit}）已于 {due} 到期，尚未办结。请督促承办单位尽快办结；"
      "确需延期，请发送 /extend {number} <工作日天数> <理由> 申请。"),
)


class Chase:
    """One step of one item's ladder: its texts and its rows."""

    def __init__(
        self, session: AsyncSession, item: Item, station: Station, moment: Moment, now: datetime, config: CoreConfig
    ) -> None:
        self.session, self.item, self.station, self.moment, self.now, self.config = (
            session, item, station, moment, now, config)
        self.tr: Translator = translator(station.language or config.language)
        assert item.due_at is not None
        self.deadline = item.due_at.astimezone(ZoneInfo(station.timezone)).date()
        self.unit_name = ""

    async def _handlers(self) -> tuple[list[tuple[Person, bool]], str]:
        """Who handles the item, each with whether they only supervise it (a deputy named with a
        handling unit: 督办), and how the handling is named."""
        item = self.item
        deputy = await self.session.get(Person, item.assignee_id) if item.assignee_id else None
        unit = await self.session.get(HandlingUnit, item.unit_id) if item.unit_id else None
        contact = (await self.session.get(Person, unit.contact_id)
                   if unit is not None and unit.active and unit.contact_id else None)
        people: dict[int, tuple[Person, bool]] = {}
        if contact is not None:
            people[id_of(contact)] = (contact, False)
        if deputy is not None:
            people.setdefault(id_of(deputy), (deputy, unit is not None))
        if unit is not None and deputy is not None:
            name = self.tr(_("{unit}，督办代表 {deputy}"), unit=unit.name, deputy=deputy.display_name)
        elif unit is not None or deputy is not None:
            name = unit.name if unit is not None else deputy.display_name  # type: ignore[union-attr]
        else:
            name = self.tr(_("（未分派）"))
        self.unit_name = unit.name if unit is not None else ""
        return list(people.values()), name

    async def send(self) -> None:
        handlers, name = await self._handlers()
        values = {
            "number": self.item.number, "text": _short(self.item.text), "due": self.deadline.isoformat(),
            "station": self.station.name, "assignee": name, "unit": self.unit_name,
        }
        today = self.moment.day == self.deadline
        step = self.moment.step
        if step == BEFORE:
            for person, supervising in handlers:
                await self._person(person, self.tr(BEFORE_SUPERVISING if supervising else BEFORE_HANDLING, **values))
            if not handlers:  # a unit without a contact: the liaisons act for it
                await self._staff(self.station, self.tr(_(
                    "提醒：事项 #{number}「{text}」（承办：{assignee}）办理时限为 {due}，只剩 1 个工作日，尚未办结。"), **values))
        elif step == DUE:
            for person, supervising in handlers:
                texts = DUE_SUPERVISING if supervising else DUE_HANDLING
                await self._person(person, self.tr(texts[0] if today else texts[1], **values))
            text = (_("催办：事项 #{number}「{text}」今天（{due}）到期，尚未办结（承办：{assignee}）。"
                      "已提醒承办人；需要延期请用 /extend {number} <工作日天数> <理由>。") if today
                    else _("催办：事项 #{number}「{text}」已于 {due} 到期，尚未办结（承办：{assignee}）。"
                           "已提醒承办人；需要延期请用 /extend {number} <工作日天数> <理由>。"))
            await self._staff(self.station, self.tr(text, **values))
        elif step == HEAD:
            text = self.tr(_("督办：{station} 的事项 #{number}「{text}」已超期 2 个工作日（办理时限 {due}，承办：{assignee}），"
                             "请站长督促办理。"), **values)
            heads = await people_repo.people_with_role(session=self.session, station_id=id_of(self.station),
                                                       role=RoleName.HEAD)
            if not heads:
                heads = await people_repo.people_with_role(session=self.session, station_id=id_of(self.station),
                                                           role=RoleName.LIAISON)
                log.info("item %s: station %s has no head; the liaisons get the 2-day chaser", self.item.id,
                         self.station.code)
            for head in heads:
                await self._person(head, text)
            if not heads:
                log.warning("item %s: nobody to send the 2-day chaser to (no head, no liaison)", self.item.id)
        elif step == ADMINS:
            parent = await self.session.get(Station, self.station.parent_id) if self.station.parent_id else None
            values["parent"] = parent.name if parent else ""
            text = self.tr(_("督办：{station} 的事项 #{number}「{text}」已超期 5 个工作日（办理时限 {due}，承办：{assignee}），"
                             "已报 {parent} 和管理员，请过问。") if parent else
                           _("督办：{station} 的事项 #{number}「{text}」已超期 5 个工作日（办理时限 {due}，承办：{assignee}），"
                             "请管理员过问。"), **values)
            await outbox.to_admins(
                session=self.session, admins=self.config.admins, key=_key(step, self.item, "person"), purpose="chase",
                text=text, now=self.now, station_id=self.station.id, item_id=self.item.id,
            )
            if parent is not None:
                await self._chats(parent, text)

    async def _person(self, person: Person, text: str) -> None:
        await outbox.to_person(
            session=self.session, key=_key(self.moment.step, self.item, f"person:{person.id}"), purpose="chase",
            person_id=id_of(person), text=text, now=self.now, station_id=self.station.id, item_id=self.item.id,
        )

    async def _chats(self, station: Station, text: str) -> bool:
        bindings = await stations_repo.bindings_of(session=self.session, station_id=id_of(station),
                                                   purpose=ChatPurpose.STAFF)
        for binding in bindings:
            await outbox.to_chat(
                session=self.session, key=_key(self.moment.step, self.item, f"chat:{binding.id}"), purpose="chase",
                platform=binding.platform, chat_id=binding.chat_id, text=text, now=self.now,
                station_id=self.station.id, item_id=self.item.id, private=True,
            )
        return bool(bindings)

    async def _staff(self, station: Station, text: str) -> None:
        """The station's staff chat; without one, its liaisons and head directly."""
        if await self._chats(station, text):
            return
        for role in (RoleName.LIAISON, RoleName.HEAD):
            for person in await people_repo.people_with_role(session=self.session, station_id=id_of(station), role=role):
                if person.id != self.item.assignee_id:
                    await self._person(person, text)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
