"""Fixtures for the Telegram tests: a loopback-only network guard and the fake Bot API server."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.peers.fake_telegram import FakeTelegram


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
