"""Deadlines on Telegram end to end: the assignee asks for more time in a private chat, the request
reaches the staff group with two inline buttons, a deputy's press is refused with an alert, and a
staff member's press extends the deadline and tells the assignee (README, *Deadlines and chasing*)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from storage.models import ExtensionRequest, Item
from tests.peers.fake_telegram import JSON
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_items import add_deputy
from tests.telegram.test_setup import set_up_station


async def test_the_assignee_asks_and_a_staff_press_extends(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    await bot.reply_to(fake.text(world.residents, world.alice, "#建议 小区东门的路灯坏了"))
    await add_deputy(bot, world)
    fake.private(world.deputy)
    assigned = fake.text(world.staff, world.admin, f"/assign 1 {world.deputy['id']} 5")
    assert "办理时限 5 个工作日" in (await bot.reply_to(assigned))["text"]
    [before] = await bot.rows(Item)

    asked = fake.text(world.deputy_dm, world.deputy, "/extend 1 3 需要等供电所排期")
    answer = await bot.reply_to(asked)
    assert answer["text"].startswith("已把延期申请（事项 #1，延长 3 个工作日）发给联络员，批准后会通知您。")
    request = await bot.sent_matching(world.staff["id"], lambda m: m["text"].startswith("延期申请："))
    assert request["text"].endswith("延长 3 个工作日。理由：需要等供电所排期")
    [row] = request["reply_markup"]["inline_keyboard"]
    assert [button["text"] for button in row] == ["同意延期", "不同意"]
    approve = row[0]["callback_data"]

    async def press(user: JSON) -> JSON:
        count = len(fake.answers)
        update = fake.callback(user, request, approve)
        await fake.wait_for(lambda: len(fake.answers) > count)
        await bot.processed(update)
        return fake.answers[-1]

    refused = await press(world.deputy)
    assert refused["show_alert"] and refused["text"] == "只有本站的联络员、站长或管理员可以批准延期申请。"
    [unchanged] = await bot.rows(Item)
    assert unchanged.due_at == before.due_at

    await press(world.admin)
    approved = await bot.sent_matching(world.staff["id"], lambda m: "同意了" in m["text"])
    assert approved["text"].startswith("Ada 同意了 李代表 的延期申请：事项 #1 的办理时限延长 3 个工作日，截止 ")
    told = await bot.sent_matching(world.deputy["id"], lambda m: "同意了您的延期申请" in m["text"])
    [item] = await bot.rows(Item)
    assert item.due_at is not None and before.due_at is not None and item.due_at > before.due_at
    due = item.due_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert approved["text"].endswith(f"截止 {due}。")
    assert f"新的截止日期是 {due}" in told["text"]
    [decided] = await bot.rows(ExtensionRequest)
    assert decided.approved is True
