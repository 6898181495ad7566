"""A private report on Telegram end to end: `#建议` in a private chat, the station picked with a
button, handled and answered by direct message, and nothing of it in any group."""

from __future__ import annotations

from storage.models import Item, ItemStatus
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_items import add_deputy
from tests.telegram.test_setup import set_up_station

SECRET = ("3号楼", "1402", "13912345678", "家暴")


async def test_a_private_report_is_handled_by_direct_message_and_never_reaches_a_group(
    bot: TelegramBotRunner, world: World
) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    await bot.reply_to(fake.text(world.admin_dm, world.admin, "/station add dm 东门社区联络站"))
    dm = fake.private(world.alice)
    posted = fake.text(dm, world.alice, "#求助 3号楼1402邻居疑似家暴，经常半夜哭喊，我不方便出面，电话13912345678")
    question = await bot.reply_to(posted)
    assert question["chat"]["type"] == "private"
    assert question["text"].startswith("已收到您的反映。请问您要向哪个联络站反映？")
    [row] = question["reply_markup"]["inline_keyboard"]
    assert [button["text"] for button in row] == ["东门社区联络站", "幸福社区联络站"]
    assert await bot.rows(Item) == []

    before = len(fake.answers)
    pressed = fake.callback(world.alice, question, row[1]["callback_data"])
    await fake.wait_for(lambda: len(fake.answers) > before)
    await bot.processed(pressed)
    assert fake.answers[-1]["text"] == "已登记为 幸福社区联络站 的事项 #1。"
    ack = await bot.sent_matching(dm["id"], lambda m: m["text"].startswith("已受理，编号 #1。"))
    assert ack["reply_to_message"]["message_id"] == posted["message"]["message_id"]
    assert "不会出现在任何群里" in ack["text"]
    [item] = await bot.rows(Item)
    assert item.private and item.tag == "求助" and item.text.startswith("3号楼1402邻居疑似家暴")

    # the staff handle it in the staff chat; the result reaches alice privately, as a reply to her report
    await add_deputy(bot, world)
    fake.private(world.deputy)
    assigned = fake.text(world.staff, world.admin, f"/assign 1 {world.deputy['id']} 3")
    assert "已将事项 #1 分派给" in (await bot.reply_to(assigned))["text"]
    closed = fake.text(world.staff, world.admin, "/close 1 已联系社区民警和妇联上门了解，已妥善处置")
    assert (await bot.reply_to(closed))["text"].startswith("事项 #1 已办结。结果已回复到居民的原消息下")
    feedback = await bot.sent_matching(dm["id"], lambda m: "办理结果" in m["text"])
    assert feedback["reply_to_message"]["message_id"] == posted["message"]["message_id"]
    assert "已联系社区民警和妇联上门了解" in feedback["text"]
    answer = fake.text(dm, world.alice, "满意，谢谢", reply_to=feedback)
    assert (await bot.reply_to(answer))["text"] == "感谢您的评价（满意）！事项 #1 已关闭。"
    [item] = await bot.rows(Item)
    assert item.status == ItemStatus.CLOSED

    # a command about it typed in the residents group is refused there, with nothing of the item
    asked = fake.text(world.residents, world.admin, "/item 1")
    refusal = (await bot.reply_to(asked))["text"]
    assert refusal == "这件事项是居民私信反映的，不在群里处理。请在工作群或私聊中发送这条命令。"
    published = fake.text(world.staff, world.admin, "/publish")
    assert "不在群里公示" in (await bot.reply_to(published))["text"]
    await bot.outbox_idle()
    # grep every message the bot posted in the residents group
    posted_in_group = fake.sent(world.residents["id"])
    assert posted_in_group, "the group did get the bot's other messages"
    for message in posted_in_group:
        for fragment in SECRET:
            assert fragment not in message["text"], message["text"]
        assert "#1" not in message["text"], message["text"]


async def test_a_plus_one_is_noted_privately_or_in_the_group_when_no_dm_can_reach(
    bot: TelegramBotRunner, world: World
) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 东门路灯坏了")
    ack = await bot.reply_to(posted)
    # bob pressed Start: his "+1" is noted in his private chat, nothing in the group
    fake.private(world.bob)
    plus = fake.text(world.residents, world.bob, "+1", reply_to=ack)
    note = await bot.sent_matching(world.bob["id"], lambda m: "附议" in m["text"])
    assert note["text"] == "已记录您对事项 #1「东门路灯坏了」的附议（目前共 1 位居民附议）。办结后会把结果告诉您。"
    # the liaison never pressed Start: Telegram answers 403, so the note goes to the group instead
    same = fake.text(world.residents, world.liaison, "同问", reply_to=ack)
    fallback = await bot.reply_to(same)
    assert fallback["text"] == "已记录您对事项 #1 的附议，办结后会在此回复您。"
    await bot.processed(plus)
    group = [m["text"] for m in fake.sent(world.residents["id"])]
    assert "已记录您对事项 #1 的附议，办结后会在此回复您。" in group and not any("目前共" in text for text in group)
