"""APScheduler 3.x in this process only: an interval job that fires the app's tick.

No job store is persisted or shared: the database is the record of what is due, so the
scheduler only says "look now" and a restart rebuilds nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler


def start_scheduler(
    tick: Callable[[], Awaitable[None]], *, tick_seconds: int, first_run: datetime
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        seconds=tick_seconds,
        id="tick",
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
    )
    scheduler.start()
    return scheduler
