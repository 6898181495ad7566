"""Numbers and years as people type them, read one way by every command and button.

Hostile or mistyped input must come back as a polite "expected …" answer, never as a crash deep
in the database or the calendar: `²` and `٣` pass `str.isdigit()` but are not numbers here; a
number of thousands of digits is refused before `int()` (Python refuses over 4,300 digits); ids
stay within what every database's integer column holds (PostgreSQL's is 32 bits); and years stay
within the span a station's calendar can mean (no year 0000 or 9999, whose neighbours do not exist).
"""

from __future__ import annotations

import re

FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
MAX_ID = 999_999_999  # item numbers, reception and rule ids, person ids: fits a 32-bit column
MIN_YEAR = 2000
MAX_YEAR = 2099
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def to_int(token: str, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """The integer `token` spells in ASCII or fullwidth digits, if it lies in [low, high]; else None.

    Signs, spaces inside, superscripts and other scripts' digits make it no number. The length is
    checked before converting, so an endless run of digits costs nothing."""
    text = token.strip().translate(FULLWIDTH_DIGITS)
    if not ASCII_DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(high)):
        return None
    value = int(significant)
    return value if low <= value <= high else None


def to_id(token: str) -> int | None:
    """A database id or a number as written after `#` (`12`, `#12`, `＃１２`), else None."""
    return to_int(token.strip().lstrip("#＃"))


def year_in_range(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


MAX_WORKDAYS = 365
WORKDAYS_RE = re.compile(r"^(.+?)(?:d|天|日|个工作日|工作日)?$")


def to_workdays(token: str) -> int | None:
    """A number of working days as typed (`10`, `10天`, `10个工作日`, `１０`), 1–365; else None."""
    match = WORKDAYS_RE.match(token.strip())
    return to_int(match.group(1), high=MAX_WORKDAYS) if match else None
