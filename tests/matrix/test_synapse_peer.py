"""The test peer itself: a real Synapse on loopback, and matrix-nio clients talking through it."""

from __future__ import annotations

import urllib.error

import pytest

from tests.matrix.residents import MakeUser
from tests.peers.synapse import SynapseServer


async def test_invite_join_and_message_between_two_clients(matrix_users: MakeUser) -> None:
    alice = await matrix_users("alice")
    bob = await matrix_users("bob")
    room_id = await alice.create_room(invite=[bob.user_id], name="lianxi")

    assert await bob.wait_for_invite(room_id) == room_id
    await bob.join(room_id)
    await bob.sync()  # establish bob's sync position after the join
    event_id = await alice.say(room_id, "#建议 路灯坏了")

    [got] = await bob.wait_for(lambda ev: ev.get("event_id") == event_id, room_id, what="alice's message")
    assert got["sender"] == alice.user_id
    assert got["content"]["body"] == "#建议 路灯坏了"


def test_server_is_loopback_only_and_registration_closed(synapse: SynapseServer) -> None:
    assert synapse.url.startswith("http://127.0.0.1:")
    # Open registration is off: only the shared-secret admin API creates accounts.
    with pytest.raises(urllib.error.HTTPError) as err:
        synapse.request("POST", "/_matrix/client/v3/register", {"username": "x", "password": "y"})
    assert err.value.code in (401, 403)
    assert "M_FORBIDDEN" in str(err.value.reason) or err.value.code == 401


def test_register_rejects_a_wrong_shared_secret(synapse: SynapseServer) -> None:
    other = SynapseServer(port=synapse.port, shared_secret="wrong")
    with pytest.raises(urllib.error.HTTPError) as err:
        other.register("mallory", "pw")
    assert err.value.code == 403
