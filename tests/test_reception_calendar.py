"""The .ics export: upcoming receptions with place, roster and a stable UID; the CLI sub-command writes a file."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from icalendar import Calendar
from sqlmodel import select

from bot.app import App
from bot.calendar import calendar_for, run
from storage.models import Station
from tests.harness import ChatDriver
from tests.test_receptions import set_up


async def test_calendar_lists_upcoming_receptions_with_roster(chat: ChatDriver, app: App) -> None:
    await set_up(chat)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 濂溪社区服务中心 加装电梯")
    await chat.say("zhang", "gongzuo", "/reception add 12-22 14:00-16:00 活动室")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.say("zhang", "gongzuo", "/reception cancel 2")
    async with app.sessions() as session:
        station = (await session.exec(select(Station))).one()
        data = await calendar_for(session=session, station=station, now=app.clock.now(), language="zh_CN")
    calendar = Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 2
    first, second = events
    assert first.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    assert str(first["dtstart"].params.get("TZID")) == "Asia/Shanghai"
    assert str(first["location"]) == "濂溪社区服务中心"
    assert "li、zhao" in str(first["description"]) and "加装电梯" in str(first["description"])
    assert str(first["status"]) == "CONFIRMED" and str(second["status"]) == "CANCELLED"
    assert str(first["uid"]).startswith("reception-1-")
    assert list(calendar.walk("VTIMEZONE")), "the zone is embedded for calendars that need it"


async def test_calendar_cli_writes_a_file(chat: ChatDriver, app: App, db_url: str, tmp_path: Path) -> None:
    await set_up(chat)
    out = tmp_path / "lianxi.ics"
    args = argparse.Namespace(station="lianxi", out=str(out), db=db_url)
    assert await _in_thread(run, args) == 0
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR")


async def _in_thread(function, *args):  # type: ignore[no-untyped-def]
    import asyncio

    return await asyncio.to_thread(function, *args)
