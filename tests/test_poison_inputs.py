"""Hostile arguments get the usual localized answer and change nothing: huge numbers, numbers of
thousands of digits, Unicode digits, impossible years, over-long time zones, forged button data
(`handlers/args.py` reads numbers and years one way for every command)."""

from __future__ import annotations

import pytest

from bot.app import App
from handlers.args import MAX_ID, to_id, to_int
from storage.models import SetAsideEvent
from tests.harness import ChatDriver, rows, set_up_station

HUGE = "9223372036854775808"  # 2**63: past SQLite's INTEGER
ENDLESS = "9" * 5000  # past Python's 4,300-digit limit for int()


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("12", 12), ("#12", 12), ("＃１２", 12), ("007", 7), (str(MAX_ID), MAX_ID),
        ("0", None), ("-3", None), ("+3", None), ("1 2", None), ("", None), ("²", None), ("٣", None),
        ("1²", None), (HUGE, None), (ENDLESS, None), (str(MAX_ID + 1), None), ("0" * 5000 + "1", 1),
    ],
)
def test_ids_are_ascii_or_fullwidth_digits_within_a_32_bit_column(token: str, expected: int | None) -> None:
    assert to_id(token) == expected


def test_ranges_are_inclusive() -> None:
    assert [to_int(str(n), low=1, high=28) for n in (0, 1, 28, 29)] == [None, 1, 28, None]


ANSWERS = [
    (f"/item {HUGE}", f"「{HUGE}」不是事项编号，编号应为正整数，例如 12。"),
    ("/item ²", "「²」不是事项编号，编号应为正整数，例如 12。"),
    (f"/close {HUGE} 已处理", f"「{HUGE}」不是事项编号，编号应为正整数，例如 12。"),
    ("/assign 1 li ²", "办理时限应为 1 到 365 之间的工作日天数，而不是「²」。"),
    ("/reception add 0000-12-15 09:00-11:30 中心", "「0000-12-15」的年份应在 2000 到 2099 年之间。"),
    ("/reception add 9999-12-31 09:00-11:30 中心", "「9999-12-31」的年份应在 2000 到 2099 年之间。"),
    ("/reception add ２０２６-１２-１５ 09:00-11:30 中心", None),  # fullwidth digits are digits
    ("/stats 9999", "「9999」的年份应在 2000 到 2099 年之间。"),
    ("/stats 0000-12", "「0000-12」的年份应在 2000 到 2099 年之间。"),
    ("/attendance 9999-12", "「9999-12」的年份应在 2000 到 2099 年之间。"),
    ("/receptions ²", "参数不对。用法：/receptions [数量]"),
    (f"/reception stop R{HUGE}", f"本站没有编号为 R{HUGE} 的重复接待日。发送 /reception rules 查看。"),
    ("/reception every monthly ² 09:00-11:30", None),
    ("/reception set report ²", "出勤通报日应为 1 到 28 之间的日期，或 off。"),
    ("/duty auto ²", "月数应为 1 到 12 之间的数字。"),
    ("/station set lianxi timezone " + "a" * 300,
     "「" + "a" * 300 + "」不是时区名称，例如 Asia/Shanghai。"),
]


@pytest.mark.parametrize(("command", "answer"), ANSWERS, ids=[c[:40] for c, _ in ANSWERS])
async def test_hostile_arguments_are_answered_not_crashed_on(
    app: App, chat: ChatDriver, command: str, answer: str | None
) -> None:
    await set_up_station(chat, deputies=["li county"], introduce=[])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    replies = await chat.say("admin", "gongzuo", command)
    assert len(replies) == 1
    if answer is not None:  # what was wrong, on the first line (the usage follows where there is one)
        assert replies[0].text.split("\n")[0] == answer
    assert await rows(app, SetAsideEvent) == []


async def test_endless_numbers_are_refused_before_they_are_read(app: App, chat: ChatDriver) -> None:
    await set_up_station(chat, deputies=["li county"], introduce=[])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    not_a_number = f"「{ENDLESS}」不是事项编号，编号应为正整数，例如 12。"
    for command, answer in (
        (f"/item {ENDLESS}", not_a_number), (f"/assign {ENDLESS} li", not_a_number),
        (f"/receptions {ENDLESS}", "参数不对。用法：/receptions [数量]"), (f"/duty auto {ENDLESS}", "月数应为 1 到 12 之间的数字。"),
    ):
        [reply] = await chat.say("admin", "gongzuo", command)
        assert reply.text.split("\n")[0] == answer, reply.text[:80]
    assert await rows(app, SetAsideEvent) == []


async def test_forged_button_data_is_an_expired_button(app: App, chat: ChatDriver) -> None:
    await set_up_station(chat, deputies=["li county"], introduce=[])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    [ack] = [d for d in chat.transport.sent if d.text.startswith("已受理")]
    for data in ("rcpt:²:1:confirm", f"rcpt:{HUGE}:1:confirm", f"rcpt:1:{ENDLESS}:leave", f"rate:{HUGE}:1:s",
                 "rate:²:1:s", f"rcpt:1:1:sub:{HUGE}"):
        await chat.press_data("alice", "lianxi", ack.id, data)
    assert [text for _chat, text in chat.transport.answers] == [
        "这个按钮已失效。", "这个按钮已失效。", "这个按钮已失效。", "这个按钮已失效。", "这个按钮已失效。",
        "这个接待日已开始或已取消，按钮已失效。",
    ]
    assert await rows(app, SetAsideEvent) == []
