"""Every message after the bot's invite is handled, and every invite is answered (issue 12), with the
real station rules on a real Synapse: commands sent before the bot has joined, the bot invited while
it is down, a long backlog through a `limited` timeline, Synapse's default join limit at a restart,
and a failure while the very first sync batch is applied."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from storage import kv
from storage.models import ChatBinding, Item, Station
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import MakeBot, new_user, register_bot
from tests.matrix.residents import Event, MakeUser
from tests.matrix.test_station_flow import reply_to
from tests.peers.synapse import SynapseServer

WELCOME = "您好！我是人大代表联络站的助手"


def joined(member: str) -> Any:
    def match(ev: Event) -> bool:
        return (
            ev.get("type") == "m.room.member"
            and ev.get("state_key") == member
            and ev.get("content", {}).get("membership") == "join"
        )

    return match


def bot_says(bot_id: str, startswith: str) -> Any:
    def match(ev: Event) -> bool:
        return ev.get("sender") == bot_id and str(ev.get("content", {}).get("body", "")).startswith(startswith)

    return match


async def rows(bot: BotRunner, model: Any) -> list[Any]:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())


async def pending_invites(bot: BotRunner) -> dict[str, dict[str, Any]]:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        stored = await kv.values_with_prefix(session=session, prefix=f"matrix:{bot.user_id}:invite:")
    return {key.rsplit(":invite:", 1)[1]: json.loads(value) for key, value in stored.items()}


async def test_commands_sent_before_the_bot_joins_are_answered(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    """The issue's first try: an admin creates a room inviting the bot and at once binds it; a
    resident reports. However the bot's join falls among these messages, each gets its answer."""
    admin = await matrix_users("admin")
    alice = await matrix_users("alice")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}))
    room = await admin.create_room(invite=[bot.user_id, alice.user_id], name="濂溪居民群")
    added = await admin.say(room, "!station add lianxi 濂溪社区联络站")
    bound = await admin.say(room, "!bind lianxi")
    await alice.wait_for_invite(room)
    await alice.join(room)
    report = await alice.say(room, "#建议 东门路灯坏了")

    [created] = await admin.wait_for(reply_to(bot.user_id, added), room, within=30, what="the station answer")
    assert "lianxi" in created["content"]["body"]
    [binding] = await admin.wait_for(reply_to(bot.user_id, bound), room, what="the bind answer")
    assert "濂溪社区联络站" in binding["content"]["body"]
    [ack] = await alice.wait_for(reply_to(bot.user_id, report), room, what="the ack")
    [item] = await rows(bot, Item)
    assert item.text == "东门路灯坏了"
    assert f"#{item.number}" in ack["content"]["body"]
    [chat] = await rows(bot, ChatBinding)
    assert (chat.chat_id, chat.active) == (room, True)
    bot.check_alive()


async def test_invited_while_down_then_150_messages_through_a_limited_timeline(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    """Down while invited, bound and sent 150 reports; started with a 20-event timeline, the bot
    pages back to its invite: every report is one item, nothing from before the invite is."""
    admin = await matrix_users("admin", unlimited=True)
    alice = await matrix_users("alice", unlimited=True)
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), timeline_limit=20)
    await bot.stop()  # it has synced once: its position is stored

    room = await admin.create_room(invite=[alice.user_id], name="濂溪居民群")
    await alice.wait_for_invite(room)
    await alice.join(room)
    await alice.say(room, "#建议 邀请机器人之前的旧事")
    await admin.invite(room, bot.user_id)
    await admin.say(room, "!station add lianxi 濂溪社区联络站")
    await admin.say(room, "!bind lianxi")
    await admin.say(room, "!station set lianxi flood 0")  # 150 from one resident: every ack alone
    reports = await asyncio.gather(*(alice.say(room, f"#建议 第{n}件事") for n in range(150)))

    await bot.start()
    acks = await alice.wait_for(
        lambda ev: ev.get("sender") == bot.user_id
        and (ev["content"].get("m.relates_to") or {}).get("m.in_reply_to", {}).get("event_id") in reports,
        room, count=150, within=120, what="an ack per report",
    )
    assert len(acks) == 150
    made = await rows(bot, Item)
    assert sorted(item.text for item in made) == sorted(f"第{n}件事" for n in range(150))
    [station] = await rows(bot, Station)
    assert station.code == "lianxi"
    # Bound before the bot's join was handled: no "please bind" greeting in a bound room.
    assert not alice.find(room, bot_says(bot.user_id, WELCOME))
    assert bot.transport is not None and bot.transport.invites == {}
    bot.check_alive()


async def test_twelve_invites_at_a_restart_under_the_default_join_limit(
    synapse_default_limits: SynapseServer, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Synapse's default rc_joins (burst 10, then one per 10 s): 12 invites waiting at a start.
    Refused joins stay stored with their retry time, survive a restart, and all 12 are joined;
    a command posted in the last room before its join is answered there."""
    caplog.set_level(logging.INFO, logger="bot.matrix")
    server = synapse_default_limits
    admin = await new_user(server, "admin", unlimited=True)
    user_id, password = register_bot(server)
    # Only the join limit is under test: the bot's greetings may go out at once.
    server.override_message_limit(user_id, per_second=1000, burst_count=1000)
    bot = BotRunner(
        synapse=server, db_url=db_url, user_id=user_id, password=password,
        admins=frozenset({f"matrix:{admin.user_id}"}),
    )
    try:
        await bot.start()
        await bot.stop()
        rooms = [await admin.create_room(invite=[user_id], name=f"村{n}") for n in range(12)]
        late = await admin.say(rooms[-1], "!station add cun 十二村联络站")

        await bot.start()
        for _wait in range(300):  # until the join limit refused one; the other is held as long
            stored = await pending_invites(bot)
            if len(stored) == 2 and all(invite["next_attempt"] for invite in stored.values()):
                break
            await asyncio.sleep(0.05)
        assert len(stored) == 2, stored
        refused = [invite for invite in stored.values() if invite["attempts"]]
        assert refused and all("M_LIMIT_EXCEEDED" in invite["last_error"] for invite in refused)
        not_before = min(datetime.fromisoformat(invite["next_attempt"]) for invite in stored.values())
        assert not_before > datetime.now(UTC)
        assert [room for room in stored if any(
            f"answering the invite to {room}" in record.getMessage() and "M_LIMIT_EXCEEDED" in record.getMessage()
            for record in caplog.records
        )], "a refused join is logged with its reason"
        await bot.stop()  # a restart while two invites wait

        await bot.start()
        for room in rooms:
            await admin.wait_for(joined(user_id), room, within=60, what=f"the bot joining {room}")
        for room in stored:  # retry_after was honoured across the restart
            [join] = admin.find(room, joined(user_id))
            assert join["origin_server_ts"] >= not_before.timestamp() * 1000
        [answer] = await admin.wait_for(reply_to(user_id, late), rooms[-1], within=60, what="the late answer")
        assert "cun" in answer["content"]["body"]
        assert await pending_invites(bot) == {}
        # Each room greeted once (unbound rooms are told how to bind), the late one too.
        for room in rooms:
            await admin.wait_for(bot_says(user_id, WELCOME), room, within=60, what="the greeting")
        assert all(len(admin.find(room, bot_says(user_id, WELCOME))) == 1 for room in rooms)
        assert bot.transport is not None and bot.transport.invites == {}
        bot.check_alive()
    finally:
        await bot.stop()
        await admin.close()


def _sqlite_path(db_url: str) -> str:
    database = make_url(db_url).database
    assert database
    return database


async def test_a_failure_applying_the_first_batch_does_not_lose_its_invite(
    make_bot: MakeBot, matrix_users: MakeUser, db_url: str
) -> None:
    """The first sync's batch fails while it is applied (the database refuses a write). The next
    request is again a first sync (no `since`, whatever nio remembers), so the invite in it is
    seen again, joined, and the command sent meanwhile is answered."""
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), start=False)
    room = await admin.create_room(invite=[bot.user_id], name="濂溪居民群")
    added = await admin.say(room, "!station add lianxi 濂溪社区联络站")

    database = sqlite3.connect(_sqlite_path(db_url))
    database.execute(
        "CREATE TRIGGER refuse_invites BEFORE INSERT ON kvstate WHEN NEW.key LIKE '%:invite:%' "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    database.commit()
    try:
        await bot.start()
        assert bot.transport is not None
        for _wait in range(200):
            if bot.transport.failed_batches:
                break
            await asyncio.sleep(0.05)
        assert bot.transport.failed_batches >= 1
        assert bot.transport.next_batch is None  # nothing of the failed batch was stored
    finally:
        database.execute("DROP TRIGGER refuse_invites")
        database.commit()
        database.close()

    [created] = await admin.wait_for(reply_to(bot.user_id, added), room, within=30, what="the station answer")
    assert "lianxi" in created["content"]["body"]
    await admin.wait_for(joined(bot.user_id), room)
    bot.check_alive()


async def test_a_strangers_invite_is_declined_once_and_forgotten(
    make_bot: MakeBot, matrix_users: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.matrix")
    stranger = await matrix_users("stranger")
    bot = await make_bot()
    room = await stranger.create_room(invite=[bot.user_id])
    await stranger.say(room, "!stats")
    await stranger.wait_for(
        lambda ev: ev.get("type") == "m.room.member" and ev.get("state_key") == bot.user_id
        and ev["content"].get("membership") == "leave",
        room, what="the bot declining",
    )
    for _wait in range(100):
        if not await pending_invites(bot):
            break
        await asyncio.sleep(0.05)
    assert await pending_invites(bot) == {}
    assert not stranger.find(room, lambda ev: ev.get("sender") == bot.user_id and ev.get("type") == "m.room.message")
    assert f"matrix: declined {room}: {stranger.user_id}, who invited the bot, is not staff" in caplog.text
