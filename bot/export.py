"""`liaison-bot export items`: the items ledger (群众意见建议台账) as CSV or xlsx.

Offices live in Excel: the CSV starts with a UTF-8 BOM so Excel reads Chinese correctly, and
the xlsx has a bold, frozen header and readable column widths. The header keeps the English
column keys so scripts can rely on them; statuses and ratings are the stored values.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from storage.db import create_engine, session_factory
from storage.export import ITEM_COLUMNS, item_rows

# Column widths in characters; CJK text counts double in Excel's width unit.
WIDTHS = {"station": 12, "number": 8, "created_at": 26, "reporter": 14, "tag": 10, "text": 60, "status": 13,
          "assignee": 14, "closed_at": 26, "result": 50, "rating": 20}


def to_csv(rows: Sequence[dict[str, object]], columns: Sequence[str] = ITEM_COLUMNS) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[dict[str, object]], columns: Sequence[str] = ITEM_COLUMNS, title: str = "items") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(column, "") for column in columns])
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(column, 16)
        if column in ("text", "result"):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_items(
    *, database_url: str, station_code: str | None, fmt: str, out: str | None, stdout: BinaryIO | None = None
) -> int:
    """Write the items ledger to `out` (or stdout); returns the number of items written."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await item_rows(session=session, station_code=station_code)
    finally:
        await engine.dispose()
    data = to_xlsx(rows) if fmt == "xlsx" else to_csv(rows)
    if out is not None:
        await asyncio.to_thread(Path(out).write_bytes, data)
    else:
        target = stdout if stdout is not None else sys.stdout.buffer
        target.write(data)
        target.flush()
    return len(rows)
