"""SQLite on the event loop's own thread: aiosqlite's interface without its worker thread.

aiosqlite runs every call (execute, fetch, commit) on a worker thread and wakes the event loop
when it is done. For a local SQLite file a statement takes microseconds, so those hops cost far
more than the work: an intake message was about sixteen of them. This connection keeps
aiosqlite's API, which SQLAlchemy's `sqlite+aiosqlite` dialect drives, and runs each call
directly. Two things a thread gave for free are kept by hand:

- waiting for a lock never blocks the loop: SQLite's own busy timeout is off on these
  connections, and a busy database is retried with `asyncio.sleep` until `busy_timeout` passes;
- a long job does not starve the other writers of this process: a job that commits in slices (a
  province's reminder tick) takes SQLite's write lock again at once after each commit, faster than
  a writer polling for it (the outbox recording a send) ever notices it was free. The connections
  of one engine share `WriteTurns`: one that is about to start a write transaction while another
  waits for the lock lets the waiting one go first;
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
import contextlib
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

# Extended result codes worth waiting for; SQLITE_BUSY_SNAPSHOT (517) is not: the transaction's
# snapshot is stale and only a rollback helps, so it is raised at once.
RETRYABLE_BUSY = frozenset({5, 261})  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY
CLEAN_UP = frozenset({"rollback", "close"})  # sqlite3.Connection methods that never pause (see above)
ENDS_A_TRANSACTION = frozenset({"commit", "rollback"})
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.05
GIVE_WAY_AT_MOST = 2.0  # seconds a connection lets waiting writers go first, before it writes anyway
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")  # what makes sqlite3 begin a transaction


class WriteTurns:
    """The connections of one engine waiting for SQLite's write lock, so that one about to start a
    write transaction lets them have it first (`InlineConnection._give_way`), and so that they try
    again the moment a connection of the engine ends its transaction rather than at their next
    poll (the lock of another process is still polled for)."""

    def __init__(self) -> None:
        self.waiting = 0
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def enter(self) -> None:
        self.waiting += 1

    def leave(self) -> None:
        self.waiting -= 1
        self._signal()

    def released(self) -> None:
        """A connection of the engine committed or rolled back: the waiting ones try at once."""
        if self.waiting:
            self._signal()

    async def _until_changed(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop = asyncio.Event(), loop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)

    async def pause(self, seconds: float) -> None:
        """A waiting writer's pause before its next try, cut short when the lock may be free."""
        await self._until_changed(seconds)

    async def until_none_waiting(self, within: float) -> None:
        """`within` bounds the wait, as one may be waiting for another process's lock."""
        deadline = time.perf_counter() + within
        while self.waiting and (remaining := deadline - time.perf_counter()) > 0:
            await self._until_changed(remaining)


def _begins_a_write(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """An execute of a data change: outside a transaction, sqlite3 begins one for it."""
    if fn.__name__ not in ("execute", "executemany") or not args or not isinstance(args[0], str):
        return False
    return args[0].lstrip()[:7].upper().startswith(WRITES)


class InlineConnection(aiosqlite.Connection):
    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        *,
        busy_timeout: float,
        slice_seconds: float,
        turns: WriteTurns | None = None,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout = busy_timeout
        self.slice_seconds = slice_seconds
        self.turns = turns or WriteTurns()
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
        if fn.__name__ not in CLEAN_UP:
            if self.turns.waiting and not self._connection.in_transaction and _begins_a_write(fn, args):
                await self._give_way()
            elif time.perf_counter() - self._last_pause >= self.slice_seconds:
                await asyncio.sleep(0)
                self._last_pause = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in RETRYABLE_BUSY or self.busy_timeout <= 0:
                raise
            self.turns.enter()
            try:
                result = await self._wait_for_the_lock(fn, *args, **kwargs)
            finally:
                self.turns.leave()
        if fn.__name__ in ENDS_A_TRANSACTION:
            self.turns.released()
        return result

    async def _wait_for_the_lock(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        pause = FIRST_PAUSE
        while True:
            await self.turns.pause(pause)
            self._last_pause = time.perf_counter()
            waited = self._last_pause - began
            pause = min(LONGEST_PAUSE, pause * 2)
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in RETRYABLE_BUSY or waited >= self.busy_timeout:
                    raise

    async def _give_way(self) -> None:
        """Let the writers that wait for the lock have it first."""
        await self.turns.until_none_waiting(GIVE_WAY_AT_MOST)
        self._last_pause = time.perf_counter()

    def stop(self) -> None:  # type: ignore[override]
        """Close the sqlite3 connection; there is no thread to stop."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def inline_connector(busy_timeout: float = 10.0, slice_seconds: float = 0.005) -> Callable[..., InlineConnection]:
    """An `async_creator_fn` for SQLAlchemy's aiosqlite dialect (pass it in `connect_args`)."""

    turns = WriteTurns()  # shared by the engine's connections

    def connect(database: str, **kwargs: Any) -> InlineConnection:
        kwargs.pop("timeout", None)  # waiting is ours (see `_execute`), SQLite must not block the loop
        kwargs["check_same_thread"] = False  # the pool may close a connection from the GC's thread
        return InlineConnection(
            lambda: sqlite3.connect(database, timeout=0, **kwargs),
            busy_timeout=busy_timeout,
            slice_seconds=slice_seconds,
            turns=turns,
        )

    return connect
