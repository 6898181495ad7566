"""Message catalogs. The msgids are the zh_CN text (the stations' own language comes first);
zh_TW and en are gettext catalogs compiled at install (`make install` runs `pybabel compile`).

Handlers translate through `Translator`, picked per station (or per person in a DM), never
through a process-wide "current language".
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

import opencc

LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "liaison"
LANGUAGES = ("zh_CN", "zh_TW", "en")
DEFAULT_LANGUAGE = "zh_CN"


def _(message: str) -> str:
    """Mark a string for extraction where it is defined, translate it where it is used."""
    return message


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._catalog = _catalog(self.language)

    def __call__(self, message: str, /, **values: object) -> str:
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text.format(n=n, **values)


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


@cache
def translator(language: str) -> Translator:
    return Translator(language)


@cache
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold_chinese(text: str) -> str:
    """Traditional → Simplified, for matching what users type (tags, keywords, rules) against the
    zh_CN vocabulary; never applied to text that is stored or shown."""
    return _to_simplified().convert(text)
