"""The figures stations report, computed in SQL: GROUP BY over items, their events and duties.

Each event counts in the period it happened in, in the station's own zone: received in the month
an item arrived, resolved in the month it was resolved (whenever it arrived), a rating in the
month it was given (only an item's latest rating, which a new resolution clears), open and
overdue as of the end of the period. Nothing loads whole tables into Python: every query returns
one row per group, so a province's month costs what its month of events costs. The queries use
only what SQLite and PostgreSQL both have (no time-zone functions: instants are computed here,
per zone), so both give the same numbers (tests/test_reports_sql.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OPEN_STATUSES, Item, ItemEvent, Person, Rating, RoleAssignment, RoleName, Station
from storage.receptions import Duty, Outcome, Reception, ReceptionStatus

CHUNK = 900  # ids per IN (…): under SQLite's old 999-parameter limit
OPEN = [status.value for status in OPEN_STATUSES]
# A round of handling ends resolved (by the assignee or staff), answered (by the station itself,
# on the spot) or rejected (not accepted, referred elsewhere).
RESOLVED, REJECTED, RATED = "resolved", "rejected", "rated"
RESOLUTION_KINDS = (RESOLVED, "answered")


# --- the station tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StationNode:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    timezone: str
    depth: int


async def station_tree(*, session: AsyncSession, root_id: int | None) -> list[StationNode]:
    """A station and everything below it (or every station, for None), parents before children,
    siblings by code: the order of a roll-up. One recursive query, the same on SQLite and PostgreSQL."""
    base = select(Station.id, literal(0).label("depth"))
    base = base.where(Station.id == root_id) if root_id is not None else base.where(Station.parent_id.is_(None))  # type: ignore[union-attr]
    tree = base.cte("tree", recursive=True)
    child = aliased(Station)
    tree = tree.union_all(select(child.id, (tree.c.depth + 1).label("depth")).where(child.parent_id == tree.c.id))
    rows = (await session.exec(  # type: ignore[call-overload]
        select(Station.id, Station.code, Station.name, Station.level, Station.parent_id, Station.timezone, tree.c.depth)
        .join(tree, tree.c.id == Station.id)
    )).all()
    nodes = {row[0]: StationNode(*row) for row in rows}
    children: dict[int | None, list[StationNode]] = defaultdict(list)
    for node in nodes.values():
        children[node.parent_id if node.parent_id in nodes else None].append(node)
    ordered: list[StationNode] = []

    def walk(parent: int | None) -> None:
        for node in sorted(children.get(parent, []), key=lambda n: n.code):
            ordered.append(node)
            walk(node.id)

    walk(None)
    return ordered


def descendants(tree: Sequence[StationNode], station_id: int) -> list[int]:
    """A station's id and all its descendants' ids, from a tree as `station_tree` returns it."""
    below: dict[int | None, list[int]] = defaultdict(list)
    for node in tree:
        below[node.parent_id].append(node.id)
    found, stack = [], [station_id]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(below.get(current, []))
    return found


# --- item figures -------------------------------------------------------------------------------
@dataclass
class ItemFigures:
    received: int = 0
    resolved: int = 0
    on_time: int = 0
    rejected: int = 0
    open: int = 0
    overdue: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0

    @property
    def rated(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied

    @property
    def content(self) -> int:
        """满意 + 基本满意: the numerator of the satisfaction rate."""
        return self.satisfied + self.basically_satisfied

    def add(self, other: ItemFigures) -> ItemFigures:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    @classmethod
    def total(cls, many: Iterable[ItemFigures]) -> ItemFigures:
        result = cls()
        for figures in many:
            result.add(figures)
        return result


RATING_FIELDS = {
    Rating.SATISFIED.value: "satisfied",
    Rating.BASICALLY_SATISFIED.value: "basically_satisfied",
    Rating.UNSATISFIED.value: "unsatisfied",
}


@dataclass(frozen=True)
class Span:
    """Local dates [start, end) and the moment figures are taken at (`now`: open and overdue are
    counted as of the end of the span, or now when it has not ended)."""

    start: date
    end: date
    now: datetime


def _instant(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))


def _by_zone(stations: Sequence[StationNode]) -> dict[str, list[int]]:
    zones: dict[str, list[int]] = defaultdict(list)
    for station in stations:
        zones[station.timezone].append(station.id)
    return zones


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def month_bucket(column: Any, bounds: Sequence[datetime | date]) -> ColumnElement[int]:
    """The index of the month a moment falls in, given the months' starts after the first; the
    moments are already limited to the span, so the last month takes the rest."""
    if not bounds:
        return literal(0)
    return case(*((column < bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))


Grouping = str  # "station", "deputy" (the item's assignee) or "month"


def _dims(grouping: Grouping, item: Any, moment: Any, bounds: Sequence[datetime]) -> list[ColumnElement[Any]]:
    dims: list[ColumnElement[Any]] = [item.station_id]
    if grouping == "deputy":
        dims.append(item.assignee_id)
    elif grouping == "month":
        dims.append(month_bucket(moment, bounds))
    return dims


async def item_figures(
    *, session: AsyncSession, stations: Sequence[StationNode], span: Span, grouping: Grouping = "station",
    months: Sequence[date] = (),
) -> dict[tuple[Any, ...], ItemFigures]:
    """Figures per (station,), (station, assignee) or (station, month index) over the span.

    `months` (for "month") are the first days of the span's months. Open and overdue are not
    counted per month: they are states at a moment, not events in a month.
    """
    result: dict[tuple[Any, ...], ItemFigures] = defaultdict(ItemFigures)
    for zone, ids in _by_zone(stations).items():
        since, until = _instant(span.start, zone), _instant(span.end, zone)
        bounds = [_instant(month, zone) for month in months[1:]]
        for chunk in _chunks(ids):
            await _received(session, result, chunk, since, until, grouping, bounds)
            await _closed(session, result, chunk, since, until, grouping, bounds)
            await _ratings(session, result, chunk, since, until, grouping, bounds)
            if grouping != "month":
                await _open_at(session, result, chunk, min(until, span.now), grouping)
    return dict(result)


async def _received(
    session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int], since: datetime,
    until: datetime, grouping: Grouping, bounds: Sequence[datetime],
) -> None:
    item = Item.__table__.c  # type: ignore[attr-defined]
    dims = _dims(grouping, item, item.created_at, bounds)
    rows = await session.exec(  # type: ignore[call-overload]
        select(*dims, func.count()).where(item.station_id.in_(ids), item.created_at >= since, item.created_at < until)
        .group_by(*dims)
    )
    for *key, count in rows.all():
        result[tuple(key)].received += count


async def _closed(
    session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int], since: datetime,
    until: datetime, grouping: Grouping, bounds: Sequence[datetime],
) -> None:
    """Items resolved or answered (and of those, on time) and items rejected in the span, each
    counted once per month it was resolved in; on time = resolved by its deadline, or it had none
    (a direct answer by the station)."""
    item = Item.__table__.c  # type: ignore[attr-defined]
    event = ItemEvent.__table__.c  # type: ignore[attr-defined]
    bucket = month_bucket(event.at, bounds) if grouping == "month" else literal(0)
    outcome = case((event.kind == REJECTED, REJECTED), else_=RESOLVED)
    closings = (
        select(event.item_id, outcome.label("kind"), bucket.label("bucket"), func.max(event.at).label("at"))
        .join(Item.__table__, item.id == event.item_id)  # type: ignore[attr-defined]
        .where(item.station_id.in_(ids), event.kind.in_([*RESOLUTION_KINDS, REJECTED]), event.at >= since,
               event.at < until)
        .group_by(event.item_id, outcome, bucket)
        .subquery()
    )
    dims: list[ColumnElement[Any]] = [item.station_id]
    if grouping == "deputy":
        dims.append(item.assignee_id)
    elif grouping == "month":
        dims.append(closings.c.bucket)
    on_time = case((or_(item.due_at.is_(None), closings.c.at <= item.due_at), 1), else_=0)
    rows = await session.exec(  # type: ignore[call-overload]
        select(*dims, closings.c.kind, func.count(), func.sum(on_time))
        .join(Item.__table__, item.id == closings.c.item_id)  # type: ignore[attr-defined]
        .group_by(*dims, closings.c.kind)
    )
    for *key, kind, count, timely in rows.all():
        figures = result[tuple(key)]
        if kind == RESOLVED:
            figures.resolved += count
            figures.on_time += int(timely or 0)
        else:
            figures.rejected += count


async def _ratings(
    session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int], since: datetime,
    until: datetime, grouping: Grouping, bounds: Sequence[datetime],
) -> None:
    """Ratings given in the span that are still their item's rating (a new resolution clears the
    old one): the item's latest 'rated' event, when it falls in the span."""
    item = Item.__table__.c  # type: ignore[attr-defined]
    event = ItemEvent.__table__.c  # type: ignore[attr-defined]
    later = ItemEvent.__table__.alias("later")  # type: ignore[attr-defined]
    newer = exists().where(
        later.c.item_id == event.item_id, later.c.kind == RATED,
        or_(later.c.at > event.at, and_(later.c.at == event.at, later.c.id > event.id)),
    )
    dims = _dims(grouping, item, event.at, bounds)
    rows = await session.exec(  # type: ignore[call-overload]
        select(*dims, item.rating, func.count())
        .select_from(ItemEvent.__table__)  # type: ignore[attr-defined]
        .join(Item.__table__, item.id == event.item_id)  # type: ignore[attr-defined]
        .where(item.station_id.in_(ids), event.kind == RATED, event.at >= since, event.at < until,
               item.rating.is_not(None), ~newer)
        .group_by(*dims, item.rating)
    )
    for *key, rating, count in rows.all():
        name = RATING_FIELDS.get(rating)
        if name is not None:
            figures = result[tuple(key)]
            setattr(figures, name, getattr(figures, name) + count)


async def _open_at(
    session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int], moment: datetime,
    grouping: Grouping,
) -> None:
    """Items open at `moment`, and of those overdue (past their deadline then).

    An item not changed since `moment` is in its present status; one changed since is in the
    status its last event before `moment` gave it. So an index on status finds the first kind and
    one on updated_at the second, and only items touched since then are looked at event by event.
    """
    item = Item.__table__.c  # type: ignore[attr-defined]
    event = ItemEvent.__table__.c  # type: ignore[attr-defined]
    dims = _dims(grouping, item, None, ())
    overdue = func.sum(case((and_(item.due_at.is_not(None), item.due_at < moment), 1), else_=0))
    unchanged = await session.exec(  # type: ignore[call-overload]
        select(*dims, func.count(), overdue)
        .where(item.station_id.in_(ids), item.status.in_(OPEN), item.created_at < moment, item.updated_at < moment)
        .group_by(*dims)
    )
    status_then = (
        select(event.to_status)
        .where(event.item_id == item.id, event.to_status.is_not(None), event.at < moment)
        .order_by(event.at.desc(), event.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    changed = await session.exec(  # type: ignore[call-overload]
        select(*dims, func.count(), overdue)
        .where(item.station_id.in_(ids), item.created_at < moment, item.updated_at >= moment, status_then.in_(OPEN))
        .group_by(*dims)
    )
    for *key, count, late in [*unchanged.all(), *changed.all()]:
        figures = result[tuple(key)]
        figures.open += count
        figures.overdue += int(late or 0)


# --- attendance ---------------------------------------------------------------------------------
@dataclass
class Attendance:
    """Duties at receptions that have ended: 应到 (on the roster), 实到, 请假, 缺席, 主动到站."""

    on_duty: int = 0
    present: int = 0
    leave: int = 0
    absent: int = 0
    walk_in: int = 0
    held: int = 0  # receptions (per station rows only)

    @property
    def attended(self) -> int:
        """接待次数: receptions the deputy was at, on duty or walking in."""
        return self.present + self.walk_in

    def add(self, other: Attendance) -> Attendance:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    @classmethod
    def total(cls, many: Iterable[Attendance]) -> Attendance:
        result = cls()
        for tally in many:
            result.add(tally)
        return result


def _counted(outcome: str) -> ColumnElement[int]:
    return func.sum(case((Duty.__table__.c.outcome == outcome, 1), else_=0))  # type: ignore[attr-defined]


async def attendance(
    *, session: AsyncSession, station_ids: Sequence[int], start: date, end: date, grouping: Grouping = "station",
    months: Sequence[date] = (),
) -> dict[tuple[Any, ...], Attendance]:
    """Per (station,), (station, person) ("deputy"), (station, month index) ("month") or (station,
    person, month index) ("deputy_month"), over the receptions held (ended and closed) on local
    dates [start, end); per station and per month also `held`, the receptions held."""
    duty = Duty.__table__.c  # type: ignore[attr-defined]
    reception = Reception.__table__.c  # type: ignore[attr-defined]
    result: dict[tuple[Any, ...], Attendance] = defaultdict(Attendance)
    for chunk in _chunks(station_ids):
        held = (reception.station_id.in_(chunk), reception.status == ReceptionStatus.SCHEDULED.value,
                reception.closed_at.is_not(None), reception.local_date >= start, reception.local_date < end)
        dims: list[ColumnElement[Any]] = [reception.station_id]
        if grouping in ("deputy", "deputy_month"):
            dims.append(duty.person_id)
        if grouping in ("month", "deputy_month"):
            dims.append(month_bucket(reception.local_date, months[1:]))
        rows = await session.exec(  # type: ignore[call-overload]
            select(*dims, func.sum(case((duty.on_duty.is_(True), 1), else_=0)), _counted(Outcome.PRESENT.value),
                   _counted(Outcome.LEAVE.value), _counted(Outcome.ABSENT.value), _counted(Outcome.WALK_IN.value))
            .select_from(Duty.__table__)  # type: ignore[attr-defined]
            .join(Reception.__table__, reception.id == duty.reception_id)  # type: ignore[attr-defined]
            .where(*held)
            .group_by(*dims)
        )
        for *key, on_duty, present, leave, absent, walk_in in rows.all():
            result[tuple(key)].add(Attendance(int(on_duty or 0), int(present or 0), int(leave or 0),
                                              int(absent or 0), int(walk_in or 0)))
        if grouping in ("station", "month"):
            counted = await session.exec(  # type: ignore[call-overload]
                select(*dims, func.count()).select_from(Reception.__table__).where(*held).group_by(*dims)  # type: ignore[attr-defined]
            )
            for *key, count in counted.all():
                result[tuple(key)].held += count
    return dict(result)


async def held_between(*, session: AsyncSession, station_ids: Sequence[int], start: date, end: date) -> tuple[date, date] | None:
    """The first and last day a reception was held in [start, end), or None: the months worth a row."""
    reception = Reception.__table__.c  # type: ignore[attr-defined]
    first: date | None = None
    last: date | None = None
    for chunk in _chunks(station_ids):
        low, high = (await session.exec(  # type: ignore[call-overload]
            select(func.min(reception.local_date), func.max(reception.local_date))
            .where(reception.station_id.in_(chunk), reception.status == ReceptionStatus.SCHEDULED.value,
                   reception.closed_at.is_not(None), reception.local_date >= start, reception.local_date < end)
        )).one()
        if isinstance(low, str):
            low, high = date.fromisoformat(low), date.fromisoformat(high)
        if low is not None:
            first = low if first is None else min(first, low)
            last = high if last is None else max(last, high)
    return (first, last) if first is not None and last is not None else None


# --- deputies -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeputyRef:
    station_id: int
    person_id: int
    name: str
    level: str | None
    active: bool


async def deputies(*, session: AsyncSession, station_ids: Sequence[int], also: Iterable[tuple[int, int]] = ()) -> list[DeputyRef]:
    """The stations' deputies (active ones, and former ones named in `also` as (station, person)
    because they had duties or items in the period), by station and name."""
    role = RoleAssignment.__table__.c  # type: ignore[attr-defined]
    person = Person.__table__.c  # type: ignore[attr-defined]
    wanted = set(also)
    found: dict[tuple[int, int], DeputyRef] = {}
    for chunk in _chunks(station_ids):
        rows = await session.exec(  # type: ignore[call-overload]
            select(role.station_id, role.person_id, person.display_name, role.congress_level, role.active)
            .join(Person.__table__, person.id == role.person_id)  # type: ignore[attr-defined]
            .where(role.station_id.in_(chunk), role.role == RoleName.DEPUTY.value)
        )
        for station_id, person_id, name, level, active in rows.all():
            if active or (station_id, person_id) in wanted:
                found[(station_id, person_id)] = DeputyRef(station_id, person_id, name, level, bool(active))
    missing = [pair for pair in wanted if pair not in found and pair[1] is not None]
    if missing:
        names = await person_names(session=session, person_ids=[person_id for _station, person_id in missing])
        for station_id, person_id in missing:
            found[(station_id, person_id)] = DeputyRef(station_id, person_id, names.get(person_id, ""), None, False)
    return sorted(found.values(), key=lambda d: (d.station_id, d.name, d.person_id))


async def person_names(*, session: AsyncSession, person_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(person_ids))
    names: dict[int, str] = {}
    person = Person.__table__.c  # type: ignore[attr-defined]
    for chunk in _chunks(ids):
        rows = await session.exec(select(person.id, person.display_name).where(person.id.in_(chunk)))  # type: ignore[call-overload]
        names.update({person_id: name for person_id, name in rows.all()})
    return names
