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
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import figure_deltas
from storage.items import RESOLUTION_KINDS
from storage.models import (
    OPEN_STATUSES,
    Duty,
    Item,
    ItemEvent,
    ItemStatus,
    Outcome,
    Person,
    Rating,
    Reception,
    ReceptionStatus,
    RoleAssignment,
    RoleName,
    Station,
    Supporter,
)

CHUNK = 5000  # ids per IN (…): a province in one query, well under SQLite's (3.32+) and asyncpg's 32,766 parameters
OPEN = [status.value for status in OPEN_STATUSES]
# A round of handling ends resolved (by the assignee or staff), answered (by the station itself,
# on the spot) or rejected (not accepted, referred elsewhere).
REJECTED, RATED = "rejected", "rated"
DONE = [ItemStatus.RESOLVED.value, ItemStatus.CLOSED.value]  # 办结 at a moment: resolved, maybe rated
MERGED = ItemStatus.MERGED.value  # a duplicate, counted with the item it was merged into


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
    """A period's figures (the definitions: `item_figures`)."""

    received: int = 0  # duplicates merged into another item by the period's end not counted: one matter, once
    received_resolved: int = 0
    merged: int = 0  # duplicates received in the period and merged into another item by its end
    supported: int = 0  # items received in the period that residents support (附议), now
    supporters: int = 0  # their supporters (附议人数), now
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
    """Local dates [start, end) and the moment the figures are taken at."""

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


Grouping = str  # "station"; or (station, the item's assignee | unit | category): "deputy", "unit", "category"


@dataclass(frozen=True)
class _Window:
    """One zone's period as instants: [since, until), and the cutoff (the end of a period that is
    over; None while it lasts, when every event up to now counts)."""

    since: datetime
    until: datetime
    cutoff: datetime | None
    now: datetime

    @property
    def end(self) -> datetime:
        return self.cutoff or self.now


async def item_figures(
    *, session: AsyncSession, stations: Sequence[StationNode], span: Span, grouping: Grouping = "station",
    from_events: bool = False,
) -> dict[tuple[Any, ...], ItemFigures]:
    """Figures per (station,) or (station, assignee) for a period; each event counts in the period
    it happened in, and events after the end of a period that is over are not looked at, so a past
    month's figures never change:

    - received: items received in the period; received_resolved: of those, the ones resolved or
      closed (办结: resolved or answered and maybe rated, not rejected) at the period's end — the
      resolution rate is received_resolved / received;
    - resolved: items with a resolution ('resolved', or 'answered' by the station) in the period,
      whenever received; on_time: of those, the ones whose last resolution in the period came by the
      deadline in force then (`itemevent.due_at`; none, as for a direct answer, is on time);
    - rejected: items referred / not accepted ('rejected') in the period;
    - open, overdue: items open at the period's end (now, while it lasts), and of those the ones past
      the deadline in force then;
    - satisfied, basically_satisfied, unsatisfied: the ratings given in the period that are their
      item's latest round at the period's end (a resolution after a rating makes it history); the
      satisfaction rate is (满意 + 基本满意) / all of them.

    Per station over whole months (a month, quarter, year, span of months, all time) they are read
    from the figures kept per station and month (`storage.figure_deltas`, the same definitions as
    changes); per deputy, or over days, from the items and events themselves (as `from_events=True` does
    for any period: the tests compare the two).
    """
    result: dict[tuple[Any, ...], ItemFigures] = defaultdict(ItemFigures)
    kept = grouping == "station" and span.start.day == 1 and span.end.day == 1 and not from_events
    for zone, ids in _by_zone(stations).items():
        since, until = _instant(span.start, zone), _instant(span.end, zone)
        window = _Window(since, until, until if until <= span.now else None, span.now)
        for chunk in _chunks(ids):
            await _supported(session, result, chunk, window, grouping)
            if kept:
                await _kept(session, result, chunk, span, window)
                continue
            await _received(session, result, chunk, window, grouping)
            await _resolved(session, result, chunk, window, grouping)
            await _rejected(session, result, chunk, window, grouping)
            await _ratings(session, result, chunk, window, grouping)
            await _open_at_end(session, result, chunk, window, grouping)
    return dict(result)


KEPT_FIELDS = {"received": "received", "done": "received_resolved", "merged": "merged", "open": "open", "overdue": "overdue",
               "resolved": "resolved", "on_time": "on_time", "rejected": "rejected", **RATING_FIELDS}


async def _kept(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int], span: Span,
                window: _Window) -> None:
    """A period of whole months from the kept figures; open and overdue of a period still running
    from the items as they are now."""
    first, last = figure_deltas.month_of_day(span.start), figure_deltas.month_of_day(span.end) - 1
    for query in figure_deltas.totals_queries(ids, first, last, levels=window.cutoff is not None):
        for station_id, figure, total in (await session.exec(query)).all():  # type: ignore[call-overload]
            figures = result[(station_id,)]
            name = KEPT_FIELDS[figure]
            setattr(figures, name, getattr(figures, name) + int(total or 0))
            if figure == figure_deltas.MERGED:
                figures.received -= int(total or 0)
    if window.cutoff is None:
        await _open_at_end(session, result, ids, window, "station")


ITEM = Item.__table__.c  # type: ignore[attr-defined]
EVENT = ItemEvent.__table__.c  # type: ignore[attr-defined]
ITEM_TABLE = Item.__table__  # type: ignore[attr-defined]
EVENT_TABLE = ItemEvent.__table__  # type: ignore[attr-defined]


# What a grouping other than "station" groups each station's items by: the item's column.
GROUPED_BY = {"deputy": "assignee_id", "unit": "unit_id", "category": "category"}


def _dims(grouping: Grouping) -> list[ColumnElement[Any]]:
    return [ITEM.station_id, ITEM[GROUPED_BY[grouping]]] if grouping in GROUPED_BY else [ITEM.station_id]


def _event_dims(grouping: Grouping) -> list[ColumnElement[Any]]:
    """Event queries group by the event's own station (an index range per station); by deputy, unit
    or category they also need that column of the item."""
    return [EVENT.station_id, ITEM[GROUPED_BY[grouping]]] if grouping in GROUPED_BY else [EVENT.station_id]


def _from_events(query: Any, grouping: Grouping) -> Any:
    query = query.select_from(EVENT_TABLE)
    return query.join(ITEM_TABLE, ITEM.id == EVENT.item_id) if grouping in GROUPED_BY else query


def _later(other: Any, event: Any) -> ColumnElement[bool]:
    """`other` comes after `event` in the item's history (events in order of time, then of id)."""
    return and_(other.c.item_id == event.item_id,
                or_(other.c.at > event.at, and_(other.c.at == event.at, other.c.id > event.id)))


def _at_cutoff(cutoff: datetime | None) -> tuple[Any, Any]:
    """The status and the deadline of an item as its events before `cutoff` left them."""
    last = select(EVENT.to_status).where(EVENT.item_id == ITEM.id, EVENT.to_status.is_not(None))
    deadline = select(EVENT.due_at).where(EVENT.item_id == ITEM.id)
    if cutoff is not None:
        last, deadline = last.where(EVENT.at < cutoff), deadline.where(EVENT.at < cutoff)
    order = (EVENT.at.desc(), EVENT.id.desc())
    return last.order_by(*order).limit(1).scalar_subquery(), deadline.order_by(*order).limit(1).scalar_subquery()


async def _states_at_end(
    session: AsyncSession, ids: list[int], window: _Window, grouping: Grouping, where: list[Any],
    measures: Any,
) -> list[Any]:
    """Rows of `measures(status, deadline)` per group, over the items matching `where`, with each
    item's status and deadline at the period's end: an item not changed since then is as it is now;
    one changed since is as its last events before then left it (so only items touched since the
    end are looked at event by event, found by the index on updated_at)."""
    dims = _dims(grouping)
    base = [ITEM.station_id.in_(ids), *where]
    if window.cutoff is None:
        rows = await session.exec(  # type: ignore[call-overload]
            select(*dims, *measures(ITEM.status, ITEM.due_at)).where(*base).group_by(*dims))
        return list(rows.all())
    status, deadline = _at_cutoff(window.cutoff)
    unchanged = await session.exec(  # type: ignore[call-overload]
        select(*dims, *measures(ITEM.status, ITEM.due_at))
        .where(*base, ITEM.created_at < window.cutoff, ITEM.updated_at < window.cutoff).group_by(*dims))
    changed = await session.exec(  # type: ignore[call-overload]
        select(*dims, *measures(status, deadline))
        .where(*base, ITEM.created_at < window.cutoff, ITEM.updated_at >= window.cutoff).group_by(*dims))
    return [*unchanged.all(), *changed.all()]


FEW_STATIONS = 50  # up to this many, a station's own items are the quickest way to its changed ones


def _changed_since(ids: list[int], cutoff: datetime) -> list[ColumnElement[bool]]:
    """Items of these stations created before the cutoff and changed since. For a few stations
    their items are found by station; for many, by the index on updated_at: then the other terms
    are written so that no index serves them (`+ 0`, `coalesce`), or SQLite's planner walks a
    station index through every item of every station."""
    if len(ids) <= FEW_STATIONS:
        return [ITEM.station_id.in_(ids), ITEM.created_at < cutoff, ITEM.updated_at >= cutoff]
    return [(ITEM.station_id + 0).in_(ids), ITEM.updated_at >= cutoff,
            func.coalesce(ITEM.created_at, ITEM.updated_at) < cutoff]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


async def _received(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                    window: _Window, grouping: Grouping) -> None:
    rows = await _states_at_end(
        session, ids, window, grouping, [ITEM.created_at >= window.since, ITEM.created_at < window.until],
        lambda status, _deadline: (func.count(), _count_if(status.in_(DONE)), _count_if(status == MERGED)),
    )
    for *key, count, done, merged in rows:
        figures = result[tuple(key)]
        figures.received += count - int(merged or 0)
        figures.received_resolved += int(done or 0)
        figures.merged += int(merged or 0)


async def _supported(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                     window: _Window, grouping: Grouping) -> None:
    """Items received in the period with supporters, and how many (附议人数) as they are now: a
    supporter joins an item, not an event of a month."""
    dims = _dims(grouping)
    per_item = (
        select(*dims, func.count().label("people"))
        .select_from(ITEM_TABLE).join(Supporter, col(Supporter.item_id) == ITEM.id)
        .where(ITEM.station_id.in_(ids), ITEM.created_at >= window.since, ITEM.created_at < window.until)
        .group_by(ITEM.id, *dims).subquery()
    )
    keys = [per_item.c[column.name] for column in dims]
    rows = await session.exec(  # type: ignore[call-overload]
        select(*keys, func.count(), func.sum(per_item.c.people)).group_by(*keys))
    for *key, items, people in rows.all():
        figures = result[tuple(key)]
        figures.supported += int(items)
        figures.supporters += int(people or 0)


async def _open_at_end(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                       window: _Window, grouping: Grouping) -> None:
    """Items open at the period's end, and of those past the deadline in force then."""
    end, dims = window.end, _dims(grouping)
    late = _count_if(and_(ITEM.due_at.is_not(None), ITEM.due_at < end))
    # The open items as they are now: read from the index on (station, status, updated_at, due_at)
    # alone (an item changed before the cutoff was also created before it).
    queries = [select(*dims, func.count(), late).where(ITEM.station_id.in_(ids), ITEM.status.in_(OPEN))]
    if window.cutoff is not None:
        status, deadline = _at_cutoff(window.cutoff)
        queries = [
            queries[0].where(ITEM.updated_at < window.cutoff),
            # The few items changed since the cutoff.
            select(*dims, func.count(), _count_if(and_(deadline.is_not(None), deadline < end)))
            .where(*_changed_since(ids, window.cutoff), status.in_(OPEN)),
        ]
    for query in queries:
        rows = await session.exec(query.group_by(*dims))  # type: ignore[call-overload]
        for *key, count, overdue in rows.all():
            figures = result[tuple(key)]
            figures.open += count
            figures.overdue += int(overdue or 0)


async def _resolved(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                    window: _Window, grouping: Grouping) -> None:
    """Each item's last resolution in the period, on time by the deadline it carried."""
    later = EVENT_TABLE.alias("later")
    in_period = (EVENT.at >= window.since, EVENT.at < window.until)
    superseded = exists().where(_later(later, EVENT), later.c.kind.in_(RESOLUTION_KINDS),
                                later.c.at >= window.since, later.c.at < window.until)
    dims = _event_dims(grouping)
    rows = await session.exec(  # type: ignore[call-overload]
        _from_events(select(*dims, func.count(), _count_if(or_(EVENT.due_at.is_(None), EVENT.at <= EVENT.due_at))),
                     grouping)
        .where(EVENT.station_id.in_(ids), EVENT.kind.in_(RESOLUTION_KINDS), *in_period, ~superseded)
        .group_by(*dims)
    )
    for *key, count, timely in rows.all():
        figures = result[tuple(key)]
        figures.resolved += count
        figures.on_time += int(timely or 0)


async def _rejected(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                    window: _Window, grouping: Grouping) -> None:
    dims = _event_dims(grouping)
    rows = await session.exec(  # type: ignore[call-overload]
        _from_events(select(*dims, func.count(func.distinct(EVENT.item_id))), grouping)
        .where(EVENT.station_id.in_(ids), EVENT.kind == REJECTED, EVENT.at >= window.since, EVENT.at < window.until)
        .group_by(*dims)
    )
    for *key, count in rows.all():
        result[tuple(key)].rejected += count


def _rating_of(note: Any) -> ColumnElement[str | None]:
    """The rating code a 'rated' event's note starts with (`satisfied` or `satisfied: 评语`)."""
    return case(*((or_(note == code, note.startswith(f"{code}:", autoescape=True)), code) for code in RATING_FIELDS),
                else_=None)


async def _ratings(session: AsyncSession, result: dict[tuple[Any, ...], ItemFigures], ids: list[int],
                   window: _Window, grouping: Grouping) -> None:
    """Ratings given in the period that are still their item's latest round at the period's end: no
    later rating and no later resolution before the end."""
    later = EVENT_TABLE.alias("later")
    ends_round = later.c.kind.in_([*RESOLUTION_KINDS, RATED])  # read from the index on (item, at, kind)
    newer = exists().where(_later(later, EVENT), ends_round,
                           *([later.c.at < window.cutoff] if window.cutoff is not None else []))
    rating = _rating_of(EVENT.note)
    dims = _event_dims(grouping)
    rows = await session.exec(  # type: ignore[call-overload]
        _from_events(select(*dims, rating, func.count()), grouping)
        .where(EVENT.station_id.in_(ids), EVENT.kind == RATED, EVENT.at >= window.since, EVENT.at < window.until,
               rating.is_not(None), ~newer)
        .group_by(*dims, rating)
    )
    for *key, code, count in rows.all():
        figures = result[tuple(key)]
        name = RATING_FIELDS[code]
        setattr(figures, name, getattr(figures, name) + count)


async def monthly_figures(
    *, session: AsyncSession, stations: Sequence[StationNode], months: Sequence[date], now: datetime,
) -> list[dict[tuple[Any, ...], ItemFigures]]:
    """Per month (first days given), the figures of each station, each month exactly as the period
    of that month: what a chart of the months shows."""
    following = [date(m.year + (m.month == 12), m.month % 12 + 1, 1) for m in months]
    return [await item_figures(session=session, stations=stations, span=Span(month, after, now))
            for month, after in zip(months, following, strict=True)]


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


def month_bucket(column: Any, bounds: Sequence[date]) -> ColumnElement[int]:
    """The index of the month a day falls in, given the months' starts after the first; the days
    are already limited to the span, so the last month takes the rest."""
    if not bounds:
        return literal(0)
    return case(*((column < bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))


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
