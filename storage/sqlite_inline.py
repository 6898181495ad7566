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
import collections
import contextlib
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
from greenlet import getcurrent, greenlet
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_

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
        self._greenlet: greenlet | None = None  # the last SQLAlchemy greenlet that called `run`

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no worker thread to start

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def _check_open(self) -> sqlite3.Connection:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return self._connection

    def _should_give_way(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """A write about to begin while other connections wait for the lock."""
        return bool(self.turns.waiting) and not self._check_open().in_transaction and _begins_a_write(fn, args)

    def _must_pause_first(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Giving way to waiting writers, or a slice used up (never to clean up)."""
        if fn.__name__ in CLEAN_UP:
            return False
        return self._should_give_way(fn, args) or time.perf_counter() - self._last_pause >= self.slice_seconds

    async def _pause_first(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self._should_give_way(fn, args):
            await self._give_way()
        else:
            await asyncio.sleep(0)
            self._last_pause = time.perf_counter()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._check_open()
        if self._must_pause_first(fn, args):
            await self._pause_first(fn, args)
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            result = await self._when_busy(exc, fn, *args, **kwargs)
        if fn.__name__ in ENDS_A_TRANSACTION:
            self.turns.released()
        return result

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`_execute` called from SQLAlchemy's greenlet: at once, without a coroutine and two
        greenlet switches, unless it must pause or wait for the lock (then through `await_`).

        The first call in each greenlet (one `AsyncConnection.execute`, one session commit) goes
        through `await_` all the same: SQLAlchemy's AsyncConnection checks that a call awaited at
        least once, its way of telling a blocking driver from an async one."""
        self._check_open()
        if self._must_pause_first(fn, args) or getcurrent() is not self._greenlet:
            self._greenlet = getcurrent()
            return await_(self._execute(fn, *args, **kwargs))
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            result = await_(self._when_busy(exc, fn, *args, **kwargs))
        if fn.__name__ in ENDS_A_TRANSACTION:
            self.turns.released()
        return result

    def sqlite_cursor(self) -> sqlite3.Cursor:
        return self._check_open().cursor()

    async def _when_busy(self, error: sqlite3.OperationalError, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Wait for the lock another connection holds (as a waiting writer), else raise `error`."""
        if getattr(error, "sqlite_errorcode", None) not in RETRYABLE_BUSY or self.busy_timeout <= 0:
            raise error
        self.turns.enter()
        try:
            return await self._wait_for_the_lock(fn, *args, **kwargs)
        finally:
            self.turns.leave()

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


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor over an `InlineConnection`: sqlite3's cursor called directly.

    SQLAlchemy's aiosqlite cursor awaits aiosqlite for every step (open the cursor, execute,
    fetch, close), each a coroutine and two greenlet switches even when nothing waits: two thirds
    of a statement's cost (180 µs against 60 µs for the same statement on the plain sqlite3
    dialect). Here each step is a plain call, and only a pause or a busy lock awaits.
    """

    __slots__ = ()
    _awaitable_cursor_close = False
    _connection: InlineConnection  # type: ignore[assignment]

    def _make_new_cursor(self, connection: Any) -> Any:
        return connection.sqlite_cursor()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            if parameters is None:
                self._connection.run(self._cursor.execute, operation)
            else:
                self._connection.run(self._cursor.execute, operation, parameters)
            if self._cursor.description:
                self._rows = collections.deque(self._cursor.fetchall())
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            self._connection.run(self._cursor.executemany, operation, seq_of_parameters)
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()


class InlineAdaptedConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's side of an `InlineConnection`: commits and rollbacks are plain calls too."""

    __slots__ = ()
    _cursor_cls = InlineCursor
    _connection: InlineConnection  # type: ignore[assignment]

    def commit(self) -> None:
        self._end_transaction("commit")

    def rollback(self) -> None:
        self._end_transaction("rollback")

    def _end_transaction(self, how: str) -> None:
        sqlite = self._connection._connection
        if sqlite is None:
            return
        try:
            self._connection.run(getattr(sqlite, how))
        except Exception as error:
            self._handle_exception(error)


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=…)`)."""

    def __init__(self, busy_timeout: float, slice_seconds: float) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.turns = WriteTurns()  # shared by the engine's connections
        self.busy_timeout = busy_timeout
        self.slice_seconds = slice_seconds

    def connect(self, *args: Any, **kwargs: Any) -> InlineAdaptedConnection:
        return InlineAdaptedConnection(self, await_(self.open(*args, **kwargs)))

    def open(self, database: str, **kwargs: Any) -> InlineConnection:
        """An `InlineConnection` to the file (awaitable, as aiosqlite's `connect`)."""
        kwargs.pop("async_creator_fn", None)
        kwargs.pop("timeout", None)  # waiting is ours (see `_execute`), SQLite must not block the loop
        kwargs["check_same_thread"] = False  # the pool may close a connection from the GC's thread
        return InlineConnection(
            lambda: sqlite3.connect(database, timeout=0, **kwargs),
            busy_timeout=self.busy_timeout,
            slice_seconds=self.slice_seconds,
            turns=self.turns,
        )


def create_inline_engine(url: str, *, busy_timeout: float = 10.0, slice_seconds: float = 0.005) -> AsyncEngine:
    """An engine for a `sqlite+aiosqlite` URL whose connections are `InlineConnection`s."""
    return create_async_engine(url, module=InlineDBAPI(busy_timeout, slice_seconds))
