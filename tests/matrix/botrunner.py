"""The bot as a process would run it: an App on a database, the Matrix transport syncing, the outbox
draining; `stop()` and `start()` again on the same database is a restart."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.app import App
from bot.matrix import MatrixTransport
from handlers.clock import SystemClock
from handlers.context import CoreConfig
from handlers.router import Feature, Router
from tests.peers.synapse import SynapseServer

STOP_SECONDS = 60.0  # longer for a drain to end or a cancelled outbox to stop is a hang, not slowness


@dataclass
class BotRunner:
    synapse: SynapseServer
    db_url: str
    user_id: str
    password: str
    admins: frozenset[str] = frozenset()
    features: Sequence[Feature] | None = None  # None: the real features
    timeline_limit: int = 100
    sync_timeout_ms: int = 1000
    store_path: Path | None = None  # the crypto store, kept across restarts (a fresh one per runner)
    trust: str = "tofu"
    report_unreadable_after: float = 600.0
    app: App | None = None
    transport: MatrixTransport | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> BotRunner:
        """Start a fresh App and transport on the same database, as a restarted process would."""
        assert not self._tasks, "already running"
        if self.store_path is None:
            self.store_path = Path(tempfile.mkdtemp(prefix="liaison-matrix-store-"))
        self.app = App(database_url=self.db_url, clock=SystemClock(), config=CoreConfig(admins=self.admins))
        if self.features is not None:
            self.app.router = Router(self.features)
        self.transport = MatrixTransport(
            self.app,
            homeserver=self.synapse.url,
            user=self.user_id,
            password=self.password,
            timeline_limit=self.timeline_limit,
            sync_timeout_ms=self.sync_timeout_ms,
            store_path=self.store_path,
            trust=self.trust,
            report_unreadable_after=self.report_unreadable_after,
        )
        self.app.add_transport(self.transport)
        await self.transport.start()
        self._tasks = [
            asyncio.create_task(self.transport.run(), name="matrix-sync"),
            asyncio.create_task(self.app.outbox.run_forever(idle_seconds=0.5), name="outbox"),
        ]
        return self

    async def stop_syncing(self) -> None:
        """Stop the sync loop after the batch in hand (its position stored); the outbox keeps sending."""
        if self.transport is not None:
            self.transport.stop()
        if self._tasks:
            await asyncio.wait_for(self._tasks[0], timeout=30)

    async def stop(self) -> None:
        """Stop syncing (finishing the batch in hand) and sending, then close everything."""
        await self.stop_syncing()
        if len(self._tasks) > 1 and self.app is not None:
            # Cancel the outbox between drains, never inside one: a transaction cut in half would keep
            # SQLite's write lock in a connection that dispose() cannot close, stalling the restart.
            # Bounded, so a drain that never ends fails the test instead of hanging the suite.
            lock = self.app.outbox._drain_lock
            try:
                await asyncio.wait_for(lock.acquire(), STOP_SECONDS)
            except TimeoutError:
                raise AssertionError(f"the outbox's drain did not end within {STOP_SECONDS} s") from None
            try:
                for task in self._tasks[1:]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, STOP_SECONDS)
            finally:
                lock.release()
        self._tasks = []
        if self.transport is not None:
            await self.transport.client.close()
        if self.app is not None:
            await self.app.close()

    def check_alive(self) -> None:
        """Fail the test at once if the sync loop or the outbox died with an exception."""
        for task in self._tasks:
            if task.done():
                raise AssertionError(f"{task.get_name()} stopped: {task.exception()!r}")
