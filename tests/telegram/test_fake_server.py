"""The fake Bot API server, exercised by a real python-telegram-bot ``Bot`` over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, NetworkError, RetryAfter

from tests.peers.fake_telegram import FakeTelegram, forbidden, migrated, retry_after


def make_bot(fake: FakeTelegram) -> Bot:
    return Bot(fake.token, base_url=fake.base_url)


async def test_get_me_send_message_and_get_updates_round_trip(fake_tg: FakeTelegram) -> None:
    fake_tg.can_read_all_group_messages = False
    alice = fake_tg.user("Alice", username="alice")
    group = fake_tg.group("幸福社区居民群", members=[alice])
    async with make_bot(fake_tg) as bot:
        me = await bot.get_me()
        assert me.username == fake_tg.username
        assert me.can_read_all_group_messages is False

        pushed = fake_tg.text(group, alice, "#建议 路灯坏了")
        updates = await bot.get_updates(timeout=1)
        assert [u.update_id for u in updates] == [pushed["update_id"]]
        msg = updates[0].message
        assert msg.text == "#建议 路灯坏了" and msg.chat.type == "group" and msg.from_user.id == alice["id"]
        assert msg.parse_entities([MessageEntity.HASHTAG]) == {msg.entities[0]: "#建议"}

        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("满意", callback_data="r:1:5")]])
        sent = await bot.send_message(
            group["id"], "已受理 #1", reply_parameters=ReplyParameters(msg.message_id), reply_markup=keyboard
        )
        assert sent.message_id == msg.message_id + 1  # ids are per chat, shared with users' messages
        assert sent.reply_to_message.message_id == msg.message_id
        assert sent.reply_markup.inline_keyboard[0][0].callback_data == "r:1:5"
        # the wire format: form fields, nested values JSON-encoded strings
        raw = fake_tg.calls_of("sendMessage")[0].params
        assert isinstance(raw["reply_markup"], str) and json.loads(raw["reply_markup"])["inline_keyboard"]
        assert json.loads(raw["reply_parameters"]) == {"message_id": msg.message_id}
        assert fake_tg.sent(group["id"])[0]["text"] == "已受理 #1"

        # offset confirms: the update is dropped and not delivered again
        assert fake_tg.pending_updates
        assert await bot.get_updates(offset=pushed["update_id"] + 1, timeout=0) == ()
        assert fake_tg.pending_updates == [] and fake_tg.confirmed_offset == pushed["update_id"] + 1


async def test_unconfirmed_updates_are_delivered_again(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    async with make_bot(fake_tg) as bot:
        first = fake_tg.text(group, alice, "one")
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first["update_id"]]
        # no offset sent: as after a crash, the same update comes back
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first["update_id"]]


async def test_long_poll_waits_and_wakes_on_push(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    async with make_bot(fake_tg) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9  # it held the poll open for the timeout

        async def push_later() -> None:
            await fake_tg.wait_for(lambda: len(fake_tg.calls_of("getUpdates")) == 2)
            fake_tg.text(group, alice, "late")

        task = asyncio.create_task(push_later())
        # A poll that did not wake on the push would hold for its full 120 s and miss the generous
        # 60 s this test waits; how fast it wakes is the benchmark's business, not this test's.
        updates = await asyncio.wait_for(bot.get_updates(timeout=120, read_timeout=130), 60)
        await task
        assert updates[0].message.text == "late"


async def test_a_second_poll_terminates_the_first(fake_tg: FakeTelegram) -> None:
    async with make_bot(fake_tg) as bot, make_bot(fake_tg) as twin:  # two instances of one bot
        first = asyncio.create_task(bot.get_updates(timeout=3))
        await fake_tg.wait_for(lambda: fake_tg.calls_of("getUpdates"))
        second = asyncio.create_task(twin.get_updates(timeout=0))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first
        assert await second == ()


async def test_injected_failures_map_to_ptb_errors(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    other = fake_tg.group("other", members=[alice])
    async with make_bot(fake_tg) as bot:
        fake_tg.fail_next("sendMessage", retry_after(3), chat_id=group["id"])
        await bot.send_message(other["id"], "unaffected chat")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(group["id"], "x")
        assert info.value._retry_after.total_seconds() == 3
        assert (await bot.send_message(group["id"], "now it works")).text == "now it works"

        fake_tg.fail_next("sendMessage", forbidden(), times=2)
        for _ in range(2):
            with pytest.raises(Forbidden, match="can't initiate conversation"):
                await bot.send_message(group["id"], "x")

        fake_tg.fail_next("sendMessage", migrated(-100123))
        with pytest.raises(ChatMigrated) as mig:
            await bot.send_message(group["id"], "x")
        assert mig.value.new_chat_id == -100123
        assert len(fake_tg.sent(group["id"])) == 1


async def test_state_driven_errors(fake_tg: FakeTelegram) -> None:
    """403 for a user who never pressed Start or was kicked, 400 after a migration."""
    alice, bob = fake_tg.user("Alice"), fake_tg.user("Bob")
    group = fake_tg.group(members=[alice, bob], admins=[alice])
    async with make_bot(fake_tg) as bot:
        with pytest.raises(Forbidden, match="can't initiate conversation with a user"):
            await bot.send_message(bob["id"], "hi")
        fake_tg.private(bob)
        assert (await bot.send_message(bob["id"], "hi")).chat.type == "private"

        super_chat = fake_tg.migrate(group, alice)
        with pytest.raises(ChatMigrated) as mig:
            await bot.send_message(group["id"], "x")
        assert mig.value.new_chat_id == super_chat["id"]
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message.migrate_to_chat_id == super_chat["id"]
        assert updates[1].message.migrate_from_chat_id == group["id"]
        assert updates[1].message.chat.type == "supergroup"
        assert (await bot.send_message(super_chat["id"], "moved")).chat.id == super_chat["id"]

        removed = fake_tg.bot_removed(super_chat, alice)
        with pytest.raises(Forbidden, match="kicked from the supergroup"):
            await bot.send_message(super_chat["id"], "x")
        upd = Update.de_json(removed, bot)
        assert upd.my_chat_member.new_chat_member.status == "kicked"
        assert upd.my_chat_member.new_chat_member.user.id == bot.id

        admins = await bot.get_chat_administrators(group["id"])
        assert [a.user.id for a in admins] == [alice["id"]] and admins[0].status == "creator"
        fake_tg.set_bot_status(super_chat, "administrator")
        member = await bot.get_chat_member(super_chat["id"], bot.id)
        assert member.status == "administrator" and member.can_delete_messages
        assert (await bot.get_chat(group["id"])).title == group["title"]


async def test_update_factories_parse_in_ptb(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user("Alice", username="alice")
    group = fake_tg.supergroup(members=[alice])
    async with make_bot(fake_tg) as bot:
        await bot.get_me()
        cmd = fake_tg.text(group, alice, f"/bind@{fake_tg.username} 居民群")
        other = fake_tg.text(group, alice, "/bind@some_other_bot")
        photo = fake_tg.photo(group, alice, "＃建议 看图 #求助")
        doc = fake_tg.document(group, alice, "#投诉 材料")
        reply = fake_tg.text(group, alice, "补充", reply_to=photo["message"])
        edited = fake_tg.edit(cmd, "/bind 新名字")
        sent = await bot.send_message(
            group["id"], "rate", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("5", callback_data="r:9:5")]])
        )
        press = fake_tg.callback(alice, {"chat": group, "message_id": sent.message_id}, "r:9:5")

        updates = {u.update_id: u for u in await bot.get_updates(timeout=0)}
        m = updates[cmd["update_id"]].message
        assert m.parse_entities([MessageEntity.BOT_COMMAND]) == {m.entities[0]: f"/bind@{fake_tg.username}"}
        assert updates[other["update_id"]].message.entities[0].type == "bot_command"
        p = updates[photo["update_id"]].message
        assert p.photo[-1].width == 1280 and p.caption.startswith("＃建议")
        assert p.parse_caption_entities() == {p.caption_entities[0]: "#求助"}  # fullwidth ＃ is no hashtag
        assert updates[doc["update_id"]].message.document.file_name.endswith(".pdf")
        assert updates[reply["update_id"]].message.reply_to_message.message_id == p.message_id
        e = updates[edited["update_id"]].edited_message
        assert e.message_id == m.message_id and e.text == "/bind 新名字" and e.edit_date is not None
        q = updates[press["update_id"]].callback_query
        assert q.data == "r:9:5" and q.message.message_id == sent.message_id and q.from_user.id == alice["id"]

        assert await q.answer("谢谢", show_alert=True)
        assert fake_tg.answers == [{"callback_query_id": q.id, "text": "谢谢", "show_alert": True, "url": None}]
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await q.answer("again")


async def test_utf16_entity_offsets(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    async with make_bot(fake_tg) as bot:
        fake_tg.text(group, alice, "😀 路灯 #建议 /help")
        msg = (await bot.get_updates(timeout=0))[0].message
        assert sorted(msg.parse_entities().values()) == ["#建议", "/help"]


async def test_edit_and_markup_and_commands(fake_tg: FakeTelegram) -> None:
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    async with make_bot(fake_tg) as bot:
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("满意", callback_data="a")]])
        sent = await bot.send_message(group["id"], "item #1", reply_markup=kb)
        edited = await bot.edit_message_text("item #1 ✅", chat_id=group["id"], message_id=sent.message_id)
        assert edited.text == "item #1 ✅" and not edited.reply_markup
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("item #1 ✅", chat_id=group["id"], message_id=sent.message_id)
        await bot.edit_message_reply_markup(group["id"], sent.message_id, reply_markup=kb)
        assert fake_tg.message(group["id"], sent.message_id)["reply_markup"]["inline_keyboard"][0][0]["text"] == "满意"
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(
                group["id"],
                "x",
                reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="x" * 65)]]),
            )

        await bot.set_my_commands(
            [BotCommand("bind", "绑定本群")], scope=BotCommandScopeAllChatAdministrators(), language_code="zh"
        )
        await bot.set_my_commands([BotCommand("help", "help")], scope=BotCommandScopeAllGroupChats())
        assert fake_tg.commands[("all_chat_administrators", "zh")] == [{"command": "bind", "description": "绑定本群"}]
        got = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())
        assert [c.command for c in got] == ["help"]
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Bad-Name", "x")])
        await bot.delete_my_commands(scope=BotCommandScopeAllGroupChats())
        assert await bot.get_my_commands(scope=BotCommandScopeAllGroupChats()) == ()


async def test_webhook_delivery_with_secret_until_2xx(fake_tg: FakeTelegram) -> None:
    received: list[tuple[str | None, dict]] = []
    statuses = iter([500, 200, 200])

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=next(statuses))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    alice = fake_tg.user()
    group = fake_tg.group(members=[alice])
    try:
        async with make_bot(fake_tg) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
            upd = fake_tg.text(group, alice, "via webhook")
            await fake_tg.wait_for(lambda: len(received) == 2)
            assert [r[1]["update_id"] for r in received] == [upd["update_id"]] * 2  # redelivered after 500
            assert received[0][0] == "s3cret"
            await fake_tg.wait_for(lambda: not fake_tg.pending_updates)
            with pytest.raises(BadRequest, match="loopback"):
                await bot.set_webhook("https://example.org/hook")
            await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()
    finally:
        await runner.cleanup()


async def test_network_guard_refuses_non_loopback(loopback_only: list[str]) -> None:
    with pytest.raises(ConnectionRefusedError, match="network guard"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.5)
    with pytest.raises(NetworkError, match="network guard"):
        async with Bot("123:abc"):  # no base_url: it would go to api.telegram.org
            pass
    assert any("api.telegram.org" in a for a in loopback_only)
    loopback_only.clear()  # the attempts were this test's own
