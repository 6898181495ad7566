"""The .ics export: upcoming receptions with place, roster and a stable UID; the CLI sub-command writes a file."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from icalendar import Calendar, Event
from sqlmodel import select

from bot.app import App
from bot.calendar import calendar_for, run
from storage.models import Station
from tests.harness import ChatDriver, set_up_station
from tests.test_receptions import LIANXI


async def test_calendar_lists_upcoming_receptions_with_roster(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
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
    await set_up_station(chat, **LIANXI)
    out = tmp_path / "lianxi.ics"
    args = argparse.Namespace(station="lianxi", out=str(out), db=db_url)
    assert await _in_thread(run, args) == 0
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR")


async def _in_thread(function, *args):  # type: ignore[no-untyped-def]
    import asyncio

    return await asyncio.to_thread(function, *args)


async def test_a_move_keeps_the_uid_and_raises_the_sequence(chat: ChatDriver, app: App) -> None:
    """README: SEQUENCE follows moves, so deputies who import the file again get the update."""
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")

    async def the_event() -> Event:
        async with app.sessions() as session:
            station = (await session.exec(select(Station))).one()
            data = await calendar_for(session=session, station=station, now=app.clock.now(), language="zh_CN")
        [event] = Calendar.from_ical(data).walk("VEVENT")
        return event

    before = await the_event()
    await chat.say("zhang", "gongzuo", "/reception move 1 12-16 14:00-16:00")
    after = await the_event()
    assert str(after["uid"]) == str(before["uid"])
    assert (int(before["sequence"]), int(after["sequence"])) == (0, 1)
    assert after.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 16, 6, 0, tzinfo=UTC)
    await chat.say("zhang", "gongzuo", "/reception cancel 1")
    cancelled = await the_event()
    assert (str(cancelled["status"]), int(cancelled["sequence"])) == ("CANCELLED", 2)
