"""One bot of the Telegram benchmark, in a process of its own, as a deployed bot runs.

`bench/telegram_bench.py` starts this once per bot and round; the fake Bot API server stays in
the benchmark's own process, as Telegram's servers are never in the bot's. Protocol on stdin and
stdout, one line each:

- this process prints `ready` once the bot polls;
- `expect N` -> prints `taken T` once N more updates were committed (`T`: `time.monotonic()`,
  the same clock in every process on Linux); only the liaison bot counts them;
- `stop` or end of input -> stops the bot and exits.

    python -m bench.telegram_peer echo|adapter|bot --token T --base-url URL [--db URL --admin ID]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import time
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

POLL_TIMEOUT = 1.0
TAKEN_POLL_SECONDS = 0.002  # how often `expect` looks at the count; ~nothing next to a message's cost


class Runner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Echo:
    """The baseline: the smallest PTB bot that answers every text message."""

    def __init__(self, token: str, base_url: str) -> None:
        self.token = token
        self.base_url = base_url
        self.application: Application | None = None  # type: ignore[type-arg]

    async def start(self) -> None:
        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None and update.message.text is not None
            await update.message.reply_text(update.message.text)

        application = Application.builder().token(self.token).base_url(self.base_url).build()
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
    """The liaison bot as `liaison-bot run` starts it: adapter, App, outbox dispatcher.

    Telegram's own flood limits (30 msg/s, 20 msg/min per group) are off: they would measure
    Telegram, not the bot; the echo bot has none either."""

    def __init__(self, token: str, base_url: str, db_url: str, admin_id: int) -> None:
        self.token = token
        self.base_url = base_url
        self.db_url = db_url
        self.admin_id = admin_id
        self.dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from bot.app import App
        from bot.telegram import TelegramOptions, TelegramTransport
        from handlers.clock import SystemClock
        from handlers.context import CoreConfig
        from storage.db import upgrade

        await upgrade(self.db_url)
        self.app = App(
            database_url=self.db_url,
            clock=SystemClock(),
            config=CoreConfig(admins=frozenset({f"telegram:{self.admin_id}"})),
        )
        options = TelegramOptions(
            token=self.token, base_url=self.base_url, poll_timeout=POLL_TIMEOUT, overall_max_rate=0, group_max_rate=0
        )
        self.transport = TelegramTransport(self.app, options)
        await self.transport.start()
        self.dispatcher = asyncio.create_task(self.app.outbox.run_forever(idle_seconds=1.0))

    async def stop(self) -> None:
        assert self.dispatcher is not None
        self.app.outbox.stop()
        await self.dispatcher
        await self.transport.stop()
        await self.app.close()

    def taken_in(self) -> int:
        """Updates committed so far (items stored, acks queued in the outbox)."""
        return self.transport.processed_updates


class StubCore:
    """Stands in for the App to measure the adapter alone: every message is answered at once."""

    def __init__(self) -> None:
        from bot.intake import EventGuard, RetryPolicy
        from handlers.context import CoreConfig

        self.config = CoreConfig()
        self.transports: dict[str, Any] = {}
        self.guard = EventGuard(self, RetryPolicy())  # type: ignore[arg-type]

    async def database_reachable(self) -> bool:
        return True

    async def set_aside_event(self, event: Any, *, error: str, attempts: int) -> None:
        raise RuntimeError(f"the stub core failed on {event.event_id}: {error}")

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

    def __init__(self, token: str, base_url: str) -> None:
        self.token = token
        self.base_url = base_url

    async def start(self) -> None:
        from bot.telegram import TelegramOptions, TelegramTransport

        options = TelegramOptions(
            token=self.token,
            base_url=self.base_url,
            poll_timeout=POLL_TIMEOUT,
            overall_max_rate=0,
            group_max_rate=0,
            publish_commands=False,
        )
        self.transport = TelegramTransport(StubCore(), options)  # type: ignore[arg-type]
        await self.transport.start()

    async def stop(self) -> None:
        await self.transport.stop()


def build(args: argparse.Namespace) -> Runner:
    if args.role == "echo":
        return Echo(args.token, args.base_url)
    if args.role == "adapter":
        return AdapterOnly(args.token, args.base_url)
    return Liaison(args.token, args.base_url, args.db, args.admin)


async def report_taken(runner: Liaison, expected: int) -> None:
    target = runner.taken_in() + expected
    # A plain counter of the adapter's: polled, so the bot under measurement stays as it runs.
    while runner.taken_in() < target:  # noqa: ASYNC110
        await asyncio.sleep(TAKEN_POLL_SECONDS)
    print(f"taken {time.monotonic()!r}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    runner = build(args)
    await runner.start()
    # As `liaison-bot run` does after start-up (bot/cli.py): the collector's full passes then walk
    # only what intake and delivery make. Every bot here gets the same treatment.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    watchers: set[asyncio.Task[None]] = set()
    try:
        while line := (await reader.readline()).decode().strip():
            command, _, value = line.partition(" ")
            if command == "stop":
                break
            if command == "expect" and isinstance(runner, Liaison):
                watcher = asyncio.create_task(report_taken(runner, int(value)))
                watchers.add(watcher)
                watcher.add_done_callback(watchers.discard)
    finally:
        for watcher in watchers:
            watcher.cancel()
        await runner.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("echo", "adapter", "bot"))
    parser.add_argument("--token", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--db", help="the liaison bot's database URL")
    parser.add_argument("--admin", type=int, help="Telegram user id of the liaison bot's administrator")
    args = parser.parse_args(argv)
    if args.role == "bot" and (args.db is None or args.admin is None):
        parser.error("the liaison bot needs --db and --admin")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
