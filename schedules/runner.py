"""APScheduler 3.x in this process only: an interval job that calls the app's tick.

No job store is persisted or shared: the database is the record of what is due.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App


def start_scheduler(app: App, *, tick_seconds: int) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        app.tick,
        "interval",
        seconds=tick_seconds,
        id="tick",
        max_instances=1,
        coalesce=True,
        next_run_time=app.clock.now(),
    )
    scheduler.start()
    return scheduler
