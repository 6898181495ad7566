"""`liaison-bot run` with LIAISON_MATRIX_* set serves Matrix: the CLI's serve_all against Synapse."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.cli import serve_all
from bot.settings import load_settings
from tests.matrix.conftest import register_bot
from tests.matrix.residents import MakeUser
from tests.matrix.test_station_flow import reply_to
from tests.peers.synapse import SynapseServer


async def test_run_serves_matrix_when_the_homeserver_is_set(
    synapse: SynapseServer, db_url: str, matrix_users: MakeUser, tmp_path: Path
) -> None:
    admin = await matrix_users("admin")
    user_id, password = register_bot(synapse)
    settings = load_settings(
        database_url=db_url,
        matrix_homeserver=synapse.url,
        matrix_user=user_id.split(":")[0].lstrip("@"),  # a bare localpart works too
        matrix_password=password,
        admins=[f"matrix:{admin.user_id}"],
        matrix_store_path=str(tmp_path / "matrix-store"),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(serve_all(settings, stop=stop))
    try:
        room = await admin.create_room(invite=[user_id])
        await admin.wait_for_join(room, user_id)
        sent = await admin.say(room, "!station add lianxi 濂溪社区联络站")
        [answer] = await admin.wait_for(reply_to(user_id, sent), room, what="the answer")
        assert "lianxi" in answer["content"]["body"]
    finally:
        stop.set()
        status = await asyncio.wait_for(running, timeout=40)
    assert status == 0
