"""The residents' overdue notice: when an item passes its deadline, the residents who follow it
(its reporter and supporters, where the station's `/notify` setting applies and they have not
muted it) hear by direct message that the station is chasing it — at the reminder hour of the
first working day after the deadline's day (`storage.workdays`, entered holidays included), when
the station's office is at work, not at midnight or on a Sunday. One outbox row per (item, deadline, person): a new deadline
is told again, a restart or a repeated tick never twice. A deadline passed more than
`STALE_AFTER` ago (the bot was down) is not announced late.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import notify_prefs, outbox
from handlers.context import CoreConfig
from handlers.i18n import _, translator
from storage import supporters as supporters_repo
from storage import workdays
from storage.models import OPEN_STATUSES, Item, Person, Station
from storage.rows import id_of

STALE_AFTER = timedelta(days=7)  # a long holiday's first working day still counts
MARGIN = timedelta(days=21)  # around the deadlines, for the calendar


def notice_moment(due_at: datetime, zone: ZoneInfo, hour: int, calendar: workdays.WorkCalendar) -> datetime:
    """The reminder hour (local) of the first working day after the deadline's day, in UTC."""
    day = calendar.add_workdays(due_at.astimezone(zone).date(), 1)
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(due_at.tzinfo)


async def _calendar(session: AsyncSession, found: list[tuple[Item, Station]]) -> workdays.WorkCalendar | None:
    dues = [item.due_at.date() for item, _station in found if item.due_at is not None]
    if not dues:
        return None
    return await workdays.calendar(session=session, first=min(dues) - MARGIN, last=max(dues) + MARGIN)


async def _recent_deadlines(session: AsyncSession, now: datetime) -> list[tuple[Item, Station]]:
    """Open items whose deadline passed lately or is still ahead, with their stations."""
    result = await session.exec(
        select(Item, Station).join(Station, col(Station.id) == col(Item.station_id))
        .where(col(Item.status).in_(list(OPEN_STATUSES)), col(Item.due_at).is_not(None),
               col(Item.due_at) >= now - STALE_AFTER)
    )
    return list(result.all())


class ResidentOverdueNotice:
    name = "resident-overdue"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        found = await _recent_deadlines(session, now)
        calendar = await _calendar(session, found)
        for item, station in found:
            assert item.due_at is not None and calendar is not None
            if now < notice_moment(item.due_at, ZoneInfo(station.timezone), config.reminder_hour, calendar):
                continue
            settings = await supporters_repo.notify_settings(session=session, station_id=id_of(station))
            if notify_prefs.applies(settings, item):
                await self._tell(session, item, station, now, config)

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        found = await _recent_deadlines(session, now)
        calendar = await _calendar(session, found)
        if calendar is None:
            return None
        moments = [notice_moment(item.due_at, ZoneInfo(station.timezone), config.reminder_hour, calendar)
                   for item, station in found if item.due_at is not None]
        return min((moment for moment in moments if moment > now), default=None)

    async def _tell(self, session: AsyncSession, item: Item, station: Station, now: datetime,
                    config: CoreConfig) -> None:
        assert item.due_at is not None
        due = item.due_at.astimezone(ZoneInfo(station.timezone)).strftime("%Y-%m-%d")
        for recipient in await notify_prefs.recipients(session=session, item=item):
            person = await session.get(Person, recipient.person_id)
            tr = translator(station.language or (person.language if person else None) or config.language)
            head = (_("您附议的事项 #{number}「{text}」已超过办理时限（{due}），联络站正在督办。") if recipient.supporter
                    else _("您反映的事项 #{number}「{text}」已超过办理时限（{due}），联络站正在督办。"))
            text = "\n".join([tr(head, due=due, **notify_prefs.item_words(tr, item, recipient)),
                              tr(_("有了办理结果会马上告诉您。不想再收到这类通知，请发送 /mute {number}。"),
                                 number=item.number)])
            await outbox.to_person(
                session=session, key=f"notify-overdue:item:{item.id}:due:{int(item.due_at.timestamp())}"
                                     f":person:{recipient.person_id}",
                purpose="resident_notice", person_id=recipient.person_id, text=text, now=now,
                station_id=station.id, item_id=item.id,
            )
