"""Items are chased on a ladder of working days (README, *Deadlines and chasing*), each step at the
reminder hour (09:00) of a working day in the station's zone, each once per deadline:

- the working day before the deadline: the assignee;
- the deadline's day: the assignee and the staff chat;
- two working days overdue: the head;
- five working days overdue: the admins and the parent station's staff chat.

Everything through the commands: a resident's report, `/assign 1 li 3` on Tuesday 2026-12-01
(deadline: Friday 2026-12-04), then the clock. Two working days after Friday is Tuesday 12-08
(the weekend does not count, and nothing goes out on it); five is Friday 12-11.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.harness import ChatDriver, Delivered, set_up_station
from tests.transcripts.runner import clean_environment, run_script

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


ITEM = "小区东门的路灯坏了，晚上很黑"
BEFORE = (
    f"提醒：您承办的事项 #1「{ITEM}」办理时限为 2026-12-04，只剩 1 个工作日。请抓紧办理，办结后发送 /close 1 <办理结果>；"
    "确需延期，请发送 /extend 1 <工作日天数> <理由> 申请。"
)
DUE_ASSIGNEE = (
    f"催办：您承办的事项 #1「{ITEM}」今天（2026-12-04）到期，尚未办结。请今天办结并发送 /close 1 <办理结果>；"
    "确需延期，请发送 /extend 1 <工作日天数> <理由> 申请。"
)
DUE_STAFF = (
    f"催办：事项 #1「{ITEM}」今天（2026-12-04）到期，尚未办结（承办：li）。已提醒承办人；"
    "需要延期请用 /extend 1 <工作日天数> <理由>。"
)
TO_HEAD = (
    f"督办：濂溪社区联络站 的事项 #1「{ITEM}」已超期 2 个工作日（办理时限 2026-12-04，承办：li），请站长督促办理。"
)
TO_ADMINS = (
    f"督办：濂溪社区联络站 的事项 #1「{ITEM}」已超期 5 个工作日（办理时限 2026-12-04，承办：li），"
    "已报 濂溪县代表之家 和管理员，请过问。"
)


async def set_up(chat: ChatDriver) -> None:
    """A county home with its own staff chat, and the station below it."""
    await chat.say("admin", "dm:admin", "/station add xian 濂溪县代表之家 家")
    await chat.say("admin", "xianban", "/bind xian staff")
    await set_up_station(chat, name="濂溪社区联络站 站 xian", head="wang", liaisons=["zhang"], deputies=["li"],
                         introduce=["wang", "li", "admin"])


@pytest.fixture
async def assigned(chat: ChatDriver) -> ChatDriver:
    await set_up(chat)
    [ack] = await chat.say("alice", "lianxi", f"#建议 {ITEM}")
    assert "#1" in ack.text
    answer = await chat.say("zhang", "gongzuo", "/assign 1 li 3")
    assert "截止 2026-12-04" in answer[0].text
    return chat


def seen(sent: list[Delivered]) -> list[tuple[str, str]]:
    """The chasers among what was sent (the monthly notice goes out meanwhile), as (chat, text)."""
    return sorted((message.chat, message.text) for message in sent if message.outgoing.purpose == "chase")


async def test_each_step_of_the_ladder_says_what_is_due_to_whom_once(assigned: ChatDriver) -> None:
    chat = assigned
    assert seen(await chat.advance(at(3) - timedelta(minutes=1))) == []
    assert seen(await chat.advance(at(3))) == [("dm:li", BEFORE)]
    assert seen(await chat.advance(at(4) - timedelta(minutes=1))) == []
    assert seen(await chat.advance(at(4))) == [("dm:li", DUE_ASSIGNEE), ("gongzuo", DUE_STAFF)]
    # The weekend and Monday pass in silence: two working days overdue is Tuesday.
    assert seen(await chat.advance(at(8) - timedelta(minutes=1))) == []
    assert seen(await chat.advance(at(8))) == [("dm:wang", TO_HEAD)]
    assert seen(await chat.advance(at(11) - timedelta(minutes=1))) == []
    assert seen(await chat.advance(at(11))) == [("dm:admin", TO_ADMINS), ("xianban", TO_ADMINS)]
    assert seen(await chat.advance(at(31))) == [], "each step once per deadline"


async def test_a_closed_item_is_not_chased(assigned: ChatDriver) -> None:
    await assigned.say("li", "dm:li", "/close 1 已联系物业，路灯已修好")
    assert seen(await assigned.advance(at(20))) == []


async def test_an_extension_starts_the_ladder_over(assigned: ChatDriver) -> None:
    chat = assigned
    assert seen(await chat.advance(at(4))) == sorted([("dm:li", BEFORE), ("dm:li", DUE_ASSIGNEE), ("gongzuo", DUE_STAFF)])
    # Friday 12-04 at ten: three more working days from the deadline end on Wednesday 2026-12-09.
    await chat.advance(at(4, 10))
    answer = await chat.say("zhang", "gongzuo", "/extend 1 3 物业要等配件")
    said = {message.chat: message.text for message in answer}
    assert said["gongzuo"] == "已将事项 #1 的办理时限延长 3 个工作日，截止 2026-12-09（原 2026-12-04）。\n已私信通知 li。"
    assert said["dm:li"] == (
        f"濂溪社区联络站 的 zhang 把您承办的事项 #1「{ITEM}」的办理时限延长了 3 个工作日，"
        "新的截止日期是 2026-12-09（原 2026-12-04）。理由：物业要等配件"
    )
    assert seen(await chat.advance(at(8) - timedelta(minutes=1))) == [], "the old ladder stopped"
    assert seen(await chat.advance(at(8))) == [("dm:li", BEFORE.replace("2026-12-04", "2026-12-09"))]
    assert seen(await chat.advance(at(9))) == [
        ("dm:li", DUE_ASSIGNEE.replace("2026-12-04", "2026-12-09")),
        ("gongzuo", DUE_STAFF.replace("2026-12-04", "2026-12-09")),
    ]


async def test_a_one_day_deadline_gets_no_reminder_the_day_before(chat: ChatDriver) -> None:
    await set_up(chat)
    await chat.say("alice", "lianxi", f"#建议 {ITEM}")
    await chat.advance(at(3, 10))  # Thursday, after the reminder hour
    answer = await chat.say("zhang", "gongzuo", "/assign 1 li 1")
    assert "截止 2026-12-04" in answer[0].text
    assert seen(await chat.advance(at(4))) == [("dm:li", DUE_ASSIGNEE), ("gongzuo", DUE_STAFF)]


TWO_RUNS_SETUP = """\
admin@dm: /station add xian 濂溪县代表之家 家
admin@xianban: /bind xian staff
admin@dm: /station add lianxi 濂溪社区联络站 站 xian
admin@lianxi: /bind lianxi
admin@gongzuo: /bind lianxi staff
admin@gongzuo: /head set wang
admin@gongzuo: /liaison add zhang
admin@gongzuo: /deputy add li county
wang@dm: /start
li@dm: /start
alice@lianxi: #建议 小区东门的路灯坏了，晚上很黑
zhang@gongzuo: /assign 1 li 3
~ 2026-12-04 12:00
"""


def chasers(messages: list[dict]) -> list[tuple[str, str]]:
    return sorted((m["chat"], m["text"]) for m in messages if m["text"].startswith(("提醒：您承办", "催办：", "督办：")))


def test_each_step_once_across_a_restart(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch, tmp_path)
    first = run_script(capsys, tmp_path, TWO_RUNS_SETUP, db=db_url, clock="2026-12-01T09:00+08:00", name="one.txt")
    assert first.status == 0, first.errors
    assert chasers(first.messages) == sorted([("dm:li", BEFORE), ("dm:li", DUE_ASSIGNEE), ("gongzuo", DUE_STAFF)])
    # The bot restarts on the same database on Friday afternoon, and runs for three weeks.
    second = run_script(capsys, tmp_path, "~ 2026-12-31 12:00\n", db=db_url, clock="2026-12-04T12:00+08:00",
                        name="two.txt")
    assert second.status == 0, second.errors
    assert chasers(second.messages) == [("dm:admin", TO_ADMINS), ("dm:wang", TO_HEAD), ("xianban", TO_ADMINS)]


async def test_a_handling_units_contact_is_chased_with_the_supervising_deputy(chat: ChatDriver) -> None:
    await set_up(chat)
    await chat.say("admin", "gongzuo", "/unit add 街道城管科 sun")
    await chat.say("sun", "dm:sun", "/start")
    await chat.say("alice", "lianxi", "#投诉 菜市场门口占道经营，早上车根本过不去")
    await chat.say("zhang", "gongzuo", "/assign 1 街道城管科 3 督办 li")
    before = seen(await chat.advance(at(3)))
    assert before == [
        ("dm:li", "提醒：您督办的事项 #1「菜市场门口占道经营，早上车根本过不去」（承办：街道城管科）办理时限为 2026-12-04，"
                  "只剩 1 个工作日。请督促承办单位按时办结；单位办结后，您或联络员可发送 /close 1 <办理结果>。"),
        ("dm:sun", "提醒：您承办的事项 #1「菜市场门口占道经营，早上车根本过不去」办理时限为 2026-12-04，只剩 1 个工作日。"
                   "请抓紧办理，办结后发送 /close 1 <办理结果>；确需延期，请发送 /extend 1 <工作日天数> <理由> 申请。"),
    ]
    due = dict(seen(await chat.advance(at(4))))
    assert due["dm:li"] == ("催办：您督办的事项 #1「菜市场门口占道经营，早上车根本过不去」（承办：街道城管科）今天（2026-12-04）"
                            "到期，尚未办结。请督促承办单位今天办结；确需延期，请发送 /extend 1 <工作日天数> <理由> 申请。")
    assert due["gongzuo"] == ("催办：事项 #1「菜市场门口占道经营，早上车根本过不去」今天（2026-12-04）到期，尚未办结"
                              "（承办：街道城管科，督办代表 li）。已提醒承办人；需要延期请用 /extend 1 <工作日天数> <理由>。")
    assert set(due) == {"dm:li", "dm:sun", "gongzuo"}
