"""Writing ledgers as a clerk can print them: xlsx (XlsxWriter, constant memory) or CSV.

A sheet is a list of `Column`s (a stable machine key for CSV, a header msgid in the station's
language for xlsx, a cell kind) and rows written one at a time: XlsxWriter's constant-memory
mode flushes each row to a temporary file, so a 10,000-row register costs the same memory as a
ten-row one. Dates and times are real Excel dates (a number with a date format) in the
station's zone; column widths are fitted to the text written, counting a CJK character as two;
the header row is frozen and filtered; pages are A4 landscape, one page wide, with the station
and period in the page header and the header row repeated on every page.

CSV is UTF-8 with a BOM (so Excel reads Chinese), the machine keys as its header, dates and
times in ISO 8601, rates as percentages: Excel turns both back into numbers when it opens it.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from handlers.i18n import Translator

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
SAMPLE_ROWS = 2000  # widths are fitted to the first rows (and the header); later rows rarely differ
A4 = 9  # Excel's paper size code


class CellKind(StrEnum):
    TEXT = "text"
    LONG = "long"  # wrapped, capped width: 内容, 办理结果
    INT = "int"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    MONTH = "month"
    PERCENT = "percent"  # a ratio 0..1 shown as 95.2%


NUMBER_FORMATS = {
    CellKind.DATE: "yyyy-mm-dd",
    CellKind.DATETIME: "yyyy-mm-dd hh:mm",
    CellKind.TIME: "hh:mm",
    CellKind.MONTH: "yyyy-mm",
    CellKind.PERCENT: "0.0%",
    CellKind.INT: "0",
}
MAX_WIDTH = {CellKind.LONG: 48, CellKind.TEXT: 30}
MIN_WIDTH = {CellKind.DATE: 11, CellKind.DATETIME: 17, CellKind.TIME: 7, CellKind.MONTH: 9, CellKind.PERCENT: 8}


@dataclass(frozen=True)
class Column:
    """One column of a register: `key` names it in CSV (stable, documented), `header` is the msgid
    of its Chinese header, `value` takes it from a row."""

    key: str
    header: str
    kind: CellKind
    value: Callable[[Any], object]


def display_width(text: str) -> int:
    """Width in Excel's unit (a digit): CJK and other wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _csv_value(kind: CellKind, value: object) -> object:
    if value is None:
        return ""
    if kind is CellKind.PERCENT and isinstance(value, float):
        return f"{value * 100:.1f}%"
    if kind is CellKind.MONTH and isinstance(value, date):
        return f"{value:%Y-%m}"
    if kind is CellKind.DATETIME and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind is CellKind.TIME and isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _shown(kind: CellKind, value: object) -> str:
    """What a cell shows, for fitting its column."""
    if value is None:
        return ""
    if kind in NUMBER_FORMATS and not isinstance(value, str):
        return {CellKind.DATE: "2026-12-31", CellKind.DATETIME: "2026-12-31 23:59", CellKind.TIME: "23:59",
                CellKind.MONTH: "2026-12", CellKind.PERCENT: "100.0%"}.get(kind, str(value))
    return max(str(value).split("\n"), key=display_width)


class SheetWriter:
    """Rows of one register; `close` sets widths, filter and print layout."""

    def __init__(self, book: LedgerBook, sheet: Worksheet, columns: Sequence[Column], headers: Sequence[str]) -> None:
        self.book = book
        self.sheet = sheet
        self.columns = list(columns)
        self.rows = 0
        self.widths = [display_width(header) + 2 for header in headers]
        for index, header in enumerate(headers):
            sheet.write_string(0, index, header, book.header_format)

    def write(self, row: Any) -> None:
        self.rows += 1
        number, cell, columns = self.rows, self._cell, self.columns
        if number > SAMPLE_ROWS:  # the common case, kept lean: a register's time is its cells
            for index, column in enumerate(columns):
                cell(number, index, column.kind, column.value(row))
            return
        for index, column in enumerate(columns):
            value = column.value(row)
            cell(number, index, column.kind, value)
            self.widths[index] = max(self.widths[index], display_width(_shown(column.kind, value)) + 2)

    def total(self, row: Any) -> None:
        """A subtotal or total row: written like a row, in bold."""
        self.write(row)
        self.sheet.set_row(self.rows, None, self.book.bold)

    def _cell(self, row: int, col: int, kind: CellKind, value: object) -> None:
        if value is None or value == "":
            return  # an empty cell need not exist (most of a register's cells are empty: a third of the time)
        book, sheet = self.book, self.sheet
        if type(value) is str:  # most cells: no isinstance chain
            sheet.write_string(row, col, value, book.wrap if kind is CellKind.LONG else None)
        elif isinstance(value, bool):
            sheet.write_string(row, col, str(value))
        elif isinstance(value, int | float):
            sheet.write_number(row, col, value, book.formats.get(kind))
        elif isinstance(value, datetime | date | time):
            sheet.write_datetime(row, col, value, book.formats[kind])
        else:
            sheet.write_string(row, col, str(value), book.wrap if kind is CellKind.LONG else None)

    def close(self) -> None:
        sheet = self.sheet
        for index, column in enumerate(self.columns):
            width = max(self.widths[index], MIN_WIDTH.get(column.kind, 6))
            limit = MAX_WIDTH.get(column.kind)
            sheet.set_column(index, index, min(width, limit) if limit else width)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(self.rows, 1), len(self.columns) - 1)
        sheet.set_landscape()
        sheet.set_paper(A4)
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(0)
        sheet.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.6)
        sheet.set_header(f"&L{_escape(self.book.station)}&C&\"-,Bold\"{_escape(sheet.name)}&R{_escape(self.book.period)}")
        sheet.set_footer("&C&P / &N")


def _escape(text: str) -> str:
    """Page header text: Excel reads `&` as a code."""
    return text.replace("&", "&&")


class LedgerBook:
    """An xlsx workbook of registers, written to a path or a binary stream."""

    def __init__(self, target: str | Path | IO[bytes], *, station: str, period: str) -> None:
        self.station = station
        self.period = period
        self.workbook = xlsxwriter.Workbook(
            str(target) if isinstance(target, Path) else target,
            {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
             "strings_to_urls": False},
        )
        self.header_format = self.workbook.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "align": "center", "valign": "vcenter",
             "text_wrap": True}
        )
        self.bold = self.workbook.add_format({"bold": True})
        self.wrap = self.workbook.add_format({"text_wrap": True, "valign": "top"})
        self.formats: dict[CellKind, Format] = {
            kind: self.workbook.add_format({"num_format": pattern}) for kind, pattern in NUMBER_FORMATS.items()
        }

    def sheet(self, title: str, columns: Sequence[Column], tr: Translator) -> SheetWriter:
        return SheetWriter(self, self.workbook.add_worksheet(title[:31]), columns, [tr(c.header) for c in columns])

    def close(self) -> None:
        self.workbook.close()


class CsvWriter:
    """One register as CSV: the columns' machine keys, then one line per row."""

    def __init__(self, stream: IO[bytes], columns: Sequence[Column]) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", write_through=True)
        self.writer = csv.writer(self.text, lineterminator="\r\n")
        self.columns = list(columns)
        self.rows = 0
        self.writer.writerow([column.key for column in columns])

    def write(self, row: Any) -> None:
        self.rows += 1
        self.writer.writerow([_csv_value(column.kind, column.value(row)) for column in self.columns])

    total = write

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
