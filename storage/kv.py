"""Small durable adapter state (sync tokens, device ids, pending invites)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import KvState

KEYS_PER_QUERY = 500  # well within every backend's limit of bound parameters


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


async def values_of(*, session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    """The values stored under `keys` (those that have one), read a few hundred keys a query."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        rows = await session.exec(select(KvState).where(col(KvState.key).in_(keys[start : start + KEYS_PER_QUERY])))
        found.update({row.key: row.value for row in rows})
    return found


async def delete_value(*, session: AsyncSession, key: str) -> None:
    row = await session.get(KvState, key)
    if row is not None:
        await session.delete(row)
