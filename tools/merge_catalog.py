"""A git merge driver for the gettext catalogs: the union of both sides' messages, sorted by msgid.

Two branches that each add strings touch the same catalogs; a line-based merge conflicts on
every neighbouring entry and on the header's creation date. Per message this keeps what either
side added, drops what either side removed, and takes a translation that changed on one side.

Set up once per clone (`make merge-driver`):
    git config merge.catalog.driver "python3 tools/merge_catalog.py %O %A %B"
with `*.po merge=catalog` and `*.pot merge=catalog` in .gitattributes. The result is written to
the "ours" file (%A), as git expects.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po


def _read(path: str) -> Catalog:
    data = Path(path).read_bytes()
    if not data.strip():
        return Catalog()
    with open(path, "rb") as handle:
        return read_po(handle)


def _key(message) -> tuple[object, str | None]:  # type: ignore[no-untyped-def]
    return message.id, message.context


def merge(base: Catalog, ours: Catalog, theirs: Catalog) -> Catalog:
    base_strings = {_key(m): m.string for m in base if m.id}
    our_messages = {_key(m): m for m in ours if m.id}
    their_messages = {_key(m): m for m in theirs if m.id}
    for key, theirs_message in their_messages.items():
        mine = our_messages.get(key)
        if mine is None:
            if key not in base_strings:  # added on their side
                ours[theirs_message.id] = theirs_message
            continue
        base_string = base_strings.get(key)
        if mine.string == base_string and theirs_message.string != base_string:
            mine.string = theirs_message.string
            mine.flags = set(theirs_message.flags)
        elif not mine.string and theirs_message.string:
            mine.string = theirs_message.string
    for key, mine in list(our_messages.items()):
        if key in base_strings and key not in their_messages:  # removed on their side
            ours.delete(mine.id, context=mine.context)
    return ours


def main(argv: list[str]) -> int:
    base_path, ours_path, theirs_path = argv[1:4]
    merged = merge(_read(base_path), _read(ours_path), _read(theirs_path))
    with open(ours_path, "wb") as handle:
        write_po(handle, merged, width=0, sort_output=True, omit_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
