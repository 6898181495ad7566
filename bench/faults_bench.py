"""Faults survived, at full size: kill -9 during intake and during a reminder wave, an hour of
downtime, and 10% of Bot API calls failing. The same scenarios run scaled down in `make test`
(tests/telegram/test_crashes.py, tests/telegram/test_faults.py); here they run at the sizes the
README reports, against the fake Bot API on 127.0.0.1, the bot as `liaison-bot run` starts it
(in a process of its own for the kills) with Telegram's real flood limits.

    .venv/bin/python -m bench.faults_bench [intake|reminders|downtime|faults ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from storage.db import upgrade
from tests.fault_scenarios import (
    CrashReport,
    an_hour_down,
    faults_on_a_share_of_calls,
    intake_under_kills,
    reminder_wave_under_kills,
)
from tests.peers.fake_telegram import FakeTelegram


def crash_lines(name: str, report: CrashReport, what: str) -> list[str]:
    worst = max(report.repeats_per_kill, default=0)
    return [
        f"{name}: {report.kills} kills, {report.expected} {what} expected, {report.delivered} delivered "
        f"({report.expected - report.delivered} missed), {report.repeated} sent twice "
        f"(at most {worst} after one kill; goal ≤ 1), {report.pending_rows} outbox rows left unsent, "
        f"{report.seconds:.0f} s",
    ]


async def intake(workdir: Path, args: argparse.Namespace) -> list[str]:
    async with FakeTelegram() as fake:
        url = f"sqlite+aiosqlite:///{workdir / 'intake.db'}"
        report = await intake_under_kills(fake, url, workdir, groups=args.groups, per_group=args.per_group,
                                          kills=args.kills)
    lines = crash_lines("kill -9 during intake", report, "acks")
    lines.append(f"  items: {report.items} made for {report.expected} messages, {report.distinct_items} distinct "
                 f"({report.expected - report.distinct_items} lost, {report.items - report.distinct_items} doubled)")
    return lines


async def reminders(workdir: Path, args: argparse.Namespace) -> list[str]:
    async with FakeTelegram() as fake:
        url = f"sqlite+aiosqlite:///{workdir / 'reminders.db'}"
        report = await reminder_wave_under_kills(fake, url, workdir, stations=args.reminders // 2 // 5,
                                                 per_station=5, kills=args.reminder_kills)
    return crash_lines("kill -9 during a reminder wave", report, "reminders")


async def downtime(workdir: Path, args: argparse.Namespace) -> list[str]:
    async with FakeTelegram() as fake:
        url = f"sqlite+aiosqlite:///{workdir / 'downtime.db'}"
        await upgrade(url)
        report = await an_hour_down(fake, url, stations=args.stations, posts_per_group=args.posts)
    verdict = "ok" if report.seconds <= 300 and not report.out_of_order else "GOAL MISSED"
    return [
        f"an hour down: {report.sent} messages due after the restart ({dict(report.purposes)}), all out "
        f"{report.seconds:.1f} s after the start (goal ≤ 300 s: {verdict}); chats out of due order: "
        f"{len(report.out_of_order)}; most in one group in any minute: {report.most_in_a_group_minute} "
        f"(limit 20); most in any second: {report.most_in_a_second} (limit 30)",
    ]


async def faults(workdir: Path, args: argparse.Namespace) -> list[str]:
    async with FakeTelegram() as fake:
        url = f"sqlite+aiosqlite:///{workdir / 'faults.db'}"
        await upgrade(url)
        report = await faults_on_a_share_of_calls(fake, url, groups=args.stations, per_group=args.posts * 3,
                                                  direct=args.posts * 10, rate=0.10, seed=7)
    return [
        f"10% of Bot API calls failing: {report.calls} calls, faults {dict(report.faults)}; {report.expected} acks "
        f"expected, {report.delivered} delivered, {report.lost} lost; {report.repeated} sent twice, "
        f"{report.unexplained} of them without a timeout that went through (goal 0); {report.seconds:.0f} s",
    ]


SCENARIOS: dict[str, Callable[[Path, argparse.Namespace], Awaitable[list[str]]]] = {
    "intake": intake, "reminders": reminders, "downtime": downtime, "faults": faults,
}


async def run(names: list[str], args: argparse.Namespace) -> None:
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as directory:
            began = time.monotonic()
            for line in await SCENARIOS[name](Path(directory), args):
                print(line, flush=True)
            print(f"  ({name}: {time.monotonic() - began:.0f} s in all)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], help="default: all")
    parser.add_argument("--groups", type=int, default=30, help="intake: residents groups")
    parser.add_argument("--per-group", type=int, default=20, help="intake: messages per group")
    parser.add_argument("--kills", type=int, default=20, help="intake: kill -9 count")
    parser.add_argument("--reminders", type=int, default=10_000, help="reminder wave size")
    parser.add_argument("--reminder-kills", type=int, default=10)
    parser.add_argument("--stations", type=int, default=30, help="downtime and faults: stations / groups")
    parser.add_argument("--posts", type=int, default=5, help="downtime: posts per residents group meanwhile")
    args = parser.parse_args(argv)
    asyncio.run(run(args.scenarios or list(SCENARIOS), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
