"""`liaison-bot calendar <station-code> [--out FILE]`: upcoming receptions as iCalendar (.ics).

Deputies import the file into their phone's calendar. Each reception keeps one UID, and its
SEQUENCE follows the reception's revision, so re-importing after a move updates the event;
a cancelled reception stays in the file as STATUS:CANCELLED so calendars drop it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.subcommand import CliError, SubCommand, settings_for
from handlers import reception_notify as notify
from handlers.clock import SystemClock
from handlers.i18n import _, translator
from storage import receptions as repo
from storage import stations as stations_repo
from storage.db import create_engine, session_factory
from storage.models import Reception, ReceptionStatus, Station
from storage.rows import id_of


async def calendar_for(*, session: AsyncSession, station: Station, now: datetime, language: str) -> bytes:
    """The .ics bytes of the station's receptions that have not ended (cancelled ones marked so)."""
    tr = translator(station.language or language)
    result = await session.exec(
        select(Reception)
        .where(Reception.station_id == station.id, col(Reception.ends_at) > now)
        .order_by(col(Reception.starts_at), col(Reception.id))
    )
    receptions = list(result.all())
    grouped = await repo.duties_for(session=session, reception_ids=[id_of(r) for r in receptions])
    calendar = Calendar()
    calendar.add("prodid", "-//liaison-bot//receptions//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", tr(_("{station} 代表接待日"), station=station.name))
    calendar.add("x-wr-timezone", station.timezone)
    for reception in receptions:
        zone = ZoneInfo(reception.timezone)
        duties = notify.active_duties(grouped.get(id_of(reception), []))
        names = await notify.names_of(session, [duty.person_id for duty in duties])
        roster = "、".join(names.get(duty.person_id, "") for duty in duties) or tr(_("尚未排班"))
        description = [tr(_("值班代表：{roster}"), roster=roster)]
        if reception.topic:
            description.append(tr(_("主题：{topic}。"), topic=reception.topic))
        event = Event()
        event.add("uid", f"reception-{reception.id}-station-{station.code}@liaison-bot")
        event.add("dtstamp", now)
        event.add("dtstart", reception.starts_at.astimezone(zone))
        event.add("dtend", reception.ends_at.astimezone(zone))
        event.add("summary", tr(_("代表接待日（#{id}）：{station}"), id=reception.id, station=station.name))
        event.add("location", notify.fmt_place(tr, reception))
        event.add("description", "\n".join(description))
        cancelled = reception.status == ReceptionStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("sequence", reception.revision + (1 if cancelled else 0))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


async def export_calendar(*, database_url: str, station_code: str, now: datetime, language: str) -> bytes:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            station = await stations_repo.get_station_by_code(session=session, code=station_code)
            if station is None:
                raise LookupError(f"no station with code {station_code!r}")
            return await calendar_for(session=session, station=station, now=now, language=language)
    finally:
        await engine.dispose()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("station", metavar="STATION-CODE", help="the station whose receptions to write")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")


def run(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    try:
        data = asyncio.run(export_calendar(database_url=settings.database_url, station_code=args.station,
                                           now=SystemClock().now(), language=settings.language))
    except LookupError as missing:
        raise CliError(str(missing.args[0])) from None
    if args.out:
        try:
            with open(args.out, "wb") as handle:
                handle.write(data)
        except OSError as problem:
            raise CliError(f"cannot write {args.out}: {problem.strerror}") from None
        print(f"wrote {data.count(b'BEGIN:VEVENT')} receptions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


SUBCOMMAND = SubCommand(
    "calendar", "write upcoming receptions with their rosters as an iCalendar (.ics) file", configure, run
)
