"""Schedules: APScheduler fires ticks; what is due is computed from the database every time.

A `DueJob` looks at the database at `now`, writes what has fallen due (outbox rows, state
changes) and says when it will next have something to do, so the console can step its clock
through every due moment in order and a restarted bot rebuilds nothing by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import CoreConfig


class DueJob(Protocol):
    name: str

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        """Write everything due at `now` (idempotently: outbox keys make repeats harmless)."""
        ...

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        """The earliest moment after `now` at which `run_due` would have something new to do."""
        ...
