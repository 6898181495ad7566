"""Feedback and rating beyond the residents group: DM items, no staff chat, and the data format."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from handlers.rating import parse_rate_data, parse_text_rating, rate_data
from storage.models import Item, Rating
from tests.harness import ChatDriver, Delivered


async def the_items(app: App) -> list[Item]:
    async with app.sessions() as session:
        return list((await session.exec(select(Item).order_by(Item.id))).all())


def only(sent: list[Delivered], chat: str) -> Delivered:
    [message] = [m for m in sent if m.chat == chat]
    return message


async def set_up(chat: ChatDriver, *, staff_chat: bool = True) -> None:
    await chat.say("admin", "dm:admin", "/station add lianxi 濂溪社区联络站")
    await chat.say("admin", "lianxi", "/bind lianxi")
    if staff_chat:
        await chat.say("admin", "gongzuo", "/bind lianxi staff")
    await chat.say("admin", "lianxi", "/liaison add zhang")
    await chat.say("admin", "lianxi", "/deputy add li")
    for user in ("li", "zhang"):
        await chat.say(user, f"dm:{user}", "/whoami")


def test_rate_data_round_trip_and_rejects_garbage() -> None:
    data = rate_data(123456, 3, Rating.UNSATISFIED)
    assert data == "rate:123456:3:u" and len(data.encode()) <= 64
    press = parse_rate_data(data)
    assert press is not None and (press.item_id, press.round, press.rating) == (123456, 3, Rating.UNSATISFIED)
    for garbage in (None, "", "rate:1:2", "rate:1:2:x", "rate:a:1:s", "rate:1:1:s:extra", "ratex:1:1:s"):
        assert parse_rate_data(garbage) is None


def test_text_ratings() -> None:
    assert parse_text_rating("满意！") == (Rating.SATISFIED, "")
    assert parse_text_rating("基本满意") == (Rating.BASICALLY_SATISFIED, "")
    assert parse_text_rating("不满意，还是坏的") == (Rating.UNSATISFIED, "还是坏的")
    assert parse_text_rating("不滿意") == (Rating.UNSATISFIED, "")
    assert parse_text_rating("Unsatisfied.") == (Rating.UNSATISFIED, "")
    assert parse_text_rating("basically satisfied") == (Rating.BASICALLY_SATISFIED, "")
    assert parse_text_rating("谢谢") is None


async def test_item_from_a_dm_gets_its_feedback_in_the_dm(chat: ChatDriver, app: App) -> None:
    await set_up(chat)
    await chat.say("dora", "dm:dora", "#求助 独居老人没人照看")
    source = chat.last_message_id
    await chat.say("zhang", "gongzuo", "/assign 1 li")
    await chat.say("li", "dm:li", "/progress 1 已联系社区")
    feedback = only(await chat.say("li", "dm:li", "/close 1 社区网格员每周上门"), "dm:dora")
    assert feedback.reply_to == source and feedback.buttons == ["满意", "基本满意", "不满意"]
    await chat.press("dora", "dm:dora", feedback.id, "满意")
    [item] = await the_items(app)
    assert (item.status, item.rating) == ("closed", "satisfied")


async def test_unsatisfied_without_a_staff_chat_tells_the_liaison_directly(chat: ChatDriver, app: App) -> None:
    await set_up(chat, staff_chat=False)
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("zhang", "lianxi", "/assign 1 li")
    await chat.say("li", "dm:li", "/progress 1 在修")
    feedback = only(await chat.say("li", "dm:li", "/close 1 修好了"), "lianxi")
    sent = await chat.press("alice", "lianxi", feedback.id, "不满意")
    assert "#1" in only(sent, "dm:li").text and "#1" in only(sent, "dm:zhang").text
    assert (await the_items(app))[0].status == "reopened"


async def test_unassigned_rejected_item_unsatisfied_tells_staff_only(chat: ChatDriver, app: App) -> None:
    await set_up(chat)
    await chat.say("alice", "lianxi", "#投诉 物业费太贵")
    feedback = only(await chat.say("zhang", "gongzuo", "/reject 1 属于合同纠纷"), "lianxi")
    sent = await chat.press("alice", "lianxi", feedback.id, "不满意")
    assert [m.chat for m in sent] == ["gongzuo"]
    [item] = await the_items(app)
    assert (item.status, item.reopen_count) == ("reopened", 1)


async def test_plain_reply_to_the_ack_is_not_a_rating(chat: ChatDriver, app: App) -> None:
    await set_up(chat)
    [ack] = await chat.say("alice", "lianxi", "#建议 路灯坏了")
    assert await chat.say("alice", "lianxi", "满意", reply_to=ack.id) == []
    assert (await the_items(app))[0].status == "new"


async def test_my_lists_own_items_across_stations(chat: ChatDriver, app: App) -> None:
    await set_up(chat)
    await chat.say("admin", "dm:admin", "/station add other 另一站")
    await chat.say("admin", "other-res", "/bind other")
    [empty] = await chat.say("alice", "dm:alice", "/my")
    assert "还没有" in empty.text
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("alice", "other-res", "#求助 井盖丢了")
    await chat.say("bob", "lianxi", "#建议 别人的事")
    await chat.say("zhang", "lianxi", "/reject 1 已在维修计划中")
    [mine] = await chat.say("alice", "dm:alice", "/my")
    assert "濂溪社区联络站 #1 [不予受理] 路灯坏了" in mine.text and "已在维修计划中" in mine.text
    assert "另一站 #1 [已受理] 井盖丢了" in mine.text
    assert "别人的事" not in mine.text
