"""Masking personal data (the personal data rule): what identifies a resident never leaves the
private record.

`mask` is the one function that hides it. `handlers.outbox.to_chat` applies it to every text
posted to a chat that is not private (a residents group, an unbound group, any public place), so
acks, feedback, notices, refusals and `/publish` all pass through it; the full text stays in the
staff chats and in direct messages to the people handling an item.

It hides, and counts by kind so a statement such as "电话和证件号已隐去" is made only when true:
- mainland mobile numbers in every common spelling (`13912345678`, `139 1234 5678`,
  `139-1234-5678`, `+86 139…`, `86-139…`, fullwidth digits);
- landlines with an area code (`0791-88123456`, `(010)12345678`), and any 7+ digit number right
  after 电话/手机/座机/联系方式/tel (`电话 88123456`);
- 18-digit ID numbers (X or x last) and 15-digit old ones (their birth date must be a date),
  and the number after 身份证/证件号/护照;
- bank card numbers (16–19 digits, also in groups of four);
- e-mail addresses, and the account after 微信/微信号/QQ/vx/wx/wechat.
Dates, times, house numbers (3栋502室), amounts, hotlines (12345) and item numbers stay. Each
hidden span becomes `***`, so masking a masked text changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from handlers.i18n import Translator, _

MASK = "***"


class Kind(StrEnum):
    PHONE = "phone"
    ID_NUMBER = "id_number"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    ACCOUNT = "account"
    NAME = "name"


KIND_LABELS = {
    Kind.PHONE: _("电话号码"),
    Kind.ID_NUMBER: _("证件号"),
    Kind.BANK_CARD: _("银行卡号"),
    Kind.EMAIL: _("电子邮箱"),
    Kind.ACCOUNT: _("微信/QQ 号"),
    Kind.NAME: _("姓名"),
}

# Fullwidth ASCII (ＡＢＣ１２３＠－) and the ideographic space, one character for one, so a match
# in the folded copy is at the same place in the original text.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
_NOT_BEFORE_DIGIT = r"(?![0-9])"
_NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"
_SEP = r"[ \-.]"
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"

# Earlier patterns win where spans overlap (an ID number is not also read as a bank card).
_PATTERNS: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.EMAIL, re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")),
    (Kind.ID_NUMBER, re.compile(
        _NOT_AFTER_ALNUM + r"[1-9]\d{5}(?:18|19|20)\d{2}" + _DATE + r"\d{3}[0-9Xx]" + _NOT_BEFORE_ALNUM
    )),
    (Kind.ID_NUMBER, re.compile(_NOT_AFTER_ALNUM + r"[1-9]\d{7}" + _DATE + r"\d{3}" + _NOT_BEFORE_ALNUM)),
    (Kind.BANK_CARD, re.compile(
        _NOT_AFTER_ALNUM + r"(?:\d{16,19}|\d{4}(?:[ \-]\d{4}){3}(?:[ \-]?\d{1,3})?)" + _NOT_BEFORE_DIGIT
    )),
    (Kind.PHONE, re.compile(
        _NOT_AFTER_ALNUM + r"(?:(?:\(\+?86\)|\+86|0086|86)[ \-]?)?1[3-9]\d(?:" + _SEP + r"?\d{4}){2}"
        + _NOT_BEFORE_DIGIT
    )),
    (Kind.PHONE, re.compile(
        _NOT_AFTER_ALNUM + r"(?:\(0\d{2,3}\)[ ]?|0\d{2,3}[ \-]?)\d{7,8}(?:(?:-|转)\d{1,5})?" + _NOT_BEFORE_DIGIT
    )),
]
# The number or account right after a word that names it: only the value is hidden.
_AFTER_WORDS: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.ACCOUNT, re.compile(
        r"(?i)(?:微信|薇信|威信|v信|weixin|wechat|(?<![a-z])(?:vx|wx|qq)|扣扣)(?:[ ]*(?:号码|号|账号|id))?"
        r"[ ]*(?:是|为|:|=)?[ ]*(?P<value>[A-Za-z][A-Za-z0-9_\-]{4,19}|\d{5,12})" + _NOT_BEFORE_ALNUM
    )),
    (Kind.PHONE, re.compile(
        r"(?i)(?:电话|手机|座机|联系方式|号码|(?<![a-z])(?:tel|phone|mobile))(?:号码|号)?[ ]*(?:是|为|:|=)?[ ]*"
        r"(?P<value>\d(?:[ \-]?\d){6,15})" + _NOT_BEFORE_DIGIT
    )),
    (Kind.ID_NUMBER, re.compile(
        r"(?i)(?:身份证|证件|护照|passport)(?:号码|号)?[ ]*(?:是|为|:|=)?[ ]*(?P<value>[A-Za-z0-9]{6,18})"
        + _NOT_BEFORE_ALNUM
    )),
]
_MIN_CONTEXT_DIGITS = 7  # "电话 12345" (the government hotline) stays


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class Masked:
    """The text with personal data hidden, and how many spans of each kind were hidden."""

    text: str
    hidden: Counter[Kind] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.hidden)


def fold(text: str) -> str:
    """Fullwidth letters, digits and signs as ASCII, character for character."""
    return text.translate(_FOLD)


def sensitive_spans(text: str, *, names: Iterable[str] = ()) -> list[Span]:
    """Where personal data is in `text`, non-overlapping, in order."""
    folded = fold(text)
    found: list[Span] = []
    for kind, pattern in _PATTERNS:
        found += [Span(m.start(), m.end(), kind) for m in pattern.finditer(folded)]
    for kind, pattern in _AFTER_WORDS:
        for match in pattern.finditer(folded):
            value = match.group("value")
            if kind is Kind.PHONE and sum(char.isdigit() for char in value) < _MIN_CONTEXT_DIGITS:
                continue
            if kind is Kind.ID_NUMBER and not any(char.isdigit() for char in value):
                continue
            found.append(Span(match.start("value"), match.end("value"), kind))
    for name in {name.strip() for name in names if len(name.strip()) >= 2}:
        found += [Span(m.start(), m.end(), Kind.NAME) for m in _name_pattern(name).finditer(text)]
    chosen: list[Span] = []
    for span in sorted(found, key=lambda s: (s.start, -(s.end - s.start))):
        if chosen and span.start < chosen[-1].end:
            continue  # inside (or overlapping) a span already hidden
        chosen.append(span)
    return chosen


def _name_pattern(name: str) -> re.Pattern[str]:
    """A Latin name only as a whole word ('li' is not in 'light'); a Chinese one anywhere."""
    if name.isascii():
        return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", re.IGNORECASE)
    return re.compile(re.escape(name))


def mask(text: str, *, names: Iterable[str] = ()) -> Masked:
    """`text` with every sensitive span (and each of `names`) replaced by `***`."""
    spans = sensitive_spans(text, names=names)
    if not spans:
        return Masked(text)
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces += [text[cursor : span.start], MASK]
        cursor = span.end
    pieces.append(text[cursor:])
    return Masked("".join(pieces), Counter(span.kind for span in spans))


def mask_text(text: str) -> str:
    return mask(text).text


def safe_cut(text: str, limit: int) -> int:
    """Where to cut `text` to at most `limit` characters without cutting personal data in half
    (half a phone number would no longer be recognised, and would then be shown)."""
    if len(text) <= limit:
        return len(text)
    for span in sensitive_spans(text):
        if span.start < limit < span.end:
            return span.start
    return limit


def describe_hidden(tr: Translator, hidden: Counter[Kind]) -> str:
    """'电话号码 2 处、证件号 1 处' — what masking hid, for a statement that is true."""
    return "、".join(
        tr(_("{what} {count} 处"), what=tr(KIND_LABELS[kind]), count=hidden[kind]) for kind in Kind if hidden[kind]
    )


def mask_name(name: str) -> str:
    """A resident's name in a register that is not the full one: the surname only (王阿姨 → 王**),
    enough for a clerk to tell entries apart, not to identify the resident."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
