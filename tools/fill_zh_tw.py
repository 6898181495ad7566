"""Fill untranslated zh_TW entries from the zh_CN msgids with OpenCC (s2tw: characters, not phrases).

A developer tool (`make catalogs-update` runs it); hand-made zh_TW translations are kept.
Phrase conversion (s2twp) is avoided on purpose: it turns 代码 (a station's code) into 程式碼.
"""

from __future__ import annotations

import sys
from pathlib import Path

import opencc
from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).resolve().parent.parent / "handlers/locales/zh_TW/LC_MESSAGES/liaison.po"


def main() -> int:
    converter = opencc.OpenCC("s2tw")
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="zh_TW")
    filled = 0
    for message in catalog:
        if message.id and (not message.string or message.fuzzy):
            message.string = converter.convert(str(message.id))
            message.flags.discard("fuzzy")
            filled += 1
    with CATALOG.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True)
    print(f"zh_TW: filled {filled} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
