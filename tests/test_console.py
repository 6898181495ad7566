"""The console contract (DESIGN.md §4), end to end through `liaison-bot console --script … --json`."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.console import (
    AdvanceClock,
    LineError,
    Press,
    Say,
    SetClock,
    Shown,
    SwitchSpeaker,
    parse_line,
)
from tests.transcripts.runner import clean_environment, run_script

SHANGHAI = ZoneInfo("Asia/Shanghai")
TRANSCRIPTS = Path(__file__).parent / "transcripts"

SETUP = """\
# an admin creates a station and binds the residents and the staff chat
admin@dm: /station add lianxi 濂溪社区联络站 站
admin@lianxi: /bind lianxi residents
admin@gongzuo: /bind lianxi staff
admin@gongzuo: /deputy add li county
admin@gongzuo: /liaison add zhang
"""


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


def sqlite_path(db_url: str) -> str:
    return db_url.split("///", 1)[1]


def query(db_url: str, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(sqlite_path(db_url)) as connection:
        return connection.execute(sql, params).fetchall()


# --- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("alice@lianxi: #建议 路灯坏了", Say("alice", "lianxi", "#建议 路灯坏了")),
        ("alice@dm: /my", Say("alice", "dm:alice", "/my")),
        ("alice@dm:alice: /my", Say("alice", "dm:alice", "/my")),
        ("bob@lianxi^12: 满意", Say("bob", "lianxi", "满意", reply_to=12)),
        ("bob@lianxi!press 15 满意", Press("bob", "lianxi", 15, "满意")),
        ("bob@dm!press 3 基本 满意", Press("bob", "dm:bob", 3, "基本 满意")),
        ("~ +3d", AdvanceClock(timedelta(days=3))),
        ("~ +2h", AdvanceClock(timedelta(hours=2))),
        ("~ +30m", AdvanceClock(timedelta(minutes=30))),
        ("~ +1d 2h", AdvanceClock(timedelta(days=1, hours=2))),
        ("~ 2026-12-01 09:00", SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))),
        ("~ 2026-12-01T09:00+00:00", SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))),
        ("/as li@lianxi", SwitchSpeaker("li", "lianxi")),
        ("# a comment", None),
        ("   ", None),
    ],
)
def test_line_grammar(line: str, expected: object) -> None:
    assert parse_line(line, zone=SHANGHAI) == expected


@pytest.mark.parametrize(
    "line",
    [
        "just words",
        "alice@lianxi:",
        "alice@lianxi!press",
        "alice@lianxi!press x 满意",
        "alice@lianxi!press 15",
        "alice@dm:bob: hi",
        "~",
        "~ tomorrow",
        "/as",
    ],
)
def test_malformed_lines_are_refused_with_the_expected_format(line: str) -> None:
    with pytest.raises(LineError) as refused:
        parse_line(line, zone=SHANGHAI)
    assert "/" in str(refused.value)  # English / 中文


def test_plain_lines_go_to_the_default_speaker() -> None:
    assert parse_line("/help", zone=SHANGHAI, speaker="li", default_chat="lianxi") == Say("li", "lianxi", "/help")
    assert parse_line("/help", zone=SHANGHAI, speaker="li") == Say("li", "dm:li", "/help")


def test_plain_output_format() -> None:
    shown = Shown(15, "lianxi", "第一行\n第二行", 12, ["满意", "不满意"])
    assert shown.to_plain() == "[15] lianxi ↩12 | 第一行\n" + " " * 18 + "第二行  [满意] [不满意]"
    assert Shown(3, "dm:alice", "hi", sender="alice").to_plain() == "[3] dm:alice <alice> hi"
    assert json.loads(shown.to_json()) == {
        "id": 15, "chat": "lianxi", "reply_to": 12, "text": "第一行\n第二行", "buttons": ["满意", "不满意"]
    }
    assert "\\u" not in shown.to_json()


# --- transcripts ----------------------------------------------------------------------------------
def test_setup_transcript(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    script = SETUP + """\
li@dm: /whoami
zhang@gongzuo: /help
alice@lianxi: /deputy add alice
alice@lianxi: /help
"""
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.status == 0, result.errors
    assert result.errors == []
    created, bound, staff, deputy, liaison, whoami, staff_help, refused, resident_help = result.messages
    assert created == {
        "id": 2, "chat": "dm:admin", "reply_to": 1, "buttons": [],
        "text": "已创建代表联络站「濂溪社区联络站」（代码 lianxi）。在群里发送 /bind lianxi 把群绑定到本站。",
    }
    assert (bound["id"], bound["chat"], bound["reply_to"]) == (2, "lianxi", 1)
    assert "居民群" in bound["text"]
    assert (staff["id"], staff["chat"], staff["reply_to"]) == (2, "gongzuo", 1)
    assert (deputy["id"], deputy["reply_to"]) == (4, 3) and "代表" in deputy["text"]
    assert (liaison["id"], liaison["reply_to"]) == (6, 5) and "联络员" in liaison["text"]
    assert whoami["chat"] == "dm:li" and "县（区）人大代表" in whoami["text"]
    assert "/deputy" in staff_help["text"]
    assert refused["chat"] == "lianxi" and "没有权限" in refused["text"] and refused["reply_to"] == 3
    assert "/deputy" not in resident_help["text"] and resident_help["reply_to"] == 5


def test_no_admins_configured_means_console_admin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_script(capsys, tmp_path, "admin@dm: /whoami\n", db=db_url)
    assert "您是管理员" in result.messages[0]["text"]
    monkeypatch.setenv("LIAISON_ADMINS", "console:ops")
    result = run_script(capsys, tmp_path, "admin@dm: /whoami\nops@dm: /whoami\n", db=db_url)
    assert "您是管理员" not in result.messages[0]["text"]
    assert "您是管理员" in result.messages[1]["text"]


def test_restart_on_the_same_database_continues_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    first = run_script(capsys, tmp_path, SETUP, db=db_url)
    assert first.status == 0
    second = run_script(
        capsys, tmp_path, "admin@lianxi: /whoami\nadmin@dm: /stations\nnew@dm: /whoami\n", db=db_url,
        clock="2026-12-01T10:00+08:00",
    )
    # Nothing from the first run is delivered again, and every chat's numbers go on.
    assert [(m["chat"], m["id"], m["reply_to"]) for m in second.messages] == [
        ("lianxi", 4, 3), ("dm:admin", 4, 3), ("dm:new", 2, 1),
    ]
    assert "濂溪社区联络站" in second.messages[1]["text"]
    ids = query(db_url, "select chat_id, message_id from message where platform = 'console'")
    assert len(ids) == len(set(ids))


def test_reply_to_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    script = SETUP + "alice@lianxi^2: 谢谢\nalice@lianxi^99: 没有这条\n"
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.status == 1
    [error] = result.errors
    assert error["line"] == 8 and "99" in error["error"] and error["input"] == "alice@lianxi^99: 没有这条"
    [(reply_to,)] = query(
        db_url, "select reply_to from message where platform='console' and chat_id='lianxi' and text='谢谢'"
    )
    assert reply_to == "2"


def test_press_on_unknown_message_or_label_is_a_console_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    script = SETUP + """\
bob@lianxi!press 42 满意
bob@lianxi!press 2 满意
admin@dm: /whoami
"""
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.status == 1
    unknown_message, unknown_label = result.errors
    assert unknown_message["line"] == 7 and "42" in unknown_message["error"]
    assert unknown_label["line"] == 8 and "满意" in unknown_label["error"]
    assert "您是管理员" in result.messages[-1]["text"], "the script goes on after an error"


def test_malformed_lines_do_not_stop_the_script(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    script = "hello there\nadmin@dm: /whoami\n~ next tuesday\nadmin@dm:bob: hi\nadmin@dm: /stations\n"
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.status == 1
    assert [error["line"] for error in result.errors] == [1, 3, 4]
    assert all("error" in error and "input" in error for error in result.errors)
    assert len(result.messages) == 2


def test_plain_mode_echoes_input_and_prints_errors_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    from bot import cli

    script = tmp_path / "plain.txt"
    script.write_text("admin@dm: /whoami\nnonsense\n", encoding="utf-8")
    status = cli.main(["console", "--script", str(script), "--db", db_url, "--clock", "2026-12-01T09:00+08:00"])
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.out.splitlines()
    assert lines[0] == "[1] dm:admin <admin> /whoami"
    assert lines[1].startswith("[2] dm:admin ↩1 | 您是 admin（console:admin）。")
    assert captured.err.startswith("console: line 2: expected `user@chat: text`")


def test_clock_lines_move_the_clock(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    script = """\
admin@dm: one
~ +3d
admin@dm: two
~ +2h
~ +30m
admin@dm: three
~ 2026-12-10 08:00
admin@dm: four
~ 2026-12-01 09:00
"""
    result = run_script(capsys, tmp_path, script, db=db_url)
    [back] = result.errors
    assert back["line"] == 9 and "2026-12-10T08:00+08:00" in back["error"]
    rows = query(db_url, "select text, created_at from message where platform='console' order by id")
    stamps = {text: datetime.fromisoformat(created).replace(tzinfo=UTC).astimezone(SHANGHAI) for text, created in rows}
    start = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    assert stamps == {
        "one": start,
        "two": start + timedelta(days=3),
        "three": start + timedelta(days=3, hours=2, minutes=30),
        "four": datetime(2026, 12, 10, 8, 0, tzinfo=SHANGHAI),
    }


def test_clock_without_offset_is_in_liaison_timezone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_TIMEZONE", "Europe/Berlin")
    run_script(capsys, tmp_path, "~ 2026-12-02 09:00\nadmin@dm: hi\n", db=db_url, clock="2026-12-01T00:00+00:00")
    [(created,)] = query(db_url, "select created_at from message where text='hi'")
    assert datetime.fromisoformat(created) == datetime(2026, 12, 2, 8, 0)  # 09:00 CET is 08:00 UTC


def test_script_from_stdin(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    import asyncio

    from bot.cli import run_console
    from bot.settings import load_settings

    out, err = io.StringIO(), io.StringIO()
    settings = load_settings(database_url=db_url)
    stdin = io.StringIO("admin@dm: /whoami\nbad\n")
    status = asyncio.run(run_console(
        settings, json_mode=True, start=datetime(2026, 12, 1, 9, tzinfo=SHANGHAI), stdin=stdin, out=out, err=err,
    ))
    assert status == 1
    [message] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert message["chat"] == "dm:admin" and message["reply_to"] == 1
    assert json.loads(err.getvalue())["line"] == 2


def test_demo_seeds_once(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    first = run_script(capsys, tmp_path, "zhang@gongzuo: /deputies\n", db=db_url, extra=("--demo",))
    assert first.status == 0, first.errors
    [report] = first.notes
    assert report["demo"]["station"] == "demo" and report["demo"]["failed"] == []
    assert {"station demo", "residents chat lianxi", "staff chat gongzuo", "deputy li", "deputy wang",
            "liaison zhang"} <= set(report["demo"]["created"])
    assert any(line.startswith("alice@lianxi:") for line in report["demo"]["try"])
    assert {"reception 2026-12-08 09:00-11:30", "duty roster"} <= set(report["demo"]["created"]), "a reception next week"
    listing = first.messages[-1]
    assert listing["chat"] == "gongzuo" and "li" in listing["text"] and "wang" in listing["text"]
    assert "zhang" in listing["text"]

    second = run_script(capsys, tmp_path, "", db=db_url, extra=("--demo",), clock="2026-12-01T10:00+08:00")
    [again] = second.notes
    assert again["demo"]["created"] == [] and again["demo"]["failed"] == []
    assert second.messages == [], "a second --demo says and changes nothing"
    assert query(db_url, "select count(*) from station") == [(1,)]


def test_demo_plain_output_explains_what_to_try(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    from bot import cli

    status = cli.main(["console", "--script", str(TRANSCRIPTS / "empty.txt"), "--db", db_url, "--demo"])
    out = capsys.readouterr().out
    assert status == 0
    assert "lianxi" in out and "gongzuo" in out and "Try / 试试" in out
