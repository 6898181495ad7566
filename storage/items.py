"""Items (群众意见建议) and their append-only event history."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Item, ItemEvent, ItemStatus, Message, Station
from storage.rows import id_of, new_row


def create_item(
    *,
    session: AsyncSession,
    station: Station,
    tag: str,
    text: str,
    reporter_id: int,
    source_message: Message | None,
    now: datetime,
    private: bool = False,
) -> Item:
    """Stage a new item with the station's next number, and its 'created' event.

    Nothing is written until the next flush, so a batch of intake costs one flush. The number is
    taken from the station row as this transaction sees it; if another writer took numbers
    meanwhile, the unique (station, number) constraint fails this transaction (which is retried)
    rather than ever giving two items one number.
    """
    number = station.next_item_number
    station.next_item_number = number + 1
    if station not in session:  # loaded elsewhere; one of this session's own is tracked already
        session.add(station)
    item = new_row(
        Item,
        station_id=id_of(station),
        number=number,
        tag=tag,
        text=text,
        reporter_id=reporter_id,
        source_message=source_message,
        created_at=now,
        updated_at=now,
        private=private,
    )
    session.add(item)
    add_event(
        session=session, item=item, actor_id=reporter_id, kind="created", from_status=None,
        to_status=ItemStatus.NEW, note=None, now=now,
    )
    return item


def add_event(
    *,
    session: AsyncSession,
    item: Item,
    actor_id: int | None,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
    now: datetime,
) -> ItemEvent:
    """Append to an item's history (written at the next flush; the item may be new itself)."""
    event = new_row(
        ItemEvent,
        item=item, actor_id=actor_id, at=now, kind=kind, from_status=from_status, to_status=to_status, note=note,
        due_at=item.due_at, station_id=item.station_id,
    )
    session.add(event)
    return event


async def get_item(*, session: AsyncSession, station_id: int, number: int) -> Item | None:
    result = await session.exec(select(Item).where(Item.station_id == station_id, Item.number == number))
    return result.first()


async def get_item_by_source(*, session: AsyncSession, source_message_id: int) -> Item | None:
    result = await session.exec(select(Item).where(Item.source_message_id == source_message_id))
    return result.first()


async def list_items(
    *,
    session: AsyncSession,
    station_id: int | None = None,
    statuses: Sequence[str] | None = None,
    assignee_id: int | None = None,
    reporter_id: int | None = None,
    due_before: datetime | None = None,
    limit: int | None = None,
) -> list[Item]:
    query = select(Item)
    if station_id is not None:
        query = query.where(Item.station_id == station_id)
    if statuses is not None:
        query = query.where(col(Item.status).in_(list(statuses)))
    if assignee_id is not None:
        query = query.where(Item.assignee_id == assignee_id)
    if reporter_id is not None:
        query = query.where(Item.reporter_id == reporter_id)
    if due_before is not None:
        query = query.where(col(Item.due_at).is_not(None), col(Item.due_at) < due_before)
    query = query.order_by(col(Item.station_id), col(Item.number))
    if limit is not None:
        query = query.limit(limit)
    result = await session.exec(query)
    return list(result.all())


async def events_of(*, session: AsyncSession, item_id: int) -> list[ItemEvent]:
    result = await session.exec(
        select(ItemEvent).where(ItemEvent.item_id == item_id).order_by(col(ItemEvent.at), col(ItemEvent.id))
    )
    return list(result.all())


# --- the state machine (DESIGN.md §3) --------------------------------------------------------------
# Which statuses each action may start from. Handlers check here before changing anything, so an
# illegal command changes nothing and the user is told what is possible instead.
TRANSITIONS: dict[str, frozenset[str]] = {
    "assign": frozenset({ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED}),
    "progress": frozenset({ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED}),
    # A deputy who fixed it at once closes straight from "assigned"; staff may answer a new item on
    # the spot (当场答复), recorded as answered by the station.
    "close": frozenset({ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED}),
    "reject": frozenset({ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED}),
    "reopen": frozenset({ItemStatus.RESOLVED, ItemStatus.REJECTED, ItemStatus.CLOSED}),
    # A referral (rejected) is final: no rating; only staff may reopen it.
    "rate": frozenset({ItemStatus.RESOLVED}),
    # A duplicate is merged while it (and the item it joins) are still being handled.
    "merge": frozenset({ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED}),
}
# The events that end a round of handling: resolved by the assignee (or staff), answered by the
# station itself (a direct answer to an unassigned item), or rejected / referred elsewhere.
RESOLUTION_KINDS = ("resolved", "answered")
TERMINAL_KINDS = (*RESOLUTION_KINDS, "rejected")


def may_transition(action: str, status: str) -> bool:
    return status in TRANSITIONS.get(action, frozenset())


def actions_from(status: str) -> list[str]:
    """The actions possible from a status, in the table's order (for 'what you can do' hints)."""
    return [action for action, sources in TRANSITIONS.items() if status in sources]


async def transition(
    *,
    session: AsyncSession,
    item: Item,
    to_status: str,
    kind: str,
    actor_id: int | None,
    note: str | None,
    now: datetime,
) -> ItemEvent:
    """Move an item to a status and append the event; the caller has checked `may_transition`."""
    from_status = item.status
    item.status = to_status
    item.updated_at = now
    session.add(item)
    return add_event(
        session=session, item=item, actor_id=actor_id, kind=kind, from_status=from_status,
        to_status=to_status, note=note, now=now,
    )


async def get_item_by_id(*, session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def count_events(*, session: AsyncSession, item_id: int, kind: str) -> int:
    result = await session.exec(
        select(func.count()).select_from(ItemEvent).where(ItemEvent.item_id == item_id, ItemEvent.kind == kind)
    )
    return int(result.one())


async def items_reported_by(*, session: AsyncSession, person_id: int, limit: int = 50) -> list[Item]:
    """A reporter's items, newest first (for /my)."""
    result = await session.exec(
        select(Item).where(Item.reporter_id == person_id).order_by(col(Item.created_at).desc(), col(Item.id).desc())
        .limit(limit)
    )
    return list(result.all())


async def count_items(
    *,
    session: AsyncSession,
    station_id: int,
    statuses: Sequence[str] | None = None,
    assignee_id: int | None = None,
    due_before: datetime | None = None,
) -> int:
    query = select(func.count()).select_from(Item).where(Item.station_id == station_id)
    if statuses is not None:
        query = query.where(col(Item.status).in_(list(statuses)))
    if assignee_id is not None:
        query = query.where(Item.assignee_id == assignee_id)
    if due_before is not None:
        query = query.where(col(Item.due_at).is_not(None), col(Item.due_at) < due_before)
    result = await session.exec(query)
    return int(result.one())


async def station_history(
    *, session: AsyncSession, station_id: int, until: datetime | None
) -> list[tuple[Item, list[ItemEvent]]]:
    """A station's items received before `until` (all when None), each with its events in order:
    everything the period figures are computed from."""
    items_query = select(Item).where(Item.station_id == station_id)
    events_query = (
        select(ItemEvent).join(Item, col(Item.id) == col(ItemEvent.item_id)).where(Item.station_id == station_id)
    )
    if until is not None:
        items_query = items_query.where(col(Item.created_at) < until)
        events_query = events_query.where(col(Item.created_at) < until, col(ItemEvent.at) < until)
    items = list((await session.exec(items_query.order_by(col(Item.number)))).all())
    events: dict[int, list[ItemEvent]] = {id_of(item): [] for item in items}
    for event in (await session.exec(events_query.order_by(col(ItemEvent.at), col(ItemEvent.id)))).all():
        events.setdefault(event.item_id, []).append(event)
    return [(item, events[id_of(item)]) for item in items]


# Built once, with parameters (a statement of the per-event path: see storage.people).
RECENT_BY_REPORTERS = select(Item.reporter_id, Item.station_id, Item.created_at).where(
    col(Item.reporter_id).in_(bindparam("reporter_ids", expanding=True)), col(Item.created_at) >= bindparam("since")
)


async def recent_by_reporters(
    *, session: AsyncSession, reporter_ids: Collection[int], since: datetime
) -> dict[int, list[tuple[int, datetime]]]:
    """Items raised since `since` by each reporter: (station id, created at), for the flood limit."""
    if not reporter_ids:
        return {}
    result = await session.exec(RECENT_BY_REPORTERS, params={"reporter_ids": list(reporter_ids), "since": since})
    found: dict[int, list[tuple[int, datetime]]] = {}
    for reporter_id, station_id, created_at in result.all():
        found.setdefault(reporter_id, []).append((station_id, created_at))
    return found
