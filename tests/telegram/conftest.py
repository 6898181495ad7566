"""Fixtures for the Telegram tests: a loopback-only network guard and the fake Bot API server."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.peers.fake_telegram import JSON, FakeTelegram
from tests.telegram.harness import TelegramBotRunner


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port) means the local wildcard
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).split("%", 1)[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test that tries to reach a host other than 127.0.0.1 (api.telegram.org above all).

    Both name resolution and socket connects are guarded: the attempt raises at once (so the code
    under test sees a network error) and is recorded, and the test fails at teardown even if the
    code under test swallowed the error and retried.
    """
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return ConnectionRefusedError(f"test network guard: non-loopback connection refused: {what}")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise refuse(f"resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refuse(f"connect {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert not attempts, f"test tried to reach the network beyond loopback: {attempts}"


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """A running fake Bot API server on 127.0.0.1 with a fresh bot."""
    server = FakeTelegram()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class World:
    """The people and chats of one station on the fake Telegram."""

    fake: FakeTelegram
    admin: JSON
    liaison: JSON
    deputy: JSON
    alice: JSON
    bob: JSON
    residents: JSON
    staff: JSON

    @property
    def admin_dm(self) -> JSON:
        return self.fake.private(self.admin)

    @property
    def deputy_dm(self) -> JSON:
        """The deputy's private chat (exists once they pressed Start; see `FakeTelegram.private`)."""
        return {"id": self.deputy["id"], "type": "private", "first_name": self.deputy["first_name"]}


@pytest.fixture
def world(fake_tg: FakeTelegram) -> World:
    admin = fake_tg.user("Ada", username="ada_admin")
    liaison = fake_tg.user("张联络", username="zhang_ll")
    deputy = fake_tg.user("李代表", username="li_daibiao")
    alice = fake_tg.user("Alice", username="alice")
    bob = fake_tg.user("Bob")
    residents = fake_tg.group("幸福社区居民群", members=[alice, bob, liaison, deputy], admins=[admin])
    staff = fake_tg.group("幸福社区工作群", members=[liaison, deputy], admins=[admin])
    fake_tg.private(admin)
    return World(fake_tg, admin, liaison, deputy, alice, bob, residents, staff)


@pytest.fixture
async def bot(fake_tg: FakeTelegram, db_url: str, world: World) -> AsyncIterator[TelegramBotRunner]:
    """The bot, polling the fake server; the world's admin is a configured admin."""
    runner = TelegramBotRunner(fake_tg, db_url, admins=frozenset({f"telegram:{world.admin['id']}"}))
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
