"""Station set-up on Telegram: binding, privacy mode, command addressing, menus, chat life events."""

from __future__ import annotations

import pytest

from storage.models import ChatBinding, Item
from tests.peers.fake_telegram import FakeTelegram
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner


async def set_up_station(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    created = fake.text(world.admin_dm, world.admin, "/station add lx 幸福社区联络站")
    assert "lx" in (await bot.reply_to(created))["text"]
    bound = fake.text(world.residents, world.admin, f"/bind@{fake.username} lx")
    assert "居民群" in (await bot.reply_to(bound))["text"]
    staff = fake.text(world.staff, world.admin, "/bind lx staff")
    assert "工作群" in (await bot.reply_to(staff))["text"]


async def test_bind_in_a_group(bot: TelegramBotRunner, world: World) -> None:
    await set_up_station(bot, world)
    bindings = {b.chat_id: (b.purpose, b.title) for b in await bot.rows(ChatBinding)}
    assert bindings == {
        str(world.residents["id"]): ("residents", "幸福社区居民群"),
        str(world.staff["id"]): ("staff", "幸福社区工作群"),
    }


async def test_privacy_mode_warning_on_bind(fake_tg: FakeTelegram, db_url: str, world: World) -> None:
    fake_tg.can_read_all_group_messages = False  # BotFather's default: privacy mode on
    bot = await TelegramBotRunner(fake_tg, db_url, admins=frozenset({f"telegram:{world.admin['id']}"})).start()
    try:
        fake_tg.text(world.admin_dm, world.admin, "/station add lx 幸福社区联络站")
        warned = (await bot.reply_to(fake_tg.text(world.residents, world.admin, "/bind lx")))["text"]
        assert "隐私模式" in warned and "/setprivacy" in warned and "管理员" in warned
        # the bot asked Telegram whether it is an admin there (an admin sees every message)
        assert fake_tg.calls_of("getChatMember")[-1].params["user_id"] == str(fake_tg.bot_id)

        # the admin promotes the bot: Telegram says so with my_chat_member, and the warning goes away
        fake_tg.set_bot_status(world.residents, "administrator")
        fake_tg.push(
            "my_chat_member",
            {
                "chat": world.residents,
                "from": world.admin,
                "date": 1,
                "old_chat_member": {"status": "member", "user": fake_tg.bot_user},
                "new_chat_member": fake_tg._member(fake_tg._chats[world.residents["id"]], fake_tg.bot_id),
            },
        )
        clean = (await bot.reply_to(fake_tg.text(world.residents, world.admin, "/bind lx")))["text"]
        assert "本群已绑定" in clean and "隐私模式" not in clean
    finally:
        await bot.stop()


async def test_no_privacy_warning_when_bot_sees_everything(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    fake.text(world.admin_dm, world.admin, "/station add lx 幸福社区联络站")
    text = (await bot.reply_to(fake.text(world.residents, world.admin, "/bind lx")))["text"]
    assert "本群已绑定" in text and "隐私模式" not in text
    assert not fake.calls_of("getChatMember"), "no need to ask when getMe says it reads everything"


async def test_commands_addressed_to_another_bot_are_ignored(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    other = fake.text(world.residents, world.alice, "/help@some_other_bot")
    ours = fake.text(world.residents, world.alice, f"/help@{fake.username}")
    plain = fake.text(world.residents, world.alice, "/whoami")
    assert "/help" in (await bot.reply_to(ours))["text"]
    assert "这个群还没有绑定联络站" in (await bot.reply_to(plain))["text"]  # unbound: how to bind, no data
    await bot.processed(plain)
    replied_to = {m["reply_to_message"]["message_id"] for m in fake.sent(world.residents["id"])}
    assert other["message"]["message_id"] not in replied_to
    assert len(fake.sent(world.residents["id"])) == 2


async def test_supergroup_migration_moves_the_binding(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    old_id = world.residents["id"]
    new_chat = fake.migrate(world.residents, world.admin)
    await bot.processed(fake.last_update)
    bindings = {b.chat_id: b for b in await bot.rows(ChatBinding)}
    assert str(new_chat["id"]) in bindings and str(old_id) not in bindings
    assert bindings[str(new_chat["id"])].purpose == "residents" and bindings[str(new_chat["id"])].active


async def test_first_messages_in_the_new_supergroup_are_not_taken_for_redeliveries(
    bot: TelegramBotRunner, world: World
) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    new_chat = fake.migrate(world.residents, world.admin)
    await bot.processed(fake.last_update)
    # message ids 2 and 3 existed in the old group (the /bind and its answer); here they are new messages
    who = fake.text(new_chat, world.admin, "/whoami")
    assert who["message"]["message_id"] == 2
    assert "幸福社区联络站" in (await bot.reply_to(who))["text"]


async def test_messages_without_a_person_behind_them_are_ignored(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    anonymous = fake.text(world.residents, world.admin, "/unbind", sender_chat=world.residents)
    bot_post = fake.text(world.residents, fake.user("OtherBot", username="other_bot") | {"is_bot": True}, "#建议 x")
    await bot.processed(bot_post)
    replied = {m["reply_to_message"]["message_id"] for m in fake.sent(world.residents["id"]) if "reply_to_message" in m}
    assert anonymous["message"]["message_id"] not in replied and bot_post["message"]["message_id"] not in replied
    assert all(b.active for b in await bot.rows(ChatBinding))


async def test_the_token_stays_out_of_the_logs(
    bot: TelegramBotRunner, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake = world.fake
    await bot.reply_to(fake.text(world.residents, world.alice, "/help"))
    assert fake.token not in caplog.text


UNBOUND_FOR_RESIDENTS = (
    "这个群还没有绑定联络站，机器人在这里不办理事项，也不提供查询。反映问题请到本社区的居民群发送「#建议 内容」，或私信机器人。"
)


async def test_an_unbound_group_is_answered_once_with_how_to_bind_and_never_with_data(
    bot: TelegramBotRunner, world: World
) -> None:
    """Alice has an item in the station's group; in a group nobody bound, a stranger's and her
    own queries get one answer (where to go instead), and nothing of her item ever shows there."""
    fake = world.fake
    await set_up_station(bot, world)
    report = fake.text(world.residents, world.alice, "#建议 东门路灯坏了，联系电话13800138000")
    assert (await bot.reply_to(report))["text"].startswith("已受理，编号 #1。")
    stranger = fake.user("路人甲")
    chatter = fake.group("小区闲聊群", members=[world.alice, stranger, world.liaison])

    first = fake.text(chatter, stranger, "/my")
    assert (await bot.reply_to(first))["text"] == UNBOUND_FOR_RESIDENTS
    later = [fake.text(chatter, who, text) for who, text in (
        (world.alice, "/my"), (world.alice, "/item 1"), (stranger, "/items"), (stranger, "/stats"),
        (world.alice, "#建议 闲聊群里的事"),
    )]
    await bot.processed(later[-1])
    await bot.outbox_idle()
    assert [m["text"] for m in fake.sent(chatter["id"])] == [UNBOUND_FOR_RESIDENTS], "answered once"
    assert [item.text for item in await bot.rows(Item)] == ["东门路灯坏了，联系电话13800138000"]
    said_anywhere_but_the_station = [
        m["text"] for m in fake.sent() if m["chat"]["id"] not in (world.residents["id"], world.staff["id"])
    ]
    assert not [text for text in said_anywhere_but_the_station if "路灯" in text or "13800138000" in text]
