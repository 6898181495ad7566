"""Small durable adapter state (sync tokens, device ids)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import KvState


async def get_value(*, session: AsyncSession, key: str) -> str | None:
    row = await session.get(KvState, key)
    return row.value if row else None


async def set_value(*, session: AsyncSession, key: str, value: str, now: datetime) -> None:
    row = await session.get(KvState, key)
    if row is None:
        row = KvState(key=key, value=value, updated_at=now)
    row.value = value
    row.updated_at = now
    session.add(row)
