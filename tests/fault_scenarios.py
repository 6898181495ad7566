"""Fault scenarios against the bot on the fake Bot API, shared by the tests and the bench.

Each runs scaled down in `make test` (tests/telegram/test_crashes.py, test_faults.py) and at
full size in `bench/faults_bench.py`, and reports what the fake Bot API saw and what the
database holds afterwards, so both check the same promises:

- intake under kill -9 (the production `liaison-bot run` in its own process): every message
  becomes exactly one item and is acknowledged; a kill makes at most one acknowledgement go out
  a second time (the one in flight);
- a reminder wave under kill -9: none missed, at most one per kill sent twice;
- an hour down (the clock moved): everything due goes out after the restart, each chat in due
  order, within Telegram's flood limits;
- a share of the Bot API calls failing (429, 500, timeouts): nothing lost, a second copy only
  after a timeout whose send had gone through.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert
from sqlmodel import col, select

from storage.db import create_engine, session_factory, upgrade
from storage.models import Account, Duty, Item, Outbox, OutboxState, Person, Reception, RoleAssignment, Station
from tests.peers.bot_process import BotProcess
from tests.peers.fake_telegram import JSON, Call, FakeTelegram

ACK_PREFIX = "已受理"


@dataclass
class CrashReport:
    """What a scenario produced; `repeats_per_kill[k]` counts messages sent again after kill k."""

    expected: int  # messages that must arrive (acks, reminders)
    delivered: int  # distinct ones that arrived
    copies: Counter[object] = field(default_factory=Counter)  # per message: how many times it arrived
    repeats_per_kill: list[int] = field(default_factory=list)
    kills: int = 0
    items: int = 0  # intake: items in the database
    distinct_items: int = 0  # intake: distinct source messages among them
    pending_rows: int = 0  # outbox rows not sent at the end
    seconds: float = 0.0

    @property
    def repeated(self) -> int:
        return sum(copies - 1 for copies in self.copies.values() if copies > 1)


def repeats_by_window(calls: list[Call], kill_marks: list[int], key: Callable[[Call], object | None]) -> list[int]:
    """For each kill, how many sends after it (up to the next kill) repeated one sent before."""
    seen: set[object] = set()
    windows = [0] * len(kill_marks)
    for index, call in enumerate(calls):
        if not call.ok or call.result is None:
            continue
        identity = key(call)
        if identity is None:
            continue
        if identity in seen:
            window = sum(1 for mark in kill_marks if mark <= index) - 1
            if window >= 0:
                windows[window] += 1
        seen.add(identity)
    return windows


def _ack_identity(call: Call) -> object | None:
    result = call.result
    if call.method != "sendMessage" or not isinstance(result, dict) or not result.get("text", "").startswith(
        ACK_PREFIX
    ):
        return None
    return result["chat"]["id"], result.get("reply_to_message", {}).get("message_id")


async def intake_under_kills(
    fake: FakeTelegram, db_url: str, workdir: Path, *, groups: int, per_group: int, kills: int, seed: int = 1
) -> CrashReport:
    """Residents of `groups` groups post `per_group` tagged messages each, one every few
    milliseconds, while the bot is killed -9 `kills` times (at evenly spread numbers of acks seen)
    and restarted at once."""
    rng = random.Random(seed)
    admin = fake.user("站务管理员")
    residents = [fake.user(f"居民{n}") for n in range(8)]
    chats = [fake.group(f"居民{n}群", members=residents, admins=[admin]) for n in range(groups)]
    bot = BotProcess(fake, db_url, workdir=workdir, admins=f"telegram:{admin['id']}")
    began = time.monotonic()
    await bot.start()
    await _reply_to(fake, fake.text(fake.private(admin), admin, "/station add lx 幸福社区联络站"))
    await _reply_to(fake, fake.text(fake.private(admin), admin, "/station set lx flood 0"))  # every ack alone
    for chat in chats:
        await _reply_to(fake, fake.text(chat, admin, "/bind lx"))

    total = groups * per_group
    posted: list[JSON] = []

    async def post_all() -> None:
        for n in range(per_group):
            for g, chat in enumerate(chats):
                posted.append(fake.text(chat, rng.choice(residents), f"#建议 {g}群第{n}件：小区路灯坏了"))
                await asyncio.sleep(rng.uniform(0.0, 0.004))

    def acks_seen() -> int:
        return len({identity for call in fake.calls_of("sendMessage") if (identity := _ack_identity(call))})

    kill_marks: list[int] = []
    poster = asyncio.create_task(post_all())
    for k in range(1, kills + 1):
        await fake.wait_for(lambda k=k: acks_seen() >= k * total // (kills + 1), 120)
        await bot.kill()
        kill_marks.append(len(fake.calls))
        await bot.start()
    await poster
    await fake.wait_for(lambda: acks_seen() >= total, 300)
    await bot.stop()

    report = CrashReport(expected=total, delivered=acks_seen(), kills=bot.kills)
    report.copies = Counter(i for call in fake.calls_of("sendMessage") if (i := _ack_identity(call)))
    report.repeats_per_kill = repeats_by_window(fake.calls, kill_marks, _ack_identity)
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            items = list((await session.exec(select(Item))).all())
            report.pending_rows = (await session.exec(
                select(func.count()).select_from(Outbox).where(Outbox.state != OutboxState.SENT)
            )).one()
    finally:
        await engine.dispose()
    report.items = len(items)
    report.distinct_items = len({item.source_message_id for item in items})
    texts = {u["message"]["text"].removeprefix("#建议 ") for u in posted}
    assert {item.text for item in items} <= texts
    report.seconds = time.monotonic() - began
    return report


async def _reply_to(fake: FakeTelegram, update: JSON, within: float = 60.0) -> JSON:
    message = update["message"]

    def found() -> JSON | None:
        for sent in fake.sent(message["chat"]["id"]):
            if sent.get("reply_to_message", {}).get("message_id") == message["message_id"]:
                return sent
        return None

    return await fake.wait_for(found, within)


# --- a reminder wave ------------------------------------------------------------------------------
ZONE = ZoneInfo("Asia/Shanghai")


async def seed_reminder_wave(fake: FakeTelegram, db_url: str, *, stations: int, per_station: int) -> int:
    """Stations whose receptions are three days ahead with two deputies on duty each, so their
    3-day reminders are all due now (the reminder hour is this local hour); returns how many."""
    await upgrade(db_url)
    now = datetime.now(UTC)
    day: date = now.astimezone(ZONE).date() + timedelta(days=3)
    deputies = stations * 2
    users = [fake.user(f"代表{n}") for n in range(deputies)]
    for user in users:
        fake.private(user)
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            await session.exec(insert(Station), params=[  # type: ignore[call-overload]
                {"id": n, "code": f"s{n}", "name": f"联络站{n}", "level": "station", "timezone": "Asia/Shanghai",
                 "tags": ["建议"], "next_item_number": 1, "created_at": now}
                for n in range(1, stations + 1)
            ])
            await session.exec(insert(Person), params=[  # type: ignore[call-overload]
                {"id": n + 1, "display_name": f"代表{n}", "created_at": now} for n in range(deputies)
            ])
            await session.exec(insert(Account), params=[  # type: ignore[call-overload]
                {"person_id": n + 1, "platform": "telegram", "user_id": str(user["id"]), "dm_blocked": False,
                 "created_at": now}
                for n, user in enumerate(users)
            ])
            await session.exec(insert(RoleAssignment), params=[  # type: ignore[call-overload]
                {"person_id": n + 1, "station_id": n // 2 + 1, "role": "deputy", "active": True, "created_at": now}
                for n in range(deputies)
            ])
            receptions = []
            for s in range(1, stations + 1):
                for k in range(per_station):
                    start = clock_time(8 + k % 9, 0)
                    begins = datetime.combine(day, start, tzinfo=ZONE)
                    receptions.append({
                        "id": s * 1000 + k, "station_id": s, "local_date": day, "start_time": start,
                        "end_time": clock_time(start.hour, 50), "timezone": "Asia/Shanghai",
                        "starts_at": begins.astimezone(UTC), "ends_at": (begins + timedelta(minutes=50)).astimezone(UTC),
                        "place": f"服务中心{s}-{k}", "status": "scheduled", "revision": 0, "revised_at": now,
                        "done7": -1, "done3": -1, "notice3": -1, "done1": -1, "liaisons_told": False,
                        "residents_told": False, "created_at": now, "updated_at": now,
                    })
            await session.exec(insert(Reception), params=receptions)  # type: ignore[call-overload]
            await session.exec(insert(Duty), params=[  # type: ignore[call-overload]
                {"reception_id": row["id"], "station_id": row["station_id"],
                 "person_id": (row["station_id"] - 1) * 2 + k + 1, "on_duty": True, "told": False,
                 "leave_count": 0, "assigned_at": now}
                for row in receptions
                for k in (0, 1)
            ])
            await session.commit()
    finally:
        await engine.dispose()
    return len(receptions) * 2


def _direct_identity(call: Call) -> object | None:
    result = call.result
    if call.method != "sendMessage" or not isinstance(result, dict) or result["chat"]["id"] < 0:
        return None
    return result["chat"]["id"], result["text"]


async def reminder_wave_under_kills(
    fake: FakeTelegram, db_url: str, workdir: Path, *, stations: int, per_station: int, kills: int
) -> CrashReport:
    """`stations` × `per_station` receptions × 2 deputies: 3-day reminders all due at once; the
    bot (ticking every second, Telegram's real flood limits) is killed -9 `kills` times while
    sending them, at evenly spread numbers of reminders seen, and restarted at once."""
    expected = await seed_reminder_wave(fake, db_url, stations=stations, per_station=per_station)
    bot = BotProcess(fake, db_url, workdir=workdir, reminder_hour=str(datetime.now(ZONE).hour), tick_seconds="1")

    def seen() -> int:
        return len({identity for call in fake.calls_of("sendMessage") if (identity := _direct_identity(call))})

    began = time.monotonic()
    kill_marks: list[int] = []
    await bot.start()
    for k in range(1, kills + 1):
        await fake.wait_for(lambda k=k: seen() >= k * expected // (kills + 1), 900)
        await bot.kill()
        kill_marks.append(len(fake.calls))
        await bot.start()
    await fake.wait_for(lambda: seen() >= expected, 900)
    seconds = time.monotonic() - began
    await bot.stop()

    report = CrashReport(expected=expected, delivered=seen(), kills=bot.kills, seconds=seconds)
    report.copies = Counter(i for call in fake.calls_of("sendMessage") if (i := _direct_identity(call)))
    report.repeats_per_kill = repeats_by_window(fake.calls, kill_marks, _direct_identity)
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            rows = list((await session.exec(select(Outbox).where(Outbox.purpose == "reception_remind3"))).all())
    finally:
        await engine.dispose()
    report.items = len(rows)
    report.pending_rows = len([row for row in rows if row.state != OutboxState.SENT])
    return report


# --- an hour down ---------------------------------------------------------------------------------
class ShiftedClock:
    """Real time moved by an offset: it runs like a wall clock, and `skip` moves it forward the
    way an hour of downtime would, without waiting for it."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class DowntimeReport:
    """What went out after the restart: how long it took, in which order, at which pace."""

    sent: int  # outbox rows sent after the restart
    purposes: Counter[str]
    seconds: float  # from the restart until the last of them reached the server
    out_of_order: list[str]  # chats whose messages arrived out of their due order
    most_in_a_group_minute: int  # the most messages one group got in any 60 s
    most_in_a_second: int  # the most messages sent in any 1 s


def most_within(moments: list[float], window: float) -> int:
    moments = sorted(moments)
    most, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def an_hour_down(fake: FakeTelegram, db_url: str, *, stations: int, posts_per_group: int) -> DowntimeReport:
    """Stations set up through commands at 07:50 (reminder hour 08:00); the bot stops at once and
    comes back an hour later (the clock moved). Meanwhile the 3-day reminders and residents'
    notices fell due at 08:00, a reception ended at 08:45 (its attendance summary is due), and
    residents posted `posts_per_group` tagged messages in every residents group."""
    from schedules.runner import start_scheduler
    from tests.telegram.harness import TelegramBotRunner

    clock = ShiftedClock(datetime(2026, 12, 11, 7, 50, tzinfo=ZONE))
    admin = fake.user("站务管理员", username="zhanwu_admin")
    admins = frozenset({f"telegram:{admin['id']}"})
    bot = await TelegramBotRunner(fake, db_url, admins=admins, clock=clock, reminder_hour=8).start()
    residents_groups: list[JSON] = []
    residents = [fake.user(f"居民{n}") for n in range(4)]
    for n in range(stations):
        deputies = [fake.user(f"代表{n}{k}", username=f"daibiao_{n}_{k}") for k in "ab"]
        for deputy in deputies:
            await _reply_to(fake, fake.text(fake.private(deputy), deputy, "/start"))
        group = fake.group(f"{n}号居民群", members=residents + deputies, admins=[admin])
        staff = fake.group(f"{n}号工作群", members=deputies, admins=[admin])
        residents_groups.append(group)
        names = " ".join(f"@{d['username']}" for d in deputies)
        for chat, command in [
            (fake.private(admin), f"/station add s{n} {n}号联络站"), (group, f"/bind s{n}"), (staff, f"/bind s{n} staff"),
            *[(staff, f"/deputy add @{d['username']} county") for d in deputies],
            (staff, "/reception add 2026-12-14 09:00-11:30 社区服务中心"), (staff, f"/duty 2026-12-14 {names}"),
            (staff, "/reception add 2026-12-11 08:00-08:45 社区活动室"), (staff, f"/duty 2026-12-11 {names}"),
        ]:
            await _reply_to(fake, fake.text(chat, admin, command))
    await bot.outbox_idle(within=60)
    await bot.stop()

    assert bot.app is None
    for n, group in enumerate(residents_groups):
        for k in range(posts_per_group):
            fake.text(group, residents[k % len(residents)], f"#建议 {n}号小区第{k}件：楼道灯不亮")
    clock.skip(timedelta(hours=1))
    calls_before = len(fake.calls)
    restarted = clock.now()
    began = time.monotonic()
    await bot.start(catch_up_first=True)  # as `liaison-bot run`: what fell due is written before anything is sent
    assert bot.app is not None
    await asyncio.wait_for(bot.app.caught_up.wait(), 300)
    scheduler = start_scheduler(bot.app.tick, tick_seconds=1, first_run=datetime.now(UTC))
    try:
        await fake.wait_for(lambda: len(fake.pending_updates) == 0, 300)
        await bot.outbox_idle(within=300)
        await bot.app.tick()  # nothing further is due
        await bot.outbox_idle(within=300)
    finally:
        scheduler.shutdown(wait=False)
    async with bot.app.sessions() as session:
        rows = list((await session.exec(select(Outbox).where(col(Outbox.sent_at) >= restarted))).all())
    await bot.stop()

    sends = [c for c in fake.calls[calls_before:] if c.method == "sendMessage" and c.ok and c.result is not None]
    last = max(call.at for call in sends)
    by_chat: dict[object, list[Outbox]] = {}
    for row in rows:
        by_chat.setdefault(row.chat_id or f"person:{row.person_id}", []).append(row)
    out_of_order = [
        str(chat) for chat, chat_rows in by_chat.items()
        if [r.id for r in sorted(chat_rows, key=lambda r: int(r.sent_message_id or 0))]
        != [r.id for r in sorted(chat_rows, key=lambda r: (r.due_at, r.id))]
    ]
    groups: dict[int, list[float]] = {}
    for call in sends:
        if call.result["chat"]["id"] < 0:
            groups.setdefault(call.result["chat"]["id"], []).append(call.at)
    return DowntimeReport(
        sent=len(rows), purposes=Counter(row.purpose for row in rows), seconds=last - began,
        out_of_order=out_of_order,
        most_in_a_group_minute=max((most_within(moments, 60.0) for moments in groups.values()), default=0),
        most_in_a_second=most_within([call.at for call in sends], 1.0),
    )


# --- a share of the Bot API calls failing ---------------------------------------------------------
@dataclass
class FaultReport:
    calls: int  # Bot API calls while faults were on
    faults: Counter[str]  # injected, by kind
    expected: int  # acks that must arrive
    delivered: int  # distinct acks that arrived
    repeated: int  # extra copies
    unexplained: int  # extra copies beyond the sends that timed out after going through
    items: int
    unsent_rows: int
    seconds: float

    @property
    def lost(self) -> int:
        return self.expected - self.delivered


async def faults_on_a_share_of_calls(
    fake: FakeTelegram, db_url: str, *, groups: int, per_group: int, direct: int, rate: float, seed: int,
    read_timeout: float = 0.4,
) -> FaultReport:
    """Residents post in `groups` groups and `direct` private chats while `rate` of all Bot API
    calls fail (429 with retry_after, 500, or hanging past the bot's read timeout, before or after
    doing the work). The in-process bot retries quickly (short outbox backoff), so the run tests
    the outcome, not the patience."""
    from tests.telegram.harness import TelegramBotRunner

    admin = fake.user("站务管理员")
    alice, bob = fake.user("Alice"), fake.user("Bob")
    bot = await TelegramBotRunner(fake, db_url, admins=frozenset({f"telegram:{admin['id']}"}),
                                  read_timeout=read_timeout).start()
    assert bot.app is not None
    bot.app.outbox.retry_delays = (0.05, 0.1, 0.2, 0.4)
    chats = [fake.group(f"居民{n}群", members=[alice, bob], admins=[admin]) for n in range(groups)]
    await _reply_to(fake, fake.text(fake.private(admin), admin, "/station add lx 幸福社区联络站"))
    await _reply_to(fake, fake.text(fake.private(admin), admin, "/station set lx flood 0"))  # every ack alone
    for chat in chats:
        await _reply_to(fake, fake.text(chat, admin, "/bind lx"))
    residents = [fake.user(f"私信居民{n}") for n in range(direct)]

    began = time.monotonic()
    calls_before = len(fake.calls)
    plan = fake.inject_faults(rate, hang=read_timeout * 2, retry_after=1, seed=seed)
    posted: list[JSON] = []
    for n in range(per_group):
        for g, chat in enumerate(chats):
            posted.append(fake.text(chat, alice if n % 2 else bob, f"#建议 {g}号群第{n}件事"))
    for n, resident in enumerate(residents):
        posted.append(fake.text(fake.private(resident), resident, f"#求助 私信第{n}件事"))
    for update in posted:
        await _reply_to(fake, update, within=600)
    await bot.outbox_idle(within=600)
    seconds = time.monotonic() - began
    fake.stop_faults()
    async with bot.app.sessions() as session:
        items = len((await session.exec(select(Item))).all())
        unsent = len((await session.exec(select(Outbox).where(Outbox.state != OutboxState.SENT))).all())
    await bot.stop()

    copies = Counter(i for call in fake.calls_of("sendMessage") if (i := _ack_identity(call)))
    went_through = Counter(
        _ack_identity(fault.call) for fault in plan.injected
        if fault.kind == "timeout-done" and _ack_identity(fault.call) is not None
    )
    wanted = {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in posted}
    return FaultReport(
        calls=len(fake.calls) - calls_before, faults=Counter(fault.kind for fault in plan.injected),
        expected=len(wanted), delivered=len(wanted & set(copies)),
        repeated=sum(n - 1 for n in copies.values()),
        unexplained=sum(max(0, n - 1 - went_through[key]) for key, n in copies.items()),
        items=items, unsent_rows=unsent, seconds=seconds,
    )
