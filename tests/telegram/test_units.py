"""Handling units and visitors on Telegram end to end: a unit with a contact person gets the
assignment by DM and closes it; two visitors recorded in one message; the visitor's result
becomes a 回访 task in the staff group, rated by a liaison's press; nothing of the visitors in
the residents group."""

from __future__ import annotations

from storage.models import Item, ItemStatus, Visitor
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_setup import set_up_station


async def test_a_unit_handles_a_visitors_matter_and_the_liaison_records_the_callback(
    bot: TelegramBotRunner, world: World
) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    wang = fake.user("王科长", username="wang_ke")
    wang_dm = fake.private(wang)  # the unit's contact has pressed Start
    added = fake.text(world.staff, world.admin, "/unit add 街道城管科 王科长", mentions={"王科长": wang})
    assert (await bot.reply_to(added))["text"].startswith("已添加承办单位「街道城管科」，联系人 王科长")

    visit = fake.text(world.staff, world.admin, "/visit 刘大爷 13712345678 小区门口下雨积水，老人出行不便\n"
                                                "王阿姨 楼上漏水三个月，物业不管")
    recorded = (await bot.reply_to(visit))["text"]
    assert recorded.startswith("已登记 2 位来访群众：\n#1 刘大爷（13712345678）：小区门口下雨积水，老人出行不便\n"
                               "#2 王阿姨：楼上漏水三个月，物业不管\n")
    assert [(v.name, v.phone) for v in await bot.rows(Visitor)] == [("刘大爷", "13712345678"), ("王阿姨", None)]

    assigned = fake.text(world.staff, world.admin, "/assign 1 街道城管科 5")
    assert (await bot.reply_to(assigned))["text"].endswith("已私信通知 街道城管科 的联系人 王科长。")
    told = await bot.sent_matching(wang_dm["id"], lambda m: "交 街道城管科 办理" in m["text"])
    assert "小区门口下雨积水，老人出行不便" in told["text"] and "/close 1" in told["text"]
    closed = fake.text(wang_dm, wang, "/close 1 已疏通下水道，积水已排除")
    assert (await bot.reply_to(closed))["text"].startswith("事项 #1 已办结。来访群众没有聊天账号：回访任务已发给工作群")

    task = await bot.sent_matching(world.staff["id"], lambda m: m["text"].startswith("回访 刘大爷 13712345678"))
    [row] = task["reply_markup"]["inline_keyboard"]
    assert [button["text"] for button in row] == ["满意", "基本满意", "不满意", "未能联系上"]
    assert all(len(button["callback_data"].encode()) <= 64 for button in row)
    pressed = fake.callback(world.admin, task, row[0]["callback_data"])
    await bot.processed(pressed)
    note = await bot.sent_matching(world.staff["id"], lambda m: m["text"].startswith("已记录 刘大爷 的评价"))
    assert note["text"] == "已记录 刘大爷 的评价：满意（Ada 回访）。事项 #1 已关闭。"
    assert note["reply_to_message"]["message_id"] == task["message_id"]
    item = next(item for item in await bot.rows(Item) if item.number == 1)
    assert (item.status, item.rating) == (ItemStatus.CLOSED, "satisfied")

    await bot.outbox_idle()
    for message in fake.sent(world.residents["id"]):
        for secret in ("刘大爷", "王阿姨", "13712345678", "积水", "漏水"):
            assert secret not in message["text"], message["text"]
