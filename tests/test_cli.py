"""The `liaison-bot` entry point: the installed console script, settings errors, `db upgrade`, `run`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import cli
from tests.transcripts.runner import clean_environment

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = Path(__file__).parent / "transcripts"


def liaison_bot() -> list[str]:
    """The installed console script next to this interpreter, else `python -m bot`."""
    script = Path(sys.executable).with_name("liaison-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIAISON_")}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


def test_console_script_runs_a_transcript(tmp_path: Path, db_url: str) -> None:
    completed = subprocess.run(
        [*liaison_bot(), "console", "--script", str(TRANSCRIPTS / "setup.txt"), "--json",
         "--db", db_url, "--clock", "2026-12-01T09:00+08:00"],
        capture_output=True, text=True, encoding="utf-8", cwd=tmp_path, env=clean_env(tmp_path), timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    messages = [json.loads(line) for line in completed.stdout.splitlines()]
    expected = [json.loads(line) for line in (TRANSCRIPTS / "setup.expected.jsonl").read_text("utf-8").splitlines()]
    assert messages == expected


def test_wrong_setting_exits_non_zero_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("LIAISON_TIMEZONE", "Mars/Base")
    status = cli.main(["console", "--script", str(TRANSCRIPTS / "empty.txt"), "--db", db_url])
    err = capsys.readouterr().err
    assert status == 2
    assert "LIAISON_TIMEZONE" in err and "Mars/Base" in err


def test_wrong_setting_from_the_installed_script(tmp_path: Path) -> None:
    completed = subprocess.run(
        [*liaison_bot(), "run"], capture_output=True, text=True, encoding="utf-8", cwd=tmp_path,
        env=clean_env(tmp_path, LIAISON_TIMEZONE="Mars/Base"), timeout=60, stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 2
    assert "LIAISON_TIMEZONE" in completed.stderr


def test_bad_clock_option(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    status = cli.main(["console", "--script", str(TRANSCRIPTS / "empty.txt"), "--db", db_url, "--clock", "soon"])
    assert status == 2
    assert "--clock" in capsys.readouterr().err


def test_missing_script(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> None:
    status = cli.main(["console", "--script", str(tmp_path / "nope.txt"), "--db", db_url])
    assert status == 2
    assert "nope.txt" in capsys.readouterr().err


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fresh.db"
    assert cli.main(["db", "upgrade", "--db", str(path)]) == 0
    with sqlite3.connect(path) as connection:
        tables = {name for (name,) in connection.execute("select name from sqlite_master where type='table'")}
    assert {"station", "item", "outbox", "message", "alembic_version"} <= tables
    assert cli.main(["db", "upgrade", "--db", f"sqlite:///{path}"]) == 0, "upgrading twice is harmless"


def test_every_subcommand_is_listed_once_and_has_a_help_line() -> None:
    """The sub-commands are one explicit list (no module registers itself as a side effect of import)."""
    assert list(cli.SUBCOMMANDS) == ["run", "console", "db", "matrix", "calendar", "export"]
    assert all(sub.help for sub in cli.SUBCOMMANDS.values())
    parser_help = cli.build_parser().format_help()
    for name in cli.SUBCOMMANDS:
        assert name in parser_help


def test_run_with_no_platform_uses_the_console_on_stdin(tmp_path: Path, db_url: str) -> None:
    """`run` with neither Telegram nor Matrix configured serves the console, then stops when input ends."""
    completed = subprocess.run(
        [*liaison_bot(), "run", "--db", db_url], input="admin@dm: /whoami\n", capture_output=True, text=True,
        encoding="utf-8", cwd=tmp_path, env=clean_env(tmp_path, LIAISON_LOG_LEVEL="WARNING"), timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == "[1] dm:admin <admin> /whoami"
    assert "您是管理员" in completed.stdout
    assert "input ended" in completed.stderr


def test_run_stops_cleanly_on_sigterm(tmp_path: Path, db_url: str) -> None:
    process = subprocess.Popen(
        [*liaison_bot(), "run", "--db", db_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=tmp_path,
        env=clean_env(tmp_path, LIAISON_LOG_LEVEL="INFO"),
    )
    try:
        assert process.stdin is not None
        process.stdin.write("admin@dm: /whoami\n")
        process.stdin.flush()
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        seen = ""
        while "您是管理员" not in seen and time.monotonic() < deadline:
            seen += process.stdout.readline()
        assert "您是管理员" in seen
        process.send_signal(signal.SIGTERM)  # stdin still open: the bot must not wait for it
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert status == 0, process.stderr.read() if process.stderr else ""


def test_python_dash_m_bot(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60,
        env=clean_env(tmp_path),
    )
    assert completed.returncode == 0
    for name in ("run", "console", "export", "db"):
        assert name in completed.stdout


def _read_until(fd: int, needle: str, timeout: float = 60) -> str:
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen.decode("utf-8", "replace") and time.monotonic() < deadline:
        ready, _w, _x = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen.decode("utf-8", "replace")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a pseudo-terminal")
def test_interactive_console_greets_and_switches_speaker(tmp_path: Path, db_url: str) -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on a terminal, with a clean environment
        try:
            os.chdir(tmp_path)
            command = liaison_bot()
            os.execve(command[0], [*command, "console", "--db", db_url], clean_env(tmp_path))
        finally:
            os._exit(127)
    try:
        greeting = _read_until(fd, "admin@dm> ")
        assert "欢迎使用" in greeting and "/as li@lianxi" in greeting
        os.write(fd, b"/whoami\n")
        answered = _read_until(fd, "admin@dm> ")
        assert "[1] dm:admin <admin> /whoami" in answered and "您是管理员" in answered
        assert answered.index("您是管理员") < answered.rindex("admin@dm> "), "the prompt comes after the answer"
        os.write(fd, b"/as li@lianxi\n")
        assert "li@lianxi> " in _read_until(fd, "li@lianxi> ")
        os.write(fd, b"/whoami\n")
        assert "[1] lianxi <li> /whoami" in _read_until(fd, "li@lianxi> ")  # li speaks (lianxi is not bound)
        os.write(fd, b"\x04")  # Ctrl-D ends the session
        _read_until(fd, "never", timeout=5)
        _pid, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_matrix_verify_stores_the_request_for_the_running_bot_and_refuses_a_wrong_id(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_MATRIX_USER", "@lianxi-bot:example.org")
    assert cli.main(["matrix", "verify", "li", "ABCDEFGHIJ", "key", "--db", db_url]) == cli.EXIT_USAGE
    assert "'li' is not a Matrix id like @li:example.org" in capsys.readouterr().err
    assert cli.main(["matrix", "verify", "@li:example.org", "ABCDEFGHIJ", "k3y", "--db", db_url]) == 0
    database = db_url.split("///", 1)[1]
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT key, value FROM kvstate WHERE key LIKE '%:verify:%'").fetchall()
    assert rows == [("matrix:@lianxi-bot:example.org:verify:@li:example.org|ABCDEFGHIJ", "k3y")]
