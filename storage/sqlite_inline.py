"""SQLite on the event loop's own thread: aiosqlite's interface without its worker thread.

aiosqlite runs every call (execute, fetch, commit) on a worker thread and wakes the event loop
when it is done. For a local SQLite file a statement takes microseconds, so those hops cost far
more than the work: an intake message was about sixteen of them. This connection keeps
aiosqlite's API, which SQLAlchemy's `sqlite+aiosqlite` dialect drives, and runs each call
directly. Two things a thread gave for free are kept by hand:

- waiting for a lock never blocks the loop: SQLite's own busy timeout is off on these
  connections, and a busy database is retried with `asyncio.sleep` until `busy_timeout` passes;
- long work does not starve other tasks: once `slice_seconds` have passed since the last pause,
  the next database call first lets the loop run (`asyncio.sleep(0)`). The clock counts all
  the work in between, not only SQLite's, so a long job (a province's reminder tick) is cut
  into slices even where most of its time goes to building rows. A rollback or close never
  pauses: they are how a cancelled task lets go of its connection (the pool rolls back on
  check-in), and a cancellation delivered inside them would make SQLAlchemy log the check-in
  as failed and throw the connection away.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

# Extended result codes worth waiting for; SQLITE_BUSY_SNAPSHOT (517) is not: the transaction's
# snapshot is stale and only a rollback helps, so it is raised at once.
RETRYABLE_BUSY = frozenset({5, 261})  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY
CLEAN_UP = frozenset({"rollback", "close"})  # sqlite3.Connection methods that never pause (see above)
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.05


class InlineConnection(aiosqlite.Connection):
    def __init__(
        self, connector: Callable[[], sqlite3.Connection], *, busy_timeout: float, slice_seconds: float
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout = busy_timeout
        self.slice_seconds = slice_seconds
        self._last_pause = time.perf_counter()

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no worker thread to start

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if time.perf_counter() - self._last_pause >= self.slice_seconds and fn.__name__ not in CLEAN_UP:
            await asyncio.sleep(0)
            self._last_pause = time.perf_counter()
        waited = 0.0
        pause = FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in RETRYABLE_BUSY or waited >= self.busy_timeout:
                    raise
            await asyncio.sleep(pause)
            self._last_pause = time.perf_counter()
            waited += pause
            pause = min(LONGEST_PAUSE, pause * 2)

    def stop(self) -> None:  # type: ignore[override]
        """Close the sqlite3 connection; there is no thread to stop."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def inline_connector(busy_timeout: float = 10.0, slice_seconds: float = 0.005) -> Callable[..., InlineConnection]:
    """An `async_creator_fn` for SQLAlchemy's aiosqlite dialect (pass it in `connect_args`)."""

    def connect(database: str, **kwargs: Any) -> InlineConnection:
        kwargs.pop("timeout", None)  # waiting is ours (see `_execute`), SQLite must not block the loop
        kwargs["check_same_thread"] = False  # the pool may close a connection from the GC's thread
        return InlineConnection(
            lambda: sqlite3.connect(database, timeout=0, **kwargs),
            busy_timeout=busy_timeout,
            slice_seconds=slice_seconds,
        )

    return connect
