"""The two storage shortcuts of the hot path: `new_row` and SQLite on the loop's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import _sqlite_pragmas, session_factory
from storage.models import Item, ItemEvent, KvState, Message, Outbox
from storage.rows import new_row
from storage.sqlite_inline import InlineConnection, InlineDBAPI, create_inline_engine

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ROWS: list[tuple[type, dict[str, object]]] = [
    (Message, {"platform": "telegram", "chat_id": "-100", "message_id": "7", "text": "#建议 路灯", "created_at": NOW}),
    (Item, {"station_id": 1, "number": 3, "tag": "建议", "text": "路灯", "reporter_id": 1, "created_at": NOW,
            "updated_at": NOW}),
    (ItemEvent, {"item_id": 1, "kind": "created", "to_status": "new", "at": NOW}),
    (Outbox, {"key": "ack:item:1:3", "purpose": "ack", "platform": "telegram", "chat_id": "-100", "text": "已受理",
              "due_at": NOW, "next_attempt_at": NOW, "created_at": NOW, "txn_id": "t"}),
]


@pytest.mark.parametrize(("model", "values"), ROWS, ids=[model.__name__ for model, _ in ROWS])
def test_new_row_is_the_constructor_without_its_cost(model: type, values: dict[str, object]) -> None:
    built, fast = model(**values), new_row(model, **values)
    assert fast.model_dump() == built.model_dump()
    assert fast.model_fields_set == built.model_fields_set
    if isinstance(fast, (Message, Outbox)):
        assert fast.buttons == [] and fast.buttons is not new_row(model, **values).buttons, "a fresh list each"
    with pytest.raises(TypeError, match="no field"):
        new_row(model, not_a_field=1)


async def test_new_rows_are_written_and_linked_by_the_flush(db_url: str) -> None:
    from storage.db import create_engine

    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions() as session:
        message = new_row(Message, platform="p", chat_id="c", message_id="1", text="t", created_at=NOW)
        session.add(message)
        await session.commit()
        stored = await session.get(Message, message.id)
        assert stored is not None and (stored.chat_id, stored.text, stored.buttons) == ("c", "t", [])
    await engine.dispose()


async def test_only_tables_with_several_new_rows_are_numbered_before_the_flush(db_url: str) -> None:
    """Several new rows of a table go in one executemany (their ids given beforehand); a lone row
    is inserted as SQLAlchemy would, without the lock and the max(id) query numbering costs."""
    from storage.db import create_engine

    engine = create_engine(db_url)
    statements: list[tuple[str, bool]] = []  # (SQL, executemany)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(_conn: object, _cursor: object, sql: str, _params: object, _context: object, many: bool) -> None:
        statements.append((" ".join(sql.split()), many))

    async with session_factory(engine)() as session:
        one = new_row(Message, platform="p", chat_id="c", message_id="1", text="t", created_at=NOW)
        session.add(one)
        await session.commit()
        assert one.id is not None
        assert not [sql for sql, _ in statements if "max(" in sql or "UPDATE kvstate" in sql]
        assert [many for sql, many in statements if sql.startswith("INSERT INTO message")] == [False]

        statements.clear()
        several = [
            new_row(Message, platform="p", chat_id="c", message_id=str(n), text="t", created_at=NOW) for n in (2, 3, 4)
        ]
        session.add_all(several)
        session.add(new_row(KvState, key="lone", value="v", updated_at=NOW))
        await session.commit()
        assert [row.id for row in several] == [one.id + 1, one.id + 2, one.id + 3]
        inserts = [(sql.split()[2], many) for sql, many in statements if sql.startswith("INSERT")]
        assert sorted(inserts) == [("kvstate", False), ("message", True)]
        assert [sql for sql, _ in statements if "max(" in sql] and any("UPDATE kvstate" in s for s, _ in statements)
    await engine.dispose()


def inline_engine(path: Path, **options: float) -> AsyncEngine:
    engine = create_inline_engine(f"sqlite+aiosqlite:///{path}", **options)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def count_ticks_while(work: asyncio.Future[object]) -> int:
    """How often another task got to run while `work` was under way."""
    ticks = 0
    while not work.done():
        ticks += 1
        await asyncio.sleep(0)
    await work
    return ticks


async def write_state(engine: AsyncEngine, key: str) -> None:
    async with session_factory(engine)() as session:
        session.add(KvState(key=key, value="v", updated_at=NOW))
        await session.commit()


async def test_a_locked_database_is_waited_for_without_blocking_the_loop(db_url: str) -> None:
    path = Path(db_url.split("///", 1)[1])
    engine = inline_engine(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    started = time.monotonic()  # before the commit is scheduled: it comes 0.3 s after this at the earliest
    asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
    ticks = await count_ticks_while(asyncio.ensure_future(write_state(engine, "waited")))
    assert time.monotonic() - started >= 0.3
    assert ticks > 10, "the loop kept running while the write waited for the lock"
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT value FROM kvstate WHERE key = 'waited'"))).scalar() == "v"
    holder.close()
    await engine.dispose()


async def test_a_lock_held_past_the_busy_timeout_is_an_error(db_url: str) -> None:
    path = Path(db_url.split("///", 1)[1])
    engine = inline_engine(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"):
        await write_state(engine, "never")
    holder.execute("ROLLBACK")
    holder.close()
    await engine.dispose()


async def test_long_database_work_lets_other_tasks_run(db_url: str) -> None:
    engine = inline_engine(Path(db_url.split("///", 1)[1]), slice_seconds=0.001)

    async def long_job() -> None:
        async with engine.connect() as connection:
            for _ in range(3000):
                await connection.execute(text("SELECT count(*) FROM message"))

    # a few yields happen anyway (connecting); slicing gives one per millisecond of work
    assert await count_ticks_while(asyncio.ensure_future(long_job())) > 10
    await engine.dispose()


async def test_a_connection_is_let_go_of_without_pausing(db_url: str) -> None:
    """Check-in rolls back; a pause there would let a task's cancellation land inside the pool's
    reset (SQLAlchemy then logs "Exception during reset" and discards the connection)."""
    connect = InlineDBAPI(busy_timeout=10.0, slice_seconds=0).open  # every other call pauses first
    connection = await connect(db_url.split("///", 1)[1])
    await connection.execute("CREATE TABLE IF NOT EXISTS t (x)")
    for clean_up in (connection.rollback, connection.close):
        task = asyncio.ensure_future(clean_up())
        await asyncio.sleep(0)  # the task's first step: done, unless it paused
        task.cancel()
        await task  # not cancelled
    other = await connect(db_url.split("///", 1)[1])
    querying = asyncio.ensure_future(other.execute("SELECT 1"))
    await asyncio.sleep(0)
    querying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await querying  # a query still pauses (the slicing above), so the test would see one
    await other.close()


async def test_a_job_committing_in_slices_lets_a_waiting_writer_in_between(db_url: str) -> None:
    """A province's reminder tick commits every few receptions and takes the write lock again at
    once. A writer of the same engine that waits for the lock meanwhile (the outbox recording a
    send) gets it at the job's next commit: not after the whole job, nor never (its busy timeout)."""
    engine = inline_engine(Path(db_url.split("///", 1)[1]))
    committed = 0
    under_way = asyncio.Event()

    async def job() -> None:
        nonlocal committed
        async with session_factory(engine)() as session:
            for n in range(60):
                session.add(KvState(key=f"job{n}", value="v", updated_at=NOW))
                await session.flush()  # the write lock is taken here
                if n == 3:
                    under_way.set()
                await asyncio.sleep(0.01)  # the slice's work, other tasks running meanwhile
                await session.commit()
                committed += 1

    running = asyncio.ensure_future(job())
    await under_way.wait()
    await write_state(engine, "short")
    got_in_after = committed
    await running
    assert got_in_after <= 5, f"the waiting writer got the lock only after {got_in_after} of 60 slices"
    await engine.dispose()


async def test_a_session_holding_the_lock_knows_when_another_writer_waits(db_url: str) -> None:
    """What lets the reminder tick commit at once, rather than after its slice, when the outbox
    or intake wait for the lock it holds."""
    from storage.db import create_engine, writers_waiting

    engine = create_engine(db_url)
    async with session_factory(engine)() as holder:
        assert not await writers_waiting(holder), "no transaction yet"
        holder.add(KvState(key="held", value="v", updated_at=NOW))
        await holder.flush()  # the write lock is held from here
        assert not await writers_waiting(holder)
        waiting = asyncio.ensure_future(write_state(engine, "waiting"))
        while not await writers_waiting(holder):
            assert not waiting.done()
            await asyncio.sleep(0.001)
        await holder.commit()
        await waiting
        assert not await writers_waiting(holder)
    await engine.dispose()


async def test_statements_run_at_once_and_only_pausing_awaits(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy's cursor calls sqlite3 directly (`InlineCursor`): of a session's many statements
    in one step (here a flush of 40 rows and a commit), only the first of the step goes through
    the awaited path that may pause, as SQLAlchemy's check for an async driver wants."""
    engine = inline_engine(Path(db_url.split("///", 1)[1]), slice_seconds=60.0)  # no slice ends here
    awaited: list[str] = []
    original = InlineConnection._execute

    async def counting(self: InlineConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        awaited.append(fn.__name__)
        return await original(self, fn, *args, **kwargs)

    async with session_factory(engine)() as session:
        await session.connection()  # checked out and set up before counting
        monkeypatch.setattr(InlineConnection, "_execute", counting)
        for number in range(40):
            session.add(KvState(key=f"k{number}", value="v", updated_at=NOW))
            await session.flush()  # a flush each: 40 steps, each its own greenlet
        flushed = len(awaited)
        session.add_all(KvState(key=f"many{number}", value="v", updated_at=NOW) for number in range(40))
        await session.commit()  # one step: one executemany and the commit
    assert flushed == 40
    assert awaited[flushed:] == ["executemany"]
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM kvstate"))).scalar() == 80
    await engine.dispose()
