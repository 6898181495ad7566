"""Deadlines (办理时限) are counted in Chinese working days, in the station's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlmodel import select

from bot.app import App
from handlers.clock import ManualClock
from storage.models import Item
from storage.workdays import WorkCalendar
from tests.harness import ChatDriver, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 29, 9, 0, tzinfo=SHANGHAI)  # Tuesday before the 2026 National Day holiday
PACKAGE_ONLY = WorkCalendar({year: [] for year in range(2024, 2033)})  # nothing entered by the admins


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def the_item(app: App) -> Item:
    async with app.sessions() as session:
        return (await session.exec(select(Item))).one()


def test_calendar_has_the_years_used_here() -> None:
    # If the package loses 2026 data these tests would silently test the Monday–Friday fallback.
    assert chinese_calendar.is_holiday(date(2026, 10, 1)) and chinese_calendar.is_holiday(date(2026, 2, 17))
    assert chinese_calendar.is_workday(date(2026, 10, 10)), "Saturday 10 Oct 2026 is a make-up workday"


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 9, 29), 1, date(2026, 9, 30)),
        (date(2026, 9, 29), 2, date(2026, 10, 8)),  # 1–7 Oct is the National Day holiday
        (date(2026, 9, 29), 4, date(2026, 10, 10)),  # Saturday 10 Oct is a make-up workday (调休)
        (date(2026, 9, 29), 5, date(2026, 10, 12)),
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # Saturday 14 Feb: make-up workday before Spring Festival
        (date(2026, 2, 13), 2, date(2026, 2, 24)),  # 15–23 Feb is the Spring Festival holiday
        (date(2026, 12, 4), 1, date(2026, 12, 7)),  # an ordinary weekend
    ],
)
def test_add_workdays_across_holidays(start: date, days: int, due: date) -> None:
    assert PACKAGE_ONLY.add_workdays(start, days) == due


def test_years_without_calendar_data_fall_back_to_weekdays() -> None:
    assert PACKAGE_ONLY.is_workday(date(2031, 3, 7)) and not PACKAGE_ONLY.is_workday(date(2031, 3, 8))
    assert PACKAGE_ONLY.add_workdays(date(2031, 3, 7), 1) == date(2031, 3, 10)
    assert not PACKAGE_ONLY.known(2031) and PACKAGE_ONLY.known(2026)


async def test_assign_counts_working_days_over_national_day(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, staff=None, deputies=["li"])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    sent = await chat.say("admin", "lianxi", "/assign 1 li 5")
    reply = next(message for message in sent if message.chat == "lianxi")
    assert "2026-10-12" in reply.text and "5 个工作日" in reply.text
    item = await the_item(app)
    assert item.due_at == datetime(2026, 10, 12, 23, 59, 59, tzinfo=SHANGHAI)
    dm = next(message for message in sent if message.chat == "dm:li")
    assert "2026-10-12" in dm.text


async def test_default_deadline_is_said_in_the_reply(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, staff=None, deputies=["li"])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    sent = await chat.say("admin", "lianxi", "/assign 1 li")
    reply = next(message for message in sent if message.chat == "lianxi")
    assert "默认 15 个工作日" in reply.text
    # 15 working days from 29 Sep: 30 Sep, 8–10 Oct, 12–16 Oct, 19–23 Oct, 26 Oct → 26 Oct
    assert "2026-10-26" in reply.text
    assert (await the_item(app)).due_at == datetime(2026, 10, 26, 23, 59, 59, tzinfo=SHANGHAI)


async def test_deadline_uses_the_station_time_zone(chat: ChatDriver, app: App, clock: ManualClock) -> None:
    await set_up_station(chat, staff=None, deputies=["li"])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("admin", "dm:admin", "/station set lianxi timezone UTC")
    clock.set(datetime(2026, 9, 30, 7, 0, tzinfo=SHANGHAI))  # already 30 Sep in Shanghai, still 29 Sep in UTC
    await chat.say("admin", "lianxi", "/assign 1 li 1")
    item = await the_item(app)
    assert item.due_at == datetime(2026, 9, 30, 23, 59, 59, tzinfo=ZoneInfo("UTC"))


async def test_overdue_only_after_the_end_of_the_due_day(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, staff=None, deputies=["li"])
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("admin", "lianxi", "/assign 1 li 1")
    await chat.advance(datetime(2026, 9, 30, 23, 0, tzinfo=SHANGHAI))
    [listing] = await chat.say("admin", "dm:admin", "/items overdue")
    assert "#1" not in listing.text
    await chat.advance(datetime(2026, 10, 1, 0, 1, tzinfo=SHANGHAI))
    [listing] = await chat.say("admin", "dm:admin", "/items overdue")
    assert "#1" in listing.text and "已超期" in listing.text
