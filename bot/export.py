"""`liaison-bot export <register> --station CODE [--period P] [--out FILE] [--format csv] [--full]`.

The same registers as `/export` in a chat (`handlers.ledgers`), written straight into the file
(rows streamed, constant memory), with a progress bar on a terminal. Without --station, every
station; without --period, all time (an archive). Like the chat's, the register shows the
reporter's surname only and masks phone and ID numbers unless --full is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from sqlmodel import select
from tqdm import tqdm

from bot.subcommand import CliError, SubCommand, configure_logging, settings_for
from handlers.clock import SystemClock
from handlers.i18n import translator
from handlers.ledgers import LEDGERS, Ledger, Scope, count_items, write_csv, write_xlsx
from handlers.periods import Period, parse_period
from handlers.reception_parse import ParseError
from storage import reports as figures_repo
from storage.db import create_engine, session_factory
from storage.models import Station

CHOICES = (*LEDGERS, "all")


class ExportError(Exception):
    """A problem with the arguments found against the database (unknown station, bad period)."""


async def export(
    *, database_url: str, ledger: str, station_code: str | None, period_token: str | None, fmt: str,
    out: IO[bytes] | Path, full: bool, now: datetime, language: str, zone: str, progress: bool = False,
) -> dict[str, int]:
    """Write the register(s); returns the rows written per register."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            root: Station | None = None
            if station_code is not None:
                root = (await session.exec(select(Station).where(Station.code == station_code))).first()
                if root is None:
                    raise ExportError(f"--station: no station with code {station_code!r}")
                zone = root.timezone
                language = root.language or language
            today = now.astimezone(ZoneInfo(zone)).date()
            period = Period.all()
            if period_token:
                try:
                    found = parse_period(period_token, today)
                except ParseError as error:
                    raise ExportError(f"--period: {translator('en')(error.msgid, **error.values)}") from None
                if found is None:
                    raise ExportError(f"--period: {period_token!r} is not a period (2026-11, 2026Q4, 2026, "
                                      "2026-10..2026-12, all)")
                period = found
            tree = await figures_repo.station_tree(session=session, root_id=root.id if root else None)
            if not tree:
                raise ExportError("there is no station yet")
            scope = Scope(session=session, stations=tree, period=period, now=now, tr=translator(language),
                          full=full, everything=root is None)
            chosen: list[Ledger] = list(LEDGERS.values()) if ledger == "all" else [LEDGERS[ledger]]
            counted = progress and any(one.name == "items" for one in chosen)  # the bar's total
            total = await count_items(scope) if counted else None
            with tqdm(total=total, unit=" rows", disable=not progress, file=sys.stderr, leave=False) as bar:
                if fmt == "csv":
                    with ExitStack() as stack:
                        stream = stack.enter_context(out.open("wb")) if isinstance(out, Path) else out
                        written = {chosen[0].name: await write_csv(stream, chosen[0], scope, bar.update)}
                else:
                    written = await write_xlsx(out, chosen, scope, bar.update)
            return written
    finally:
        await engine.dispose()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ledger", choices=CHOICES, metavar="REGISTER",
                        help="items, receptions, attendance, deputies, summary, or all (one workbook)")
    parser.add_argument("--station", metavar="CODE", help="this station and those below it (default: every station)")
    parser.add_argument("--period", metavar="P", help="2026-11, 2026Q4, 2026, 2026-10..2026-12 or all (default: all)")
    parser.add_argument("--format", choices=("csv", "xlsx"), help="default: from the --out suffix, else csv")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--full", action="store_true", help="reporters' full names and unmasked texts")
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")


def run(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    configure_logging(settings, quiet=True)
    fmt = args.format or ("xlsx" if args.out and args.out.lower().endswith(".xlsx") else "csv")
    if fmt == "csv" and args.ledger == "all":
        raise CliError("--format csv holds one register: name it (items, receptions, …), or write xlsx")
    if fmt == "xlsx" and not args.out and sys.stdout.isatty():
        raise CliError("--format xlsx: give --out FILE.xlsx (a workbook is not for the terminal)")
    target: IO[bytes] | Path = Path(args.out) if args.out else sys.stdout.buffer
    try:
        written = asyncio.run(export(
            database_url=settings.database_url, ledger=args.ledger, station_code=args.station,
            period_token=args.period, fmt=fmt, out=target, full=args.full, now=SystemClock().now(),
            language=settings.language, zone=settings.timezone, progress=bool(args.out) and sys.stderr.isatty(),
        ))
    except ExportError as problem:
        raise CliError(str(problem)) from None
    except OSError as problem:
        raise CliError(f"cannot write {args.out}: {problem.strerror}") from None
    if args.out:
        rows = ", ".join(f"{name} {count}" for name, count in written.items())
        print(f"exported {rows} rows to {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.flush()
    return 0


SUBCOMMAND = SubCommand("export", "export the registers (台账) as xlsx or csv", configure, run)
