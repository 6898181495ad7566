"""The national holiday table (README, *Working days*): chinese-calendar for the years it ships
(up to 2026 in 1.11.0), the admins' entries for the rest; a deadline or a reception in a year
without a schedule says so once per reply, and the admins are reminded once per year.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.clock import ManualClock
from storage.models import CalendarOverride, Item, Outbox, Reception
from storage.workdays import PACKAGE_YEARS
from tests.harness import ChatDriver, rows, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTICE_2027 = "2027 年放假安排尚未录入，按周一至周五计算；管理员可用 /holiday add 录入。"
REMINDER_2027 = (
    "请录入 2027 年的放假安排：有事项的办理时限或接待日落在 2027 年，而机器人还没有这一年的放假安排，"
    "只能按周一至周五计算，不避开节假日。国务院办公厅公布后，请用 /holiday add <开始日期>..<结束日期> <名称> "
    "录入每个假期（例如 /holiday add 2027-10-01..2027-10-07 国庆节），用 /workday add <日期> <名称> "
    "录入调休上班日，再用 /holidays 2027 核对。"
)


def test_the_installed_calendar_does_not_know_2027() -> None:
    # If a newer chinese-calendar ships 2027, these tests must enter a later year instead.
    assert 2026 in PACKAGE_YEARS and 2027 not in PACKAGE_YEARS


async def answer(chat: ChatDriver, user: str, where: str, text: str) -> str:
    sent = await chat.say(user, where, text)
    return next(message.text for message in sent if message.chat == where)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/holiday add 2027-02-30 春节", "「2027-02-30」不是有效的日期。"),
        ("/holiday add 2-5 春节", "「2-5」不是完整的日期，应写明年份，例如 2027-02-05 或 2027年2月5日。"),
        ("/holiday add 9999-02-05 春节", "「9999-02-05」的年份应在 2000 到 2099 年之间。"),
        ("/holiday add 2027-02-12..2027-02-06 春节", "日期范围的结束日期 2027-02-06 早于开始日期 2027-02-12。"),
        ("/holiday add 2027-02-01..2027-03-01 春节",
         "2027-02-01 至 2027-03-01 共 29 天，超过了 15 天：法定假期没有这么长，请检查日期。"),
        ("/holiday add 2027-02-06..2027-02-12", "参数不对。"),
        ("/holiday add 2027-02-08..2027-02-10 春节", "与已录入的假期「春节 2027-02-06 至 2027-02-12（7 天）」重叠，没有录入。"),
        ("/workday add 2027-02-07 春节调休", "与已录入的假期「春节 2027-02-06 至 2027-02-12（7 天）」重叠"),
        ("/workday add 2027-02-03 春节调休", "2027-02-03 是周三，本来就是工作日，无需录入调休上班日"),
        ("/holiday remove 2027-03-01", "2027-03-01 没有录入的假期。发送 /holidays 2027 查看已录入的日期。"),
        ("/holiday move 2027-02-06", "参数不对。"),
    ],
)
async def test_bad_entries_are_refused_clearly_and_change_nothing(
    chat: ChatDriver, app: App, command: str, expected: str
) -> None:
    await chat.say("admin", "dm:admin", "/holiday add 2027-02-06..2027-02-12 春节")
    before = await rows(app, CalendarOverride)
    assert len(before) == 1
    text = await answer(chat, "admin", "dm:admin", command)
    assert expected in text
    assert [(row.id, row.first_day, row.last_day) for row in await rows(app, CalendarOverride)] == [
        (row.id, row.first_day, row.last_day) for row in before]


async def test_only_admins_change_the_table(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, head="wang", liaisons=["zhang"])
    text = await answer(chat, "zhang", "dm:zhang", "/holiday add 2027-02-06..2027-02-12 春节")
    assert text == "抱歉，您没有权限使用 /holiday。发送 /help 查看您可用的命令。"
    assert await rows(app, CalendarOverride) == []


async def test_holidays_lists_the_package_year_and_the_entered_one(chat: ChatDriver) -> None:
    await chat.say("admin", "dm:admin", "/holiday add 2027-01-01..2027-01-03 元旦")
    await chat.say("admin", "dm:admin", "/holiday add 2027年2月6日..2027年2月12日 春节")
    await chat.say("admin", "dm:admin", "/workday add 2027-02-20 春节调休")
    text = await answer(chat, "admin", "dm:admin", "/holidays 2027")
    assert text == (
        "2027 年放假安排（管理员录入）：\n"
        "· 元旦 2027-01-01 至 2027-01-03（3 天）\n"
        "· 春节 2027-02-06 至 2027-02-12（7 天）\n"
        "调休上班：\n"
        "· 2027-02-20（周六） 春节调休"
    )
    text = await answer(chat, "admin", "dm:admin", "/holidays 2026")
    assert text.startswith("2026 年放假安排（内置日历，管理员录入的优先）：\n· 元旦 2026-01-01 至 2026-01-03（3 天）\n"
                           "· 春节 2026-02-15 至 2026-02-23（9 天）\n")
    assert "· 国庆节 2026-10-01 至 2026-10-07（7 天）\n调休上班：\n· 2026-01-04（周日）\n· 2026-02-14（周六）" in text
    assert await answer(chat, "admin", "dm:admin", "/holidays 2028") == (
        "2028 年放假安排尚未录入，按周一至周五计算；管理员可用 /holiday add 录入。")
    removed = await answer(chat, "admin", "dm:admin", "/workday remove 2027-02-20")
    assert removed == "已删除调休上班日：春节调休 2027-02-20（周六）。"


async def assign_ten_days(chat: ChatDriver, number: int) -> str:
    await chat.say("alice", "lianxi", f"#建议 第{number}件：垃圾站太臭")
    return await answer(chat, "zhang", "gongzuo", f"/assign {number} li 10")


async def test_a_2027_deadline_across_an_entered_spring_festival(chat: ChatDriver, app: App,
                                                                 clock: ManualClock) -> None:
    await set_up_station(chat, liaisons=["zhang"], deputies=["li"], introduce=["li", "admin"])
    clock.set(datetime(2027, 1, 28, 9, 30, tzinfo=SHANGHAI))  # a Thursday
    # Nothing entered: Monday–Friday straight through, said in the reply, the admins told once.
    text = await assign_ten_days(chat, 1)
    assert text == f"已将事项 #1 分派给 li，办理时限 10 个工作日，截止 2027-02-11。\n{NOTICE_2027}\n已私信通知 li。"
    text = await assign_ten_days(chat, 2)
    assert NOTICE_2027 in text, "each reply says so"
    reminders = [row for row in await rows(app, Outbox) if row.key.startswith("holidays-missing:2027")]
    assert [row.text for row in reminders] == [REMINDER_2027], "the admins are reminded once"
    # The admin enters the Spring Festival (Saturday 6 to Friday 12 February): 29 Jan, 1–5 Feb, 15–18 Feb.
    entered = await answer(chat, "admin", "dm:admin", "/holiday add 2027-02-06..2027-02-12 春节")
    assert entered.startswith("已录入假期：春节 2027-02-06 至 2027-02-12（7 天）。\n2027 年从现在起按录入的放假安排计算工作日；")
    text = await assign_ten_days(chat, 3)
    assert text == "已将事项 #3 分派给 li，办理时限 10 个工作日，截止 2027-02-18。\n已私信通知 li。"
    due = {item.number: item.due_at for item in await rows(app, Item)}
    assert due[3] == datetime(2027, 2, 18, 23, 59, 59, tzinfo=SHANGHAI)
    assert due[1] == datetime(2027, 2, 11, 23, 59, 59, tzinfo=SHANGHAI), "a deadline once given stays"


async def test_a_monthly_reception_on_new_years_day_of_an_unknown_year(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, liaisons=["zhang"], deputies=["li"])
    text = await answer(chat, "zhang", "gongzuo", "/reception every 每月1日 9:00-11:30 社区服务中心")
    assert text == (
        "已设置重复接待日 R1：每月1日 9:00-11:30，地点：社区服务中心。法定节假日顺延到下一个工作日"
        "（2027 年的放假安排录入后才生效，届时尚未通知任何人的接待日会自动调整）。\n接下来：\n"
        "#1 1月1日（周五） 09:00–11:30，地点：社区服务中心\n"
        f"{NOTICE_2027}\n用 /duty auto 为接下来的接待日自动排班。"
    )
    sent = await chat.say("admin", "dm:admin", "/holiday add 2027-01-01..2027-01-03 元旦")
    moved = "接待日 #1 按新的放假安排改到 1月4日（周一）（原 1月1日（周五）），还没有通知过任何人。"
    assert [(m.chat, m.text) for m in sent if m.chat == "gongzuo"] == [("gongzuo", moved)]
    [reception] = await rows(app, Reception)
    assert (reception.local_date, reception.holiday_moved_from) == (date(2027, 1, 4), date(2027, 1, 1))
