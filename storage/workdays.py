"""China's working-day calendar (statutory holidays and 调休 make-up workdays).

One place for it: item deadlines and chasers count working days, reception rules move off
holidays. The State Council publishes each year's schedule in November–December; chinese_calendar
ships the years it knew when it was released (`PACKAGE_YEARS`), and the admins enter the rest (or
a correction) into `calendar_override`, which wins over the package. A year neither knows counts
Monday–Friday with no holidays, and callers say so (`WorkCalendar.unknown_years`).

The entered days are read once per year per database session (`session.info`): one small indexed
query, however many items a tick looks at; a change drops the session's copy (`forget`), and
every other session reads afresh, so several processes never disagree for long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CalendarOverride, DayKind
from storage.rows import id_of

PACKAGE_YEARS: frozenset[int] = frozenset(day.year for day in constants.holidays)
_CACHE_KEY = "workdays.overrides"
# The longest span of working days a deadline may cover (MAX_WORKDAYS and some): the
# years a calendar loads beyond its first.
YEARS_AHEAD = 2


@dataclass(frozen=True)
class Entry:
    """One entered span, as cached: plain values, detached from any session."""

    id: int
    first_day: date
    last_day: date
    kind: str
    name: str


@lru_cache(maxsize=8192)
def _package_day(day: date) -> tuple[bool, str | None]:
    """(working day, name of the statutory holiday or None) by the package alone; a year it does
    not know is Monday–Friday without holidays."""
    if day.year not in PACKAGE_YEARS:
        return day.weekday() < 5, None
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return day.weekday() < 5, None
    workday = not holiday
    return workday, (str(name) if holiday and name else None)


class WorkCalendar:
    """The working days of some years: the package's schedule with the entered days over it."""

    def __init__(self, overrides: dict[int, list[Entry]]) -> None:
        self._years = overrides
        self._days: dict[date, Entry] = {}
        for entries in overrides.values():
            for entry in entries:
                day = entry.first_day
                while day <= entry.last_day:
                    self._days[day] = entry
                    day += timedelta(days=1)

    def _check(self, day: date) -> None:
        if day.year not in self._years:
            raise LookupError(f"{day.year} is not loaded in this calendar")

    def known(self, year: int) -> bool:
        """Whether the year's official schedule is there: in the package, or a holiday was entered."""
        if year in PACKAGE_YEARS:
            return True
        return any(entry.kind == DayKind.HOLIDAY for entry in self._years.get(year, ()))

    def unknown_years(self, first: date, last: date) -> list[int]:
        return [year for year in range(first.year, last.year + 1) if not self.known(year)]

    def entered(self, day: date) -> Entry | None:
        self._check(day)
        return self._days.get(day)

    def is_workday(self, day: date) -> bool:
        """Monday–Friday unless a holiday, plus make-up Saturdays and Sundays."""
        entry = self.entered(day)
        if entry is not None:
            return entry.kind == DayKind.WORKDAY
        return _package_day(day)[0]

    def holiday_name(self, day: date) -> str | None:
        """The statutory holiday the day belongs to (not a plain weekend), or None."""
        entry = self.entered(day)
        if entry is not None:
            return entry.name if entry.kind == DayKind.HOLIDAY else None
        return _package_day(day)[1]

    def public_holiday(self, day: date) -> bool:
        return self.holiday_name(day) is not None

    def add_workdays(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (the start day itself does not count)."""
        day, counted = start, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return day

    def workday_on_or_after(self, day: date) -> date:
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def workday_before(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_workday(day):
            day -= timedelta(days=1)
        return day


def _cache(session: AsyncSession) -> dict[int, list[Entry]]:
    cache: dict[int, list[Entry]] = session.info.setdefault(_CACHE_KEY, {})
    return cache


async def calendar(*, session: AsyncSession, first: date, last: date | None = None) -> WorkCalendar:
    """The calendar of the years from `first` to `last` (default: `YEARS_AHEAD` years on), with
    a year on each side so counting may step over a year's end."""
    last_year = (last.year if last is not None else first.year + YEARS_AHEAD) + 1
    years = range(first.year - 1, last_year + 1)
    cache = _cache(session)
    missing = [year for year in years if year not in cache]
    if missing:
        start, end = date(min(missing), 1, 1), date(max(missing), 12, 31)
        rows = (await session.exec(
            select(CalendarOverride).where(col(CalendarOverride.first_day) <= end, col(CalendarOverride.last_day) >= start)
        )).all()
        for year in missing:
            cache[year] = [
                Entry(id=id_of(row), first_day=row.first_day, last_day=row.last_day, kind=row.kind, name=row.name)
                for row in rows if row.first_day.year <= year <= row.last_day.year
            ]
    return WorkCalendar({year: cache[year] for year in years})


def forget(session: AsyncSession) -> None:
    """Drop the session's copy of the entered days (after a change)."""
    session.info.pop(_CACHE_KEY, None)


async def entries(*, session: AsyncSession, first: date, last: date) -> list[CalendarOverride]:
    """The entered spans that touch [first, last], in date order."""
    return list((await session.exec(
        select(CalendarOverride)
        .where(col(CalendarOverride.first_day) <= last, col(CalendarOverride.last_day) >= first)
        .order_by(col(CalendarOverride.first_day))
    )).all())


async def add_entry(
    *, session: AsyncSession, first: date, last: date, kind: DayKind, name: str, person_id: int | None, now: datetime
) -> CalendarOverride:
    """Enter a span; the caller has checked that it overlaps no other."""
    row = CalendarOverride(first_day=first, last_day=last, kind=kind, name=name, created_by=person_id, created_at=now)
    session.add(row)
    await session.flush()
    forget(session)
    return row


async def remove_entries(*, session: AsyncSession, ids: Iterable[int]) -> None:
    await session.exec(delete(CalendarOverride).where(col(CalendarOverride.id).in_(list(ids))))  # type: ignore[call-overload]
    forget(session)


def package_holidays(year: int) -> list[tuple[date, date, str]]:
    """The package's statutory holidays of a year as (first, last, name) spans."""
    spans: list[tuple[date, date, str]] = []
    if year not in PACKAGE_YEARS:
        return spans
    day = date(year, 1, 1)
    while day.year == year:
        name = _package_day(day)[1]
        if name is not None:
            if spans and spans[-1][2] == name and spans[-1][1] == day - timedelta(days=1):
                spans[-1] = (spans[-1][0], day, name)
            else:
                spans.append((day, day, name))
        day += timedelta(days=1)
    return spans


def package_workdays(year: int) -> list[date]:
    """The package's make-up working days (调休) of a year: weekend days that are working days."""
    if year not in PACKAGE_YEARS:
        return []
    return sorted(day for day in constants.workdays if day.year == year)
