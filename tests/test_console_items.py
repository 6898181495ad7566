"""The whole item loop on the console, across restarts: intake → /assign → /close → feedback with buttons →
`!press 不满意` reopens → handled again → a `^id` reply rates it → closed → exported.

Each phase is a separate `liaison-bot console` run on one database file, as a bot restarted in between.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from bot import cli
from tests.transcripts.runner import Transcript, clean_environment, run_script

RATING_BUTTONS = ["满意", "基本满意", "不满意"]

INTAKE = """\
admin@dm: /station add lianxi 濂溪社区联络站 站
admin@lianxi: /bind lianxi residents
admin@gongzuo: /bind lianxi staff
admin@gongzuo: /deputy add li county
admin@gongzuo: /liaison add zhang
alice@lianxi: #建议 东门的路灯坏了，晚上很黑
zhang@gongzuo: /assign 1 li
li@dm: /progress 1 已联系物业
li@dm: /close 1 已更换灯泡
"""


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


def highest_ids(*transcripts: Transcript) -> dict[str, int]:
    highest: dict[str, int] = {}
    for transcript in transcripts:
        for message in transcript.messages:
            highest[message["chat"]] = max(highest.get(message["chat"], 0), message["id"])
    return highest


def feedback_in(result: Transcript) -> dict:
    [feedback] = [m for m in result.messages if m["chat"] == "lianxi" and m["buttons"]]
    return feedback


def test_item_loop_across_restarts(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    # Day 1: a resident raises an item; the liaison assigns it; the deputy resolves it.
    day1 = run_script(capsys, tmp_path, INTAKE, db=db_url, clock="2026-12-01T09:00+08:00", name="day1.txt")
    assert day1.status == 0, day1.errors
    [ack] = day1.replies_to("lianxi", 3)[:1]
    assert "#1" in ack["text"]
    assert any(m["chat"] == "dm:li" and "#1" in m["text"] and m["reply_to"] is None for m in day1.messages)
    feedback = feedback_in(day1)
    assert feedback["reply_to"] == 3, "the result answers the resident's own message"
    assert feedback["buttons"] == RATING_BUTTONS and "已更换灯泡" in feedback["text"]

    # Day 2, after a restart: someone else can't rate; the resident is unsatisfied, so it is handled again.
    day2_script = f"""\
bob@lianxi!press {feedback["id"]} 满意
alice@lianxi!press {feedback["id"]} 不满意
zhang@gongzuo: /assign 1 li
li@dm: /progress 1 加装路灯
li@dm: /close 1 已更换灯泡并加装了一盏
"""
    day2 = run_script(capsys, tmp_path, day2_script, db=db_url, clock="2026-12-02T09:00+08:00", name="day2.txt")
    assert day2.status == 0, day2.errors
    before = highest_ids(day1)
    for message in day2.messages:
        assert message["id"] > before.get(message["chat"], 0), f"id reused or message repeated: {message}"
    [refused] = day2.in_chat("dm:bob")
    assert "#1" in refused["text"]
    [answer] = day2.in_chat("dm:alice")
    assert "不满意" in answer["text"]
    assert any("不满意" in m["text"] for m in day2.in_chat("gongzuo")), "the staff chat hears of the reopening"
    second = feedback_in(day2)
    assert second["reply_to"] == 3 and second["buttons"] == RATING_BUTTONS
    assert "加装了一盏" in second["text"]

    # Day 3: the resident answers the feedback by replying to it; the item closes; a late press changes nothing.
    day3 = run_script(
        capsys, tmp_path, f"alice@lianxi^{second['id']}: 满意\nalice@lianxi!press {second['id']} 不满意\n",
        db=db_url, clock="2026-12-03T09:00+08:00", name="day3.txt",
    )
    assert day3.status == 0, day3.errors
    thanks, late = day3.messages
    assert thanks["chat"] == "lianxi" and "满意" in thanks["text"] and "#1" in thanks["text"]
    assert late["chat"] == "dm:alice" and late["id"] == answer["id"] + 1, "press answers keep their numbers"

    with sqlite3.connect(db_url.split("///", 1)[1]) as connection:
        [(status, rating, reopened)] = connection.execute("select status, rating, reopen_count from item").fetchall()
    assert (status, rating, reopened) == ("closed", "satisfied", 1)

    out = tmp_path / "items.csv"
    assert cli.main(["export", "items", "--full", "--db", db_url, "--out", str(out)]) == 0
    [row] = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert row["status"] == "已关闭" and row["rating"] == "满意" and row["deputy"] == "li"
    assert row["reporter"] == "alice" and row["resolved_on"] == "2026-12-02", "resolved again on day 2, rated on day 3"
    assert row["result"] == "已更换灯泡并加装了一盏"


def test_a_second_run_numbers_its_messages_after_the_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    """Running the same intake script twice on one database is two different messages, never a duplicate id."""
    first = run_script(capsys, tmp_path, INTAKE, db=db_url)
    second = run_script(capsys, tmp_path, "alice@lianxi: #建议 东门的路灯坏了，晚上很黑\n", db=db_url,
                        clock="2026-12-01T10:00+08:00")
    [ack] = second.messages
    assert "#2" in ack["text"] and ack["reply_to"] == highest_ids(first)["lianxi"] + 1
