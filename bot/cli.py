"""`liaison-bot`: run the bot, try it in a terminal, export ledgers, upgrade the schema.

Sub-commands live in a small registry (`register`), so a feature can add its own (the
receptions feature adds `calendar`) without touching the others. Every sub-command loads the
settings first; a wrong setting exits with status 2 and a message naming the setting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import calendar, export
from bot.settings import Settings, SettingsError
from bot.subcommand import CliError, SubCommand, configure_logging, settings_for
from handlers.context import CoreConfig

if TYPE_CHECKING:
    from bot.console import ClockStart

log = logging.getLogger("liaison-bot")

EXIT_USAGE = 2
OUTBOX_STOP_SECONDS = 20.0  # the send in hand at shutdown; past this it is cut off (and may go again)


def core_config(settings: Settings, *, console_admin_default: bool = True) -> CoreConfig:
    """The handlers' view of the settings; with no admins configured, the console user `admin` is one."""
    admins = frozenset(settings.admins)
    if not admins and console_admin_default:
        admins = frozenset({"console:admin"})
    return CoreConfig(
        admins=admins, language=settings.language, timezone=settings.timezone, reminder_hour=settings.reminder_hour
    )


# --- run ----------------------------------------------------------------------------------------
def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")


def _run(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    # With no platform configured the console is the bot: a quiet start, as for `console`.
    configure_logging(settings, quiet=not (settings.telegram_enabled or settings.matrix_enabled))
    return asyncio.run(serve_all(settings))


async def serve_all(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run every configured platform until SIGINT/SIGTERM; the console when none is configured."""
    from bot.app import App
    from bot.intake import RetryPolicy
    from handlers.clock import Clock, ShiftedClock, SystemClock
    from schedules.runner import start_scheduler
    from storage.db import upgrade

    await upgrade(settings.database_url)
    console_only = not (settings.telegram_enabled or settings.matrix_enabled)
    clock: Clock = SystemClock()
    console_note = None
    if console_only:
        # The console on real time, shifted where it was left (or by `~ +3d`, as the greeting says).
        begin = await console_clock_start(settings, given=None, interactive=sys.stdin.isatty())
        clock, console_note = ShiftedClock(begin.at - SystemClock().now()), begin.note
    app = App(
        database_url=settings.database_url, clock=clock, config=core_config(settings),
        max_attempts=settings.outbox_max_attempts, retry_policy=RetryPolicy(attempts=settings.update_attempts),
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    platforms: dict[str, asyncio.Task[None]] = {}
    if settings.telegram_enabled:
        from bot import telegram

        platforms["telegram"] = asyncio.create_task(telegram.serve(app, settings, stop), name="telegram")
    if settings.matrix_enabled:
        from bot import matrix

        platforms["matrix"] = asyncio.create_task(matrix.serve(app, settings, stop), name="matrix")
    if not platforms:
        platforms["console"] = asyncio.create_task(_serve_console(app, settings, stop, console_note), name="console")
    outbox = asyncio.create_task(app.deliver_after_catching_up(), name="outbox")
    first_tick = app.clock.now() + timedelta(seconds=settings.tick_seconds)  # the catch-up was the first
    scheduler = start_scheduler(app.tick, tick_seconds=settings.tick_seconds, first_run=first_tick)
    # What start-up made (modules, mappers, catalogs, the platform libraries) lives as long as the
    # process: frozen, it is left out of the collector's full passes, which then walk only the
    # short-lived objects of intake and delivery.
    gc.freeze()
    status = 0
    try:
        stopper = asyncio.create_task(stop.wait(), name="stop")
        done, _pending = await asyncio.wait([stopper, *platforms.values()], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())
                status = 1
        stop.set()
        stopper.cancel()
        # Give the platforms time to finish the batch in hand; then stop sending.
        _finished, unfinished = await asyncio.wait(platforms.values(), timeout=30)
        for task in unfinished:
            task.cancel()
    finally:
        scheduler.shutdown(wait=False)
        # The send in hand finishes and is recorded (a cut-off send would go out again on restart).
        app.outbox.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(outbox, OUTBOX_STOP_SECONDS)
        for signum in handled:
            loop.remove_signal_handler(signum)
        await app.close()
    return status


async def _serve_console(app: object, settings: Settings, stop: asyncio.Event, note: str | None = None) -> None:
    """The console as the bot's only platform, on (shifted) real time; ends the bot when its input ends."""
    from bot.console import Console, read_interactive, stdin_lines

    console = Console(app, zone=settings.zone, out=sys.stdout, err=sys.stderr)  # type: ignore[arg-type]
    await console.start()
    reader = (
        read_interactive(console, language=settings.language, note=note)
        if sys.stdin.isatty()
        else console.run_lines(stdin_lines())
    )
    reading = asyncio.create_task(reader)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([reading, stopper], return_when=asyncio.FIRST_COMPLETED)
    if not reading.done():
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    else:
        stopper.cancel()
        print("console: input ended; no Telegram or Matrix is configured, so the bot stops "
              "/ 输入结束，未配置 Telegram 或 Matrix，机器人退出", file=sys.stderr)
        await console.deliver()
    await console.remember_clock()


# --- console ------------------------------------------------------------------------------------
def _configure_console(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script", metavar="FILE", help="read lines from FILE ('-' for stdin) instead of a terminal")
    parser.add_argument("--json", action="store_true", help="one JSON object per bot message")
    parser.add_argument("--clock", metavar="ISO", help="start the clock here, e.g. 2026-12-01T09:00+08:00")
    parser.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")
    parser.add_argument("--demo", action="store_true", help="seed a demo station first (idempotent)")


def _console(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    configure_logging(settings, quiet=True)
    start = None
    if args.clock:
        try:
            start = datetime.fromisoformat(args.clock)
        except ValueError:
            raise CliError(f"--clock: {args.clock!r} is not an ISO time such as 2026-12-01T09:00+08:00") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=settings.zone)
    return asyncio.run(
        run_console(settings, script=args.script, json_mode=args.json, start=start, demo=args.demo)
    )


async def run_console(
    settings: Settings,
    *,
    script: str | None = None,
    json_mode: bool = False,
    start: datetime | None = None,
    demo: bool = False,
    stdin: object = None,
    out: object = None,
    err: object = None,
) -> int:
    """The `console` sub-command: a ManualClock, the console as the one platform, lines in, messages out."""
    from bot.app import App
    from bot.console import Console, read_interactive, stdin_lines
    from bot.intake import RetryPolicy
    from handlers.clock import ManualClock

    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    interactive = script is None and stdin.isatty()  # type: ignore[attr-defined]
    begin = await console_clock_start(settings, given=start, interactive=interactive)
    clock = ManualClock(begin.at)
    app = App(
        database_url=settings.database_url, clock=clock, config=core_config(settings),
        max_attempts=settings.outbox_max_attempts, retry_policy=RetryPolicy(attempts=settings.update_attempts),
    )
    console = Console(
        app, zone=settings.zone, out=out, err=err, json_mode=json_mode,  # type: ignore[arg-type]
        follow_real_time=begin.follow_real_time,
    )
    try:
        await console.start()
        if demo:
            from bot.demo import seed_demo

            await seed_demo(console, settings)
        if interactive:
            await read_interactive(console, language=settings.language, note=begin.note)
            return 0
        if script is not None and script != "-":
            try:
                text = await asyncio.to_thread(Path(script).read_text, encoding="utf-8")
            except OSError as exc:
                raise CliError(f"--script: cannot read {script}: {exc.strerror}") from None
            await console.run_lines(text.splitlines())
        else:
            await console.run_lines(stdin_lines(stdin))  # type: ignore[arg-type]
        await console.deliver()
        return 1 if console.failures else 0
    finally:
        await console.remember_clock()
        await app.close()


async def console_clock_start(settings: Settings, *, given: datetime | None, interactive: bool) -> ClockStart:
    """Upgrade the database and decide where a console run's clock starts (see `choose_clock_start`)."""
    from bot.console import ClockDrift, choose_clock_start, load_console_clock
    from handlers.clock import SystemClock
    from storage.db import upgrade

    await upgrade(settings.database_url)
    stored = await load_console_clock(settings.database_url)
    try:
        return choose_clock_start(given=given, stored=stored, real=SystemClock().now(), interactive=interactive,
                                  zone=settings.zone)
    except ClockDrift as drift:
        raise CliError(str(drift)) from None


# --- db -----------------------------------------------------------------------------------------
def _configure_db(parser: argparse.ArgumentParser) -> None:
    action = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = action.add_parser("upgrade", help="upgrade the schema to the newest version (Alembic head)")
    up.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")


def _db(args: argparse.Namespace) -> int:
    from storage.db import upgrade_sync

    settings = settings_for(args)
    configure_logging(settings, quiet=True)
    upgrade_sync(settings.database_url)
    print(f"database {settings.database_url} is at the newest schema", file=sys.stderr)
    return 0


# --- matrix -------------------------------------------------------------------------------------
def _configure_matrix(parser: argparse.ArgumentParser) -> None:
    action = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = action.add_parser(
        "verify",
        help="verify a member's device (LIAISON_MATRIX_TRUST=verified-only shares room keys only with verified ones)",
        description="Compare the device's key with its owner (Element: Settings → Sessions → the session's key) "
        "first; the running bot applies it at its next sync and refuses a key that does not match.",
    )
    verify.add_argument("user", help="the member's Matrix id, e.g. @li:example.org")
    verify.add_argument("device", help="the device (session) id, e.g. ABCDEFGHIJ")
    verify.add_argument("fingerprint", help="the device's ed25519 key as its owner reads it to you")
    verify.add_argument("--db", metavar="URL", help="database URL or SQLite file (default: LIAISON_DATABASE_URL)")


def _matrix(args: argparse.Namespace) -> int:
    from storage import kv
    from storage.db import create_engine, session_factory

    settings = settings_for(args)
    configure_logging(settings, quiet=True)
    if not settings.matrix_user:
        raise CliError("LIAISON_MATRIX_USER is not set: which bot account should trust the device?")
    if not args.user.startswith("@") or ":" not in args.user:
        raise CliError(f"{args.user!r} is not a Matrix id like @li:example.org")

    async def store() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                await kv.set_value(
                    session=session, key=f"matrix:{settings.matrix_user}:verify:{args.user}|{args.device}",
                    value=args.fingerprint, now=datetime.now(UTC),
                )
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(store())
    print(f"{args.user}'s device {args.device} will be verified at the bot's next sync if its key matches",
          file=sys.stderr)
    return 0


SUBCOMMANDS: dict[str, SubCommand] = {
    sub.name: sub
    for sub in (
        SubCommand("run", "run the bot on every configured platform (the console when none is)", _configure_run, _run),
        SubCommand("console", "talk to the bot in the terminal or run a script (README: The console)",
                   _configure_console, _console),
        SubCommand("db", "database maintenance", _configure_db, _db),
        SubCommand("matrix", "Matrix end-to-end encryption: verify members' devices", _configure_matrix, _matrix),
        calendar.SUBCOMMAND,
        export.SUBCOMMAND,
    )
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liaison-bot", description="Chat bot for people's-congress deputy liaison stations (人大代表联络站)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS.values():
        sub.configure(commands.add_parser(sub.name, help=sub.help, description=sub.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return SUBCOMMANDS[args.command].run(args)
    except SettingsError as problem:
        print(f"liaison-bot: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as problem:
        print(f"liaison-bot: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read our output went away (`| head`); don't let the final flush complain too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

