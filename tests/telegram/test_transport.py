"""The adapter's own duties: command menus, webhook mode, settings, and Telegram's errors in the core's terms."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import pytest
from aiohttp import ClientSession
from sqlalchemy.exc import OperationalError
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.settings import Settings
from bot.telegram import (
    DEFAULT_BASE_URL,
    TelegramOptions,
    TelegramTransport,
    file_url_for,
    keyboard,
    split_text,
    transport_error,
)
from handlers.features import all_commands
from handlers.i18n import translator
from handlers.transport import Button, ChatMoved, RetryLater, Undeliverable
from storage.models import Item
from tests.peers.fake_telegram import FakeTelegram
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_setup import set_up_station


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_command_menus_are_scoped_and_localized(bot: TelegramBotRunner, fake_tg: FakeTelegram) -> None:
    menus = {key: [c["command"] for c in cmds] for key, cmds in fake_tg.commands.items()}
    scopes = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
    assert set(menus) == {(scope, lang) for scope in scopes for lang in ("", "zh", "en")}
    members, admins, private = (
        menus[("all_group_chats", "zh")],
        menus[("all_chat_administrators", "zh")],
        menus[("all_private_chats", "zh")],
    )
    assert "help" in members and "my" in members
    assert "bind" not in members and "assign" not in members, "members see only what residents may run"
    assert {"bind", "assign", "close", "help"} <= set(admins)
    assert "start" in private and "bind" not in private and "start" not in admins
    # descriptions come from the core's command table, through the zh_CN and en catalogs
    summaries = {c.name: c.summary for c in all_commands()}
    for language, catalog in (("zh", "zh_CN"), ("en", "en")):
        published = {c["command"]: c["description"] for c in fake_tg.commands[("all_chat_administrators", language)]}
        assert published == {name: translator(catalog)(summaries[name]) for name in published}
    assert translator("zh_CN")(summaries["bind"]) == "把本群绑定到联络站"
    assert fake_tg.commands[("all_group_chats", "")] == fake_tg.commands[("all_group_chats", "zh")]


async def test_unchanged_menus_are_not_published_again(fake_tg: FakeTelegram, db_url: str) -> None:
    first = await TelegramBotRunner(fake_tg, db_url).start()
    await first.stop()
    published = len(fake_tg.calls_of("setMyCommands"))
    assert published == 12
    second = await TelegramBotRunner(fake_tg, db_url).start()
    await second.stop()
    assert len(fake_tg.calls_of("setMyCommands")) == published


async def test_webhook_mode_acknowledges_only_committed_updates(
    fake_tg: FakeTelegram, db_url: str, world: World
) -> None:
    port = free_port()
    bot = TelegramBotRunner(fake_tg, db_url, admins=frozenset({f"telegram:{world.admin['id']}"}), webhook_port=port)
    await bot.start()
    try:
        assert fake_tg.webhook is not None
        assert fake_tg.webhook["url"] == f"http://127.0.0.1:{port}/telegram/hook"
        secret = fake_tg.webhook["secret_token"]
        assert secret and len(secret) >= 32, "a secret is always set, generated when not configured"
        assert not fake_tg.calls_of("getUpdates")

        await set_up_station(bot, world)
        posted = fake_tg.text(world.residents, world.alice, "#建议 路灯坏了")
        assert "#1" in (await bot.reply_to(posted))["text"]
        await fake_tg.wait_for(lambda: fake_tg.confirmed_offset > posted["update_id"])
        assert (posted["update_id"], 200) in fake_tg.webhook_deliveries

        # strangers without the secret are turned away and change nothing
        async with ClientSession() as http:
            forged = {**posted, "update_id": posted["update_id"] + 100}
            async with http.post(fake_tg.webhook["url"], json=forged) as response:
                assert response.status == 403
            async with http.post(
                fake_tg.webhook["url"], json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ) as response:
                assert response.status == 403

        # a database failure answers non-2xx, so Telegram redelivers, and the item is made once
        assert bot.app is not None
        real_handle = bot.app.handle
        failures = iter([OperationalError("INSERT …", {}, sqlite3.OperationalError("unable to open database file"))])

        async def flaky(incoming):  # type: ignore[no-untyped-def]
            error = next(failures, None)
            if error is not None:
                raise error
            await real_handle(incoming)

        bot.app.handle = flaky  # type: ignore[method-assign]
        second = fake_tg.text(world.residents, world.bob, "#求助 楼道灯不亮")
        assert "#2" in (await bot.reply_to(second))["text"]
        statuses = [status for update_id, status in fake_tg.webhook_deliveries if update_id == second["update_id"]]
        assert statuses == [503, 200]
        assert await bot.count(Item) == 2
    finally:
        await bot.stop()
    assert fake_tg.webhook is not None, "stopping keeps the webhook, so Telegram queues updates meanwhile"


async def test_polling_start_removes_a_leftover_webhook(fake_tg: FakeTelegram, db_url: str) -> None:
    fake_tg.webhook = {"url": "http://127.0.0.1:9/old", "secret_token": None, "allowed_updates": None}
    bot = await TelegramBotRunner(fake_tg, db_url).start()
    try:
        await fake_tg.wait_for(lambda: any(c.ok for c in fake_tg.calls_of("getUpdates")))
        assert fake_tg.webhook is None
    finally:
        await bot.stop()


async def test_serve_runs_from_settings_until_stopped(fake_tg: FakeTelegram, db_url: str) -> None:
    from bot.app import App
    from bot.telegram import serve
    from handlers.clock import SystemClock
    from handlers.context import CoreConfig

    settings = Settings(telegram_token=fake_tg.token, telegram_base_url=fake_tg.base_url, database_url=db_url)
    assert settings.telegram_enabled
    app = App(database_url=db_url, clock=SystemClock(), config=CoreConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, settings, stop))
    try:
        await fake_tg.wait_for(lambda: fake_tg.calls_of("getUpdates"))
        assert app.transports["telegram"].platform == "telegram"
        assert app.platforms.bot_names("telegram") == {fake_tg.username}
        invite = app.platforms.dm_invite_links("telegram")
        assert invite is not None and invite("abc") == f"https://t.me/{fake_tg.username}?start=abc"
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        await app.close()


def test_options_from_settings() -> None:
    settings = Settings(
        telegram_token="1:x",
        telegram_webhook_url="https://bot.example.org/tg",
        telegram_webhook_port=9000,
        telegram_webhook_secret="s3cret",
        language="en",
    )
    options = TelegramOptions.from_settings(settings)
    assert options.base_url == DEFAULT_BASE_URL
    assert (options.webhook_url, options.webhook_port, options.webhook_secret) == (
        "https://bot.example.org/tg",
        9000,
        "s3cret",
    )
    assert options.default_language == "en"
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    with pytest.raises(ValueError, match="LIAISON_TELEGRAM_TOKEN"):
        TelegramOptions.from_settings(Settings())


def test_telegram_errors_in_the_outbox_vocabulary() -> None:
    retry = transport_error(RetryAfter(7))
    assert isinstance(retry, RetryLater) and retry.retry_after == 7
    moved = transport_error(ChatMigrated(-100123))
    assert isinstance(moved, ChatMoved) and moved.new_chat_id == "-100123"
    cases = {
        "Forbidden: bot can't initiate conversation with a user": "dm_blocked",
        "Forbidden: bot was blocked by the user": "dm_blocked",
        "Forbidden: user is deactivated": "user_deactivated",
        "Forbidden: bot was kicked from the supergroup chat": "bot_removed",
        "Forbidden: bot is not a member of the supergroup chat": "bot_removed",
    }
    for text, code in cases.items():
        error = transport_error(Forbidden(text))
        assert isinstance(error, Undeliverable) and error.code == code, text
    assert transport_error(BadRequest("Chat not found")).code == "chat_not_found"  # type: ignore[attr-defined]
    assert isinstance(transport_error(TimedOut()), RetryLater)
    assert isinstance(transport_error(NetworkError("connection reset")), RetryLater)


def test_long_texts_are_split_and_buttons_checked() -> None:
    text = "\n".join(f"#{n} 路灯坏了，请尽快修理。" * 3 for n in range(400))
    pieces = split_text(text)
    assert len(pieces) > 1 and "".join(pieces) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in pieces)
    assert split_text("短") == ["短"]
    markup = keyboard([Button("满意", "rate:1:0:s"), Button("不满意", "rate:1:0:u")])
    assert markup is not None and len(markup.inline_keyboard) == 1
    with pytest.raises(Undeliverable):
        keyboard([Button("x", "d" * 65)])


async def test_transport_rejects_targets_that_are_not_telegram_chats(fake_tg: FakeTelegram, db_url: str) -> None:
    from bot.app import App
    from handlers.clock import SystemClock
    from handlers.context import CoreConfig
    from handlers.transport import Outgoing

    app = App(database_url=db_url, clock=SystemClock(), config=CoreConfig())
    transport = TelegramTransport(app, TelegramOptions(token=fake_tg.token, base_url=fake_tg.base_url))
    await transport.application.initialize()
    try:
        with pytest.raises(Undeliverable):
            await transport.send(Outgoing(text="hi", chat_id="lianxi"))
        with pytest.raises(Undeliverable) as info:
            await transport.send(Outgoing(text="hi", chat_id="-4999"))
        assert info.value.code == "chat_not_found"
    finally:
        await transport.application.shutdown()
        await app.close()


async def test_a_revoked_token_ends_the_run_with_an_error(fake_tg: FakeTelegram, db_url: str) -> None:
    from telegram.error import InvalidToken

    from bot.app import App
    from handlers.clock import SystemClock
    from handlers.context import CoreConfig

    app = App(database_url=db_url, clock=SystemClock(), config=CoreConfig())
    transport = TelegramTransport(app, TelegramOptions(token=fake_tg.token, base_url=fake_tg.base_url, poll_timeout=1))
    stop = asyncio.Event()
    task = asyncio.create_task(transport.run(stop))
    try:
        await fake_tg.wait_for(lambda: fake_tg.calls_of("getUpdates"))
        fake_tg.token = "123456:revoked-by-botfather"  # /revoke in BotFather: the old token gets 401
        with pytest.raises(InvalidToken):
            await asyncio.wait_for(task, 10)
        assert not transport.application.running
    finally:
        task.cancel()
        await app.close()
