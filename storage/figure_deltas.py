"""The item figures kept per station and month as events happen (table `figure_delta`).

A roll-up of a province's month must not read the month's events one by one: each event changes
a handful of counters instead, in the same transaction as the event (a flush hook, so no caller
can forget it), and a period of whole months is one GROUP BY over those counters
(`storage.reports.item_figures`). The definitions are those of `item_figures`, expressed as
changes that a sum over months turns back into the figure:

- `received` (month = arrival): +1 per item;
- `merged` (month = arrival, other = the month of the merge): +1 when the item is a duplicate merged
  into another at a month's end (the received items of [a, b] are `received` less these rows with
  month in [a, b], other <= b: one matter counts once);
- `done` (month = arrival, other = the month of the change): +1 when the item is 办结 (resolved or
  closed) at a month's end and was not at the previous one, -1 when it stops being so; the items
  received in months [a, b] and done at the end of b are the rows with month in [a, b], other <= b;
- `open`, `overdue` (month = the change): +1 / -1 as the item becomes or stops being open (past the
  deadline in force) at a month's end; at the end of b: the rows with month <= b;
- `resolved`, `on_time`, `rejected` and the three ratings (month = the event's): +1 per event,
  other = the month of the next event that supersedes it (the next resolution; the next
  rejection; for a rating the next resolution or rating), `NEVER` while none has; an event counts
  for the months [a, b] when month is in [a, b] and other > b (it is then the last in the period).

Months are the station's own (its zone) as `year * 12 + month - 1`. An item's contribution is a
function of its arrival and its events alone (`item_deltas`), so the hook applies the difference
its new events make, and `rebuild` recomputes stations from their events (the migration's
backfill, a changed time zone, a bulk load); tests compare the kept figures with both a rebuild
and the figures computed from the events themselves. Two transactions never both add events to
one item unseen by each other: every change of an item updates its row first (a row lock on
PostgreSQL until commit; SQLite has one writer), so the hook reads the item's events after any
other transaction's are committed. Counters are upserted in key order (no deadlock between two).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from storage.items import RESOLUTION_KINDS
from storage.models import OPEN_STATUSES, FigureDelta, Item, ItemEvent, ItemStatus, Rating, Station
from storage.rows import id_of

NEVER = 999_999  # the `other` month of an event nothing has superseded
REJECTED, RATED = "rejected", "rated"
ENDS_ROUND = (*RESOLUTION_KINDS, RATED)  # what makes a rating history
OPEN = frozenset(status.value for status in OPEN_STATUSES)
DONE = frozenset((ItemStatus.RESOLVED.value, ItemStatus.CLOSED.value))
MERGED = ItemStatus.MERGED.value
RATINGS = {rating.value: rating.value for rating in Rating}
LEVELS = ("open", "overdue")  # counted up to the period's last month
LASTS = ("resolved", "on_time", "rejected", *RATINGS)  # the last event of its kind in the period
STATIONS_PER_REBUILD = 50  # stations rebuilt per pass: their items and events are in memory at once

Key = tuple[int, str, int, int]  # station, figure, month, other
TABLE = FigureDelta.__table__  # type: ignore[attr-defined]
EVENT = ItemEvent.__table__.c  # type: ignore[attr-defined]
ITEM = Item.__table__.c  # type: ignore[attr-defined]
STATION = Station.__table__.c  # type: ignore[attr-defined]


def month_index(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return local.year * 12 + local.month - 1


def month_of_day(day: date) -> int:
    return day.year * 12 + day.month - 1


@dataclass(frozen=True)
class EventFacts:
    """What the figures read of an event."""

    id: int
    at: datetime
    kind: str
    to_status: str | None
    note: str | None
    due_at: datetime | None


def rating_of(note: str | None) -> str | None:
    """The rating a 'rated' event's note starts with (`satisfied`, or `satisfied: 评语`), as the SQL
    of `storage.reports` reads it."""
    if note is None:
        return None
    return next((code for code in RATINGS if note == code or note.startswith(f"{code}:")), None)


def item_deltas(arrival_month: int, events: Sequence[EventFacts], zone: ZoneInfo) -> Counter[tuple[str, int, int]]:
    """The changes one item's events make to its station's counters (not `received`, which the
    item's arrival makes): (figure, month, other) -> count. `events` in order of (at, id)."""
    deltas: Counter[tuple[str, int, int]] = Counter()
    months = [month_index(event.at, zone) for event in events]
    _status_segments(deltas, arrival_month, events, months, zone)
    _lasts(deltas, events, months)
    return Counter({key: count for key, count in deltas.items() if count})  # without the zeros (`+` drops negatives too)


def _status_segments(deltas: Counter[tuple[str, int, int]], arrival_month: int, events: Sequence[EventFacts],
                     months: list[int], zone: ZoneInfo) -> None:
    """Status and deadline at each month's end (as the last event up to then left them), as
    segments of months [start, end) with one state each."""
    states: list[tuple[int, str | None, datetime | None]] = []  # (month, status, deadline) after its last event
    status: str | None = None
    for event, month in zip(events, months, strict=True):
        status = event.to_status if event.to_status is not None else status
        if states and states[-1][0] == month:
            states[-1] = (month, status, event.due_at)
        else:
            states.append((month, status, event.due_at))
    for index, (start, state, deadline) in enumerate(states):
        end = states[index + 1][0] if index + 1 < len(states) else NEVER
        if state in DONE:
            _span(deltas, ("done", arrival_month), start, end)
        elif state == MERGED:
            _span(deltas, (MERGED, arrival_month), start, end)
        elif state in OPEN:
            _span(deltas, ("open", None), start, end)
            if deadline is not None:
                # Overdue at a month's end when the deadline fell before it.
                late_from = max(start, month_index(deadline, zone))
                if late_from < end:
                    _span(deltas, ("overdue", None), late_from, end)


def _span(deltas: Counter[tuple[str, int, int]], figure: tuple[str, int | None], start: int, end: int) -> None:
    """+1 from month `start`, -1 from month `end` (NEVER: still so)."""
    name, arrival = figure
    if arrival is None:  # a level: the month of the change is the row's month
        deltas[(name, start, 0)] += 1
        if end != NEVER:
            deltas[(name, end, 0)] -= 1
    else:  # done, merged: by the arrival month, the change in `other`
        deltas[(name, arrival, start)] += 1
        if end != NEVER:
            deltas[(name, arrival, end)] -= 1


def _lasts(deltas: Counter[tuple[str, int, int]], events: Sequence[EventFacts], months: list[int]) -> None:
    """Resolutions, rejections and ratings, each with the month of the event that supersedes it."""
    def following(index: int, kinds: Iterable[str]) -> int:
        wanted = tuple(kinds)
        return next((months[later] for later in range(index + 1, len(events)) if events[later].kind in wanted), NEVER)

    for index, event in enumerate(events):
        month = months[index]
        if event.kind in RESOLUTION_KINDS:
            until = following(index, RESOLUTION_KINDS)
            deltas[("resolved", month, until)] += 1
            if event.due_at is None or event.at <= event.due_at:
                deltas[("on_time", month, until)] += 1
        elif event.kind == REJECTED:
            deltas[(REJECTED, month, following(index, (REJECTED,)))] += 1
        elif event.kind == RATED and (code := rating_of(event.note)) is not None:
            deltas[(code, month, following(index, ENDS_ROUND))] += 1


# --- keeping them -----------------------------------------------------------------------------------
def _upsert_statement(dialect: Any) -> Any:
    statement = dialect.insert(TABLE)
    return statement.on_conflict_do_update(
        index_elements=["station_id", "figure", "month", "other"],
        set_={"count": TABLE.c.count + statement.excluded.count},
    )


# Built once per dialect: every intake flush runs it, and building it took longer than running it.
UPSERTS = {"postgresql": _upsert_statement(postgresql), "sqlite": _upsert_statement(sqlite)}


def _upsert(connection: Connection, changes: Counter[Key]) -> None:
    """Add the changes to the counters (in key order, so two transactions never wait on each other
    in opposite orders)."""
    rows = [{"station_id": key[0], "figure": key[1], "month": key[2], "other": key[3], "count": count}
            for key, count in sorted(changes.items()) if count]
    if not rows:
        return
    connection.execute(UPSERTS["postgresql" if connection.dialect.name == "postgresql" else "sqlite"], rows)


def _facts(row: Any) -> EventFacts:
    return EventFacts(row.id, row.at, row.kind, row.to_status, row.note, row.due_at)


def _facts_of(event: ItemEvent) -> EventFacts:
    """An event as flushed: its enums as the plain strings a query would read."""
    to_status = None if event.to_status is None else str(event.to_status)
    return EventFacts(id_of(event), event.at, str(event.kind), to_status, event.note, event.due_at)


def after_flush(session: Session, _context: Any) -> None:
    """Apply what this flush changed: new items are received, new events change their item's
    counters by the difference they make, a station whose zone changed is rebuilt."""
    new_items = [row for row in session.new if isinstance(row, Item)]
    new_events = [row for row in session.new if isinstance(row, ItemEvent)]
    rezoned = [row.id for row in session.dirty if isinstance(row, Station) and row.id is not None
               and inspect(row).attrs.timezone.history.has_changes()]
    if not (new_items or new_events or rezoned):
        return
    connection = session.connection()
    if rezoned:
        rebuild(connection, station_ids=rezoned)
    changes: Counter[Key] = Counter()
    zones = _zones(session, connection, {item.station_id for item in new_items if item.station_id not in rezoned})
    born = {item.id: item for item in new_items if item.station_id not in rezoned}
    for item in born.values():
        changes[(item.station_id, "received", month_index(item.created_at, zones[item.station_id]), 0)] += 1
    # An item made in this flush has no history but its new events: counted from them as they are.
    for item_id, history in groupby(sorted((event for event in new_events if event.item_id in born),
                                           key=lambda event: (event.item_id, event.at, event.id)),
                                    key=lambda event: event.item_id):
        item = born[item_id]
        zone = zones[item.station_id]
        deltas = item_deltas(month_index(item.created_at, zone), [_facts_of(event) for event in history], zone)
        for (figure, month, other), count in deltas.items():
            changes[(item.station_id, figure, month, other)] += count
    _apply_events_of_older_items(connection, changes, [event for event in new_events if event.item_id not in born],
                                 rezoned)
    _upsert(connection, changes)


def _apply_events_of_older_items(
    connection: Connection, changes: Counter[Key], new_events: list[ItemEvent], rezoned: list[int]
) -> None:
    """New events of items made before this flush: the difference they make to the item's whole
    history, read back with them."""
    item_ids = sorted({event.item_id for event in new_events})
    fresh = {event.id for event in new_events}
    for start in range(0, len(item_ids), 5000):
        chunk = item_ids[start : start + 5000]
        rows = connection.execute(
            select(ITEM.station_id, ITEM.created_at, STATION.timezone, EVENT.item_id, EVENT.id, EVENT.at, EVENT.kind,
                   EVENT.to_status, EVENT.note, EVENT.due_at)
            .select_from(ItemEvent.__table__)  # type: ignore[attr-defined]
            .join(Item.__table__, ITEM.id == EVENT.item_id)  # type: ignore[attr-defined]
            .join(Station.__table__, STATION.id == ITEM.station_id)  # type: ignore[attr-defined]
            .where(EVENT.item_id.in_(chunk))
            .order_by(EVENT.item_id, EVENT.at, EVENT.id)
        ).all()
        by_item: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_item[row.item_id].append(row)
        for history in by_item.values():
            first = history[0]
            if first.station_id in rezoned:
                continue  # rebuilt above, new events included
            zone = ZoneInfo(first.timezone)
            arrival = month_index(first.created_at, zone)
            everything = [_facts(row) for row in history]
            before = [facts for facts in everything if facts.id not in fresh]
            difference = item_deltas(arrival, everything, zone)
            difference.subtract(item_deltas(arrival, before, zone))
            for (figure, month, other), count in difference.items():
                if count:
                    changes[(first.station_id, figure, month, other)] += count


def _zones(session: Session | None, connection: Connection, station_ids: Iterable[int]) -> dict[int, ZoneInfo]:
    """The stations' zones: those the session holds as they are there, the others read."""
    zones: dict[int, ZoneInfo] = {}
    for station_id in set(station_ids):
        held = session.identity_map.get(identity_key(Station, station_id)) if session is not None else None
        if isinstance(held, Station):
            zones[station_id] = ZoneInfo(held.timezone)
    missing = sorted(set(station_ids) - zones.keys())
    if missing:
        rows = connection.execute(select(STATION.id, STATION.timezone).where(STATION.id.in_(missing)))
        zones.update((station_id, ZoneInfo(zone)) for station_id, zone in rows.all())
    return zones


def rebuild(connection: Connection, *, station_ids: Sequence[int] | None = None) -> int:
    """Recompute the counters of these stations (None: all) from their items and events; returns
    the items read. Stations are done a few at a time, so memory holds only theirs."""
    if station_ids is None:
        station_ids = list(connection.execute(select(STATION.id).order_by(STATION.id)).scalars())
    items = 0
    for start in range(0, len(station_ids), STATIONS_PER_REBUILD):
        chunk = list(station_ids[start : start + STATIONS_PER_REBUILD])
        connection.execute(delete(TABLE).where(TABLE.c.station_id.in_(chunk)))
        changes, read = _recompute(connection, chunk)
        _upsert(connection, changes)
        items += read
    return items


def _recompute(connection: Connection, station_ids: list[int]) -> tuple[Counter[Key], int]:
    """The counters of a few stations, from scratch, and the number of their items."""
    zones = _zones(None, connection, station_ids)
    changes: Counter[Key] = Counter()
    arrivals: dict[int, tuple[int, int, ZoneInfo]] = {}
    for item_id, station_id, created_at in connection.execute(
        select(ITEM.id, ITEM.station_id, ITEM.created_at).where(ITEM.station_id.in_(station_ids))
    ):
        zone = zones[station_id]
        arrivals[item_id] = (station_id, month_index(created_at, zone), zone)
        changes[(station_id, "received", arrivals[item_id][1], 0)] += 1
    # Events by their item's station (the item's own, not the copy on the event), item by item.
    rows = connection.execute(
        select(EVENT.item_id, EVENT.id, EVENT.at, EVENT.kind, EVENT.to_status, EVENT.note, EVENT.due_at)
        .select_from(ItemEvent.__table__)  # type: ignore[attr-defined]
        .join(Item.__table__, ITEM.id == EVENT.item_id)  # type: ignore[attr-defined]
        .where(ITEM.station_id.in_(station_ids))
        .order_by(EVENT.item_id, EVENT.at, EVENT.id)
    )
    for item_id, history in groupby(rows, key=lambda row: row.item_id):
        station_id, arrival, zone = arrivals[item_id]
        for (figure, month, other), count in item_deltas(arrival, [_facts(row) for row in history], zone).items():
            changes[(station_id, figure, month, other)] += count
    return changes, len(arrivals)


# --- reading them -----------------------------------------------------------------------------------
def totals_queries(station_ids: Sequence[int], first: int, last: int, *, levels: bool = True) -> list[Any]:
    """Per station and figure, the sum of the rows that make its figure for months [first, last]
    (see the module's docstring): one query per shape of condition, so each reads one index range
    per station and figure. `levels=False` leaves out open and overdue (a period still running
    takes them from the items as they are now)."""
    station, figure, month, other = TABLE.c.station_id, TABLE.c.figure, TABLE.c.month, TABLE.c.other
    ids = list(station_ids)
    conditions = [
        (figure == "received", month.between(first, last)),
        (figure.in_(("done", MERGED)), month.between(first, last), other <= last),
        (figure.in_(LASTS), month.between(first, last), other > last),
    ]
    if levels:
        conditions.append((figure.in_(LEVELS), month <= last))
    return [select(station, figure, func.sum(TABLE.c.count)).where(station.in_(ids), *condition)
            .group_by(station, figure) for condition in conditions]
