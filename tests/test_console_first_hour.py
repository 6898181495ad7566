"""The first hour on the console, as a newcomer following the README lives it: `#建议` typed as a
message, the greeting's `~ +3d` working where it is shown, a script that would jump in time
refusing to run, and a quiet start."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import cli
from bot.console import LineError, Say, parse_line
from tests.test_cli import ROOT, _read_until, clean_env, liaison_bot
from tests.transcripts.runner import clean_environment, run_script

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


def test_a_hash_and_a_space_is_a_comment_a_tag_is_a_message() -> None:
    for comment in ("# 这是注释", "#", "#\t注释"):
        assert parse_line(comment, zone=SHANGHAI, speaker="alice", default_chat="lianxi") is None
    said = parse_line("#建议 楼道灯坏了", zone=SHANGHAI, speaker="alice", default_chat="lianxi")
    assert said == Say("alice", "lianxi", "#建议 楼道灯坏了")
    with pytest.raises(LineError) as refused:
        parse_line("#建议 楼道灯坏了", zone=SHANGHAI)
    assert "/as" in str(refused.value) and "# " in str(refused.value)


def test_as_then_a_tag_makes_an_item(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    script = "admin@dm: /station add lianxi 濂溪社区联络站\nadmin@lianxi: /bind lianxi\n/as alice@lianxi\n#建议 楼道灯坏了\n"
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.status == 0, result.errors
    assert any("已受理，编号 #1" in text for text in result.texts())


def test_a_script_refuses_to_jump_from_the_databases_clock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    far = (datetime.now(UTC) + timedelta(days=40)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    first = run_script(capsys, tmp_path, "admin@dm: /whoami\n~ +1h\n", db=db_url, clock=far.isoformat())
    assert first.status == 0
    (tmp_path / "again.txt").write_text("admin@dm: /whoami\n", encoding="utf-8")
    capsys.readouterr()
    status = cli.main(["console", "--script", str(tmp_path / "again.txt"), "--db", db_url])
    captured = capsys.readouterr()
    assert status == cli.EXIT_USAGE and captured.out == ""
    stopped = (far + timedelta(hours=1)).isoformat(timespec="minutes")
    assert f"--clock {stopped}" in captured.err and "40 days ahead of the real time" in captured.err
    assert "时钟停在" in captured.err
    again = run_script(capsys, tmp_path, "admin@dm: /whoami\n", db=db_url, clock=stopped, name="resume.txt")
    assert again.status == 0 and "您是管理员" in again.texts()[0]


def test_a_script_near_real_time_needs_no_clock(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    now = datetime.now(UTC).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    assert run_script(capsys, tmp_path, "admin@dm: /whoami\n", db=db_url, clock=now.isoformat()).status == 0
    assert run_script(capsys, tmp_path, "admin@dm: /whoami\n", db=db_url, clock=None, name="b.txt").status == 0


def test_run_without_a_platform_moves_its_clock_and_starts_quietly(tmp_path: Path, db_url: str) -> None:
    """`make run` greets with `~ +3d`: it works there, and nothing but the bot's messages is printed."""
    soon = (datetime.now(UTC).astimezone(SHANGHAI) + timedelta(days=5)).date()
    script = "\n".join([
        "admin@dm: /station add lianxi 濂溪社区联络站",
        "admin@lianxi: /bind lianxi",
        "~ +10d",
        f"admin@lianxi: /reception add {soon.isoformat()} 09:00-11:30 社区服务中心",
    ]) + "\n"
    completed = subprocess.run(
        [*liaison_bot(), "run", "--db", db_url], input=script, capture_output=True, text=True, encoding="utf-8",
        cwd=tmp_path, env=clean_env(tmp_path), timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "已经过去" in completed.stdout, "the clock moved ten days: five days from today is past"
    assert completed.stderr.strip().splitlines() == [
        "console: input ended; no Telegram or Matrix is configured, so the bot stops "
        "/ 输入结束，未配置 Telegram 或 Matrix，机器人退出"
    ], "a quiet start: no INFO lines"


def test_console_help_points_to_the_readme(tmp_path: Path) -> None:
    completed = subprocess.run(
        [*liaison_bot(), "--help"], capture_output=True, text=True, cwd=tmp_path, env=clean_env(tmp_path), timeout=60,
    )
    assert "DESIGN.md" not in completed.stdout and "README" in completed.stdout


def test_the_catalog_compile_step_is_silent_on_success() -> None:
    make = shutil.which("make")
    assert make is not None, "make is part of the two-command setup"
    completed = subprocess.run([make, "--no-print-directory", "catalogs"], capture_output=True, text=True, cwd=ROOT,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "" and completed.stderr == ""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a pseudo-terminal")
def test_make_run_greeting_and_its_clock_line_on_a_terminal(tmp_path: Path, db_url: str) -> None:
    """What `make run` shows a newcomer: the greeting, `~ +3d` moving the clock (and saying to
    when), and `#建议` typed as a message — with no log lines in between."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: `liaison-bot run` with no platform, on a terminal
        try:
            os.chdir(tmp_path)
            command = liaison_bot()
            os.execve(command[0], [*command, "run", "--db", db_url], clean_env(tmp_path))
        finally:
            os._exit(127)
    try:
        greeting = _read_until(fd, "admin@dm> ")
        assert "~ +3d" in greeting and " INFO " not in greeting and "translated" not in greeting
        expected = (datetime.now(UTC) + timedelta(days=3)).astimezone(SHANGHAI).strftime("%Y-%m-%d")
        os.write(fd, b"~ +3d\n")
        moved = _read_until(fd, "admin@dm> ")
        assert f"(now {expected}" in moved and "only" not in moved
        os.write(fd, b"/as alice@lianxi\n")
        _read_until(fd, "alice@lianxi> ")
        os.write(fd, "#建议 楼道灯坏了\n".encode())
        assert "<alice> #建议 楼道灯坏了" in _read_until(fd, "alice@lianxi> ")
        os.write(fd, b"\x04")
        _read_until(fd, "never", timeout=5)
        _pid, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
