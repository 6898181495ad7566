"""Fixtures for the Matrix tests: one real Synapse per session (relaxed limits), a short-lived one with
Synapse's default limits, and a factory of logged-in matrix-nio users.

Without the synapse virtualenv the tests skip locally with the command that fixes it; under CI
(``CI=true``) they fail instead, because a green run that tested no Matrix at all would lie.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# pytest imports this file as ``matrix.conftest`` unless tests/ is a package or the repo root is on
# ``pythonpath``; make ``tests.*`` importable either way.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.matrix.residents import MakeUser, Resident, make_client  # noqa: E402
from tests.peers.synapse import SYNAPSE_VERSION, SynapseServer, installed_version  # noqa: E402

_counter = itertools.count(1)


def _require_synapse() -> None:
    if installed_version() == SYNAPSE_VERSION:
        return
    message = (
        f"matrix-synapse {SYNAPSE_VERSION} is not installed in .venv-synapse; "
        "run `make peers` (python -m tests.peers.synapse install)"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI: " + message, pytrace=False)
    pytest.skip(message)


def _start(server: SynapseServer) -> SynapseServer:
    _require_synapse()
    server.start()
    return server


@pytest.fixture(scope="session")
def synapse() -> Iterator[SynapseServer]:
    """The session's homeserver, with rate limits out of the way."""
    server = _start(SynapseServer(relaxed=True))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def synapse_default_limits() -> Iterator[SynapseServer]:
    """A fresh homeserver that keeps Synapse's default rate limits, for the back-off test only."""
    server = _start(SynapseServer(relaxed=False))
    try:
        yield server
    finally:
        server.cleanup()


def unique_localpart(name: str) -> str:
    """Tests share the session server, so every account name gets a unique suffix."""
    return f"{name}-{next(_counter)}-{uuid.uuid4().hex[:4]}"


async def new_user(
    server: SynapseServer, name: str, *, admin: bool = False, exact: bool = False, unlimited: bool = False
) -> Resident:
    """Register an account and return it logged in. ``unlimited`` exempts it from rate limits."""
    localpart = name if exact else unique_localpart(name)
    user_id, token = server.register(localpart, "secret-" + localpart, admin=admin)
    if unlimited:
        server.exempt_from_ratelimit(user_id)
    return Resident(make_client(server.url, user_id, token))


@pytest.fixture
async def matrix_users(synapse: SynapseServer) -> AsyncIterator[MakeUser]:
    """Factory: ``await matrix_users("alice")`` registers a fresh account on the session server."""
    made: list[Resident] = []

    async def make(name: str, **kwargs: object) -> Resident:
        user = await new_user(synapse, name, **kwargs)  # type: ignore[arg-type]
        made.append(user)
        return user

    yield make
    for user in made:
        await user.close()
