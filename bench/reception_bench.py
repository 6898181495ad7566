"""Plan a province month of reception days from scratch on SQLite, and time a tick on top of it.

Seeded (not timed): 1,500 stations, 92,000 deputies spread over them, a liaison and a residents
chat per station, two recurring rules per station (monthly on the 15th and on the 2nd Tuesday, 09:00-11:30 / 14:00-16:00).
Timed: materialize the month's receptions from the rules and fill every roster fairly
(`storage.receptions.materialize_rules` + `auto_roster`, the code `/duty auto` and the planner
tick run), committed. Then one scheduler tick of all reception jobs with nothing due, and the
tick at which a province day's 3-day reminders all fall due (outbox rows written).
Peak memory: the process's peak RSS, and tracemalloc's peak of Python allocations during a
second planning run on a fresh copy of the seeded database.

    .venv/bin/python -m bench.reception_bench [--stations 1500] [--deputies 92000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time as clock
import tracemalloc
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import insert

from handlers.context import CoreConfig
from storage.db import create_engine, session_factory, upgrade_sync
from storage.models import Account, ChatBinding, Person, ReceptionRule, RoleAssignment, Station
from storage.receptions import auto_roster, materialize_rules

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
MONTH = timedelta(days=31)


async def seed(url: str, stations: int, deputies: int) -> None:
    engine = create_engine(url)
    now = NOW.astimezone(UTC)
    async with session_factory(engine)() as session:
        await session.exec(insert(Station), params=[  # type: ignore[call-overload]
            {"id": n, "code": f"s{n}", "name": f"联络站{n}", "level": "station", "timezone": "Asia/Shanghai",
             "tags": ["建议"], "next_item_number": 1, "created_at": now}
            for n in range(1, stations + 1)
        ])
        await session.exec(insert(Person), params=[  # type: ignore[call-overload]
            {"id": n, "display_name": f"代表{n}", "created_at": now} for n in range(1, deputies + 1)
        ])
        await session.exec(insert(Account), params=[  # type: ignore[call-overload]
            {"person_id": n, "platform": "console", "user_id": f"d{n}", "dm_blocked": False, "created_at": now}
            for n in range(1, deputies + 1)
        ])
        await session.exec(insert(RoleAssignment), params=[  # type: ignore[call-overload]
            {"person_id": n, "station_id": (n - 1) % stations + 1, "role": "deputy", "active": True,
             "created_at": now}
            for n in range(1, deputies + 1)
        ])
        liaisons = range(deputies + 1, deputies + stations + 1)
        await session.exec(insert(Person), params=[  # type: ignore[call-overload]
            {"id": n, "display_name": f"联络员{n}", "created_at": now} for n in liaisons
        ])
        await session.exec(insert(Account), params=[  # type: ignore[call-overload]
            {"person_id": n, "platform": "console", "user_id": f"l{n}", "dm_blocked": False, "created_at": now}
            for n in liaisons
        ])
        await session.exec(insert(RoleAssignment), params=[  # type: ignore[call-overload]
            {"person_id": n, "station_id": n - deputies, "role": "liaison", "active": True, "created_at": now}
            for n in liaisons
        ])
        await session.exec(insert(ChatBinding), params=[  # type: ignore[call-overload]
            {"platform": "console", "chat_id": f"residents{n}", "station_id": n, "purpose": "residents",
             "active": True, "created_at": now, "updated_at": now}
            for n in range(1, stations + 1)
        ])
        rules = []
        for n in range(1, stations + 1):
            rules.append({"station_id": n, "rrule": "FREQ=MONTHLY;BYMONTHDAY=15", "text": "monthly 15",
                          "starts_on": date(2026, 12, 1), "start_time": time(9), "end_time": time(11, 30),
                          "place": f"服务中心{n}", "active": True, "created_at": now})
            rules.append({"station_id": n, "rrule": "FREQ=MONTHLY;BYDAY=+2TU", "text": "monthly 2nd tue",
                          "starts_on": date(2026, 12, 1), "start_time": time(14), "end_time": time(16),
                          "place": f"活动室{n}", "active": True, "created_at": now})
        await session.exec(insert(ReceptionRule), params=rules)  # type: ignore[call-overload]
        await session.commit()
    await engine.dispose()


async def plan(url: str) -> tuple[float, int, int]:
    """Materialize a month and fill every roster; returns (seconds, receptions, duties)."""
    engine = create_engine(url)
    start = clock.perf_counter()
    async with session_factory(engine)() as session:
        now = NOW.astimezone(UTC)
        made = await materialize_rules(session=session, now=now, horizon_days=31)
        added = await auto_roster(session=session, station_ids=None, start=now, end=now + MONTH, now=now)
        await session.commit()
    elapsed = clock.perf_counter() - start
    await engine.dispose()
    return elapsed, made, len(added)


async def ticks(url: str) -> tuple[float, float, int]:
    """One tick of every reception job with nothing new due, and the tick of a 3-day reminder day."""
    from schedules.receptions import reception_jobs
    from storage.models import Outbox

    engine = create_engine(url)
    sessions = session_factory(engine)
    config = CoreConfig()

    async def tick(at: datetime) -> float:
        began = clock.perf_counter()
        for job in reception_jobs():
            async with sessions() as session:
                await job.run_due(session=session, now=at.astimezone(UTC), config=config)
                await session.commit()
        return clock.perf_counter() - began

    await tick(NOW + timedelta(hours=1, minutes=30))  # the planner extends the horizon to 60 days once
    quiet = await tick(NOW + timedelta(hours=2))
    await tick(datetime(2026, 12, 11, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))  # the 7-day notes of the 15th
    async with sessions() as session:
        from sqlmodel import func, select

        before = (await session.exec(select(func.count()).select_from(Outbox))).one()
    busy = await tick(datetime(2026, 12, 12, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    async with sessions() as session:
        from sqlmodel import func, select

        rows = (await session.exec(select(func.count()).select_from(Outbox))).one() - before
    await engine.dispose()
    return quiet, busy, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=1500)
    parser.add_argument("--deputies", type=int, default=92_000)
    parser.add_argument("--plan-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_only:
        elapsed, receptions, duties = asyncio.run(plan(f"sqlite+aiosqlite:///{args.plan_only}"))
        print(elapsed, receptions, duties, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return
    with tempfile.TemporaryDirectory() as tmp:
        seeded = Path(tmp) / "seeded.db"
        url = f"sqlite+aiosqlite:///{seeded}"
        upgrade_sync(url)
        began = clock.perf_counter()
        asyncio.run(seed(url, args.stations, args.deputies))
        print(f"seeded {args.stations} stations, {args.deputies} deputies, {2 * args.stations} rules "
              f"in {clock.perf_counter() - began:.2f} s (not part of the figure)")

        timed = Path(tmp) / "timed.db"
        shutil.copy(seeded, timed)
        # In a fresh process, so its peak RSS is the planner's and not the seeding's.
        output = subprocess.run(
            [sys.executable, "-m", "bench.reception_bench", "--plan-only", str(timed)],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
        ).stdout.split()
        elapsed, receptions, duties, rss = float(output[0]), int(output[1]), int(output[2]), int(output[3])
        print(f"plan a month: {receptions} receptions, {duties} duties in {elapsed:.2f} s "
              f"(goal <= 2 s: {'met' if elapsed <= 2 else 'MISSED'})")
        print(f"peak RSS of the planning process (interpreter and libraries included): {rss / 1024:.0f} MiB")

        traced = Path(tmp) / "traced.db"
        shutil.copy(seeded, traced)
        tracemalloc.start()
        asyncio.run(plan(f"sqlite+aiosqlite:///{traced}"))
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak Python allocations while planning (tracemalloc): {peak / 2**20:.1f} MiB")

        quiet, busy, rows = asyncio.run(ticks(f"sqlite+aiosqlite:///{timed}"))
        print(f"a tick with nothing due: {quiet * 1000:.0f} ms; the 3-day reminder tick of "
              f"{args.stations} receptions (deputies' DMs and residents' notices): {busy:.2f} s ({rows} outbox rows)")


if __name__ == "__main__":
    main()
