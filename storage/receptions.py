"""Reception days (接待日): the repository of recurrence rules, concrete receptions, duties and
per-station settings (their tables are in `storage/models.py`).

Rules are stored as rules (an RFC 5545 RRULE plus local start/end times) and materialized into
concrete `Reception` rows for a horizon, so rosters, confirmations, reminders and attendance
hang on rows. Times are local to the station (date + wall-clock time + zone) and mirrored as
UTC instants for querying; a station that changes its zone gets its future rows re-derived.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import Row, func, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import workdays
from storage.models import (
    DEFAULT_PER_RECEPTION,
    Duty,
    HolidayPolicy,
    Outcome,
    Reception,
    ReceptionRule,
    ReceptionSettings,
    ReceptionStatus,
    RoleAssignment,
    RoleName,
    Station,
)

HORIZON_DAYS = 60  # how far ahead recurring rules are materialized into rows
CHECKIN_EARLY = timedelta(minutes=30)


# ------------------------------------------------------------------------------------------------
# Pure time helpers
# ------------------------------------------------------------------------------------------------


def local_instant(day: date, at: time, zone: str) -> datetime:
    """A wall-clock moment in a zone, as aware UTC (zoneinfo resolves DST)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def reminder_moment(reception: Reception, days_before: int, hour: int) -> datetime:
    """`hour`:00 local on the day `days_before` days before the reception, in its station's zone."""
    return local_instant(reception.local_date - timedelta(days=days_before), time(hour), reception.timezone)


@dataclass(frozen=True)
class ReminderStages:
    """When each reminder stage of a reception falls due (aware UTC: the reminder hour in the
    station's zone). Each stage has a column on `Reception` holding the revision it was handled
    for, so a move (a new revision) makes the stages fall due again for the new date."""

    week: datetime  # `done7`: the liaisons hear of the reception a week ahead
    notice: datetime  # `notice3`: residents hear date, place and deputies three days ahead
    three_days: datetime  # `done3`: each deputy on duty, three days ahead
    one_day: datetime  # `done1`: each deputy on duty, the day before

    def unhandled(self, reception: Reception) -> list[datetime]:
        """The moments of the stages not handled yet for the reception's current revision."""
        handled_for = (
            (reception.done7, self.week), (reception.notice3, self.notice),
            (reception.done3, self.three_days), (reception.done1, self.one_day),
        )
        return [moment for revision, moment in handled_for if revision < reception.revision]


def reminder_stages(reception: Reception, hour: int) -> ReminderStages:
    three_days = reminder_moment(reception, 3, hour)
    return ReminderStages(
        week=reminder_moment(reception, 7, hour), notice=three_days, three_days=three_days,
        one_day=reminder_moment(reception, 1, hour),
    )


def carry_over_stages(reception: Reception, *, old_revision: int, now: datetime, hour: int) -> None:
    """After a move bumped `reception.revision`: a stage whose moment for the new date has passed
    counts as handled if it was handled for the old date (the move notice told its audience);
    the others fall due again at their new moments."""
    stages = reminder_stages(reception, hour)
    revision = reception.revision
    if stages.week <= now and reception.done7 == old_revision:
        reception.done7 = revision
    if stages.notice <= now and reception.notice3 == old_revision:
        reception.notice3 = revision
    if stages.three_days <= now and reception.done3 == old_revision:
        reception.done3 = revision
    if stages.one_day <= now and reception.done1 == old_revision:
        reception.done1 = revision


def set_times(reception: Reception, zone: str) -> None:
    reception.timezone = zone
    reception.starts_at = local_instant(reception.local_date, reception.start_time, zone)
    reception.ends_at = local_instant(reception.local_date, reception.end_time, zone)


# ------------------------------------------------------------------------------------------------
# Holidays and rules
# ------------------------------------------------------------------------------------------------


def apply_holiday_policy(day: date, policy: str, calendar: workdays.WorkCalendar) -> date | None:
    """The date a rule's occurrence is held on: itself, the next working day, or None (skipped)."""
    if policy == HolidayPolicy.KEEP or not calendar.public_holiday(day):
        return day
    if policy == HolidayPolicy.SKIP:
        return None
    moved = day + timedelta(days=1)
    for _ in range(31):
        if calendar.is_workday(moved) and not calendar.public_holiday(moved):
            return moved
        moved += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Replanned:
    """A rule's reception whose day a change of the holiday table affects."""

    reception: Reception
    old_day: date
    held_on: date | None  # the day the policy now gives (None: skipped)
    told: bool  # someone was told of the old day already, so it is not moved silently


async def replan_for_holidays(
    *, session: AsyncSession, first: date, last: date, now: datetime, calendar: workdays.WorkCalendar
) -> list[Replanned]:
    """Re-apply the holiday policy to the rules' receptions to come whose own or held day is in
    [first, last]; those nobody was told about yet are moved (or cancelled when skipped) here."""
    rows = (await session.exec(
        select(Reception, ReceptionRule)
        .join(ReceptionRule, col(ReceptionRule.id) == col(Reception.rule_id))
        .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) > now,
               or_(col(Reception.rule_date).between(first, last), col(Reception.local_date).between(first, last)))
        .order_by(col(Reception.starts_at))
    )).all()
    changed: list[Replanned] = []
    for reception, rule in rows:
        settings = await get_settings(session=session, station_id=reception.station_id)
        policy = rule.holiday_policy or settings.holiday_policy
        assert reception.rule_date is not None
        held_on = apply_holiday_policy(reception.rule_date, policy, calendar)
        if held_on == reception.local_date:
            continue
        told_duties = (await session.exec(
            select(func.count()).select_from(Duty).where(Duty.reception_id == reception.id, Duty.told)
        )).one()
        told = bool(told_duties) or reception.liaisons_told or reception.residents_told or -1 < max(
            reception.done7, reception.done3, reception.notice3, reception.done1)
        old_day = reception.local_date
        if not told:
            if held_on is None:
                reception.status = ReceptionStatus.CANCELLED
                reception.cancelled_at = now
            else:
                reception.local_date = held_on
                reception.holiday_moved_from = reception.rule_date if held_on != reception.rule_date else None
                set_times(reception, reception.timezone)
            reception.updated_at = now
            session.add(reception)
        changed.append(Replanned(reception, old_day, held_on, told))
    return changed


async def one_off_receptions(*, session: AsyncSession, first: date, last: date, now: datetime) -> list[Reception]:
    """Scheduled receptions to come, not made by a rule, held in [first, last]."""
    return list((await session.exec(
        select(Reception).where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.rule_id).is_(None),
                                col(Reception.starts_at) > now, col(Reception.local_date).between(first, last))
        .order_by(col(Reception.starts_at))
    )).all())


def rule_dates(rrule: str, anchor: date, start: date, end: date) -> list[date]:
    """The rule's own dates in [start, end] (inclusive), before any holiday policy."""
    if end < start:
        return []
    # Rules with BY-parts and no INTERVAL don't depend on their anchor, so stations share the work.
    anchored = "INTERVAL" in rrule.upper() or "BY" not in rrule.upper()
    return list(_rule_dates(rrule, anchor if anchored else None, max(start, anchor), end))


@lru_cache(maxsize=1024)
def _rule_dates(rrule: str, anchor: date | None, start: date, end: date) -> tuple[date, ...]:
    recurrence = rrulestr(rrule, dtstart=datetime.combine(anchor or start, time()))
    return tuple(
        moment.date()
        for moment in recurrence.between(datetime.combine(start, time()), datetime.combine(end, time()), inc=True)
    )


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


async def get_settings(*, session: AsyncSession, station_id: int) -> ReceptionSettings:
    """The station's settings row, or unsaved defaults."""
    row = await session.get(ReceptionSettings, station_id)
    return row if row is not None else ReceptionSettings(station_id=station_id)


async def deputies_per_reception(*, session: AsyncSession, station_ids: Iterable[int]) -> dict[int, int]:
    """How many deputies each of these stations wants on duty per reception (its setting, else the default)."""
    wanted = dict.fromkeys(station_ids, DEFAULT_PER_RECEPTION)
    result = await session.exec(
        select(ReceptionSettings.station_id, ReceptionSettings.per_reception)
        .where(col(ReceptionSettings.station_id).in_(list(wanted)))
    )
    wanted.update(result.all())
    return wanted


async def save_settings(*, session: AsyncSession, settings: ReceptionSettings, now: datetime) -> None:
    settings.updated_at = now
    await session.merge(settings)


# ------------------------------------------------------------------------------------------------
# Receptions
# ------------------------------------------------------------------------------------------------


async def create_reception(*, session: AsyncSession, reception: Reception) -> Reception:
    session.add(reception)
    await session.flush()
    return reception


async def upcoming(
    *, session: AsyncSession, station_id: int, now: datetime, limit: int | None = None,
    until: datetime | None = None,
) -> list[Reception]:
    """Scheduled receptions of a station that have not ended, soonest first."""
    query = (
        select(Reception)
        .where(Reception.station_id == station_id, Reception.status == ReceptionStatus.SCHEDULED,
               col(Reception.ends_at) > now)
        .order_by(col(Reception.starts_at), col(Reception.id))
    )
    if until is not None:
        query = query.where(col(Reception.starts_at) <= until)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.exec(query)).all())


async def on_date(*, session: AsyncSession, station_ids: Sequence[int], day: date) -> list[Reception]:
    result = await session.exec(
        select(Reception)
        .where(col(Reception.station_id).in_(list(station_ids)), Reception.local_date == day,
               Reception.status == ReceptionStatus.SCHEDULED)
        .order_by(col(Reception.starts_at))
    )
    return list(result.all())


async def in_month(*, session: AsyncSession, station_id: int, year: int, month: int) -> list[Reception]:
    first = date(year, month, 1)
    after = date(year + (month == 12), month % 12 + 1, 1)
    result = await session.exec(
        select(Reception)
        .where(Reception.station_id == station_id, Reception.status == ReceptionStatus.SCHEDULED,
               col(Reception.local_date) >= first, col(Reception.local_date) < after)
        .order_by(col(Reception.starts_at))
    )
    return list(result.all())


async def duties_of(*, session: AsyncSession, reception_id: int) -> list[Duty]:
    result = await session.exec(select(Duty).where(Duty.reception_id == reception_id).order_by(col(Duty.id)))
    return list(result.all())


async def duties_for(*, session: AsyncSession, reception_ids: Sequence[int]) -> dict[int, list[Duty]]:
    grouped: dict[int, list[Duty]] = defaultdict(list)
    if not reception_ids:
        return grouped
    result = await session.exec(
        select(Duty).where(col(Duty.reception_id).in_(list(reception_ids))).order_by(col(Duty.id))
    )
    for duty in result.all():
        grouped[duty.reception_id].append(duty)
    return grouped


async def get_duty(*, session: AsyncSession, reception_id: int, person_id: int) -> Duty | None:
    result = await session.exec(select(Duty).where(Duty.reception_id == reception_id, Duty.person_id == person_id))
    return result.first()


async def deputy_ids(*, session: AsyncSession, station_id: int) -> list[int]:
    result = await session.exec(
        select(RoleAssignment.person_id)
        .where(RoleAssignment.station_id == station_id, RoleAssignment.role == RoleName.DEPUTY,
               RoleAssignment.active)
        .order_by(col(RoleAssignment.person_id))
    )
    return list(dict.fromkeys(result.all()))


async def duty_counts(
    *, session: AsyncSession, station_ids: Sequence[int] | None, since: datetime
) -> dict[tuple[int, int], tuple[int, datetime | None]]:
    """(station, person) -> (duties since `since`, latest duty start): the fairness measure of rotation."""
    query = (
        select(Duty.station_id, Duty.person_id, func.count(col(Duty.id)), func.max(col(Reception.starts_at)))
        .join(Reception, col(Reception.id) == col(Duty.reception_id))
        .where(Duty.on_duty, col(Reception.starts_at) >= since, Reception.status == ReceptionStatus.SCHEDULED)
        .group_by(col(Duty.station_id), col(Duty.person_id))
    )
    if station_ids is not None:
        query = query.where(col(Duty.station_id).in_(list(station_ids)))
    rows = (await session.exec(query)).all()
    counts: dict[tuple[int, int], tuple[int, datetime | None]] = {}
    for station_id, person_id, count, latest in rows:
        if isinstance(latest, str):  # SQLite returns max() of a custom type as text
            latest = datetime.fromisoformat(latest).replace(tzinfo=UTC)
        counts[(station_id, person_id)] = (count, latest)
    return counts


# ------------------------------------------------------------------------------------------------
# Planning: materialize rules, fill rosters (bulk, so a province plans in seconds)
# ------------------------------------------------------------------------------------------------


def _dialect_insert(session: AsyncSession, table: object) -> object:
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (pg_insert if name == "postgresql" else sqlite_insert)(table)  # type: ignore[arg-type]


async def materialize_rules(
    *, session: AsyncSession, now: datetime, station_zones: dict[int, str] | None = None,
    horizon_days: int = HORIZON_DAYS, rule_ids: Iterable[int] | None = None,
) -> int:
    """Turn active rules into reception rows up to the horizon; idempotent (unique rule+date).

    Works on plain rows and one multi-row INSERT … ON CONFLICT DO NOTHING, so a province's rules
    are planned in a second and two processes planning at once insert nothing twice.
    """
    rules = await _rules_behind_horizon(session, now, horizon_days, rule_ids)
    if not rules:
        return 0
    if station_zones is None:
        zone_rows = await session.exec(select(Station.id, Station.timezone))
        station_zones = {station_id: zone for station_id, zone in zone_rows.all() if station_id is not None}
    policies = dict((await session.exec(select(ReceptionSettings.station_id, ReceptionSettings.holiday_policy))).all())
    # A zone is at most a day from UTC; a holiday moved forward lands within a month.
    calendar = await workdays.calendar(session=session, first=now.date() - timedelta(days=1),
                                       last=now.date() + timedelta(days=horizon_days + 32))
    rows: list[dict[str, object]] = []
    advanced: dict[date, list[int]] = defaultdict(list)
    todays: dict[str, date] = {}
    for rule in rules:
        zone = station_zones.get(rule.station_id, "Asia/Shanghai")
        today = todays.get(zone) or todays.setdefault(zone, local_today(now, zone))
        horizon = today + timedelta(days=horizon_days)
        start = max(rule.starts_on, today)
        if rule.materialized_through is not None:
            start = max(start, rule.materialized_through + timedelta(days=1))
        if start > horizon:
            continue
        policy = rule.holiday_policy or policies.get(rule.station_id, HolidayPolicy.MOVE)
        rows.extend(_occurrence_rows(rule, zone, policy, start, horizon, now, calendar))
        advanced[horizon].append(rule.id)
    if rows:
        table = Reception.__table__  # core insert: no ORM bookkeeping for thousands of rows
        statement = _dialect_insert(session, table).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["rule_id", "rule_date"]
        )
        connection = await session.connection()
        for chunk in range(0, len(rows), 2000):
            await connection.execute(statement, rows[chunk : chunk + 2000])
    for horizon, ids in advanced.items():
        for chunk in range(0, len(ids), 900):
            await session.exec(  # type: ignore[call-overload]
                update(ReceptionRule).where(col(ReceptionRule.id).in_(ids[chunk : chunk + 900]))
                .values(materialized_through=horizon).execution_options(synchronize_session=False)
            )
    return len(rows)


async def _rules_behind_horizon(
    session: AsyncSession, now: datetime, horizon_days: int, rule_ids: Iterable[int] | None
) -> list[Row[Any]]:
    """The active rules (as plain rows) that may have occurrences not materialized yet."""
    query = select(
        ReceptionRule.id, ReceptionRule.station_id, ReceptionRule.rrule, ReceptionRule.starts_on,
        ReceptionRule.start_time, ReceptionRule.end_time, ReceptionRule.place, ReceptionRule.topic,
        ReceptionRule.holiday_policy, ReceptionRule.materialized_through, ReceptionRule.created_by,
    ).where(ReceptionRule.active)
    # No zone is ahead of UTC+14: rules materialized that far already have nothing to add today.
    latest_horizon = (now + timedelta(hours=14)).date() + timedelta(days=horizon_days)
    query = query.where(or_(col(ReceptionRule.materialized_through).is_(None),
                            col(ReceptionRule.materialized_through) < latest_horizon))
    if rule_ids is not None:
        query = query.where(col(ReceptionRule.id).in_(list(rule_ids)))
    return list((await session.exec(query)).all())


def _occurrence_rows(
    rule: Row[Any], zone: str, policy: str, start: date, horizon: date, now: datetime,
    calendar: workdays.WorkCalendar,
) -> list[dict[str, object]]:
    """The reception rows (as INSERT values) of a rule's occurrences in [start, horizon] that
    have not begun, each on the day its holiday policy holds it."""
    rows: list[dict[str, object]] = []
    for own_date in rule_dates(rule.rrule, rule.starts_on, start, horizon):
        held_on = apply_holiday_policy(own_date, policy, calendar)
        if held_on is None:
            continue
        starts_at = local_instant(held_on, rule.start_time, zone)
        if starts_at <= now:
            continue
        rows.append({
            "station_id": rule.station_id, "rule_id": rule.id, "rule_date": own_date, "local_date": held_on,
            "start_time": rule.start_time, "end_time": rule.end_time, "timezone": zone,
            "starts_at": starts_at, "ends_at": local_instant(held_on, rule.end_time, zone),
            "place": rule.place, "topic": rule.topic, "status": ReceptionStatus.SCHEDULED.value,
            "holiday_moved_from": own_date if held_on != own_date else None, "revision": 0,
            "revised_at": now, "done7": -1, "done3": -1, "notice3": -1, "done1": -1,
            "liaisons_told": False, "residents_told": False, "created_by": rule.created_by,
            "created_at": now, "updated_at": now,
        })
    return rows


@dataclass(frozen=True)
class Added:
    reception_id: int
    person_id: int


def pick_substitutes(
    *, candidates: Sequence[int], exclude: set[int], counts: dict[int, tuple[int, datetime | None]], need: int
) -> list[int]:
    """Fewest duties first, then longest since the last one, then the oldest deputy."""
    def fairness(person: int) -> tuple[int, float, int]:
        count, latest = counts.get(person, _NO_DUTY)
        return count, latest.timestamp() if latest is not None else 0.0, person

    return heapq.nsmallest(need, (person for person in candidates if person not in exclude), key=fairness)


_NO_DUTY: tuple[int, datetime | None] = (0, None)


async def auto_roster(
    *, session: AsyncSession, station_ids: Sequence[int] | None, start: datetime, end: datetime, now: datetime,
    per_reception: int | None = None,
) -> list[Added]:
    """Fill every scheduled reception starting in [start, end] up to its station's number of deputies.

    Rotation is fair: fewest duties in the past year (and already planned) first; deputies on
    leave for that reception, or already on it, are skipped. Existing rosters are kept.
    """
    query = (
        select(Reception.id, Reception.station_id, Reception.starts_at)
        .where(Reception.status == ReceptionStatus.SCHEDULED, col(Reception.starts_at) >= start,
               col(Reception.starts_at) <= end)
        .order_by(col(Reception.starts_at), col(Reception.id))
    )
    if station_ids is not None:
        query = query.where(col(Reception.station_id).in_(list(station_ids)))
    receptions = list((await session.exec(query)).all())
    if not receptions:
        return []
    involved = sorted({station_id for _id, station_id, _start in receptions})
    deputies = await _deputies_by_station(session, involved if station_ids is not None else None)
    per_station = dict((await session.exec(select(ReceptionSettings.station_id, ReceptionSettings.per_reception))).all())
    counts_flat = await duty_counts(session=session, station_ids=station_ids and involved,
                                    since=start - timedelta(days=365))
    counts: dict[int, dict[int, tuple[int, datetime | None]]] = defaultdict(dict)
    for (station_id, person_id), value in counts_flat.items():
        counts[station_id][person_id] = value
    existing = await _rosters(session, [reception_id for reception_id, _station, _start in receptions])
    added: list[Added] = []
    rows: list[dict[str, object]] = []
    for reception_id, station_id, starts_at in receptions:
        wanted = per_reception or per_station.get(station_id, DEFAULT_PER_RECEPTION)
        present = existing.get(reception_id, [])
        need = wanted - sum(1 for _person, counts_as in present if counts_as)
        if need <= 0:
            continue
        station_counts = counts[station_id]
        chosen = pick_substitutes(
            candidates=deputies.get(station_id, []), exclude={person for person, _ in present},
            counts=station_counts, need=need,
        )
        for person_id in chosen:
            count, latest = station_counts.get(person_id, (0, None))
            station_counts[person_id] = (count + 1, max(latest, starts_at) if latest else starts_at)
            added.append(Added(reception_id, person_id))
            rows.append({
                "reception_id": reception_id, "station_id": station_id, "person_id": person_id, "on_duty": True,
                "told": False, "leave_count": 0, "assigned_at": now,
            })
    if rows:
        connection = await session.connection()
        for chunk in range(0, len(rows), 2000):
            await connection.execute(insert(Duty.__table__), rows[chunk : chunk + 2000])  # type: ignore[arg-type]
    return added


async def _deputies_by_station(session: AsyncSession, station_ids: Sequence[int] | None) -> dict[int, list[int]]:
    """The active deputies of these stations (all stations: None), in person order."""
    query = select(RoleAssignment.station_id, RoleAssignment.person_id).where(
        RoleAssignment.role == RoleName.DEPUTY, RoleAssignment.active
    )
    if station_ids is not None:
        query = query.where(col(RoleAssignment.station_id).in_(station_ids))
    deputies: dict[int, list[int]] = defaultdict(list)
    for station_id, person_id in (await session.exec(query.order_by(col(RoleAssignment.person_id)))).all():
        if station_id is not None:
            deputies[station_id].append(person_id)
    return deputies


async def _rosters(session: AsyncSession, reception_ids: Sequence[int]) -> dict[int, list[tuple[int, bool]]]:
    """Each reception's duties as (person, counts toward the roster: on duty and not on leave)."""
    rosters: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for chunk_start in range(0, len(reception_ids), 900):
        chunk = reception_ids[chunk_start : chunk_start + 900]
        duty_rows = await session.exec(
            select(Duty.reception_id, Duty.person_id, Duty.on_duty, Duty.leave_at)
            .where(col(Duty.reception_id).in_(chunk))
        )
        for reception_id, person_id, on_duty, leave_at in duty_rows.all():
            rosters[reception_id].append((person_id, bool(on_duty and leave_at is None)))
    return rosters


# ------------------------------------------------------------------------------------------------
# Attendance figures
# ------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    on_duty: int = 0
    present: int = 0
    leave: int = 0
    absent: int = 0
    walk_in: int = 0

    def add(self, duty: Duty) -> None:
        if duty.on_duty:
            self.on_duty += 1
        if duty.outcome == Outcome.PRESENT:
            self.present += 1
        elif duty.outcome == Outcome.LEAVE:
            self.leave += 1
        elif duty.outcome == Outcome.ABSENT:
            self.absent += 1
        elif duty.outcome == Outcome.WALK_IN:
            self.walk_in += 1


async def month_tallies(
    *, session: AsyncSession, station_id: int, year: int, month: int
) -> tuple[dict[int, Tally], Tally, int]:
    """Per deputy and for the station, over the month's receptions that have ended (closed)."""
    return (await month_tallies_bulk(session=session, station_ids=[station_id], year=year, month=month)).get(
        station_id, ({}, Tally(), 0)
    )


async def month_tallies_bulk(
    *, session: AsyncSession, station_ids: Sequence[int], year: int, month: int
) -> dict[int, tuple[dict[int, Tally], Tally, int]]:
    """`month_tallies` for many stations in two queries (the monthly report tick of a province)."""
    first = date(year, month, 1)
    after = date(year + (month == 12), month % 12 + 1, 1)
    in_period = (
        Reception.status == ReceptionStatus.SCHEDULED, col(Reception.closed_at).is_not(None),
        col(Reception.local_date) >= first, col(Reception.local_date) < after,
    )
    held: dict[int, int] = {}
    per_person: dict[int, dict[int, Tally]] = defaultdict(lambda: defaultdict(Tally))
    totals: dict[int, Tally] = defaultdict(Tally)
    for chunk_start in range(0, len(station_ids), 900):
        chunk = list(station_ids[chunk_start : chunk_start + 900])
        counted = await session.exec(
            select(Reception.station_id, func.count(col(Reception.id)))
            .where(col(Reception.station_id).in_(chunk), *in_period).group_by(col(Reception.station_id))
        )
        held.update({station_id: count for station_id, count in counted.all()})
        duties = await session.exec(
            select(Duty).join(Reception, col(Reception.id) == col(Duty.reception_id))
            .where(col(Reception.station_id).in_(chunk), *in_period)
        )
        for duty in duties.all():
            per_person[duty.station_id][duty.person_id].add(duty)
            totals[duty.station_id].add(duty)
    return {
        station_id: (dict(per_person.get(station_id, {})), totals.get(station_id, Tally()), count)
        for station_id, count in held.items()
    }
