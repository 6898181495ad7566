"""The bot under test on Telegram: a real App and TelegramTransport, PTB pointed at the fake server.

`TelegramBotRunner` starts the adapter (polling or webhook) and the outbox dispatcher as the
production entry point does, can stop it cleanly or "crash" it (cancel without confirming
anything), and offers waits on what the fake server saw. Nothing here sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from bot.app import App
from bot.telegram import TelegramOptions, TelegramTransport
from handlers.clock import Clock, SystemClock
from handlers.context import CoreConfig
from storage.models import Outbox, OutboxState
from tests.peers.fake_telegram import JSON, FakeTelegram


class TelegramBotRunner:
    def __init__(
        self,
        fake: FakeTelegram,
        db_url: str,
        *,
        admins: frozenset[str] = frozenset(),
        webhook_port: int | None = None,
        clock: Clock | None = None,
        reminder_hour: int = 9,
        **options: Any,
    ) -> None:
        self.fake = fake
        self.clock = clock or SystemClock()
        self.reminder_hour = reminder_hour
        self.db_url = db_url
        self.admins = admins
        self.webhook_port = webhook_port
        self.options = options
        self.app: App | None = None
        self.transport: TelegramTransport | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self, *, catch_up_first: bool = False) -> TelegramBotRunner:
        """Start a fresh process' worth of bot: new App, new PTB Application, same database.
        `catch_up_first`: as `liaison-bot run` does, what fell due while the bot was down is written
        before the outbox sends anything (`App.deliver_after_catching_up`)."""
        self.app = App(
            database_url=self.db_url, clock=self.clock,
            config=CoreConfig(admins=self.admins, reminder_hour=self.reminder_hour),
        )
        defaults: dict[str, Any] = {"poll_timeout": 1.0, "max_retries": 2}
        if self.webhook_port is not None:
            defaults.update(
                webhook_url=f"http://127.0.0.1:{self.webhook_port}/telegram/hook",
                webhook_listen="127.0.0.1",
                webhook_port=self.webhook_port,
            )
        options = TelegramOptions(token=self.fake.token, base_url=self.fake.base_url, **{**defaults, **self.options})
        self.transport = TelegramTransport(self.app, options)
        await self.transport.start()
        delivery = (self.app.deliver_after_catching_up if catch_up_first else self.app.outbox.run_forever)
        self._dispatcher = asyncio.create_task(delivery(idle_seconds=0.2))
        return self

    async def stop(self) -> None:
        """A clean shutdown: finish the update and the send in hand, confirm it, close everything."""
        if self._dispatcher is not None and self.app is not None:
            self.app.outbox.stop()
            await asyncio.wait_for(self._dispatcher, 10)
            self._dispatcher = None
        if self.transport is not None:
            await self.transport.stop()
        if self.app is not None:
            await self.app.close()
        self.transport = self.app = None

    async def crash(self) -> None:
        """Die like a killed process: no confirming getUpdates, no goodbye to anyone; a send in
        flight is cut off."""
        await self._cancel_dispatcher()
        transport = self.transport
        if transport is not None:
            for task in (transport._poll_call, transport._poller):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if transport._webhook_runner is not None:
                await transport._webhook_runner.cleanup()
            await transport.application.shutdown()
        if self.app is not None:
            await self.app.close()
        self.transport = self.app = None

    async def _cancel_dispatcher(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None

    # --- waiting on the fake server -------------------------------------------------------------
    async def reply_to(self, update: JSON, within: float = 30.0) -> JSON:
        """The bot's message that replies to the message of `update`."""
        message = update.get("message") or update.get("edited_message")
        assert message is not None
        chat_id, message_id = message["chat"]["id"], message["message_id"]

        def found() -> JSON | None:
            for sent in self.fake.sent(chat_id):
                if sent.get("reply_to_message", {}).get("message_id") == message_id:
                    return sent
            return None

        return await self.fake.wait_for(found, within)

    async def sent_matching(self, chat_id: int, predicate: Callable[[JSON], bool], within: float = 30.0) -> JSON:
        def found() -> JSON | None:
            return next((m for m in self.fake.sent(chat_id) if predicate(m)), None)

        return await self.fake.wait_for(found, within)

    async def processed(self, update: JSON, within: float = 30.0) -> None:
        """Wait until the update was committed and confirmed (the next poll carried a higher offset)."""
        await self.fake.wait_for(lambda: self.fake.confirmed_offset > update["update_id"], within)

    async def count(self, model: type, *where: Any) -> int:
        assert self.app is not None
        async with self.app.sessions() as session:
            query = select(func.count()).select_from(model)
            for clause in where:
                query = query.where(clause)
            return int((await session.exec(query)).one())

    async def outbox_idle(self, within: float = 30.0) -> None:
        """Wait until no outbox row is pending: every send so far went out and was recorded."""
        deadline = asyncio.get_running_loop().time() + within
        while await self.count(Outbox, Outbox.state == OutboxState.PENDING):
            assert asyncio.get_running_loop().time() < deadline, "outbox rows still pending"
            await asyncio.sleep(0.02)  # the record is in the database; nothing to be woken by

    async def rows(self, model: type) -> list[Any]:
        assert self.app is not None
        async with self.app.sessions() as session:
            return list((await session.exec(select(model))).all())
