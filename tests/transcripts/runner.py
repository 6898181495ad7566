"""Run `liaison-bot console --script … --json` in-process and read back what the bot said."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot import cli

CLOCK = "2026-12-01T09:00+08:00"


@dataclass
class Transcript:
    status: int
    messages: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    notes: list[dict[str, Any]] = field(default_factory=list)  # non-error JSON on stderr (the --demo report)

    def in_chat(self, chat: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["chat"] == chat]

    def replies_to(self, chat: str, message_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["chat"] == chat and m["reply_to"] == message_id]

    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages]


def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LIAISON_* from the developer's shell and no liaison.toml from the working directory."""
    for name in list(os.environ):
        if name.startswith("LIAISON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run_script(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    script: str,
    *,
    db: str,
    clock: str | None = CLOCK,
    extra: tuple[str, ...] = (),
    name: str = "script.txt",
) -> Transcript:
    path = tmp_path / name
    path.write_text(script, encoding="utf-8")
    argv = ["console", "--script", str(path), "--json", "--db", db, *extra]
    if clock is not None:
        argv += ["--clock", clock]
    capsys.readouterr()
    status = cli.main(argv)
    captured = capsys.readouterr()
    messages = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    errors: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for line in captured.err.splitlines():
        if line.startswith("{"):
            payload = json.loads(line)
            (errors if "error" in payload else notes).append(payload)
    return Transcript(status, messages, errors, notes)
