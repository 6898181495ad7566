"""Matrix round trip and intake throughput of the bot on a local Synapse (127.0.0.1 only).

Everything runs on this machine: Synapse (relaxed rate limits, SQLite), the bot (`bot.matrix` +
the real App and handlers on a SQLite file, long-polling sync as in production) and the residents
(matrix-nio clients). Figures therefore include Synapse's own work on the same cores.

- round trip: one resident posts `#建议 …` and waits for the bot's ack (a reply to that event);
  sequential, median and p99. The same is measured for a bare matrix-nio echo bot as a baseline.
- live intake: R residents post N tagged messages as fast as they can; time until the N-th ack.
- catch-up: the bot is stopped, N tagged messages are posted, the bot is started; time until
  every message is an item (sync + gap paging + intake + acks).

- encrypted (`--encrypted`): the same round trip in an end-to-end encrypted room with an encrypting
  resident, against the plain room's in the same run (goal: at most 1.5 times).
- crash (`--crash`): the bot as its own process (`liaison-bot run`) killed with SIGKILL `--kills`
  times while `--crash-messages` tagged messages arrive, started again each time; items lost and
  duplicated, messages without an ack, acks posted twice.

    .venv/bin/python -m bench.matrix_bench [--round-trips 50] [--messages 200] [--residents 4] [--encrypted]
    .venv/bin/python -m bench.matrix_bench --crash [--kills 10] [--crash-messages 600]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from nio import AsyncClient, AsyncClientConfig, RoomMessageText, SyncResponse
from sqlmodel import func, select

from storage.db import upgrade_sync
from storage.models import Item
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import new_user, register_bot
from tests.matrix.crash import crash_run
from tests.matrix.residents import Resident
from tests.matrix.test_station_flow import reply_to
from tests.peers.synapse import SynapseServer


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def round_trips(resident: Resident, room: str, bot_id: str, count: int, text: str) -> list[float]:
    await resident.sync()
    times = []
    for n in range(count):
        started = time.perf_counter()
        sent = await resident.say(room, f"{text} {n}")
        await resident.wait_for(reply_to(bot_id, sent), room, within=30, what="a reply")
        times.append(time.perf_counter() - started)
    return times


class EchoBot:
    """Baseline: the smallest matrix-nio bot that answers every text with a notice reply."""

    def __init__(self, server: SynapseServer) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        user_id, token, device_id = self.server.register_device(f"echo-{int(time.time() * 1000)}", "pw")
        self.client = AsyncClient(self.server.url, user_id, config=AsyncClientConfig(encryption_enabled=False))
        self.client.restore_login(user_id, device_id, token)
        first = await self.client.sync(timeout=0)
        assert isinstance(first, SyncResponse)

        async def on_text(room: Any, event: RoomMessageText) -> None:
            if event.sender == user_id:
                return
            content = {
                "msgtype": "m.notice",
                "body": event.body,
                "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
            }
            await self.client.room_send(room.room_id, "m.room.message", content)

        self.client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]

        async def invited(room: Any, _event: Any) -> None:
            await self.client.join(room.room_id)

        from nio import InviteMemberEvent

        self.client.add_event_callback(invited, InviteMemberEvent)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.client.sync_forever(timeout=30000, since=first.next_batch))
        return user_id

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.client.close()


async def count_items(bot: BotRunner) -> int:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(Item))).one())


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    server = SynapseServer(relaxed=True, log_level="WARNING")
    started = time.perf_counter()
    server.start()
    print(f"synapse up in {server.startup_seconds:.2f}s (startup call {time.perf_counter() - started:.2f}s)")
    workdir = Path(tempfile.mkdtemp(prefix="liaison-matrix-bench-"))
    db_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await asyncio.to_thread(upgrade_sync, db_url)
    residents: list[Resident] = []
    bot: BotRunner | None = None
    echo = EchoBot(server)
    try:
        admin = await new_user(server, "admin")
        residents = [await new_user(server, f"resident{n}") for n in range(args.residents)]
        user_id, password = register_bot(server)
        bot = BotRunner(
            synapse=server,
            db_url=db_url,
            user_id=user_id,
            password=password,
            admins=frozenset({f"matrix:{admin.user_id}"}),
            sync_timeout_ms=30_000,
        )
        await bot.start()
        room = await admin.create_room(invite=[user_id, *(r.user_id for r in residents)])
        for resident in residents:
            await resident.wait_for_invite(room)
            await resident.join(room)
        await admin.wait_for_join(room, user_id)
        # the flood limit off: four residents' bursts are acknowledged message by message
        for text in ("!station add bench 基准测试站", "!bind bench", "!station set bench flood 0"):
            sent = await admin.say(room, text)
            await admin.wait_for(reply_to(user_id, sent), room)

        # Synapse alone: one client's sequential sends, the floor under every bot reply.
        t_raw = time.perf_counter()
        for n in range(args.round_trips):
            await admin.send(room, {"msgtype": "m.text", "body": f"raw {n}"})
        raw_send = (time.perf_counter() - t_raw) / args.round_trips

        # Baseline echo bot round trip in its own room.
        echo_id = await echo.start()
        echo_room = await admin.create_room(invite=[echo_id])
        await admin.wait_for_join(echo_room, echo_id)
        echo_times = await round_trips(admin, echo_room, echo_id, args.round_trips, "echo")
        await echo.stop()

        bot_times = await round_trips(residents[0], room, user_id, args.round_trips, "#建议 往返")
        e2e_times: list[float] = []
        if args.encrypted:  # the same round trip, end-to-end encrypted, between two plain runs
            secret = await new_user(server, "encrypted", encrypted=True)  # not in the plain room's intake below
            encryption = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            e2e_room = await admin.create_room(invite=[user_id, secret.user_id], initial_state=[encryption])
            await secret.wait_for_invite(e2e_room)
            await secret.join(e2e_room)
            await secret.wait_for_join(e2e_room, secret.user_id)
            await admin.wait_for_join(e2e_room, user_id)
            bound = await admin.say(e2e_room, "!bind bench")  # the admin's client sends it unencrypted: setup only
            await admin.wait_for(lambda ev: ev.get("type") == "m.room.encrypted" and ev.get("sender") == user_id,
                                 e2e_room, what="the bind answer")
            del bound
            e2e_times = await round_trips(secret, e2e_room, user_id, args.round_trips, "#建议 加密往返")
            await secret.close()
            bot_times += await round_trips(residents[0], room, user_id, args.round_trips, "#建议 往返")

        # Live intake: everyone posts at once.
        before = await count_items(bot)
        per = args.messages // len(residents)
        t0 = time.perf_counter()
        sent_ids = await asyncio.gather(
            *(
                asyncio.gather(*(r.say(room, f"#建议 吞吐 {i} {n}") for n in range(per)))
                for i, r in enumerate(residents)
            )
        )
        posted = time.perf_counter() - t0
        wanted = {event_id for ids in sent_ids for event_id in ids}
        watcher = residents[-1]
        await watcher.wait_for(
            lambda ev: (
                ev.get("sender") == user_id
                and (ev.get("content", {}).get("m.relates_to") or {}).get("m.in_reply_to", {}).get("event_id") in wanted
            ),
            room,
            count=len(wanted),
            within=300,
            what="all live acks",
        )
        live = time.perf_counter() - t0
        assert await count_items(bot) - before == len(wanted)

        # Catch-up after downtime.
        expected = await count_items(bot) + args.messages
        await bot.stop()
        poster = residents[0]
        for n in range(args.messages):
            await poster.say(room, f"#建议 离线 {n}")
        t1 = time.perf_counter()
        await bot.start()
        deadline = time.monotonic() + 300
        while (made := await count_items(bot)) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"catch-up made only {made} of {expected} items")
            await asyncio.sleep(0.05)
        catch_up = time.perf_counter() - t1
        await admin.close()

        print()
        print("| measure | figure |")
        print("| --- | --- |")
        print(f"| Synapse start (SQLite, fresh) | {server.startup_seconds:.2f} s |")
        print(f"| Synapse alone: one client's sequential `room_send` | {raw_send * 1000:.0f} ms each |")
        print(
            f"| round trip, bare nio echo bot ({args.round_trips} sequential) | median "
            f"{statistics.median(echo_times) * 1000:.0f} ms, p99 {pct(echo_times, 0.99) * 1000:.0f} ms |"
        )
        print(
            f"| round trip, liaison bot: resident `#建议` → ack ({args.round_trips} sequential) | median "
            f"{statistics.median(bot_times) * 1000:.0f} ms, p99 {pct(bot_times, 0.99) * 1000:.0f} ms |"
        )
        if e2e_times:
            ratio = statistics.median(e2e_times) / statistics.median(bot_times)
            print(
                f"| round trip, encrypted room ({args.round_trips} sequential, between two plain runs) | median "
                f"{statistics.median(e2e_times) * 1000:.0f} ms, p99 {pct(e2e_times, 0.99) * 1000:.0f} ms = "
                f"{ratio:.2f} × the plain room's median |"
            )
        print(
            f"| live intake: {len(wanted)} tagged messages from {len(residents)} residents at once "
            f"(posted in {posted:.1f} s) | last ack after {live:.1f} s = {len(wanted) / live:.1f} items/s |"
        )
        print(
            f"| catch-up: {args.messages} messages posted while the bot was down | all items after "
            f"{catch_up:.1f} s = {args.messages / catch_up:.1f} items/s |"
        )
    finally:
        if bot is not None:
            await bot.stop()
        for resident in residents:
            await resident.close()
        server.cleanup()


async def crash(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    server = SynapseServer(relaxed=True, log_level="WARNING")
    server.start()
    workdir = Path(tempfile.mkdtemp(prefix="liaison-matrix-crash-"))
    db_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await asyncio.to_thread(upgrade_sync, db_url)
    try:
        figures = await crash_run(server, db_url, workdir, messages=args.crash_messages, kills=args.kills)
    finally:
        server.cleanup()
    print()
    print("| measure | figure |")
    print("| --- | --- |")
    print(f"| kill -9 during intake: {figures.messages} tagged messages, {figures.kills} kills | "
          f"{figures.items} items, {figures.lost} lost, {figures.duplicated} duplicated; "
          f"{figures.unacknowledged} without an ack, {figures.resent} acks posted twice; "
          f"last ack after {figures.seconds:.1f} s |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--residents", type=int, default=4)
    parser.add_argument("--encrypted", action="store_true", help="also the round trip in an encrypted room")
    parser.add_argument("--crash", action="store_true", help="the kill -9 run instead of the timings")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--crash-messages", type=int, default=600)
    arguments = parser.parse_args()
    asyncio.run(crash(arguments) if arguments.crash else main(arguments))
