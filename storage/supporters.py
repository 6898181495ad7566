"""Supporters (附议) of items, duplicates merged into items, and the residents' notification settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Item, ItemStatus, ResidentNotify, Supporter
from storage.rows import id_of


async def supporters_of(*, session: AsyncSession, item_id: int) -> list[Supporter]:
    result = await session.exec(select(Supporter).where(Supporter.item_id == item_id).order_by(col(Supporter.id)))
    return list(result.all())


async def get_supporter(*, session: AsyncSession, item_id: int, person_id: int) -> Supporter | None:
    result = await session.exec(
        select(Supporter).where(Supporter.item_id == item_id, Supporter.person_id == person_id)
    )
    return result.first()


async def add_supporter(
    *, session: AsyncSession, item: Item, person_id: int, source_message_id: int | None,
    merged_item_id: int | None, now: datetime,
) -> Supporter | None:
    """A person supports an item; None when they already do (or raised it themselves): nothing changes."""
    if person_id == item.reporter_id:
        return None
    if await get_supporter(session=session, item_id=id_of(item), person_id=person_id) is not None:
        return None
    row = Supporter(item_id=item.id, person_id=person_id, source_message_id=source_message_id,
                    merged_item_id=merged_item_id, created_at=now)
    session.add(row)
    return row


async def move_supporters(*, session: AsyncSession, source: Item, target: Item) -> int:
    """A merged item's supporters (and the items merged into it) follow it into `target`; a person
    who already supports the target, or raised it, is kept once. Returns the supporters moved."""
    moved = 0
    for row in await supporters_of(session=session, item_id=id_of(source)):
        duplicate = row.person_id == target.reporter_id or await get_supporter(
            session=session, item_id=id_of(target), person_id=row.person_id) is not None
        if duplicate:
            await session.delete(row)
            continue
        row.item_id = id_of(target)
        session.add(row)
        moved += 1
    await session.exec(  # type: ignore[call-overload]
        update(Item).where(col(Item.merged_into_id) == source.id).values(merged_into_id=target.id)
    )
    return moved


async def count_supporters(*, session: AsyncSession, item_ids: Sequence[int]) -> dict[int, int]:
    """附议人数 per item (items without supporters are left out): what registers and lists show."""
    if not item_ids:
        return {}
    result = await session.exec(
        select(Supporter.item_id, func.count()).where(col(Supporter.item_id).in_(list(item_ids)))
        .group_by(col(Supporter.item_id))
    )
    return {item_id: int(count) for item_id, count in result.all()}


async def merged_into(*, session: AsyncSession, item_id: int) -> list[Item]:
    """The duplicates merged into an item, by number."""
    result = await session.exec(
        select(Item).where(Item.merged_into_id == item_id, Item.status == ItemStatus.MERGED).order_by(col(Item.number))
    )
    return list(result.all())


async def supported_by(*, session: AsyncSession, person_id: int, limit: int = 50) -> list[Item]:
    """The items a person supports, newest first (for /my)."""
    result = await session.exec(
        select(Item).join(Supporter, col(Supporter.item_id) == col(Item.id)).where(Supporter.person_id == person_id)
        .order_by(col(Item.created_at).desc()).limit(limit)
    )
    return list(result.all())


async def support_totals(
    *, session: AsyncSession, station_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, tuple[int, int]]:
    """Per station: (items received in [since, until) that have supporters, their supporters)."""
    if not station_ids:
        return {}
    per_item = (
        select(Item.station_id, func.count().label("supporters"))
        .join(Supporter, col(Supporter.item_id) == col(Item.id))
        .where(col(Item.station_id).in_(list(station_ids)), col(Item.created_at) >= since, col(Item.created_at) < until)
        .group_by(col(Item.id), col(Item.station_id))
        .subquery()
    )
    result = await session.exec(  # type: ignore[call-overload]
        select(per_item.c.station_id, func.count(), func.sum(per_item.c.supporters)).group_by(per_item.c.station_id)
    )
    return {station_id: (int(items), int(people or 0)) for station_id, items, people in result.all()}


# --- residents' notifications (/notify, /mute) ------------------------------------------------------
async def notify_settings(*, session: AsyncSession, station_id: int) -> ResidentNotify:
    """The station's settings (its defaults when it never changed them; not added to the session)."""
    row = await session.get(ResidentNotify, station_id)
    return row if row is not None else ResidentNotify(station_id=station_id)


async def set_notify(
    *, session: AsyncSession, station_id: int, group_items: bool | None, private_items: bool | None, now: datetime
) -> ResidentNotify:
    row = await session.get(ResidentNotify, station_id) or ResidentNotify(station_id=station_id)
    if group_items is not None:
        row.group_items = group_items
    if private_items is not None:
        row.private_items = private_items
    row.updated_at = now
    session.add(row)
    return row
