"""Engine, sessions and schema upgrades.

SQLite gets WAL and a busy timeout so the console, the bot and an export can share one file, and
runs on the event loop's thread (`storage.sqlite_inline`): its statements are cheaper than a hop;
any SQLAlchemy async URL (e.g. postgresql+asyncpg://…) works through LIAISON_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel import Session as SQLModelSession
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.figure_deltas import after_flush as keep_figures
from storage.sqlite_inline import InlineConnection, create_inline_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_SYNC_TO_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///…`/`postgresql://…` and pick the async driver for them."""
    parsed = make_url(url)
    driver = _SYNC_TO_ASYNC_DRIVERS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=0")  # waiting for a lock is `sqlite_inline`'s, off the loop
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    url = normalize_url(url)
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        engine = create_inline_engine(url, busy_timeout=10.0)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


class StorageSession(SQLModelSession):
    """Every session's flush keeps the figures per station and month (`storage.figure_deltas`),
    in the same transaction as the items and events it writes."""


event.listen(StorageSession, "after_flush", keep_figures)


class SQLiteSession(StorageSession):
    """A session that numbers its new rows itself before a flush (see `_number_new_rows`)."""


@event.listens_for(SQLiteSession, "before_flush")
def _number_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Give new rows their ids before they are inserted, so a flush writes each table with one
    `executemany` instead of one INSERT … RETURNING a row.

    SQLAlchemy can batch an insert on SQLite only when it need not read the ids back (SQLite
    cannot promise RETURNING's order for a multi-row insert). SQLite itself gives a new row
    max(id) + 1, and so do we: first a no-op write takes the database's write lock, so no other
    connection can insert until this transaction ends, then each table's max(id) is read once.

    Only tables with several new rows are numbered: a lone row is one INSERT either way, and
    numbering it would add the lock and a max(id) query, which made a lone message's commit (four
    new rows in four tables) cost a third more.
    """
    fresh: dict[type, list[Any]] = {}
    for row in session.new:
        # Read from the instance's dict: through the attribute it raises until the mappers are
        # configured (before the first query), which would quietly skip the numbering.
        if row.__dict__.get("id", 0) is None:
            fresh.setdefault(type(row), []).append(row)
    fresh = {model: rows for model, rows in fresh.items() if len(rows) > 1}
    if not fresh:
        return
    connection = session.connection()
    connection.exec_driver_sql("UPDATE kvstate SET key = key WHERE 0")  # take the write lock
    for model, rows in fresh.items():
        table = model.__table__  # type: ignore[attr-defined]
        highest = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        for number, row in enumerate(rows, start=highest + 1):
            row.id = number


async def writers_waiting(session: AsyncSession) -> bool:
    """Whether other connections of this process wait for the SQLite write lock (the outbox
    recording a send, intake): a long job that commits in slices then commits at once, so they
    get in after a moment rather than after a whole slice. PostgreSQL locks rows: never."""
    if session.bind is None or session.bind.dialect.name != "sqlite" or not session.in_transaction():
        return False
    connection = await (await session.connection()).get_raw_connection()
    inline = connection.driver_connection
    return isinstance(inline, InlineConnection) and inline.turns.waiting > 0


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if engine.dialect.name == "sqlite":
        return async_sessionmaker(engine, class_=AsyncSession, sync_session_class=SQLiteSession, expire_on_commit=False)
    return async_sessionmaker(engine, class_=AsyncSession, sync_session_class=StorageSession, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # imported when needed: a fifth of a second a process that never migrates

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Run Alembic in this thread (it starts its own event loop for the async driver)."""
    if is_sqlite(normalize_url(url)):
        _ensure_sqlite_dir(normalize_url(url))
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the schema from inside a running loop, on a worker thread."""
    await asyncio.to_thread(upgrade_sync, url, revision)
