"""The Matrix adapter's mechanics against a real Synapse, under a tiny echo feature instead of the
station rules, so each test isolates one Matrix behaviour: replies, threads, reactions, sync
position, catch-up, invites, direct rooms, transaction ids, membership, upgrades (encrypted rooms: test_encrypted.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from nio import ErrorResponse
from sqlmodel import select

from handlers.context import Context
from handlers.events import EventKind, Incoming
from handlers.router import Feature
from handlers.transport import Button, Outgoing
from storage import kv
from storage import people as people_repo
from storage.models import Account
from tests.matrix.conftest import MakeBot
from tests.matrix.residents import Event, MakeUser, Resident

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

SEEN: list[Incoming] = []


async def _echo(ctx: Context) -> bool:
    text = ctx.incoming.text
    if text == "buttons":
        await ctx.reply("rate me", buttons=[Button("满意", "rate:1"), Button("不满意", "rate:2")])
    else:
        await ctx.reply(f"echo{' (private)' if ctx.incoming.is_private else ''}: {text}")
    return True


async def _pressed(ctx: Context) -> None:
    await ctx.reply(f"pressed {ctx.incoming.button_data} by {ctx.incoming.sender.user_id}")


async def _chat_event(ctx: Context) -> bool:
    SEEN.append(ctx.incoming)
    return True


async def _edited(ctx: Context) -> bool:
    await ctx.reply(f"edited {ctx.incoming.message_id}: {ctx.incoming.text}")
    return True


ECHO = Feature(name="echo", on_message=_echo, on_edit=_edited, on_button={"rate": _pressed}, on_chat_event=_chat_event)


def bot_notice(bot_id: str, body: str | None = None, startswith: str | None = None) -> Any:
    def match(ev: Event) -> bool:
        content = ev.get("content", {})
        if ev.get("sender") != bot_id or ev.get("type") != "m.room.message":
            return False
        if body is not None and content.get("body") != body:
            return False
        return startswith is None or str(content.get("body", "")).startswith(startswith)

    return match


async def room_with_bot(owner: Resident, bot_id: str, *members: Resident) -> str:
    """A room made by an admin who invites the bot (and residents), everyone joined."""
    room_id = await owner.create_room(invite=[bot_id, *(m.user_id for m in members)], name="lianxi")
    for member in members:
        await member.wait_for_invite(room_id)
        await member.join(room_id)
    await owner.wait_for_join(room_id, bot_id)
    return room_id


async def test_reply_is_a_notice_with_html_reply_relation_and_no_echo_of_itself(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id)

    sent = await admin.say(room, "路灯 <坏了>\n第二行")
    [reply] = await admin.wait_for(bot_notice(bot.user_id, startswith="echo:"), room, what="echo")
    content = reply["content"]
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "echo: 路灯 <坏了>\n第二行"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == "echo: 路灯 &lt;坏了&gt;<br>第二行"
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": sent}}
    assert "m.mentions" in content
    # The bot's own notice must not be taken as a new message: still exactly one echo after a while.
    await admin.say(room, "second")
    await admin.wait_for(bot_notice(bot.user_id, "echo: second"), room)
    assert len(admin.find(room, bot_notice(bot.user_id, startswith="echo:"))) == 2
    bot.check_alive()


async def test_an_edit_reaches_the_core_as_an_edit_of_the_original(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id)
    original = await admin.say(room, "路灯坏了")
    await admin.wait_for(bot_notice(bot.user_id, "echo: 路灯坏了"), room)
    await admin.send(
        room,
        {
            "msgtype": "m.text",
            "body": "* #建议 路灯坏了",
            "m.new_content": {"msgtype": "m.text", "body": "#建议 路灯坏了"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    await admin.wait_for(bot_notice(bot.user_id, f"edited {original}: #建议 路灯坏了"), room)
    assert not admin.find(room, bot_notice(bot.user_id, "echo: * #建议 路灯坏了"))


async def test_reply_inside_a_thread_stays_in_the_thread(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id)
    root = await admin.say(room, "thread root")
    await admin.wait_for(bot_notice(bot.user_id, "echo: thread root"), room)

    in_thread = await admin.say(room, "in thread", thread_root=root)
    [reply] = await admin.wait_for(bot_notice(bot.user_id, "echo: in thread"), room)
    relates = reply["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread"
    assert relates["event_id"] == root
    assert relates["m.in_reply_to"] == {"event_id": in_thread}
    assert relates["is_falling_back"] is False


async def test_buttons_are_seeded_reactions_and_a_reaction_or_text_reply_is_a_press(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    admin = await matrix_users("admin")
    resident = await matrix_users("resident")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id, resident)

    await resident.say(room, "buttons")
    [card] = await resident.wait_for(bot_notice(bot.user_id, startswith="rate me"), room)
    assert card["content"]["body"] == "rate me\n\n[满意] [不满意]"
    seeded = await resident.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev.get("sender") == bot.user_id, room, count=2
    )
    assert {ev["content"]["m.relates_to"]["key"] for ev in seeded} == {"满意", "不满意"}
    assert {ev["content"]["m.relates_to"]["event_id"] for ev in seeded} == {card["event_id"]}

    await resident.react(room, card["event_id"], "满意")
    await resident.wait_for(bot_notice(bot.user_id, f"pressed rate:1 by {resident.user_id}"), room)
    # A reaction that is no button (a thumbs-up) is not a press.
    await resident.react(room, card["event_id"], "👍")
    # Fallback for clients without reactions: a text reply naming the button (on a second card:
    # the core keys its press answers by the pressed message).
    await resident.say(room, "buttons")
    cards = await resident.wait_for(bot_notice(bot.user_id, startswith="rate me"), room, count=2)
    await resident.say(room, "不满意", reply_to=cards[1]["event_id"])
    await resident.wait_for(bot_notice(bot.user_id, f"pressed rate:2 by {resident.user_id}"), room)
    presses = resident.find(room, bot_notice(bot.user_id, startswith="pressed"))
    assert len(presses) == 2


async def test_first_sync_skips_history_and_restart_catches_up_every_message_once(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    admin = await matrix_users("admin")
    # A small timeline limit forces the catch-up through `limited` timelines and /messages paging.
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO], timeline_limit=5)
    room = await room_with_bot(admin, bot.user_id)
    await admin.say(room, "before restart")
    await admin.wait_for(bot_notice(bot.user_id, "echo: before restart"), room)
    assert bot.transport is not None and bot.transport.next_batch
    await bot.stop()

    for n in range(30):
        await admin.say(room, f"offline {n}")
    await bot.start()
    echoes = await admin.wait_for(
        bot_notice(bot.user_id, startswith="echo: offline"), room, count=30, within=60, what="30 echoes"
    )
    assert sorted(ev["content"]["body"] for ev in echoes) == sorted(f"echo: offline {n}" for n in range(30))
    # Stored position: a second restart replays nothing.
    await bot.stop()
    await bot.start()
    await admin.say(room, "after second restart")
    await admin.wait_for(bot_notice(bot.user_id, "echo: after second restart"), room)
    assert len(admin.find(room, bot_notice(bot.user_id, startswith="echo: offline"))) == 30
    assert len(admin.find(room, bot_notice(bot.user_id, "echo: before restart"))) == 1


async def test_history_before_the_first_sync_is_not_replayed(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO], start=False)
    # The bot account is in the room with history before its first sync ever.
    room = await admin.create_room(invite=[bot.user_id])
    await admin.say(room, "old news")
    bot_client = await _login_raw(bot)
    await bot_client.join(room)
    await bot_client.close()
    await bot.start()
    await admin.say(room, "fresh")
    await admin.wait_for(bot_notice(bot.user_id, "echo: fresh"), room)
    assert not admin.find(room, bot_notice(bot.user_id, "echo: old news"))
    # Read between syncs: while a sync is in hand, the stored position trails the one in memory.
    await bot.stop_syncing()
    assert bot.app is not None
    async with bot.app.sessions() as session:
        stored = await kv.get_value(session=session, key=f"matrix:{bot.user_id}:next_batch")
    assert stored == bot.transport.next_batch  # type: ignore[union-attr]


async def test_history_before_the_bot_joined_a_room_is_not_replayed(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await admin.create_room()
    for n in range(3):
        await admin.say(room, f"#建议 旧事 {n}")
    await admin.invite(room, bot.user_id)
    await admin.wait_for_join(room, bot.user_id)
    await admin.say(room, "new")
    await admin.wait_for(bot_notice(bot.user_id, "echo: new"), room)
    assert not admin.find(room, bot_notice(bot.user_id, startswith="echo: #建议 旧事"))


async def _login_raw(bot: Any) -> Any:
    from nio import AsyncClient, LoginResponse

    client = AsyncClient(bot.synapse.url, bot.user_id)
    assert isinstance(await client.login(bot.password), LoginResponse)
    return client


async def test_device_id_is_kept_across_restarts(make_bot: MakeBot) -> None:
    bot = await make_bot(features=[ECHO])
    assert bot.transport is not None
    first = bot.transport.client.device_id

    def devices() -> set[str]:
        path = f"/_synapse/admin/v2/users/{bot.user_id}/devices"
        answer = bot.synapse.request("GET", path, token=bot.synapse.admin_token())
        return {d["device_id"] for d in answer["devices"]}  # type: ignore[attr-defined]

    before = devices()
    assert first in before
    await bot.stop()
    await bot.start()
    assert bot.transport.client.device_id == first
    assert devices() == before  # no new device piled up by the restart


async def test_invites_from_staff_are_joined_and_strangers_declined(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    stranger = await matrix_users("stranger")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])

    stranger_room = await stranger.create_room(invite=[bot.user_id])
    [declined] = await stranger.wait_for(
        lambda ev: (
            ev.get("type") == "m.room.member"
            and ev.get("state_key") == bot.user_id
            and ev["content"].get("membership") == "leave"
        ),
        stranger_room,
        what="the bot declining",
    )
    assert declined["sender"] == bot.user_id
    admin_room = await room_with_bot(admin, bot.user_id)
    await admin.say(admin_room, "hi")
    await admin.wait_for(bot_notice(bot.user_id, "echo: hi"), admin_room)
    assert bot.transport is not None
    assert stranger_room not in bot.transport.client.rooms


async def test_direct_messages_create_then_reuse_a_room_marked_in_m_direct(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    resident = await matrix_users("resident", encrypted=True)  # direct rooms are encrypted, as Element's
    bot = await make_bot(features=[ECHO])
    transport = bot.transport
    assert transport is not None

    first = await transport.send(Outgoing(text="你好", dm_user_id=resident.user_id, txn_id="dm-1"))
    room = await resident.wait_for_invite(first.chat_id)
    assert resident.invites[room]
    await resident.join(room)
    [hello] = await resident.wait_for(bot_notice(bot.user_id, "你好"), room)
    assert hello["event_id"] == first.message_id
    direct = bot.synapse.request(
        "GET", f"/_matrix/client/v3/user/{bot.user_id}/account_data/m.direct", token=transport.client.access_token
    )
    assert direct == {resident.user_id: [room]}
    # The second DM reuses the room, whether or not the bot's sync has seen the join yet.
    second = await transport.send(Outgoing(text="再见", dm_user_id=resident.user_id, txn_id="dm-2"))
    assert second.chat_id == room
    # Messages in the direct room come in as private.
    await resident.say(room, "私聊")
    await resident.wait_for(bot_notice(bot.user_id, "echo (private): 私聊"), room)


async def test_a_known_resident_can_open_a_direct_chat_a_stranger_cannot(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    admin = await matrix_users("admin")
    resident = await matrix_users("resident")
    stranger = await matrix_users("stranger")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    group = await room_with_bot(admin, bot.user_id, resident)
    await resident.say(group, "我是居民")  # now the bot knows her
    await resident.wait_for(bot_notice(bot.user_id, "echo: 我是居民"), group)

    theirs = await stranger.create_room(invite=[bot.user_id], is_direct=True)
    dm = await resident.create_room(invite=[bot.user_id], is_direct=True)
    await resident.wait_for_join(dm, bot.user_id)
    await resident.say(dm, "私信")
    await resident.wait_for(bot_notice(bot.user_id, "echo (private): 私信"), dm)
    await stranger.wait_for(
        lambda ev: (
            ev.get("type") == "m.room.member"
            and ev.get("state_key") == bot.user_id
            and ev["content"].get("membership") == "leave"
        ),
        theirs,
        what="the bot declining the stranger's direct chat",
    )
    assert bot.transport is not None and dm in bot.transport.direct.get(resident.user_id, [])




async def test_retried_send_with_the_same_transaction_id_posts_once(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id)
    assert bot.transport is not None
    message = Outgoing(text="once", chat_id=room, txn_id="outbox-txn-42", buttons=[Button("满意", "rate:1")])
    first = await bot.transport.send(message)
    second = await bot.transport.send(message)
    assert first == second
    await admin.say(room, "marker")
    await admin.wait_for(bot_notice(bot.user_id, "echo: marker"), room)
    assert len(admin.find(room, bot_notice(bot.user_id, startswith="once"))) == 1
    reactions = admin.find(room, lambda ev: ev.get("type") == "m.reaction" and ev.get("sender") == bot.user_id)
    assert len(reactions) == 1


async def test_kick_and_room_upgrade_reach_the_core_as_chat_events(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    SEEN.clear()
    admin = await matrix_users("admin")
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), features=[ECHO])
    room = await room_with_bot(admin, bot.user_id)

    path = f"/_matrix/client/v3/rooms/{room}/upgrade"
    caps = bot.synapse.request("GET", "/_matrix/client/v3/capabilities", token=admin.client.access_token)
    version = caps["capabilities"]["m.room_versions"]["default"]  # type: ignore[index]
    upgraded = bot.synapse.request("POST", path, {"new_version": version}, token=admin.client.access_token)
    new_room = str(upgraded["replacement_room"])
    await admin.invite(new_room, bot.user_id)
    await _until(lambda: any(i.kind is EventKind.CHAT_MIGRATED for i in SEEN), "CHAT_MIGRATED")
    [moved] = [i for i in SEEN if i.kind is EventKind.CHAT_MIGRATED]
    assert (moved.chat_id, moved.new_chat_id) == (room, new_room)
    await admin.wait_for_join(new_room, bot.user_id)

    kicked = await admin.client.room_kick(new_room, bot.user_id, reason="test")
    assert not isinstance(kicked, ErrorResponse), kicked
    await _until(lambda: any(i.kind is EventKind.BOT_REMOVED for i in SEEN), "BOT_REMOVED")
    [removed] = [i for i in SEEN if i.kind is EventKind.BOT_REMOVED]
    assert removed.chat_id == new_room
    assert removed.sender.user_id == admin.user_id


async def _until(predicate: Any, what: str, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} within {within}s; saw {[i.kind for i in SEEN]}")
        await asyncio.sleep(0.05)


async def test_accounts_of_other_homeservers_stored_earlier_lose_their_bare_name(make_bot: MakeBot) -> None:
    """Older versions gave every Matrix account its localpart as a username, so `!deputy add zhang`
    could pick @zhang of any homeserver; at start the bot clears those of other servers."""
    bot = await make_bot(features=[ECHO])
    assert bot.app is not None
    own = bot.user_id.partition(":")[2]
    named = {f"@zhang:{own}": "zhang", "@zhang:other.example": "zhang", "@li:ex_ample.org": "li"}
    async with bot.app.sessions() as session:
        for user_id, username in named.items():
            await people_repo.ensure_account(
                session=session, platform="matrix", user_id=user_id, display_name="张", username=username, now=NOW
            )
        await session.commit()
    await bot.stop()
    await bot.start()
    async with bot.app.sessions() as session:
        stored = {account.user_id: account.username for account in (await session.exec(select(Account))).all()}
    assert {user_id: stored[user_id] for user_id in named} == {
        f"@zhang:{own}": "zhang", "@zhang:other.example": None, "@li:ex_ample.org": None
    }
