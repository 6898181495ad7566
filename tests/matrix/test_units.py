"""Handling units and visitors in real Matrix rooms (Synapse, matrix-nio clients): a unit's contact
gets the assignment in a direct room and closes it there; visitors recorded in the staff room; the
回访 task's reactions record the visitor's rating; nothing of the visitors in the residents room."""

from __future__ import annotations

from sqlmodel import col, select

from storage.models import Item, ItemStatus, Visitor
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import MakeBot
from tests.matrix.residents import MakeUser
from tests.matrix.test_station_flow import command


async def rows(bot: BotRunner, model: type) -> list:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())  # type: ignore[attr-defined]


async def test_a_unit_closes_a_visitors_matter_and_the_callback_is_rated_by_reaction(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    admin, zhang, alice = [await matrix_users(name) for name in ("admin", "zhang", "alice")]
    wang = await matrix_users("wang", encrypted=True)  # direct rooms are encrypted, as Element makes them
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}))
    residents = await admin.create_room(invite=[bot.user_id, alice.user_id], name="濂溪居民群")
    staff = await admin.create_room(invite=[bot.user_id, zhang.user_id], name="濂溪工作群")
    for member, room in ((alice, residents), (zhang, staff)):
        await member.wait_for_invite(room)
        await member.join(room)
    await admin.wait_for_join(residents, bot.user_id)
    await admin.wait_for_join(staff, bot.user_id)
    await command(admin, residents, bot, "!station add lianxi 濂溪社区联络站")
    await command(admin, residents, bot, "!bind lianxi")
    await command(admin, staff, bot, "!bind lianxi staff")
    await command(admin, staff, bot, f"!liaison add {zhang.user_id}")
    added = await command(zhang, staff, bot, f"!unit add 街道城管科 {wang.user_id}")
    assert added["content"]["body"].startswith("已添加承办单位「街道城管科」，联系人 ")

    recorded = await command(zhang, staff, bot, "!visit 刘大爷 13712345678 小区门口下雨积水，老人出行不便\n"
                                                "王阿姨 楼上漏水三个月，物业不管")
    assert recorded["content"]["body"].startswith(
        "已登记 2 位来访群众：\n#1 刘大爷（13712345678）：小区门口下雨积水，老人出行不便\n#2 王阿姨：楼上漏水三个月，物业不管\n")
    assert [(v.name, v.phone) for v in await rows(bot, Visitor)] == [("刘大爷", "13712345678"), ("王阿姨", None)]

    assigned = await command(zhang, staff, bot, "!assign 1 街道城管科 5")
    assert "已私信通知 街道城管科 的联系人" in assigned["content"]["body"]
    direct = await wang.wait_for_invite()
    await wang.join(direct)
    [told] = await wang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "交 街道城管科 办理" in ev.get("content", {}).get("body", ""),
        direct, what="the assignment")
    assert "小区门口下雨积水，老人出行不便" in told["content"]["body"]
    closed = await command(wang, direct, bot, "!close 1 已疏通下水道，积水已排除")
    assert closed["content"]["body"].startswith("事项 #1 已办结。来访群众没有聊天账号：回访任务已发给工作群")

    [task] = await zhang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and ev.get("content", {}).get("body", "").startswith("回访 刘大爷"),
        staff, what="the 回访 task")
    assert "结果：已疏通下水道，积水已排除" in task["content"]["body"]
    seeded = await zhang.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == task["event_id"],
        staff, count=4, what="the task's reactions")
    assert [ev["content"]["m.relates_to"]["key"] for ev in seeded] == ["满意", "基本满意", "不满意", "未能联系上"]
    await zhang.react(staff, task["event_id"], "基本满意")
    [note] = await zhang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and ev.get("content", {}).get("body", "").startswith("已记录 刘大爷"),
        staff, what="the recorded rating")
    assert note["content"]["body"].endswith("回访）。事项 #1 已关闭。")
    item = next(item for item in await rows(bot, Item) if item.number == 1)
    assert (item.status, item.rating) == (ItemStatus.CLOSED, "basically_satisfied")

    await alice.sync()
    for event in alice.find(residents, lambda ev: ev.get("sender") == bot.user_id):
        body = event.get("content", {}).get("body", "")
        for secret in ("刘大爷", "王阿姨", "13712345678", "积水", "漏水"):
            assert secret not in body, body
    bot.check_alive()
