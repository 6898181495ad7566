"""Handling units (承办单位) and the visitors staff record at the reception (接待选民登记)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import HandlingUnit, Item, Person, Visitor


async def get_unit(*, session: AsyncSession, station_id: int, name: str) -> HandlingUnit | None:
    """The unit of that name (active or removed)."""
    result = await session.exec(
        select(HandlingUnit).where(HandlingUnit.station_id == station_id, HandlingUnit.name == name)
    )
    return result.first()


async def active_units(*, session: AsyncSession, station_id: int) -> list[HandlingUnit]:
    result = await session.exec(
        select(HandlingUnit).where(HandlingUnit.station_id == station_id, HandlingUnit.active)
        .order_by(col(HandlingUnit.name))
    )
    return list(result.all())


async def save_unit(
    *, session: AsyncSession, station_id: int, name: str, contact_id: int | None, now: datetime
) -> tuple[HandlingUnit, bool]:
    """Add a unit, or bring a removed one back (its history kept); (unit, created or revived)."""
    unit = await get_unit(session=session, station_id=station_id, name=name)
    fresh = unit is None or not unit.active
    if unit is None:
        unit = HandlingUnit(station_id=station_id, name=name, created_at=now)
    unit.active = True
    unit.contact_id = contact_id
    unit.updated_at = now
    session.add(unit)
    await session.flush()
    return unit, fresh


async def units_with_contact(*, session: AsyncSession, station_id: int, person_id: int) -> list[HandlingUnit]:
    result = await session.exec(
        select(HandlingUnit).where(HandlingUnit.station_id == station_id, HandlingUnit.contact_id == person_id,
                                   HandlingUnit.active)
    )
    return list(result.all())


async def open_items_of_unit(*, session: AsyncSession, unit_id: int, statuses: Collection[str]) -> list[Item]:
    result = await session.exec(
        select(Item).where(Item.unit_id == unit_id, col(Item.status).in_(list(statuses))).order_by(col(Item.number))
    )
    return list(result.all())


async def items_of_units(
    *, session: AsyncSession, unit_ids: Collection[int], statuses: Collection[str], limit: int
) -> list[Item]:
    if not unit_ids:
        return []
    result = await session.exec(
        select(Item).where(col(Item.unit_id).in_(list(unit_ids)), col(Item.status).in_(list(statuses)))
        .order_by(col(Item.station_id), col(Item.number)).limit(limit)
    )
    return list(result.all())


async def unit_names(*, session: AsyncSession, unit_ids: Collection[int]) -> dict[int, str]:
    if not unit_ids:
        return {}
    result = await session.exec(select(HandlingUnit.id, HandlingUnit.name).where(col(HandlingUnit.id).in_(list(unit_ids))))
    return {unit_id: name for unit_id, name in result.all() if unit_id is not None}


# --- visitors --------------------------------------------------------------------------------------
async def visitor_of(*, session: AsyncSession, item_id: int) -> Visitor | None:
    result = await session.exec(select(Visitor).where(Visitor.item_id == item_id))
    return result.first()


async def visitors_at(*, session: AsyncSession, reception_id: int) -> list[tuple[Visitor, Item]]:
    """A reception's visitors, in the order they were recorded, with their items."""
    result = await session.exec(
        select(Visitor, Item).join(Item, col(Item.id) == col(Visitor.item_id))
        .where(Visitor.reception_id == reception_id).order_by(col(Visitor.id))
    )
    return [(visitor, item) for visitor, item in result.all()]


async def visitor_counts(*, session: AsyncSession, reception_ids: Collection[int]) -> dict[int, list[int]]:
    """Per reception, the numbers of the items its visitors raised (接待人数, 登记事项编号)."""
    if not reception_ids:
        return {}
    result = await session.exec(
        select(Visitor.reception_id, Item.number).join(Item, col(Item.id) == col(Visitor.item_id))
        .where(col(Visitor.reception_id).in_(list(reception_ids))).order_by(col(Visitor.id))
    )
    found: dict[int, list[int]] = {}
    for reception_id, number in result.all():
        if reception_id is not None:
            found.setdefault(reception_id, []).append(number)
    return found


async def visitor_person(*, session: AsyncSession, station_id: int, name: str, phone: str | None) -> Person | None:
    """The person an earlier visit of the same name and phone made, so a returning visitor is one
    reporter; without a phone a name alone is too weak to tell two 刘大爷 apart."""
    if not phone:
        return None
    result = await session.exec(
        select(Person).join(Item, col(Item.reporter_id) == col(Person.id)).join(Visitor, col(Visitor.item_id) == col(Item.id))
        .where(Visitor.station_id == station_id, Visitor.name == name, Visitor.phone == phone)
        .order_by(col(Visitor.id).desc()).limit(1)
    )
    return result.first()
