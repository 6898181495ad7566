"""Parsing what liaisons type: dates, times, spans, months and recurrence rules (English and Chinese).

Pure functions; a `ParseError` carries a msgid and its values so the handler can answer in the
station's language and change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrulestr

from handlers.args import MAX_YEAR, MIN_YEAR, to_int, year_in_range
from handlers.i18n import _, fold_chinese


class ParseError(Exception):
    def __init__(self, msgid: str, **values: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.values = values


FULLWIDTH = str.maketrans("０１２３４５６７８９：－／", "0123456789:-/")

# ASCII digits only (fullwidth ones are translated first): `²` or `٣` are no digits of a date.
ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$", re.ASCII)
SHORT_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})$", re.ASCII)
CJK_DATE = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]?$", re.ASCII)
TIME = re.compile(r"^(\d{1,2}):(\d{2})$", re.ASCII)
SPAN_SPLIT = re.compile(r"\s*(?:-|–|—|~|～|至|到)\s*")
MONTH_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})$", re.ASCII)
MONTH_CJK = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(?:份)?$", re.ASCII)
RECEPTION_ID = re.compile(r"^[#＃]?(\d{1,9})$", re.ASCII)

_ANCHOR = datetime(2026, 1, 1)  # any fixed start, to check that a rule produces dates
RELATIVE_DAYS = {"today": 0, "今天": 0, "今日": 0, "tomorrow": 1, "明天": 1, "明日": 1, "后天": 2}


def normalize(token: str) -> str:
    return token.strip().translate(FULLWIDTH)


def parse_date(token: str, today: date) -> date | None:
    """2026-12-15, 12-15 (the next such day), 12月15日, 2026年12月15日, today/明天; None if not a date."""
    text = normalize(token).lower()
    if text in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[text])
    year: int | None
    if match := ISO_DATE.match(text):
        year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    elif (match := SHORT_DATE.match(text)) or (match := CJK_DATE.match(text)):
        groups = match.groups()
        if len(groups) == 3:
            year = int(groups[0]) if groups[0] else None
            month, day = int(groups[1]), int(groups[2])
        else:
            year, month, day = None, int(groups[0]), int(groups[1])
    else:
        return None
    check_year(year, token)
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(today.year, month, day)
        return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        raise ParseError(_("「{value}」不是有效的日期。"), value=token) from None


def looks_like_date(token: str) -> bool:
    text = normalize(token).lower()
    return bool(text in RELATIVE_DAYS or ISO_DATE.match(text) or SHORT_DATE.match(text) or CJK_DATE.match(text))


def parse_time(token: str) -> time | None:
    match = TIME.match(normalize(token))
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ParseError(_("「{value}」不是有效的时间，应为 9:00 或 09:00 这样的格式。"), value=token)
    return time(hour, minute)


def parse_span(token: str) -> tuple[time, time] | None:
    """`09:00-11:30` (also – ~ 至 到); None if the token is not a span at all."""
    parts = SPAN_SPLIT.split(normalize(token))
    if len(parts) != 2:
        return None
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start is None or end is None:
        return None
    if end <= start:
        raise ParseError(_("结束时间应晚于开始时间：{value}。"), value=token)
    return start, end


def parse_month(token: str, today: date) -> tuple[int, int] | None:
    text = normalize(token)
    if match := MONTH_ISO.match(text):
        year, month = int(match.group(1)), int(match.group(2))
    elif match := MONTH_CJK.match(text):
        year = int(match.group(1)) if match.group(1) else today.year
        month = int(match.group(2))
    else:
        return None
    if not 1 <= month <= 12:
        raise ParseError(_("「{value}」不是有效的月份。"), value=token)
    check_year(year, token)
    return year, month


def check_year(year: int | None, token: str) -> None:
    """Refuse a year no station's calendar can mean (0000, 9999: their neighbours do not exist)."""
    if year is not None and not year_in_range(year):
        raise ParseError(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token, low=MIN_YEAR, high=MAX_YEAR)


def parse_reception_id(token: str) -> int | None:
    match = RECEPTION_ID.match(normalize(token))
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------------------------------------
# Recurrence rules
# ------------------------------------------------------------------------------------------------

WEEKDAYS_EN = {
    "mon": "MO", "monday": "MO", "tue": "TU", "tues": "TU", "tuesday": "TU", "wed": "WE", "wednesday": "WE",
    "thu": "TH", "thur": "TH", "thurs": "TH", "thursday": "TH", "fri": "FR", "friday": "FR",
    "sat": "SA", "saturday": "SA", "sun": "SU", "sunday": "SU",
}
WEEKDAYS_ZH = {"一": "MO", "二": "TU", "三": "WE", "四": "TH", "五": "FR", "六": "SA", "日": "SU", "天": "SU",
               "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR", "6": "SA", "7": "SU"}
ORDINALS_EN = {
    "1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4,
    "5th": 5, "fifth": 5, "last": -1,
}
ORDINALS_ZH = {"一": 1, "1": 1, "二": 2, "2": 2, "三": 3, "3": 3, "四": 4, "4": 4, "五": 5, "5": 5}

ZH_MONTHLY_DAY = re.compile(r"^每月(?:的)?(\d{1,2})[日号]$", re.ASCII)
ZH_MONTHLY_LAST_DAY = re.compile(r"^每月(?:的)?最后一天$")
ZH_MONTHLY_NTH = re.compile(r"^每月(?:的)?(?:第([一二三四五1-5])个?|(最后一)个?)(?:周|星期|礼拜)([一二三四五六日天1-7])$")
ZH_WEEKLY = re.compile(r"^每(两|2)?(?:周|星期|礼拜)([一二三四五六日天1-7](?:[、,，][一二三四五六日天1-7])*)$")

RULE_HELP = _(
    "重复规则的写法：monthly 15、monthly 2nd tue、monthly last fri、weekly wed、weekly mon,thu、"
    "biweekly wed，或 每月15日、每月第二个周二、每月最后一个周五、每周三、每两周三；"
    "也可以直接写 RRULE，如 FREQ=MONTHLY;BYMONTHDAY=15。"
)


@dataclass(frozen=True)
class ParsedRule:
    rrule: str  # RFC 5545 RRULE body, without DTSTART
    text: str  # what the user wrote


def _monthly_day(day: int, source: str) -> str:
    if not 1 <= day <= 31:
        raise ParseError(_("每月的日期应在 1 到 31 之间，而不是「{value}」。"), value=source)
    return f"FREQ=MONTHLY;BYMONTHDAY={day}"


def _weekday_en(token: str) -> str:
    code = WEEKDAYS_EN.get(token.lower())
    if code is None:
        raise ParseError(_("不认识的星期「{value}」，应为 mon、tue、wed、thu、fri、sat、sun。"), value=token)
    return code


def parse_rule(words: list[str]) -> ParsedRule:
    """The words before the time span of `/reception every`, in English, Chinese or as a raw RRULE."""
    if not words:
        raise ParseError(RULE_HELP)
    words = [fold_chinese(word) for word in words]  # 每月第二個週二 reads as 每月第二个周二
    text = " ".join(words)
    head = words[0].lower()
    if head in ("monthly", "weekly", "biweekly"):
        rrule = _parse_english(head, [normalize(word) for word in words[1:]], text)
    elif head.startswith(("freq=", "rrule:")):
        rrule = text.split(":", 1)[1] if head.startswith("rrule:") else text
        rrule = rrule.replace(" ", "").upper()
    elif words[0].startswith("每"):
        rrule = _parse_chinese(normalize("".join(words)))
    else:
        raise ParseError(RULE_HELP)
    _validate(rrule, text)
    return ParsedRule(rrule=rrule, text=text)


def _parse_english(head: str, rest: list[str], text: str) -> str:
    if head == "monthly":
        if len(rest) == 1:
            if rest[0].lower() == "last":
                return "FREQ=MONTHLY;BYMONTHDAY=-1"
            day = to_int(rest[0].lower().rstrip("stndrh"), low=0, high=99)
            if day is None:
                raise ParseError(RULE_HELP)
            return _monthly_day(day, rest[0])
        if len(rest) == 2:
            ordinal = ORDINALS_EN.get(rest[0].lower())
            if ordinal is None:
                raise ParseError(_("不认识的序数「{value}」，应为 1st、2nd、3rd、4th、last。"), value=rest[0])
            return f"FREQ=MONTHLY;BYDAY={ordinal:+d}{_weekday_en(rest[1])}"
        raise ParseError(RULE_HELP)
    if len(rest) != 1:
        raise ParseError(RULE_HELP)
    days = ",".join(_weekday_en(token) for token in rest[0].split(",") if token)
    interval = ";INTERVAL=2" if head == "biweekly" else ""
    return f"FREQ=WEEKLY{interval};BYDAY={days}"


def _parse_chinese(text: str) -> str:
    if match := ZH_MONTHLY_DAY.match(text):
        return _monthly_day(int(match.group(1)), text)
    if ZH_MONTHLY_LAST_DAY.match(text):
        return "FREQ=MONTHLY;BYMONTHDAY=-1"
    if match := ZH_MONTHLY_NTH.match(text):
        ordinal = -1 if match.group(2) else ORDINALS_ZH[match.group(1)]
        return f"FREQ=MONTHLY;BYDAY={ordinal:+d}{WEEKDAYS_ZH[match.group(3)]}"
    if match := ZH_WEEKLY.match(text):
        days = ",".join(WEEKDAYS_ZH[part] for part in re.split(r"[、,，]", match.group(2)))
        interval = ";INTERVAL=2" if match.group(1) else ""
        return f"FREQ=WEEKLY{interval};BYDAY={days}"
    raise ParseError(RULE_HELP)


def _validate(rrule: str, text: str) -> None:
    """The rule must parse and must not recur more often than daily or end before it starts."""
    upper = rrule.upper()
    if "DTSTART" in upper or not upper.startswith("FREQ=") or upper.split(";")[0] not in (
        "FREQ=MONTHLY", "FREQ=WEEKLY", "FREQ=YEARLY", "FREQ=DAILY"
    ):
        raise ParseError(_("无法识别的重复规则「{value}」。"), value=text)
    try:
        recurrence = rrulestr(rrule, dtstart=_ANCHOR)
        first = recurrence.after(_ANCHOR, inc=True)
    except (ValueError, TypeError, KeyError):
        raise ParseError(_("无法识别的重复规则「{value}」。"), value=text) from None
    if first is None:
        raise ParseError(_("重复规则「{value}」不会产生任何日期。"), value=text)

