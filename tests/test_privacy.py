"""The personal data rule end to end on the core: what a resident wrote that identifies them is
masked in everything posted to a residents group or any public place, and stays whole in the
staff chat and in direct messages to the people handling the item."""

from __future__ import annotations

import pytest

from bot.app import App
from handlers.transport import Undeliverable
from storage.models import Outbox
from tests.harness import ChatDriver, Delivered, rows, set_up_station

PHONE = "139-1234-5678"
ID_NUMBER = "360102198001011234"
WECHAT = "zhangjg1980"
REPORT = f"#求助 家里水管爆了，电话 {PHONE}，身份证{ID_NUMBER}，微信号 {WECHAT}"


def the_one(sent: list[Delivered], chat: str) -> Delivered:
    found = [message for message in sent if message.chat == chat]
    assert len(found) == 1, [(m.chat, m.text) for m in sent]
    return found[0]


def assert_masked(text: str) -> None:
    for secret in (PHONE, "13912345678", ID_NUMBER, WECHAT):
        assert secret not in text, text
    assert "***" in text


def assert_whole(text: str) -> None:
    assert PHONE in text and ID_NUMBER in text and WECHAT in text, text


@pytest.fixture
async def station(chat: ChatDriver) -> ChatDriver:
    return await set_up_station(chat, liaisons=["zhang"], deputies=["li county"], introduce=["li"])


async def test_feedback_in_the_group_is_masked_and_the_handlers_see_everything(
    station: ChatDriver, app: App
) -> None:
    await station.say("alice", "lianxi", REPORT)
    assigned = await station.say("zhang", "gongzuo", "/assign 1 li")
    assert_whole(the_one(assigned, "dm:li").text)  # the assignee needs the number to call back
    [details] = await station.say("zhang", "gongzuo", "/item 1")
    assert_whole(details.text)  # the staff chat sees the full record
    closed = await station.say("li", "dm:li", f"/close 1 已修好，回访电话 {PHONE} 已打通")
    feedback = the_one(closed, "lianxi")
    assert_masked(feedback.text)
    assert "alice，您反映的事项 #1" in feedback.text, "the resident is addressed by the name they post under"
    [stored] = await rows(app, Outbox, Outbox.purpose == "feedback")
    assert_masked(stored.text)  # masked before it is written, so no copy of it is public


async def test_feedback_to_a_direct_chat_is_not_masked(station: ChatDriver) -> None:
    await station.say("dora", "dm:dora", REPORT)
    await station.say("zhang", "gongzuo", "/assign 1 li")
    feedback = the_one(await station.say("li", "dm:li", "/close 1 已修好"), "dm:dora")
    assert PHONE in feedback.text and "***" not in feedback.text  # shortened, never masked


async def test_an_answer_in_the_group_quoting_the_resident_is_masked(station: ChatDriver) -> None:
    [refusal] = await station.say("alice", "lianxi", f"/item {PHONE}")
    assert_masked(refusal.text)
    [in_staff] = await station.say("zhang", "gongzuo", f"/item {PHONE}")
    assert PHONE in in_staff.text


async def test_unsatisfied_notice_to_staff_keeps_the_text(station: ChatDriver) -> None:
    await station.say("alice", "lianxi", REPORT)
    await station.say("zhang", "gongzuo", "/assign 1 li")
    feedback = the_one(await station.say("li", "dm:li", "/close 1 已修好"), "lianxi")
    sent = await station.press("alice", "lianxi", feedback.id, "不满意")
    staff = the_one(sent, "gongzuo")
    assert "家里水管爆了" in staff.text and "***" not in staff.text


async def test_publish_says_what_it_hid_only_when_it_hid_something(station: ChatDriver) -> None:
    await station.say("alice", "lianxi", "#建议 东门路灯坏了")
    await station.say("zhang", "gongzuo", "/assign 1 li")
    await station.say("li", "dm:li", "/close 1 已更换灯泡")
    sent = await station.say("zhang", "gongzuo", "/publish")
    answer = the_one(sent, "gongzuo").text
    assert "不含任何姓名" in answer and "隐去" not in answer and "电话" not in answer
    await station.say("bob", "lianxi", "#求助 我是bob，请回电 13812345678，卡号 6222021234567890123")
    await station.say("zhang", "gongzuo", "/assign 2 li")
    await station.say("li", "dm:li", "/close 2 已联系bob，问题解决")
    sent = await station.say("zhang", "gongzuo", "/publish")
    public = the_one(sent, "lianxi").text
    assert "bob" not in public and "13812345678" not in public and "6222021234567890123" not in public
    answer = the_one(sent, "gongzuo").text
    assert "已隐去个人信息：电话号码 1 处、银行卡号 1 处、姓名 2 处。" in answer


# --- answers about one's own items go privately ------------------------------------------------------
async def test_item_and_my_in_the_group_are_answered_by_direct_message(station: ChatDriver) -> None:
    await station.say("alice", "lianxi", REPORT)
    for command in ("/my", "/item 1"):
        sent = await station.say("alice", "lianxi", command)
        pointer, answer = the_one(sent, "lianxi"), the_one(sent, "dm:alice")
        assert pointer.reply_to == station.last_message_id and "已私信回复您" in pointer.text
        assert "水管" not in pointer.text and "#1" not in pointer.text, "the group sees no content"
        assert "家里水管爆了" in answer.text
    assert PHONE in answer.text, "the full record, privately"
    sent = await station.say("zhang", "lianxi", "/items")
    assert "已私信回复您" in the_one(sent, "lianxi").text and "#1" in the_one(sent, "dm:zhang").text
    [in_staff] = await station.say("zhang", "gongzuo", "/items")
    assert in_staff.chat == "gongzuo" and "#1" in in_staff.text, "the staff chat is a private place"


async def test_a_blocked_direct_message_is_explained_in_the_group_without_content(
    station: ChatDriver, app: App
) -> None:
    await station.say("alice", "lianxi", REPORT)
    station.transport.fail_next.append(Undeliverable("Forbidden: bot can't initiate conversation", code="dm_blocked"))
    sent = await station.say("alice", "lianxi", "/my")
    [explained] = sent
    assert explained.chat == "lianxi" and explained.reply_to == station.last_message_id
    assert "无法私信您" in explained.text and "/my" in explained.text and "已私信" not in explained.text
    assert "水管" not in explained.text and "#1" not in explained.text
    assert [row.state for row in await rows(app, Outbox, Outbox.purpose == "private_answer")] == ["dead"]
    # known now: the next command is answered with what to do, without trying again
    [again] = await station.say("alice", "lianxi", "/item 1")
    assert "无法私信您" in again.text and "/item" in again.text
    assert len(await rows(app, Outbox, Outbox.purpose == "private_answer")) == 1
    # after /start in a private chat, answers arrive there again
    await station.say("alice", "dm:alice", "/start")
    sent = await station.say("alice", "lianxi", "/my")
    assert "家里水管爆了" in the_one(sent, "dm:alice").text


async def test_staff_learn_when_their_public_answer_had_a_number_hidden(station: ChatDriver) -> None:
    await station.say("alice", "lianxi", "#投诉 邻居占用车位")
    sent = await station.say("zhang", "gongzuo", "/reject 1 属于民事纠纷，请联系社区人民调解委员会（电话 0791-88123456）")
    assert "0791-88123456" not in the_one(sent, "lianxi").text
    note = the_one(sent, "gongzuo").text
    assert "隐去了电话号码 1 处" in note and "写明部门名称" in note
    await station.say("dora", "dm:dora", "#求助 老年证怎么办理")
    sent = await station.say("zhang", "gongzuo", "/close 2 请拨社区服务中心电话 0791-88123457 预约")
    assert "0791-88123457" in the_one(sent, "dm:dora").text, "a direct chat is private"
    assert "隐去" not in the_one(sent, "gongzuo").text
