"""`liaison-bot export items`: csv (UTF-8 BOM for Excel) and xlsx, one row per item, station filter."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot import cli
from storage import items as items_repo
from storage.db import create_engine, session_factory
from storage.export import ITEM_COLUMNS
from storage.models import ItemStatus, Person, Rating, Station
from tests.transcripts.runner import clean_environment

CREATED = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
CLOSED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


async def _seed(db_url: str) -> None:
    """Two stations and three items, written straight through the repositories (export reads, never writes)."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        lianxi = Station(code="lianxi", name="濂溪社区联络站", created_at=CREATED)
        berlin = Station(code="berlin", name="Berlin", timezone="Europe/Berlin", created_at=CREATED)
        alice = Person(display_name="王阿姨", created_at=CREATED)
        li = Person(display_name="李代表", created_at=CREATED)
        session.add_all([lianxi, berlin, alice, li])
        await session.flush()
        light = items_repo.create_item(
            session=session, station=lianxi, tag="建议", text="东门路灯坏了，晚上很黑",
            reporter_id=alice.id or 0, source_message=None, now=CREATED,
        )
        light.status, light.assignee_id, light.result = ItemStatus.CLOSED, li.id, "已更换灯泡"
        light.rating, light.closed_at = Rating.SATISFIED, CLOSED
        items_repo.create_item(
            session=session, station=lianxi, tag="求助", text='含有逗号, 引号"和\n换行',
            reporter_id=alice.id or 0, source_message=None, now=CREATED,
        )
        items_repo.create_item(
            session=session, station=berlin, tag="issue", text="bench broken",
            reporter_id=alice.id or 0, source_message=None, now=CREATED,
        )
        await session.commit()
    await engine.dispose()


@pytest.fixture
def seeded(db_url: str) -> str:
    asyncio.run(_seed(db_url))
    return db_url


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads the Chinese correctly"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_to_a_file(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "items.csv"
    assert cli.main(["export", "items", "--db", seeded, "--out", str(out)]) == 0
    data = out.read_bytes()
    rows = read_csv(data)
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(ITEM_COLUMNS)
    assert [(row["station"], row["number"]) for row in rows] == [("lianxi", "1"), ("lianxi", "2"), ("berlin", "1")]
    first = rows[0]
    assert first == {
        "station": "lianxi", "number": "1", "created_at": "2026-12-01T09:30:00+08:00", "reporter": "王阿姨",
        "tag": "建议", "text": "东门路灯坏了，晚上很黑", "status": "closed", "assignee": "李代表",
        "closed_at": "2026-12-03T16:00:00+08:00", "result": "已更换灯泡", "rating": "satisfied",
    }
    assert rows[1]["text"] == '含有逗号, 引号"和\n换行'
    assert rows[1]["status"] == "new" and rows[1]["assignee"] == "" and rows[1]["closed_at"] == ""
    assert rows[2]["created_at"] == "2026-12-01T02:30:00+01:00", "each station's own offset"


def test_csv_to_stdout_filtered_by_station(seeded: str, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert cli.main(["export", "items", "--db", seeded, "--station", "berlin"]) == 0
    rows = read_csv(capfdbinary.readouterr().out)
    assert [(row["station"], row["text"]) for row in rows] == [("berlin", "bench broken")]


def test_unknown_station_is_an_error(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", "items", "--db", seeded, "--station", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_xlsx_from_the_suffix(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "台账.xlsx"
    assert cli.main(["export", "items", "--db", seeded, "--out", str(out), "--station", "lianxi"]) == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ITEM_COLUMNS
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["F"].width >= 40  # the text column is wide enough to read
    assert values[1][:4] == ("lianxi", 1, "2026-12-01T09:30:00+08:00", "王阿姨")
    assert values[1][6] == "closed" and values[1][10] == "satisfied"
    assert len(values) == 3


def test_explicit_format_wins_over_the_suffix(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "items.dat"
    assert cli.main(["export", "items", "--db", seeded, "--out", str(out), "--format", "xlsx"]) == 0
    assert out.read_bytes()[:2] == b"PK"
    out_csv = tmp_path / "items.xlsx.txt"
    assert cli.main(["export", "items", "--db", seeded, "--out", str(out_csv)]) == 0
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbf")


def test_empty_database_exports_a_header(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "none.csv"
    assert cli.main(["export", "items", "--db", db_url, "--out", str(out)]) == 0
    assert read_csv(out.read_bytes()) == []
    assert os.path.getsize(out) > 3
