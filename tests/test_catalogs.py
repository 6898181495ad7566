"""Every user-facing msgid (the zh_CN text) has a zh_TW and an English translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from handlers.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def source_msgids() -> set[str]:
    ids: set[str] = set()
    for package in ("bot", "handlers", "schedules"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")]
        ):
            if isinstance(message, str) and message:
                ids.add(message)
    return ids


@pytest.mark.parametrize("language", ["zh_TW", "en"])
def test_catalog_is_complete(language: str) -> None:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "liaison.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    missing, broken = [], []
    for msgid in sorted(source_msgids()):
        message = catalog.get(msgid)
        if message is None or not message.string or message.fuzzy:
            missing.append(msgid)
        elif set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(str(message.string))):
            broken.append(msgid)
    assert missing == [], f"{len(missing)} untranslated msgids in {language}; run `make catalogs-update`"
    assert broken == [], f"placeholders differ in {language}"
