"""Overdue items are chased on a ladder (README, Items): the assignee at the deadline, the head and
the staff chat two days later, the admins five days later; each once per deadline.

Everything through the commands: a resident's report, `/assign` with a deadline of one working
day (2026-12-01 is a Tuesday: the deadline is the end of Wednesday 2026-12-02), then the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.harness import ChatDriver, Delivered, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEADLINE = datetime(2026, 12, 2, 23, 59, 59, tzinfo=SHANGHAI)

TO_ASSIGNEE = "催办：事项 #1「小区东门的路灯坏了，晚上很黑」已到办理时限（2026-12-02 23:59）。请尽快办理，并用 /progress 1 或 /close 1 反馈。"
TO_HEAD = (
    "督办：濂溪社区联络站 的事项 #1「小区东门的路灯坏了，晚上很黑」已超期两天（时限 2026-12-02 23:59，承办代表 li），"
    "请站长督促办理。"
)
TO_ADMINS = (
    "督办：濂溪社区联络站 的事项 #1「小区东门的路灯坏了，晚上很黑」已超期五天（时限 2026-12-02 23:59，承办代表 li），"
    "请管理员过问。"
)


@pytest.fixture
async def assigned(chat: ChatDriver) -> ChatDriver:
    await set_up_station(chat, head="wang", liaisons=["zhang"], deputies=["li"], introduce=["wang", "li", "admin"])
    [ack] = await chat.say("alice", "lianxi", "#建议 小区东门的路灯坏了，晚上很黑")
    assert "#1" in ack.text
    answer = await chat.say("zhang", "gongzuo", "/assign 1 li 1")
    assert "截止 2026-12-02" in answer[0].text
    return chat


def seen(sent: list[Delivered]) -> list[tuple[str, str]]:
    """The chasers among what was sent (the monthly notice goes out meanwhile), as (chat, text)."""
    return sorted((message.chat, message.text) for message in sent if message.outgoing.purpose == "chase")


async def test_each_step_of_the_ladder_says_what_is_overdue_to_whom_once(assigned: ChatDriver) -> None:
    assert seen(await assigned.advance(DEADLINE - timedelta(minutes=1))) == []
    assert seen(await assigned.advance(DEADLINE)) == [("dm:li", TO_ASSIGNEE)]
    assert seen(await assigned.advance(DEADLINE + timedelta(days=2) - timedelta(minutes=1))) == []
    assert seen(await assigned.advance(DEADLINE + timedelta(days=2))) == [("dm:wang", TO_HEAD), ("gongzuo", TO_HEAD)]
    assert seen(await assigned.advance(DEADLINE + timedelta(days=5) - timedelta(minutes=1))) == []
    assert seen(await assigned.advance(DEADLINE + timedelta(days=5))) == [("dm:admin", TO_ADMINS)]
    assert seen(await assigned.advance(DEADLINE + timedelta(days=60))) == [], "each step once per deadline"


async def test_a_closed_item_is_not_chased(assigned: ChatDriver) -> None:
    await assigned.say("li", "dm:li", "/close 1 已联系物业，路灯已修好")
    assert seen(await assigned.advance(DEADLINE + timedelta(days=10))) == []


async def test_a_new_deadline_starts_the_ladder_over(assigned: ChatDriver) -> None:
    assert seen(await assigned.advance(DEADLINE)) == [("dm:li", TO_ASSIGNEE)]
    # Thursday 12-03: three more working days end on Tuesday 2026-12-08.
    await assigned.advance(DEADLINE + timedelta(hours=10))
    answer = await assigned.say("zhang", "gongzuo", "/assign 1 li 3")
    assert "截止 2026-12-08" in answer[0].text
    new_deadline = datetime(2026, 12, 8, 23, 59, 59, tzinfo=SHANGHAI)
    assert seen(await assigned.advance(new_deadline - timedelta(minutes=1))) == [], "the old ladder stopped"
    assert seen(await assigned.advance(new_deadline)) == [("dm:li", TO_ASSIGNEE.replace("2026-12-02", "2026-12-08"))]
