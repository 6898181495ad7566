"""Deadlines beyond /assign (README, *Deadlines and chasing*): the default days per tag, /reopen
with a new deadline (and a resident's 不满意), /extend by staff at once or asked by the assignee
and approved with a button; every bad input answered and nothing changed.

The clock starts on Tuesday 2026-12-01 at 09:00 in Shanghai.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from storage.models import ExtensionRequest, Item, ItemEvent
from tests.harness import ChatDriver, Delivered, rows, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")


def end_of(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 23, 59, 59, tzinfo=SHANGHAI)


def in_chat(sent: list[Delivered], chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


@pytest.fixture
async def station(chat: ChatDriver) -> ChatDriver:
    await set_up_station(chat, head="wang", liaisons=["zhang"], deputies=["li", "zhao"],
                         introduce=["wang", "zhang", "li", "zhao"])
    await chat.say("alice", "lianxi", "#求助 老年证在哪里办？")
    return chat


async def the_item(app: App) -> Item:
    [item] = await rows(app, Item)
    return item


async def test_tag_days_are_the_default_of_assign(station: ChatDriver, app: App) -> None:
    [answer] = await station.say("zhang", "gongzuo", "/tags days 求助 5")
    assert answer.text == ("#求助 事项的默认办理时限改为 5 个工作日（/assign 未写天数、/reopen 时使用）。\n"
                           "默认办理时限：#求助 5 个工作日；其余标签 15 个工作日。")
    sent = await station.say("zhang", "gongzuo", "/assign 1 li")
    assert in_chat(sent, "gongzuo") == [
        "已将事项 #1 分派给 li，办理时限 5 个工作日，截止 2026-12-08。\n"
        "（未指定时限，按默认 5 个工作日；可用 /assign 1 <代表或承办单位> <天数> 修改。）\n已私信通知 li。"
    ]
    [answer] = await station.say("zhang", "gongzuo", "/tags days 求助 off")
    assert answer.text.startswith("#求助 事项的默认办理时限恢复为 15 个工作日。")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/tags days 咨询 5", "#咨询 不是本站的标签。"),
        ("/tags days 求助 0", "办理时限应为 1 到 365 之间的工作日天数，而不是「0」。"),
        ("/tags days 求助 很快", "办理时限应为 1 到 365 之间的工作日天数，而不是「很快」。"),
        ("/tags days 求助", "用法：/tags days <标签> <工作日天数|off>"),
    ],
)
async def test_bad_tag_days_change_nothing(station: ChatDriver, app: App, command: str, expected: str) -> None:
    [answer] = await station.say("zhang", "gongzuo", command)
    assert expected in answer.text
    [answer] = await station.say("zhang", "gongzuo", "/tags days")
    assert answer.text == "默认办理时限：所有标签均为 15 个工作日。设置某个标签：/tags days <标签> <天数>。"


async def test_reopen_gives_a_new_deadline(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    await station.say("li", "dm:li", "/close 1 带身份证到社区服务中心一楼办理")
    sent = await station.say("zhang", "gongzuo", "/reopen 1 2 居民说一楼窗口已经搬走了")
    assert in_chat(sent, "gongzuo") == ["事项 #1 已重新办理，新的办理时限 2 个工作日，截止 2026-12-03。\n已私信通知承办代表 li。"]
    [dm] = in_chat(sent, "dm:li")
    assert dm.endswith("理由：居民说一楼窗口已经搬走了。请继续办理，并用 /progress 1 或 /close 1 反馈。\n"
                       "新的办理时限：2 个工作日，截止 2026-12-03。")
    item = await the_item(app)
    assert (item.status, item.due_at) == ("reopened", end_of(12, 3))
    # Chased again: the day before the new deadline, and on its day.
    sent = await station.advance(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    assert [m.chat for m in sent if m.outgoing.purpose == "chase"] == ["dm:li"]
    sent = await station.advance(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
    assert sorted(m.chat for m in sent if m.outgoing.purpose == "chase") == ["dm:li", "gongzuo"]


async def test_reopen_without_days_uses_the_tag_default(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/tags days 求助 4")
    await station.say("zhang", "gongzuo", "/close 1 带身份证到社区服务中心一楼办理")
    [answer] = await station.say("zhang", "gongzuo", "/reopen 1 3号楼的居民说窗口搬走了")
    assert answer.text == "事项 #1 已重新办理，新的办理时限 4 个工作日，截止 2026-12-07。\n请用 /assign 1 <代表> 分派。"
    [answer] = await station.say("zhang", "gongzuo", "/reopen 1 0 理由")
    assert "不能重新办理" in answer.text


async def test_a_residents_unsatisfied_rating_gives_a_new_deadline(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    sent = await station.say("li", "dm:li", "/close 1 带身份证到社区服务中心一楼办理")
    [feedback] = [m for m in sent if m.chat == "lianxi"]
    sent = await station.press("alice", "lianxi", feedback.id, "不满意")
    item = await the_item(app)
    assert (item.status, item.due_at) == ("reopened", end_of(12, 22)), "15 working days, the default"
    [staff] = in_chat(sent, "gongzuo")
    assert staff.endswith("新的办理时限：15 个工作日，截止 2026-12-22。")


async def test_extend_by_staff_is_recorded(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    sent = await station.say("zhang", "gongzuo", "/extend 1 5 需要等街道回复")
    assert in_chat(sent, "gongzuo") == ["已将事项 #1 的办理时限延长 5 个工作日，截止 2026-12-11（原 2026-12-04）。\n已私信通知 li。"]
    item = await the_item(app)
    assert item.due_at == end_of(12, 11)
    events = [event for event in await rows(app, ItemEvent) if event.kind == "extended"]
    assert [(event.note, event.due_at) for event in events] == [
        ("延长 5 个工作日，截止 2026-12-11（原 2026-12-04）：需要等街道回复", end_of(12, 11))]


async def test_the_assignee_asks_and_staff_approve(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    sent = await station.say("li", "dm:li", "/extend 1 5 社区服务中心在装修，要等街道答复")
    assert in_chat(sent, "dm:li") == [
        "已把延期申请（事项 #1，延长 5 个工作日）发给联络员，批准后会通知您。在此之前，办理时限仍是 2026-12-04。"]
    [request] = [m for m in sent if m.chat == "gongzuo"]
    assert request.text == ("延期申请：li 申请把事项 #1「老年证在哪里办？」的办理时限（2026-12-04）延长 5 个工作日。"
                            "理由：社区服务中心在装修，要等街道答复")
    assert request.buttons == ["同意延期", "不同意"]
    [again] = await station.say("li", "dm:li", "/extend 1 3 再多给几天")
    assert again.text == "事项 #1 已有一份延期申请（5 个工作日）在等待联络员批准，请耐心等待。"
    # A deputy cannot approve; the press is refused and changes nothing.
    await station.press("zhao", "gongzuo", request.id, "同意延期")
    assert station.transport.answers[-1] == ("gongzuo", "只有本站的联络员、站长或管理员可以批准延期申请。")
    assert (await the_item(app)).due_at == end_of(12, 4)
    sent = await station.press("wang", "gongzuo", request.id, "同意延期")
    assert in_chat(sent, "gongzuo") == ["wang 同意了 li 的延期申请：事项 #1 的办理时限延长 5 个工作日，截止 2026-12-11。"]
    assert in_chat(sent, "dm:li") == [
        "濂溪社区联络站 的 wang 同意了您的延期申请：事项 #1「老年证在哪里办？」的办理时限延长 5 个工作日，"
        "新的截止日期是 2026-12-11（原 2026-12-04）。"]
    assert (await the_item(app)).due_at == end_of(12, 11)
    await station.press("zhang", "gongzuo", request.id, "不同意")
    assert station.transport.answers[-1] == ("gongzuo", "这份延期申请已经处理过了（事项 #1）。")


async def test_staff_decline_a_request(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    sent = await station.say("li", "dm:li", "/extend 1 5 忙不过来")
    [request] = [m for m in sent if m.chat == "gongzuo"]
    sent = await station.press("zhang", "gongzuo", request.id, "不同意")
    assert in_chat(sent, "gongzuo") == ["zhang 没有同意 li 的延期申请（事项 #1），办理时限仍是 2026-12-04。已私信告知 li。"]
    assert in_chat(sent, "dm:li") == [
        "濂溪社区联络站 的 zhang 没有同意事项 #1 的延期申请，办理时限仍是 2026-12-04。如有困难，请与联络员沟通。"]
    [decided] = await rows(app, ExtensionRequest)
    assert decided.approved is False and (await the_item(app)).due_at == end_of(12, 4)


@pytest.mark.parametrize(
    ("user", "where", "command", "expected"),
    [
        ("zhang", "gongzuo", "/extend 1 5", "请写明延期的理由，例如 /extend 1 5 需等供电所排期施工。"),
        ("zhang", "gongzuo", "/extend 1 五天 要等", "办理时限应为 1 到 365 之间的工作日天数，而不是「五天」。"),
        ("zhang", "gongzuo", "/extend 9 5 要等", "濂溪社区联络站 没有编号为 #9 的事项。"),
        ("zhao", "dm:zhao", "/extend 1 5 要等", "抱歉，您没有权限对事项 #1 使用 /extend。"),
        ("alice", "lianxi", "/extend 1 5 要等", "抱歉，您没有权限使用 /extend。"),
    ],
)
async def test_bad_extensions_change_nothing(
    station: ChatDriver, app: App, user: str, where: str, command: str, expected: str
) -> None:
    await station.say("zhang", "gongzuo", "/assign 1 li 3")
    await station.say("zhao", "dm:zhao", "/use lianxi")
    before = (await the_item(app)).due_at
    sent = await station.say(user, where, command)
    assert any(expected in text for text in in_chat(sent, where)), in_chat(sent, where)
    assert (await the_item(app)).due_at == before
    assert await rows(app, ExtensionRequest) == []


async def test_an_item_without_a_deadline_or_closed_cannot_be_extended(station: ChatDriver) -> None:
    [answer] = await station.say("zhang", "gongzuo", "/extend 1 5 要等")
    assert answer.text == "事项 #1 还没有办理时限（尚未分派）。请用 /assign 1 <代表> <工作日天数> 分派并定时限。"
    await station.say("zhang", "gongzuo", "/close 1 带身份证到社区服务中心一楼办理")
    [answer] = await station.say("zhang", "gongzuo", "/extend 1 5 要等")
    assert answer.text == "事项 #1 已不在办理中，不需要延期。"
