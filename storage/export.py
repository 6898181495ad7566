"""Ledger queries for exports: plain rows, already joined and in each station's own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Item, Person, Station

ITEM_COLUMNS = (
    "station", "number", "created_at", "reporter", "tag", "text", "status",
    "assignee", "closed_at", "result", "rating",
)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    """ISO 8601 with the station's offset, because an office reads local time, not UTC."""
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else ""


async def item_rows(*, session: AsyncSession, station_code: str | None = None) -> list[dict[str, object]]:
    """One dict per item (keys: ITEM_COLUMNS), ordered by station and number.

    Raises LookupError when `station_code` names no station, so an export never silently comes out empty.
    """
    stations_query = select(Station)
    if station_code is not None:
        stations_query = stations_query.where(Station.code == station_code)
    stations = {station.id: station for station in (await session.exec(stations_query)).all()}
    if station_code is not None and not stations:
        raise LookupError(f"--station: no station with code {station_code!r}")
    items_query = select(Item).where(col(Item.station_id).in_(list(stations))).order_by(
        col(Item.station_id), col(Item.number)
    )
    items = list((await session.exec(items_query)).all())
    person_ids = {item.reporter_id for item in items} | {item.assignee_id for item in items if item.assignee_id}
    names: dict[int | None, str] = {}
    if person_ids:
        people = await session.exec(select(Person).where(col(Person.id).in_(list(person_ids))))
        names = {person.id: person.display_name for person in people.all()}
    rows: list[dict[str, object]] = []
    for item in items:
        station = stations[item.station_id]
        zone = ZoneInfo(station.timezone)
        rows.append({
            "station": station.code,
            "number": item.number,
            "created_at": _local(item.created_at, zone),
            "reporter": names.get(item.reporter_id, ""),
            "tag": item.tag,
            "text": item.text,
            "status": item.status,
            "assignee": names.get(item.assignee_id, "") if item.assignee_id else "",
            "closed_at": _local(item.closed_at, zone),
            "result": item.result or "",
            "rating": item.rating or "",
        })
    return rows
