"""Feedback and rating: text replies that are (and are not) ratings, rating rounds, final referrals, direct answers, DM items."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.app import App
from handlers.rating import TextRating, mentions_satisfaction, parse_rate_data, parse_text_rating, rate_data
from storage.models import Item, ItemEvent, Rating
from tests.harness import ChatDriver, Delivered, set_up_station

LIANXI = {"liaisons": ["zhang"], "deputies": ["li"]}


async def the_items(app: App) -> list[Item]:
    async with app.sessions() as session:
        return list((await session.exec(select(Item).order_by(Item.id))).all())


def only(sent: list[Delivered], chat: str) -> Delivered:
    [message] = [m for m in sent if m.chat == chat]
    return message


def test_rate_data_round_trip_and_rejects_garbage() -> None:
    data = rate_data(123456, 3, Rating.UNSATISFIED)
    assert data == "rate:123456:3:u" and len(data.encode()) <= 64
    press = parse_rate_data(data)
    assert press is not None and (press.item_id, press.round, press.rating) == (123456, 3, Rating.UNSATISFIED)
    for garbage in (None, "", "rate:1:2", "rate:1:2:x", "rate:a:1:s", "rate:1:1:s:extra", "ratex:1:1:s"):
        assert parse_rate_data(garbage) is None


S, B, U = Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.UNSATISFIED
ASK = "ask"  # no rating: answered with the buttons and a question
# Replies a resident may send to the result, and what each must do.
REPLIES: list[tuple[str, object]] = [
    ("满意", (S, "")),
    ("满意！", (S, "")),
    ("满意。", (S, "")),
    ("  满意  ", (S, "")),
    ("满意😊", (S, "")),
    ("👍满意", (S, "")),
    ("「满意」", (S, "")),
    ("【满意】", (S, "")),
    ("满意！！！谢谢你们", (S, "谢谢你们")),
    ("满意，辛苦了", (S, "辛苦了")),
    ("满意 谢谢", (S, "谢谢")),
    ("滿意", (S, "")),
    ("基本满意", (B, "")),
    ("基本满意，晚上还有点暗", (B, "晚上还有点暗")),
    ("基本滿意。", (B, "")),
    ("不满意", (U, "")),
    ("不满意！", (U, "")),
    ("不满意，噪音还有", (U, "噪音还有")),
    ("不满意；根本没人来看过", (U, "根本没人来看过")),
    ("不满意\n路灯还是不亮", (U, "路灯还是不亮")),
    ("不满意，为什么还没修？", (U, "为什么还没修？")),
    ("😡不满意", (U, "")),
    ("不滿意", (U, "")),
    ("Satisfied.", (S, "")),
    ("satisfied, thanks", (S, "thanks")),
    ("Basically satisfied", (B, "")),
    ("Unsatisfied", (U, "")),
    ("not satisfied - lamp still off", (U, "lamp still off")),
    ("dissatisfied", (U, "")),
    ("满意？根本没修好", ASK),
    ("满意？", ASK),
    ("满意！？", ASK),
    ("满意度很低", ASK),
    ("满意个啥", ASK),
    ("满意吗", ASK),
    ("不太满意", ASK),
    ("不是很满意，噪音还有", ASK),
    ("还行吧，基本满意", ASK),
    ("非常满意", ASK),
    ("很满意", ASK),
    ("我不满意", ASK),
    ("还行", ASK),
    ("还可以吧", ASK),
    ("一般般", ASK),
    ("凑合", ASK),
    ("给个差评", ASK),
    ("satisfied?", ASK),
    ("not really satisfied", ASK),
    ("谢谢", None),
    ("什么时候修好？", None),
    ("路灯还是不亮", None),
]


@pytest.mark.parametrize(("text", "expected"), REPLIES)
def test_a_text_reply_is_a_rating_only_when_it_is_a_label(text: str, expected: object) -> None:
    parsed = parse_text_rating(text)
    if expected == ASK:
        assert parsed is None and mentions_satisfaction(text)
    elif expected is None:
        assert parsed is None and not mentions_satisfaction(text)
    else:
        assert parsed == TextRating(*expected)  # type: ignore[misc]


def test_the_reply_corpus_is_large_enough() -> None:
    assert len(REPLIES) >= 40


async def test_item_from_a_dm_gets_its_feedback_in_the_dm(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
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
    await set_up_station(chat, **{**LIANXI, "staff": None})
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("zhang", "lianxi", "/assign 1 li")
    await chat.say("li", "dm:li", "/progress 1 在修")
    feedback = only(await chat.say("li", "dm:li", "/close 1 修好了"), "lianxi")
    sent = await chat.press("alice", "lianxi", feedback.id, "不满意")
    assert "#1" in only(sent, "dm:li").text and "#1" in only(sent, "dm:zhang").text
    assert (await the_items(app))[0].status == "reopened"


async def item_events(app: App) -> list[tuple[str, str | None]]:
    async with app.sessions() as session:
        found = await session.exec(select(ItemEvent).order_by(ItemEvent.id))
        return [(event.kind, event.note) for event in found.all()]


async def resolved_item(chat: ChatDriver, text: str = "#建议 楼下广场舞噪音太大") -> tuple[str, Delivered]:
    """alice's item #1, assigned to li and resolved: her message id and the feedback post."""
    await chat.say("alice", "lianxi", text)
    source = chat.last_message_id
    await chat.say("zhang", "gongzuo", "/assign 1 li")
    feedback = only(await chat.say("li", "dm:li", "/close 1 已与广场舞队协商，音量调小"), "lianxi")
    return source, feedback


async def test_a_referral_is_final_and_a_reply_to_it_changes_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#投诉 邻居占用我家车位，要求赔偿")
    sent = await chat.say("zhang", "gongzuo", "/reject 1 属于个人民事纠纷，已告知可向区人民调解委员会申请调解")
    referral = only(sent, "lianxi")
    assert referral.buttons == [] and "不予受理" in referral.text and "人民调解委员会" in referral.text
    assert "评价" not in referral.text
    assert "不请居民评价" in only(sent, "gongzuo").text and "/reopen 1" in only(sent, "gongzuo").text
    before = await item_events(app)
    for reply in ("不满意", "不满意，凭什么不管", "满意？你们就这么办事"):
        [answer] = await chat.say("alice", "lianxi", reply, reply_to=referral.id)
        assert answer.chat == "lianxi" and "不需要评价" in answer.text and "联络员" in answer.text
    [item] = await the_items(app)
    assert (item.status, item.reopen_count, item.rating) == ("rejected", 0, None)
    assert await item_events(app) == before
    [refused] = await chat.say("zhang", "gongzuo", "/close 1 好了")
    assert "「不予受理」" in refused.text and "/reopen 1" in refused.text
    [reopened] = await chat.say("zhang", "gongzuo", "/reopen 1 经复核，由社区协调")
    assert "已重新办理" in reopened.text
    assert (await the_items(app))[0].status == "reopened"


async def test_an_unclear_reply_gets_the_buttons_and_records_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _source, feedback = await resolved_item(chat)
    before = await item_events(app)
    for reply in ("满意？根本没修好", "满意度很低", "不太满意", "还行吧，基本满意", "谢谢"):
        [question] = await chat.say("alice", "lianxi", reply, reply_to=feedback.id)
        assert question.buttons == ["满意", "基本满意", "不满意"]
        assert question.reply_to == chat.last_message_id and "#1" in question.text and "是否满意" in question.text
    [item] = await the_items(app)
    assert (item.status, item.rating) == ("resolved", None)
    assert await item_events(app) == before
    # chatter in answer to the question is not asked again; the question's button rates
    assert await chat.say("alice", "lianxi", "好的", reply_to=question.id) == []
    await chat.press("alice", "lianxi", question.id, "基本满意")
    [item] = await the_items(app)
    assert (item.status, item.rating) == ("closed", "basically_satisfied")


async def test_a_label_with_a_comment_is_a_rating(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _source, feedback = await resolved_item(chat)
    [neighbour] = await chat.say("bob", "lianxi", "满意", reply_to=feedback.id)
    assert "只有提出事项 #1 的居民本人可以评价" in neighbour.text
    sent = await chat.say("alice", "lianxi", "不满意，晚上九点以后还是很吵", reply_to=feedback.id)
    assert "不满意" in only(sent, "lianxi").text
    assert "晚上九点以后还是很吵" in only(sent, "gongzuo").text and "#1" in only(sent, "dm:li").text
    [item] = await the_items(app)
    assert (item.status, item.rating, item.reopen_count) == ("reopened", "unsatisfied", 1)
    assert (await item_events(app))[-1] == ("rated", "unsatisfied: 晚上九点以后还是很吵")


async def test_a_tagged_reply_to_the_result_is_a_new_item(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _source, feedback = await resolved_item(chat)
    [ack] = await chat.say("alice", "lianxi", "#建议 广场上再加几盏灯", reply_to=feedback.id)
    assert "#2" in ack.text
    assert [item.status for item in await the_items(app)] == ["resolved", "new"]


async def test_a_rating_belongs_to_its_round(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _source, first = await resolved_item(chat)
    await chat.press("alice", "lianxi", first.id, "不满意")
    await chat.say("li", "dm:li", "/progress 1 再次协商")
    second = only(await chat.say("li", "dm:li", "/close 1 音量限制在 60 分贝以下，晚八点结束"), "lianxi")
    assert second.buttons == ["满意", "基本满意", "不满意"]
    [item] = await the_items(app)
    assert (item.status, item.rating, item.reopen_count) == ("resolved", None, 1), "a new result clears the rating"
    assert ("rated", "unsatisfied") in await item_events(app), "the old rating stays in the history"
    await chat.press("alice", "lianxi", first.id, "满意")
    assert "已过期" in chat.transport.answers[-1][1]
    await chat.say("alice", "lianxi", "满意！", reply_to=second.id)
    [item] = await the_items(app)
    assert (item.status, item.rating) == ("closed", "satisfied")


async def test_staff_may_answer_a_new_item_directly(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#求助 老年证在哪里办？")
    [refused] = await chat.say("li", "dm:li", "/close 1 在社区服务中心")
    assert "没有权限" in refused.text
    sent = await chat.say("zhang", "gongzuo", "/close 1 带身份证和一寸照片到社区服务中心一楼窗口办理，当场可取")
    assert "已由本站直接答复并办结" in only(sent, "gongzuo").text
    answer = only(sent, "lianxi")
    assert "本站答复如下" in answer.text and "一楼窗口" in answer.text
    assert answer.buttons == ["满意", "基本满意", "不满意"]
    [item] = await the_items(app)
    assert (item.status, item.assignee_id) == ("resolved", None)
    assert (await item_events(app))[-1][0] == "answered"
    [details] = await chat.say("zhang", "gongzuo", "/item 1")
    assert "联络站直接答复（办结）" in details.text


async def test_plain_reply_to_the_ack_is_not_a_rating(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [ack] = await chat.say("alice", "lianxi", "#建议 路灯坏了")
    assert await chat.say("alice", "lianxi", "满意", reply_to=ack.id) == []
    assert (await the_items(app))[0].status == "new"


async def test_my_lists_own_items_across_stations(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
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


async def test_a_reply_to_the_acknowledgement_rates_once_the_result_is_out(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [ack] = await chat.say("alice", "lianxi", "#投诉 楼下广场舞噪音太大")
    assert await chat.say("alice", "lianxi", "什么时候处理？", reply_to=ack.id) == [], "while handled: chatter"
    await chat.say("zhang", "gongzuo", "/assign 1 li")
    await chat.say("li", "dm:li", "/close 1 已协商，晚八点半结束")
    [question] = await chat.say("alice", "lianxi", "不太满意", reply_to=ack.id)
    assert question.buttons == ["满意", "基本满意", "不满意"]
    assert await chat.say("alice", "lianxi", "知道了", reply_to=ack.id) == []
    sent = await chat.say("alice", "lianxi", "不满意，九点还在跳", reply_to=ack.id)
    assert "九点还在跳" in only(sent, "gongzuo").text
    [item] = await the_items(app)
    assert (item.status, item.rating) == ("reopened", "unsatisfied")
