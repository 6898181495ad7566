"""Small durable adapter state (sync tokens, device ids, pending invites)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
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


async def values_with_prefix(*, session: AsyncSession, prefix: str) -> dict[str, str]:
    """Every key under a prefix (an adapter's records of one kind, e.g. its pending invites)."""
    rows = await session.exec(select(KvState).where(col(KvState.key).startswith(prefix, autoescape=True)))
    return {row.key: row.value for row in rows}


async def delete_value(*, session: AsyncSession, key: str) -> None:
    row = await session.get(KvState, key)
    if row is not None:
        await session.delete(row)
