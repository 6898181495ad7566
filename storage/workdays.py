"""China's working-day calendar (statutory holidays and 调休 make-up workdays), from chinese_calendar.

One place for it: item deadlines count working days, reception rules move off holidays.
Years the package has no data for fall back to Monday–Friday with no holidays.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """A working day: Monday–Friday unless a holiday, plus make-up Saturdays and Sundays."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the package has no data for that year
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def public_holiday(day: date) -> bool | None:
    """True on a statutory holiday (not a plain weekend); None when the calendar has no data for the year."""
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return bool(is_holiday and name is not None)


def add_workdays(start: date, days: int) -> date:
    """The `days`-th working day after `start` (the start day itself does not count)."""
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day
