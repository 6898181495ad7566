"""The periods reports cover: a month, a quarter, a year, a span of days or months, or all time.

Reports are about the past, so a month or quarter named without its year is the latest one that
has begun (`12月` in January 2027 is December 2026). A period is a range of local dates; the
station's zone turns it into instants (`bounds`), so "November" means November in that station.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.args import MAX_YEAR, MIN_YEAR, year_in_range
from handlers.i18n import Translator, _
from handlers.reception_parse import ParseError, normalize, parse_date, parse_month

YEAR = re.compile(r"^(\d{4})年?(?:度)?$")
QUARTER_ISO = re.compile(r"^(?:(\d{4})\s*[-/]?\s*)?[qQ]([1-4])$")
QUARTER_CJK = re.compile(r"^(?:(\d{4})年)?第?([一二三四1-4])季度?$")
QUARTER_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
SPAN = re.compile(r"^(.+?)(?:\.\.|…|～|~|至|到)(.+)$")
ALL = ("all", "全部", "累计")
THIS_MONTH = ("本月", "this-month")
LAST_MONTH = ("上月", "上个月", "last-month")
THIS_YEAR = ("今年", "本年", "this-year")
LAST_YEAR = ("去年", "上年", "last-year")
EARLIEST = date(2000, 1, 1)  # "all time" starts before any station existed …
LATEST = date(3000, 1, 1)  # … and never ends (a clock set ahead still finds its items)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class Period:
    """Local dates [start, end); `kind` is month, quarter, year, span or all."""

    start: date
    end: date
    kind: str

    @property
    def key(self) -> str:
        """A stable name, for outbox keys and file names: 2026-11, 2026Q4, 2026, 2026-10-01..2026-11-30, all."""
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        if self.kind == "all":
            return "all"
        return f"{self.start.isoformat()}..{(self.end - timedelta(days=1)).isoformat()}"

    def label(self, tr: Translator) -> str:
        if self.kind == "month":
            return tr(_("{year}年{month}月"), year=self.start.year, month=self.start.month)
        if self.kind == "quarter":
            return tr(_("{year}年第{quarter}季度"), year=self.start.year, quarter=(self.start.month - 1) // 3 + 1)
        if self.kind == "year":
            return tr(_("{year}年"), year=self.start.year)
        if self.kind == "all":
            return tr(_("全部"))
        last = self.end - timedelta(days=1)
        return tr(_("{start} 至 {end}"), start=self.start.isoformat(), end=last.isoformat())

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as aware instants [since, until) in the station's zone."""
        return (datetime.combine(self.start, time.min, tzinfo=zone), datetime.combine(self.end, time.min, tzinfo=zone))

    def months(self) -> list[date]:
        """The first day of every month the period touches, in order."""
        months, cursor = [], month_start(self.start)
        while cursor < self.end:
            months.append(cursor)
            cursor = next_month(cursor)
        return months

    @classmethod
    def all(cls) -> Period:
        return cls(EARLIEST, LATEST, "all")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        first = date(year, month, 1)
        return cls(first, next_month(first), "month")

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = date(year, 3 * quarter - 2, 1)
        return cls(first, date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1), "quarter")

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year + 1, 1, 1), "year")


def _latest_begun(year: int | None, first_month: int, today: date) -> int:
    """The year of a month or quarter named without one: this year's unless it has not begun yet."""
    if year is not None:
        return year
    return today.year if date(today.year, first_month, 1) <= today else today.year - 1


def _single(token: str, today: date) -> Period | None:
    """One period token, or None when it is not a period at all (then it may be another argument)."""
    text = normalize(token)
    folded = text.lower()
    if folded in ALL:
        return Period.all()
    if folded in THIS_MONTH:
        return Period.month(today.year, today.month)
    if folded in LAST_MONTH:
        last = previous_month(today)
        return Period.month(last.year, last.month)
    if folded in THIS_YEAR:
        return Period.year(today.year)
    if folded in LAST_YEAR:
        return Period.year(today.year - 1)
    if match := YEAR.match(text):
        return Period.year(_known_year(int(match.group(1)), token))
    if (match := QUARTER_ISO.match(text)) or (match := QUARTER_CJK.match(text)):
        quarter = QUARTER_NUMBERS[match.group(2)]
        named = _known_year(int(match.group(1)), token) if match.group(1) else None
        return Period.quarter(_latest_begun(named, 3 * quarter - 2, today), quarter)
    month = parse_month(text, today)
    if month is not None:
        explicit = re.match(r"^\d{4}", text) is not None
        return Period.month(_latest_begun(month[0] if explicit else None, month[1], today), month[1])
    return None


def _known_year(year: int, token: str) -> int:
    """A year the bot knows (2000–2099), checked before any date is built from it (9999 + 1 is no year)."""
    if not year_in_range(year):
        raise ParseError(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token, low=MIN_YEAR, high=MAX_YEAR)
    return year


def _endpoint(token: str, today: date) -> Period | None:
    """One end of a span: a period (its first or last day counts) or a single day."""
    found = _single(token, today)
    if found is not None:
        return found
    day = parse_date(token, today) if re.match(r"^\d{4}", normalize(token)) else None
    return Period(day, day + timedelta(days=1), "day") if day is not None else None


def parse_period(token: str, today: date) -> Period | None:
    """`2026-11` `11月` `2026Q4` `四季度` `2026` `2026-10..2026-12` `2026-10-08..2026-11-15` `all`;
    None when the token is not a period. Raises ParseError for one that is malformed or outside
    the years the bot knows (2000–2099)."""
    found = _parse(token, today)
    if found is not None and found.kind != "all" and not (
        year_in_range(found.start.year) and year_in_range((found.end - timedelta(days=1)).year)
    ):
        raise ParseError(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token, low=MIN_YEAR, high=MAX_YEAR)
    return found


def _parse(token: str, today: date) -> Period | None:
    text = normalize(token)
    if match := SPAN.match(text):
        first, last = _endpoint(match.group(1), today), _endpoint(match.group(2), today)
        if first is None or last is None:
            raise ParseError(_("「{value}」不是有效的起止时间，例如 2026-10..2026-12 或 2026-10-08..2026-11-15。"),
                             value=token)
        if last.end <= first.start:
            raise ParseError(_("「{value}」的结束早于开始。"), value=token)
        return Period(first.start, last.end, "span")
    return _single(text, today)


PERIOD_HINT = _("时间可以是月份（2026-11、11月）、季度（2026Q4、四季度）、年份（2026）、起止（2026-10..2026-12）或 all。")
