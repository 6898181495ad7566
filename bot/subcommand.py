"""What every `liaison-bot` sub-command is made of and shares: its description, the usage error,
the database option and settings, and logging. `bot/cli.py` lists the sub-commands; the modules
that define one (`bot/calendar.py`, `bot/export.py`) import from here, never from the CLI."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.settings import Settings, load_settings


@dataclass(frozen=True)
class SubCommand:
    """`configure` adds its arguments to its parser, `run(args)` returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A usage problem found after parsing (unknown station, unwritable output): exit 2 with the message."""


def database_url(value: str) -> str:
    """Accept a SQLAlchemy URL, or a plain file path that means a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite+aiosqlite:///{Path(value).expanduser()}"


def settings_for(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "db", None):
        overrides["database_url"] = database_url(args.db)
    return load_settings(**overrides)


def _log_level(settings: Settings, quiet: bool) -> int:
    if quiet and "LIAISON_LOG_LEVEL" not in os.environ:
        return logging.WARNING
    return getattr(logging, settings.log_level.upper(), logging.INFO)


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=_log_level(settings, quiet), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Libraries that narrate every request or state event at INFO would drown the bot's own log.
    for chatty in ("nio", "httpx", "apscheduler.executors.default"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
