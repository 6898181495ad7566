"""Deadline settings and requests: a station's default days per tag, and assignees' extension requests."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ExtensionRequest, TagDeadline


async def tag_days(*, session: AsyncSession, station_id: int) -> dict[str, int]:
    rows = await session.exec(select(TagDeadline).where(TagDeadline.station_id == station_id))
    return {row.tag: row.days for row in rows.all()}


async def set_tag_days(*, session: AsyncSession, station_id: int, tag: str, days: int | None) -> None:
    """Set (or with None, clear) the default days of one tag."""
    row = await session.get(TagDeadline, (station_id, tag))
    if days is None:
        if row is not None:
            await session.delete(row)
        return
    if row is None:
        session.add(TagDeadline(station_id=station_id, tag=tag, days=days))
    else:
        row.days = days
        session.add(row)


async def pending_request(*, session: AsyncSession, item_id: int) -> ExtensionRequest | None:
    rows = await session.exec(
        select(ExtensionRequest)
        .where(ExtensionRequest.item_id == item_id, col(ExtensionRequest.decided_at).is_(None))
        .order_by(col(ExtensionRequest.id).desc())
    )
    return rows.first()


async def add_request(
    *, session: AsyncSession, item_id: int, station_id: int, person_id: int, days: int, reason: str,
    due_at: datetime | None, now: datetime,
) -> ExtensionRequest:
    row = ExtensionRequest(item_id=item_id, station_id=station_id, requested_by=person_id, days=days, reason=reason,
                           due_at=due_at, created_at=now)
    session.add(row)
    await session.flush()
    return row


def decide(*, session: AsyncSession, request: ExtensionRequest, person_id: int, approved: bool, now: datetime) -> None:
    request.decided_by = person_id
    request.decided_at = now
    request.approved = approved
    session.add(request)
