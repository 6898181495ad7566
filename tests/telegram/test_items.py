"""Items on Telegram end to end: intake, edits, redelivery, ratings by button, direct messages, flood control."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.intake import RetryPolicy
from storage.models import Item, ItemStatus, Message, Outbox, OutboxState, SetAsideEvent
from tests.peers.fake_telegram import JSON, FakeTelegram, retry_after
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_setup import set_up_station


async def items(bot: TelegramBotRunner) -> list[Item]:
    return sorted(await bot.rows(Item), key=lambda item: item.number)


async def add_deputy(bot: TelegramBotRunner, world: World) -> None:
    """The admin makes 李代表 a deputy of the station, picking them from the member list (a text mention)."""
    fake = world.fake
    added = fake.text(world.residents, world.admin, "/deputy add 李代表 county", mentions={"李代表": world.deputy})
    assert "代表" in (await bot.reply_to(added))["text"]


async def resolve_item(bot: TelegramBotRunner, world: World, number: int = 1, chat: JSON | None = None) -> JSON:
    """Assign, progress and close item `number`; returns the feedback post (in `chat`, default the residents')."""
    fake = world.fake
    await add_deputy(bot, world)
    fake.private(world.deputy)  # the deputy has pressed Start, so the assignment DM arrives
    assigned = fake.text(world.staff, world.admin, f"/assign {number} {world.deputy['id']} 5")
    assert "已将事项" in (await bot.reply_to(assigned))["text"]
    await bot.sent_matching(world.deputy["id"], lambda m: f"#{number}" in m["text"])
    progress = fake.text(world.deputy_dm, world.deputy, f"/progress {number} 已联系物业")
    await bot.reply_to(progress)
    closed = fake.text(world.staff, world.admin, f"/close {number} 路灯已修好")
    assert "已办结" in (await bot.reply_to(closed))["text"]
    return await bot.sent_matching((chat or world.residents)["id"], lambda m: "办理结果" in m["text"])


async def test_group_intake_is_acknowledged_as_a_reply(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 小区东门的路灯坏了")
    ack = await bot.reply_to(posted)
    assert "已受理，编号 #1" in ack["text"]
    assert ack["reply_to_message"]["from"]["id"] == world.alice["id"]
    [request] = [call.params for call in fake.calls_of("sendMessage") if call.ok and call.result["text"] == ack["text"]]
    assert json.loads(request["reply_parameters"]) == {"message_id": posted["message"]["message_id"],
                                                       "allow_sending_without_reply": True}
    assert json.loads(request["link_preview_options"]) == {"is_disabled": True}
    [item] = await items(bot)
    assert (item.number, item.tag, item.text, item.status) == (1, "建议", "小区东门的路灯坏了", ItemStatus.NEW)

    # a tag in a photo caption counts the same; plain chatter makes nothing
    photo = fake.photo(world.residents, world.bob, "＃求助 楼道里堆满杂物，见图")
    assert "#2" in (await bot.reply_to(photo))["text"]
    document = fake.document(world.residents, world.bob, "#投诉 噪音扰民，附检测报告")
    assert "#3" in (await bot.reply_to(document))["text"]
    chatter = fake.text(world.residents, world.bob, "大家好")
    await bot.processed(chatter)
    assert [i.text for i in await items(bot)] == ["小区东门的路灯坏了", "楼道里堆满杂物，见图", "噪音扰民，附检测报告"]
    assert len(fake.sent(world.residents["id"])) == 4  # the /bind answer and three acks


async def test_an_edit_updates_the_item(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 路灯坏了")
    await bot.reply_to(posted)
    edited = fake.edit(posted, "#建议 东门路灯坏了三天了")
    await bot.processed(edited)
    [item] = await items(bot)
    assert item.text == "东门路灯坏了三天了"
    assert len(fake.sent(world.residents["id"])) == 2, "an edit is no new item and gets no second ack"


async def test_offset_moves_only_after_commit_and_a_crash_redelivers_without_a_second_item(
    fake_tg: FakeTelegram, db_url: str, world: World
) -> None:
    admins = frozenset({f"telegram:{world.admin['id']}"})
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins).start()
    await set_up_station(bot, world)
    assert bot.app is not None and bot.transport is not None

    # hold the core inside its handling of the next update
    entered, release, committed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    real_handle = bot.app.handle

    async def slow_handle(incoming):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        await real_handle(incoming)
        committed.set()
        await asyncio.Event().wait()  # ... and die before the poller could confirm the update

    bot.app.handle = slow_handle  # type: ignore[method-assign]
    posted = fake_tg.text(world.residents, world.alice, "#建议 路灯坏了")
    await asyncio.wait_for(entered.wait(), 5)
    assert fake_tg.confirmed_offset <= posted["update_id"], "confirmed before the item was committed"
    release.set()
    await asyncio.wait_for(committed.wait(), 5)
    assert fake_tg.confirmed_offset <= posted["update_id"]
    await bot.reply_to(posted)  # the ack queued with the item went out ...
    await bot.outbox_idle()  # ... and was recorded, so the crash cuts off no send
    await bot.crash()
    assert posted in fake_tg.pending_updates

    # a new process on the same database gets the same update again
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins).start()
    try:
        await bot.processed(posted)
        deliveries = [c for c in fake_tg.calls_of("getUpdates") if c.ok and c.result and posted in c.result]
        assert len(deliveries) == 2
        ack = await bot.reply_to(posted)
        assert "#1" in ack["text"]
        [item] = await items(bot)
        assert item.text == "路灯坏了"
        acks = [m for m in fake_tg.sent(world.residents["id"]) if "已受理" in m["text"]]
        assert len(acks) == 1
    finally:
        await bot.stop()


async def test_rating_by_button_reporter_other_resident_and_forged_data(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 路灯坏了")
    await bot.reply_to(posted)
    feedback = await resolve_item(bot, world)
    assert feedback["reply_to_message"]["message_id"] == posted["message"]["message_id"]
    [row] = feedback["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["满意", "基本满意", "不满意"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in row)
    satisfied = row[0]["callback_data"]

    async def press(user: JSON, data: str) -> JSON:
        before = len(fake.answers)
        update = fake.callback(user, feedback, data)
        await fake.wait_for(lambda: len(fake.answers) > before)
        await bot.processed(update)
        return fake.answers[-1]

    other = await press(world.bob, satisfied)
    assert other["show_alert"] and "只有提出事项 #1 的居民本人可以评价" in other["text"]
    # data a modified client made up: another (real) item's rating, a missing item, garbage
    second = fake.text(world.residents, world.alice, "#建议 垃圾桶满了")
    await bot.reply_to(second)
    item_one, item_two = await items(bot)
    assert satisfied == f"rate:{item_one.id}:0:s"
    for forged in (f"rate:{item_two.id}:0:s", "rate:999:0:s", "rate:DROP TABLE", "x" * 64):
        answer = await press(world.alice, forged)
        assert answer["show_alert"] and "已失效" in answer["text"], forged
    item_one, item_two = await items(bot)
    assert item_one.status == ItemStatus.RESOLVED and item_one.rating is None, "refused presses change nothing"
    assert item_two.status == ItemStatus.NEW and item_two.rating is None

    thanks = await press(world.alice, satisfied)
    assert "感谢您的评价" in thanks["text"]
    item_one, _ = await items(bot)
    assert item_one.status == ItemStatus.CLOSED and item_one.rating == "satisfied"
    again = await press(world.alice, satisfied)
    assert "已经评价过" in again["text"]


async def test_forbidden_dm_tells_the_liaisons_with_a_start_link(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    await bot.reply_to(fake.text(world.residents, world.alice, "#建议 路灯坏了"))
    await add_deputy(bot, world)
    # the deputy never opened a private chat with the bot: Telegram answers 403 to the assignment DM
    fake.text(world.staff, world.admin, f"/assign 1 {world.deputy['id']}")
    notice = await bot.sent_matching(world.staff["id"], lambda m: "开始" in m["text"] and "t.me" in m["text"])
    assert "李代表" in notice["text"]
    link = next(word for word in notice["text"].replace("，", " ").split() if word.startswith("https://t.me/"))
    assert link.startswith(f"https://t.me/{fake.username}?start=")
    assert any(c.error_code == 403 for c in fake.calls_of("sendMessage"))
    [dm] = [row for row in await bot.rows(Outbox) if row.purpose == "assigned"]
    assert dm.state == OutboxState.DEAD

    # the deputy follows the link: Telegram opens the chat and sends /start <code>
    fake.start_private(world.deputy)
    code = link.split("start=", 1)[1]
    started = fake.text(world.deputy_dm, world.deputy, f"/start {code}")
    assert "已关联" in (await bot.reply_to(started))["text"]
    # from now on direct messages reach them
    fake.text(world.residents, world.alice, "#建议 垃圾桶满了")
    await bot.sent_matching(world.residents["id"], lambda m: "#2" in m["text"])
    fake.text(world.staff, world.admin, f"/assign 2 {world.deputy['id']}")
    await bot.sent_matching(world.deputy["id"], lambda m: "#2" in m["text"])


async def test_flood_control_retry_after_is_honoured(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    fake.fail_next("sendMessage", retry_after(1), chat_id=world.residents["id"])
    posted = fake.text(world.residents, world.alice, "#建议 路灯坏了")
    ack = await bot.reply_to(posted)
    attempts = [c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == str(world.residents["id"])][-2:]
    assert [a.error_code for a in attempts] == [429, None]
    assert attempts[1].at - attempts[0].at >= 1.0, "the retry came before Telegram's retry_after"
    assert "#1" in ack["text"]


async def test_a_429_beyond_the_retries_leaves_the_outbox_row_pending(
    fake_tg: FakeTelegram, db_url: str, world: World
) -> None:
    admins = frozenset({f"telegram:{world.admin['id']}"})
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins, max_retries=0).start()
    try:
        await set_up_station(bot, world)
        fake_tg.fail_next("sendMessage", retry_after(1), chat_id=world.residents["id"])
        posted = fake_tg.text(world.residents, world.alice, "#建议 路灯坏了")
        failed_at = time.monotonic()

        async def ack_row() -> Outbox | None:
            assert bot.app is not None
            async with bot.app.sessions() as session:
                rows = (await session.exec(select(Outbox).where(Outbox.purpose == "ack"))).all()
            # a 429 spends no attempt (it is Telegram's pace), but it is recorded
            return rows[0] if rows and rows[0].last_error else None

        row = None
        while row is None and time.monotonic() - failed_at < 5:
            row = await ack_row()
            await asyncio.sleep(0.02)
        assert row is not None
        # the limiter gave up at once (max_retries=0): the row waits out Telegram's retry_after, pending
        assert row.state == OutboxState.PENDING and row.sent_message_id is None and row.attempts == 0
        assert "retry in 1 seconds" in (row.last_error or "").lower()
        assert (row.next_attempt_at - row.created_at).total_seconds() >= 0.9
        ack = await bot.reply_to(posted)
        assert "#1" in ack["text"]
        assert time.monotonic() - failed_at >= 0.9
    finally:
        await bot.stop()


async def test_a_group_at_its_flood_limit_does_not_hold_up_other_chats(
    fake_tg: FakeTelegram, db_url: str, world: World
) -> None:
    """Telegram lets a bot post 20 messages a minute in a group; a burst of items in one group must
    not keep everyone else's messages (other groups, deputies' reminders, DMs) waiting behind it."""
    admins = frozenset({f"telegram:{world.admin['id']}"})
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins, group_max_rate=3).start()
    try:
        await set_up_station(bot, world)  # the /bind answer is the residents group's first message
        posts = [fake_tg.text(world.residents, world.alice, f"#建议 路灯坏了 {n}") for n in range(4)]
        await bot.reply_to(posts[1])  # the group's 3 a minute are spent: the next ack waits 20 s
        asked = fake_tg.text(world.admin_dm, world.admin, "/whoami")
        answered = await bot.reply_to(asked, within=5)
        assert answered["text"]
        assert not any(
            m.get("reply_to_message", {}).get("message_id") == posts[3]["message"]["message_id"]
            for m in fake_tg.sent(world.residents["id"])
        ), "the group's limit was not reached, so this test proves nothing"
        # The held acks are still pending, in order, and go out once the group may post again.
        assert bot.app is not None
        async with bot.app.sessions() as session:
            pending = (
                await session.exec(select(Outbox).where(Outbox.state == OutboxState.PENDING).order_by(Outbox.id))
            ).all()
        assert [row.chat_id for row in pending] == [str(world.residents["id"])] * 2
    finally:
        await bot.stop()


async def test_bot_removed_from_the_group(bot: TelegramBotRunner, world: World) -> None:
    from storage.models import ChatBinding

    fake = world.fake
    await set_up_station(bot, world)
    removed = fake.bot_removed(world.residents, world.admin)
    notice = await bot.sent_matching(world.staff["id"], lambda m: "移出" in m["text"])
    assert "幸福社区居民群" in notice["text"] and "/bind lx" in notice["text"]
    await bot.processed(removed)
    binding = next(b for b in await bot.rows(ChatBinding) if b.chat_id == str(world.residents["id"]))
    assert not binding.active
    # a redelivered removal tells nobody twice
    fake.redeliver(removed)
    await bot.processed(removed)
    assert len([m for m in fake.sent(world.staff["id"]) if "移出" in m["text"]]) == 1


async def test_items_follow_a_group_upgraded_to_a_supergroup(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 路灯坏了")
    await bot.reply_to(posted)
    supergroup = fake.migrate(world.residents, world.admin)
    await bot.processed(fake.last_update)
    # life goes on in the supergroup: its messages are numbered afresh by Telegram
    chat = [fake.text(supergroup, world.bob, f"第{n}条闲聊") for n in range(1, 6)]
    await bot.processed(chat[-1])
    world.residents = supergroup  # the deputy and staff flow below is unchanged
    feedback = await resolve_item(bot, world)
    assert feedback["chat"]["id"] == supergroup["id"]
    assert "路灯坏了" in feedback["text"] and "办理结果" in feedback["text"]
    # The supergroup numbers its messages afresh: the old message cannot be quoted, so the feedback
    # names the resident instead (README: the feedback is posted "without quoting the old message").
    assert "reply_to_message" not in feedback, feedback["reply_to_message"]
    assert feedback["text"].startswith("Alice，您反映的事项 #1「路灯坏了」已办结。")
    [item] = await items(bot)
    assert item.status == ItemStatus.RESOLVED


async def test_private_chat_intake_and_a_rating_by_text_reply(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    dm = fake.private(world.alice)
    posted = fake.text(dm, world.alice, "#求助 家门口下水道堵了")
    ack = await bot.reply_to(posted)
    assert "已受理，编号 #1" in ack["text"] and ack["chat"]["type"] == "private"
    feedback = await resolve_item(bot, world, chat=dm)
    assert feedback["reply_to_message"]["message_id"] == posted["message"]["message_id"]
    # instead of a button, the resident answers the feedback post in words
    answer = fake.text(dm, world.alice, "不满意，还是堵", reply_to=feedback)
    assert "不满意" in (await bot.reply_to(answer))["text"]
    [item] = await items(bot)
    assert item.status == ItemStatus.REOPENED and item.rating == "unsatisfied"
    await bot.sent_matching(world.staff["id"], lambda m: "不满意" in m["text"] and "还是堵" in m["text"])


async def test_forum_topics_keep_the_conversation_in_its_topic(
    bot: TelegramBotRunner, world: World, fake_tg: FakeTelegram
) -> None:
    forum = fake_tg.supergroup("幸福社区议事厅", members=[world.alice], admins=[world.admin], is_forum=True)
    fake_tg.text(world.admin_dm, world.admin, "/station add lx 幸福社区联络站")
    general = fake_tg.topic(forum, world.admin, "意见建议")
    await bot.reply_to(fake_tg.text(forum, world.admin, "/bind lx", topic=general))
    posted = fake_tg.text(forum, world.alice, "#建议 增加路灯", topic=general)
    ack = await bot.reply_to(posted)
    assert ack["message_thread_id"] == general["message_id"] and "#1" in ack["text"]
    [item] = await items(bot)
    assert item.text == "增加路灯"
    # Telegram says the post "replies" to the topic's first message; for the core it is no reply
    assert posted["message"]["reply_to_message"]["message_id"] == general["message_id"]
    [stored] = [m for m in await bot.rows(Message) if m.message_id == str(posted["message"]["message_id"])]
    assert stored.reply_to is None and stored.thread_id == str(general["message_id"])


async def test_database_trouble_is_retried_and_a_poisonous_update_set_aside(
    fake_tg: FakeTelegram, db_url: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    admins = frozenset({f"telegram:{world.admin['id']}"})
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins).start()
    try:
        await set_up_station(bot, world)
        assert bot.app is not None
        bot.app.guard.policy = RetryPolicy(attempts=3, first_delay=0.01)
        real_dispatch = bot.app.router.dispatch
        calls: list[str] = []

        async def troubled(ctx):  # type: ignore[no-untyped-def]
            text = ctx.incoming.text
            calls.append(text)
            if "路灯" in text and calls.count(text) <= 4:
                # what SQLite says while another process holds the write lock: an outage
                raise OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
            if "毒" in text:
                raise ValueError("a bug this message triggers")  # the message's own: a few tries, then set aside
            await real_dispatch(ctx)

        bot.app.router.dispatch = troubled  # type: ignore[method-assign]
        # Posted together, the three arrive in one getUpdates answer: they are tried as one batch,
        # which the database trouble fails, and then one by one.
        lamp = fake_tg.text(world.residents, world.alice, "#建议 路灯坏了")
        poison = fake_tg.text(world.residents, world.bob, "#建议 毒")
        after = fake_tg.text(world.residents, world.bob, "#建议 垃圾桶满了")
        assert "#1" in (await bot.reply_to(lamp))["text"]
        assert "#2" in (await bot.reply_to(after))["text"]
        await bot.processed(after)
        assert "a batch of 3 messages of Telegram updates failed" in caplog.text
        assert calls.count("#建议 路灯坏了") == 5, "retried past the budget: a locked database is no fault of the message"
        assert calls.count("#建议 毒") == 3
        assert [i.text for i in await items(bot)] == ["路灯坏了", "垃圾桶满了"]
        assert f"setting aside telegram event {poison['update_id']}" in caplog.text
        [kept] = await bot.rows(SetAsideEvent)
        assert (kept.event_id, kept.text, kept.attempts) == (str(poison["update_id"]), "#建议 毒", 3)
        assert "a bug this message triggers" in kept.error and '"update_id"' in kept.payload
        sorry = await bot.reply_to(poison)
        assert sorry["text"] == "抱歉，机器人处理这条消息时出错了。消息已保存并转给工作人员人工处理，您不必重发。"
        notice = await bot.sent_matching(world.staff["id"], lambda m: "多次处理失败" in m["text"])
        assert f"telegram 事件 {poison['update_id']}" in notice["text"] and "原文：#建议 毒" in notice["text"]
    finally:
        await bot.stop()


async def test_bot_added_back_to_a_group_asks_to_bind_it(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    removed = fake.bot_removed(world.residents, world.admin)
    await bot.processed(removed)
    added = fake.bot_added(world.residents, world.admin)
    greeting = await bot.sent_matching(world.residents["id"], lambda m: "/bind" in m["text"])
    assert "站点代码" in greeting["text"]
    await bot.processed(added)
    # the same update delivered again greets nobody twice
    fake.redeliver(added)
    await bot.processed(added)
    assert len([m for m in fake.sent(world.residents["id"]) if "站点代码" in m["text"]]) == 1


async def test_no_second_sees_more_than_thirty_messages(bot: TelegramBotRunner, world: World) -> None:
    """Telegram's 30 messages a second, for any second: a bucket the size of the limit lets a full
    burst and then the limit again through (60 were measured in one second after an hour down).
    90 direct messages due at once go out at most 30 in any second."""
    from handlers import outbox
    from tests.fault_scenarios import most_within

    fake = world.fake
    users = [fake.user(f"代表{n}") for n in range(90)]
    assert bot.app is not None
    async with bot.app.sessions() as session:
        for n, user in enumerate(users):
            await outbox.to_chat(session=session, key=f"burst:{n}", purpose="test", platform="telegram",
                                 chat_id=str(fake.private(user)["id"]), text=f"第{n}条通知", now=bot.clock.now())
        await session.commit()
    bot.app.outbox.wake.set()
    await bot.outbox_idle(within=30)
    moments = [call.at for call in fake.calls_of("sendMessage") if call.ok]
    assert len(moments) == 90
    assert most_within(moments, 1.0) <= 30
