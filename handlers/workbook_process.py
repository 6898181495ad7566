"""An xlsx workbook written by a process of its own (`python -m handlers.workbook_process`).

XlsxWriter's per-cell work is most of an export's time (about 15 µs a cell, 140,000 cells in a
county's 10,000-item register). The process that reads the registers sends each row's cell
values (plain numbers, strings, dates) to this one in batches and goes on reading while it
writes them: the two run side by side on two cores, and the bot's event loop never waits on a
sheet being written. Messages are pickled tuples on the child's stdin; its stdout carries one
answer at the end: the rows written per sheet, and the file's bytes unless it wrote to a path.
"""

from __future__ import annotations

import asyncio
import io
import pickle
import sys
import traceback
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from handlers.i18n import Translator
from handlers.workbook import CellKind, Column, LedgerBook, SheetWriter

BATCH = 500  # rows per message


class WorkbookError(Exception):
    """The workbook process failed (its error is in the message)."""


class WorkbookProcess:
    """The parent's side: `sheet`, `row` / `total` for each row's values, then `close`."""

    def __init__(self, target: str | Path | IO[bytes], *, station: str, period: str) -> None:
        self.target = target
        self.station = station
        self.period = period
        self._process: asyncio.subprocess.Process | None = None
        self._batch: list[tuple[bool, list[object]]] = []

    async def __aenter__(self) -> WorkbookProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handlers.workbook_process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        path = str(self.target) if isinstance(self.target, str | Path) else None
        await self._send(("book", path, self.station, self.period))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()  # an error or a cancellation on our side: the file is not finished
            await self._process.wait()

    async def _send(self, message: tuple[Any, ...]) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self._failed()

    async def _failed(self) -> None:
        assert self._process is not None
        await self._process.wait()
        raise WorkbookError(f"the workbook process ended with exit code {self._process.returncode}")

    async def sheet(self, title: str, columns: Sequence[Column], tr: Translator) -> None:
        await self._flush()
        await self._send(("sheet", title, [(column.key, tr(column.header), column.kind.value) for column in columns]))

    async def row(self, values: list[object], *, total: bool = False) -> None:
        """One row's cell values; a total (or subtotal) row is written in bold."""
        self._batch.append((total, values))
        if len(self._batch) >= BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            await self._send(("rows", batch))

    async def close(self) -> list[int]:
        """Finish the workbook; the rows written per sheet, in order."""
        await self._flush()
        await self._send(("close",))
        assert self._process is not None and self._process.stdout is not None
        answer = await self._process.stdout.read()
        await self._process.wait()
        if not answer:
            await self._failed()
        kind, *rest = pickle.loads(answer)
        if kind == "error":
            raise WorkbookError(rest[0])
        rows, data = rest
        if data is not None and not isinstance(self.target, str | Path):
            self.target.write(data)
        return list(rows)


def serve(source: IO[bytes], answer: IO[bytes]) -> None:
    """The child's side: read the messages, write the workbook, answer once."""
    book: LedgerBook | None = None
    buffer: io.BytesIO | None = None
    sheets: list[SheetWriter] = []
    try:
        while True:
            kind, *rest = pickle.load(source)
            if kind == "book":
                path, station, period = rest
                buffer = None if path is not None else io.BytesIO()
                book = LedgerBook(path if path is not None else buffer, station=station, period=period)
            elif kind == "sheet":
                assert book is not None
                if sheets:
                    sheets[-1].close()
                title, described = rest
                columns = [Column(key, header, CellKind(cell), itemgetter(index))
                           for index, (key, header, cell) in enumerate(described)]
                sheets.append(SheetWriter(book, book.workbook.add_worksheet(title[:31]), columns,
                                          [column.header for column in columns]))
            elif kind == "rows":
                for total, values in rest[0]:
                    (sheets[-1].total if total else sheets[-1].write)(values)
            else:  # close
                assert book is not None
                if sheets:
                    sheets[-1].close()
                book.close()
                pickle.dump(("done", [sheet.rows for sheet in sheets], buffer.getvalue() if buffer else None), answer)
                return
    except Exception:  # told to the parent, which raises it
        pickle.dump(("error", traceback.format_exc()), answer)
        answer.flush()
        raise


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
    sys.stdout.buffer.flush()
