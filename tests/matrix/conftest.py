"""Fixtures for the Matrix tests: one real Synapse per session (relaxed limits), a short-lived one with
Synapse's default limits, two federating ones for the tests of residents of another homeserver, and
a factory of logged-in matrix-nio users.

Without the synapse virtualenv the tests skip locally with the command that fixes it; under CI
(``CI=true``) they fail instead, because a green run that tested no Matrix at all would lie.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from tests.matrix.botrunner import BotRunner
from tests.matrix.residents import MakeUser, Resident, make_client
from tests.peers import peer_missing
from tests.peers.synapse import SYNAPSE_VERSION, SynapseServer, federated_pair, installed_version

MakeBot = Callable[..., Awaitable[BotRunner]]

_counter = itertools.count(1)


def _require_synapse() -> None:
    if installed_version() == SYNAPSE_VERSION:
        return
    peer_missing(
        f"matrix-synapse {SYNAPSE_VERSION} is not installed in .venv-synapse; "
        "run `make peers` (python -m tests.peers.synapse install)"
    )


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
    """A fresh homeserver that keeps Synapse's default rate limits (the back-off and join-limit tests)."""
    server = _start(SynapseServer(relaxed=False))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def federated_synapses() -> Iterator[tuple[SynapseServer, SynapseServer]]:
    """Two homeservers federating with each other over TLS on 127.0.0.1 (`federated_pair`): the
    bot's own and a remote one. Started only for the module that asks for them."""
    _require_synapse()
    home, remote = federated_pair()
    try:
        yield home, remote
    finally:
        home.cleanup()
        remote.cleanup()


def unique_localpart(name: str) -> str:
    """Tests share the session server, so every account name gets a unique suffix."""
    return f"{name}-{next(_counter)}-{uuid.uuid4().hex[:4]}"


async def new_user(
    server: SynapseServer,
    name: str,
    *,
    admin: bool = False,
    exact: bool = False,
    unlimited: bool = False,
    encrypted: bool = False,
) -> Resident:
    """Register an account and return it logged in. ``unlimited`` exempts it from rate limits;
    ``encrypted`` gives it a crypto store, so it reads and writes encrypted rooms as Element does."""
    localpart = name if exact else unique_localpart(name)
    user_id, token, device_id = server.register_device(localpart, "secret-" + localpart, admin=admin)
    if unlimited:
        server.exempt_from_ratelimit(user_id)
    store = tempfile.mkdtemp(prefix=f"liaison-{localpart}-store-") if encrypted else None
    resident = Resident(make_client(server.url, user_id, token, device_id=device_id, store_path=store))
    if encrypted:
        await resident.crypto_upkeep()  # publish its device keys before anyone encrypts for it
    return resident


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
        if user.client.store_path:  # the crypto store of an encrypted resident: a temporary directory
            shutil.rmtree(user.client.store_path, ignore_errors=True)


def register_bot(server: SynapseServer) -> tuple[str, str]:
    """A fresh bot account per test, so tests never share a sync position or rooms."""
    localpart = unique_localpart("bot")
    password = "bot-secret-" + localpart
    user_id, _token = server.register(localpart, password)
    return user_id, password


@pytest.fixture
async def make_bot(synapse: SynapseServer, db_url: str) -> AsyncIterator[MakeBot]:
    """Factory: ``await make_bot(admins=..., features=...)`` starts the bot on the session server and
    this test's database; the runner can be stopped and started again (a restart)."""
    runners: list[BotRunner] = []

    async def make(*, start: bool = True, **kwargs: object) -> BotRunner:
        user_id, password = register_bot(synapse)
        runner = BotRunner(synapse=synapse, db_url=db_url, user_id=user_id, password=password, **kwargs)  # type: ignore[arg-type]
        runners.append(runner)
        if start:
            await runner.start()
        return runner

    yield make
    for runner in runners:
        await runner.stop()
        if runner.store_path is not None:  # kept across the test's restarts, not after it
            shutil.rmtree(runner.store_path, ignore_errors=True)
