"""Reception days on ticks: materialize recurring rules, remind, mark absences.

Everything is computed from the database at `now`; each stage of a reception records the
revision it was handled for, and every message has a unique outbox key, so repeated ticks,
restarts and several processes never send twice. The monthly attendance notice is part of the
monthly notice (`schedules.monthly`). `next_due` returns the exact next moment
(the reminder hour in the station's zone, converted to UTC; a reception's end), so a console
clock line like `~ +3d` produces each message at its own time, in order.

Missed while the bot was down: at start everything due and still meaningful goes out at once;
a 3-day reminder that is now inside the 1-day window is replaced by the 1-day one; nothing is
sent for receptions that have started; the attendance summary of a reception that ended more
than a day ago is recorded but not posted.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from dateutil.rrule import rrulestr
from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import reception_notify as notify
from handlers.context import CoreConfig
from handlers.i18n import translator
from schedules import DueJob
from storage import kv
from storage import receptions as repo
from storage.db import writers_waiting
from storage.models import Duty, Outcome, Reception, ReceptionRule, ReceptionStatus, Station
from storage.receptions import local_instant, reminder_stages, set_times
from storage.rows import id_of

REMINDER_WINDOW = timedelta(days=9)  # a reception's first reminder is at most this long before its start
SUMMARY_GRACE = timedelta(days=1)  # an attendance summary older than this is recorded, not posted
COMMIT_EVERY = 20  # receptions per transaction in a busy reminder tick

def _pending_within(now: datetime):  # type: ignore[no-untyped-def]
    """Receptions with a stage not yet handled that could be due: a k-day stage falls due at most
    k+1 days before the start (the reminder hour on the day k days before)."""
    revision = col(Reception.revision)
    starts_at = col(Reception.starts_at)
    return or_(
        (col(Reception.done7) < revision) & (starts_at <= now + timedelta(days=8, hours=2)),
        ((col(Reception.done3) < revision) | (col(Reception.notice3) < revision))
        & (starts_at <= now + timedelta(days=4, hours=2)),
        (col(Reception.done1) < revision) & (starts_at <= now + timedelta(days=2, hours=2)),
    )


def _lock(session: AsyncSession, query):  # type: ignore[no-untyped-def]
    """On PostgreSQL, claim rows so that two processes don't work on the same reception at once."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


class ReceptionPlanner:
    """Materializes recurring rules up to the horizon, and re-derives UTC times after a zone change."""

    name = "reception-plan"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        await repo.materialize_rules(session=session, now=now)
        result = await session.exec(
            select(Reception, Station.timezone)
            .join(Station, col(Station.id) == col(Reception.station_id))
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) > now,
                   col(Reception.timezone) != col(Station.timezone))
        )
        for reception, zone in result.all():
            set_times(reception, zone)
            session.add(reception)

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        """When the next occurrence of any rule enters the horizon (its local midnight minus the horizon)."""
        result = await session.exec(
            select(ReceptionRule, Station.timezone)
            .join(Station, col(Station.id) == col(ReceptionRule.station_id))
            .where(ReceptionRule.active)
        )
        best: datetime | None = None
        for rule, zone in result.all():
            after = rule.materialized_through or (rule.starts_on - timedelta(days=1))
            recurrence = rrulestr(rule.rrule, dtstart=datetime.combine(rule.starts_on, time()))
            following = recurrence.after(datetime.combine(after, time(23, 59)))
            if following is None:
                continue
            moment = local_instant(following.date() - timedelta(days=repo.HORIZON_DAYS), time(0), zone)
            moment = max(moment, now + timedelta(seconds=1))
            best = moment if best is None else min(best, moment)
        return best


class ReceptionReminders:
    """The 7-day (liaisons), 3-day (deputies + residents) and 1-day (deputies) reminders, and catch-ups."""

    name = "reception-reminders"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        result = await session.exec(_lock(session, (
            select(Reception)
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) > now,
                   _pending_within(now))
            .order_by(col(Reception.starts_at), col(Reception.id))
        )))
        due = [reception for reception in result.all() if self._has_due_stage(reception, now, config)]
        stations: dict[int, Station] = {}
        if due:
            station_ids = list({reception.station_id for reception in due})
            found = await session.exec(select(Station).where(col(Station.id).in_(station_ids)))
            stations = {id_of(station): station for station in found.all()}
            wanted = await repo.deputies_per_reception(session=session, station_ids=station_ids)
            grouped = await repo.duties_for(session=session, reception_ids=[id_of(r) for r in due])
            names = await notify.names_of(session, list({d.person_id for ds in grouped.values() for d in ds}))
            for done, reception in enumerate(due, start=1):
                station = stations.get(reception.station_id)
                if station is not None:
                    await self._stages(session, station, reception, grouped.get(id_of(reception), []), names,
                                       wanted[station.id], now, config)
                if done % COMMIT_EVERY == 0 or await writers_waiting(session):
                    # A province's reminder hour writes thousands of rows: commit in slices, and
                    # at once when the outbox or intake waits for SQLite's write lock, so that the
                    # reminders go out while the rest are written and no handler waits long.
                    await session.commit()
        await self._catch_up(session, now, config, stations)

    @staticmethod
    def _has_due_stage(reception: Reception, now: datetime, config: CoreConfig) -> bool:
        return any(now >= moment for moment in reminder_stages(reception, config.reminder_hour).unhandled(reception))

    async def _stages(
        self, session: AsyncSession, station: Station, reception: Reception, duties: list[Duty],
        names: dict[int, str], wanted: int, now: datetime, config: CoreConfig,
    ) -> None:
        tr = translator(station.language or config.language)
        moments = reminder_stages(reception, config.reminder_hour)
        revision = reception.revision
        expected = notify.active_duties(duties)
        if reception.done7 < revision and now >= moments.week:
            # Only for a reception that existed when the week-ahead moment came; its creator knows the rest.
            if reception.revised_at < moments.week:
                await notify.remind7(session, tr, station, reception, now, duties, names, wanted)
            reception.done7 = revision
        # Residents hear the deputies' names: the notice waits for a roster (and is never sent without one).
        if reception.notice3 < revision and now >= moments.notice and expected:
            await notify.notice3(session, tr, station, reception, now, duties, names)
            reception.notice3 = revision
        if reception.done3 < revision and now >= moments.three_days:
            if now < moments.one_day:  # inside the 1-day window the 1-day reminder replaces it
                for duty in expected:
                    await notify.remind_deputy(session, tr, station, reception, duty, now, kind="remind3", names=names)
            reception.done3 = revision
        if reception.done1 < revision and now >= moments.one_day:
            for duty in expected:
                await notify.remind_deputy(session, tr, station, reception, duty, now, kind="remind1", names=names)
            reception.done1 = revision
        session.add(reception)

    async def _catch_up(
        self, session: AsyncSession, now: datetime, config: CoreConfig, stations: dict[int, Station]
    ) -> None:
        """Deputies put on the roster (or back from leave) after their reminders went out are told at once."""
        result = await session.exec(
            select(Reception, Duty)
            .join(Duty, col(Duty.reception_id) == col(Reception.id))
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) > now,
                   Duty.on_duty, col(Duty.told).is_(False), col(Duty.leave_at).is_(None),
                   or_(col(Reception.done3) == col(Reception.revision), col(Reception.done1) == col(Reception.revision)))
        )
        for reception, duty in result.all():
            station = stations.get(reception.station_id) or await session.get(Station, reception.station_id)
            if station is None:
                continue
            stations[reception.station_id] = station
            tr = translator(station.language or config.language)
            await notify.remind_deputy(session, tr, station, reception, duty, now, kind="assigned")

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        revision = col(Reception.revision)
        pending = or_(col(Reception.done7) < revision, col(Reception.notice3) < revision,
                      col(Reception.done3) < revision, col(Reception.done1) < revision)
        result = await session.exec(
            select(Reception)
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) > now, pending)
            .order_by(col(Reception.starts_at))
        )
        best: datetime | None = None
        for reception in result:
            if best is not None and reception.starts_at - REMINDER_WINDOW > best:
                break
            for moment in reminder_stages(reception, config.reminder_hour).unhandled(reception):
                if now < moment < reception.starts_at:
                    best = moment if best is None else min(best, moment)
        return best


class ReceptionCloser:
    """After a reception ends: on-duty deputies who neither signed in nor took leave are absent; staff get the summary."""

    name = "reception-close"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        result = await session.exec(_lock(session, (
            select(Reception)
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.closed_at).is_(None),
                   col(Reception.ends_at) <= now)
            .order_by(col(Reception.ends_at))
        )))
        for reception in result.all():
            for duty in await repo.duties_of(session=session, reception_id=id_of(reception)):
                if duty.outcome is None and duty.on_duty:
                    duty.outcome = Outcome.LEAVE if duty.leave_at is not None else Outcome.ABSENT
                    session.add(duty)
            reception.closed_at = now
            session.add(reception)
            await session.flush()
            station = await session.get(Station, reception.station_id)
            if station is not None and now - reception.ends_at < SUMMARY_GRACE:
                await notify.summary(session, translator(station.language or config.language), station, reception, now)

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        result = await session.exec(
            select(Reception.ends_at)
            .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.closed_at).is_(None),
                   col(Reception.ends_at) > now)
            .order_by(col(Reception.ends_at))
            .limit(1)
        )
        return result.first()


class RosterRepublisher:
    """Residents who were told the deputies' names hear about a change of the roster (leave, substitute)."""

    name = "reception-roster"

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        """Every tick looks at every reception the residents were told of: a few queries for all of
        them (a province has thousands), then the work only for those whose roster changed."""
        result = await session.exec(
            select(Reception).where(
                Reception.status == ReceptionStatus.SCHEDULED, col(Reception.residents_told).is_(True),
                col(Reception.starts_at) > now,
            )
        )
        receptions = list(result.all())
        if not receptions:
            return
        duties = await repo.duties_for(session=session, reception_ids=[id_of(r) for r in receptions])
        keys = {id_of(r): notify.PUBLISHED_ROSTER_KEY.format(reception_id=id_of(r)) for r in receptions}
        published = await kv.values_of(session=session, keys=list(keys.values()))
        for reception in receptions:
            roster, told = duties.get(id_of(reception), []), published.get(keys[id_of(reception)])
            if not notify.roster_changed(told, roster):
                continue
            station = await session.get(Station, reception.station_id)
            if station is not None:
                await notify.roster_update(session, translator(station.language or config.language), station,
                                           reception, now, duties=roster, published=told)

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        return None  # it reacts to roster changes, which every tick looks for


def reception_jobs() -> list[DueJob]:
    return [ReceptionPlanner(), ReceptionReminders(), RosterRepublisher(), ReceptionCloser()]

