"""The registers (台账) as files: read back with openpyxl and csv, from the command line, from
/export in a chat (a document through the outbox) and on the console (a file under ./exports/).

The data is the hand-worked county of tests/reports_data.py; its November figures are derived
in tests/test_reports_sql.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import select

from bot import cli
from bot.app import App
from bot.export import export
from handlers.transport import FileKind
from storage.db import create_engine, session_factory
from storage.models import ChatBinding, ChatPurpose, ReceptionSettings, Station
from tests.harness import PLATFORM, ChatDriver, FakeTransport
from tests.reports_data import NOW, seed
from tests.transcripts.runner import clean_environment, run_script

ITEM_KEYS = ["number", "received_on", "reporter", "source", "tag", "category", "text", "supporters", "deputy", "unit",
             "assigned_on", "deadline", "resolved_on", "on_time", "result", "rating", "status"]
ITEM_HEADERS = ("编号", "受理日期", "提出人", "来源", "标签", "类别", "内容", "附议人数", "承办代表", "承办单位", "交办日期",
                "办理时限", "办结日期", "是否按时", "办理结果", "评价", "状态")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


async def _seed(url: str) -> None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await seed(session)
    await engine.dispose()


@pytest.fixture
def county(db_url: str) -> str:
    asyncio.run(_seed(db_url))
    return db_url


def read_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert data.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads the Chinese correctly"
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def widths(sheet: Worksheet) -> dict[str, float]:
    """Column widths by letter (openpyxl groups neighbouring columns of one width)."""
    found: dict[str, float] = {}
    for dimension in sheet.column_dimensions.values():
        for index in range(dimension.min or 1, (dimension.max or dimension.min or 1) + 1):
            found[get_column_letter(index)] = dimension.width
    return found


# --- the command line -----------------------------------------------------------------------------
def test_items_csv_has_the_documented_keys_and_masks(county: str, tmp_path: Path) -> None:
    out = tmp_path / "items.csv"
    assert cli.main(["export", "items", "--station", "jiangzhou", "--period", "2026-11", "--db", county,
                     "--out", str(out)]) == 0
    keys, rows = read_csv(out.read_bytes())
    assert keys == ["station", *ITEM_KEYS], "江州 has a room below it: the rows name their station"
    assert [(row["station"], row["number"]) for row in rows] == [
        ("江州镇联络站", str(n)) for n in (4, 5, 6, 7, 8, 9)] + [("濂溪社区联络室", str(n)) for n in (1, 2, 3)]
    late = rows[0]
    assert late == {
        "station": "江州镇联络站", "number": "4", "received_on": "2026-11-02", "reporter": "刘**", "source": "",
        "tag": "建议", "category": "", "text": "超期办结，电话 ***", "supporters": "", "deputy": "李明", "unit": "",
        "assigned_on": "2026-11-02", "deadline": "2026-11-09",
        "resolved_on": "2026-11-12", "on_time": "否", "result": "已处理", "rating": "基本满意", "status": "已关闭",
    }
    assert rows[4]["status"] == "已重新办理" and rows[4]["on_time"] == "否（超期）", "reopened, past its deadline"
    assert rows[2]["status"] == "不予受理" and rows[2]["deputy"] == ""


def test_full_register_shows_the_reporter_and_the_phone(county: str, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert cli.main(["export", "items", "--station", "jiangzhou", "--period", "2026-11", "--full", "--db",
                     county]) == 0
    _keys, rows = read_csv(capfdbinary.readouterr().out)
    assert (rows[0]["reporter"], rows[0]["text"]) == ("刘大爷", "超期办结，电话 13912345678")


def test_workbook_of_five_registers(county: str, tmp_path: Path) -> None:
    """Written as the command line writes it, on 1 December (the figures are as of the end of November)."""
    out = tmp_path / "台账.xlsx"
    written = asyncio.run(export(database_url=county, ledger="all", station_code="xian", period_token="2026-11",
                                 fmt="xlsx", out=out, full=False, now=NOW, language="zh_CN", zone="Asia/Shanghai"))
    assert written == {"items": 10, "receptions": 3, "attendance": 4, "deputies": 5, "summary": 6}
    book = load_workbook(out)
    assert book.sheetnames == ["意见建议登记簿", "接待登记簿", "代表考勤表", "代表履职档案", "统计汇总"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:"), sheet.title
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9, sheet.title
        assert "县代表之家" in sheet.oddHeader.left.text and "2026年11月" in sheet.oddHeader.right.text
        assert all(cell.font.bold for cell in sheet[1]), sheet.title

    items = book["意见建议登记簿"]
    values = list(items.iter_rows(values_only=True))
    assert values[0] == ("联络站", *ITEM_HEADERS)
    assert len(values) == 1 + 1 + 6 + 3 + 0, "hukou 1, jiangzhou 6, lianxi 3, xian none received in November"
    received = items["C2"]
    assert received.is_date and received.number_format == "yyyy-mm-dd" and received.value == datetime(2026, 11, 8)
    phone_row = next(row for row in values if row[1] == 4 and row[0] == "江州镇联络站")
    assert phone_row[7] == "超期办结，电话 ***" and "13912345678" not in str(values)
    width = widths(items)
    assert width["H"] >= 2 * len("超期办结，电话") + 4, "the text column fits its Chinese"
    assert width["H"] <= 50 and width["A"] >= 2 * len("濂溪社区联络室")

    receptions = list(book["接待登记簿"].iter_rows(values_only=True))
    assert receptions[0] == ("联络站", "日期", "开始时间", "结束时间", "地点", "主题", "值班代表", "签到", "请假", "缺席",
                             "接待人数", "登记事项编号")
    assert receptions[1:] == [
        ("江州镇联络站", datetime(2026, 11, 15), time(9), time(11, 30), "服务中心", "接待", "李明、王芳", "李明", "王芳", None,
         0, None),
        ("江州镇联络站", datetime(2026, 11, 28), time(9), time(11, 30), "服务中心", "接待", "李明、王芳", "李明、赵强", None,
         "王芳", 0, None),
        ("濂溪社区联络室", datetime(2026, 11, 20), time(9), time(11, 30), "服务中心", "接待", "赵强", "赵强", None, None, 0, None),
    ]
    assert book["接待登记簿"]["C2"].number_format == "hh:mm"

    attendance = list(book["代表考勤表"].iter_rows(values_only=True))
    assert attendance[0] == ("联络站", "代表", "月份", "应到", "实到", "请假", "缺席", "主动到站", "出勤率")
    assert attendance[1:] == [
        ("江州镇联络站", "李明", datetime(2026, 11, 1), 2, 2, 0, 0, 0, 1),
        ("江州镇联络站", "王芳", datetime(2026, 11, 1), 2, 0, 1, 1, 0, 0),
        ("江州镇联络站", "赵强", datetime(2026, 11, 1), 0, 0, 0, 0, 1, None),
        ("濂溪社区联络室", "赵强", datetime(2026, 11, 1), 1, 1, 0, 0, 0, 1),
    ]
    assert book["代表考勤表"]["I2"].number_format == "0.0%"

    deputies = list(book["代表履职档案"].iter_rows(values_only=True))
    assert deputies[0] == ("联络站", "代表", "层级", "接待次数", "出勤率", "承办事项", "办结", "按时办结", "满意率")
    assert ("湖口镇联络站", "孙丽", "县（区）", 0, None, 1, 1, 1, 1) in deputies
    assert ("江州镇联络站", "李明", "县（区）", 2, 1, 2, 3, 2, pytest.approx(2 / 3)) in deputies
    assert ("江州镇联络站", "王芳", "市", 0, 0, 2, 0, 0, None) in deputies

    summary = list(book["统计汇总"].iter_rows(values_only=True))
    assert summary[0][:6] == ("联络站", "级别", "受理", "其中已办结", "办结率", "办结")
    names = [row[0] for row in summary[1:]]
    assert names == ["县代表之家", "　湖口镇联络站", "　江州镇联络站", "　　濂溪社区联络室", "江州镇联络站 小计", "县代表之家 小计"]
    county_total = summary[-1]
    assert county_total[2:18] == (10, 4, pytest.approx(0.4), 6, 5, pytest.approx(5 / 6), 1, 7, 3, 5, 3, 1, 1,
                                  pytest.approx(0.8), 3, pytest.approx(0.6))
    assert summary[-2][2:11] == (9, 3, pytest.approx(1 / 3), 5, 4, pytest.approx(0.8), 1, 6, 3)
    assert book["统计汇总"]["A7"].font.bold and not book["统计汇总"]["A2"].font.bold


def test_headers_follow_the_station_language(county: str, tmp_path: Path) -> None:
    async def english() -> None:
        engine = create_engine(county)
        async with session_factory(engine)() as session:
            hukou = (await session.exec(select(Station).where(Station.code == "hukou"))).one()
            hukou.language = "en"
            session.add(hukou)
            await session.commit()
        await engine.dispose()

    asyncio.run(english())
    out = tmp_path / "hukou.xlsx"
    assert cli.main(["export", "items", "--station", "hukou", "--period", "2026-11", "--db", county,
                     "--out", str(out)]) == 0
    sheet = load_workbook(out).worksheets[0]
    assert sheet.title == "Suggestions register"
    assert [cell.value for cell in sheet[1]][:3] == ["No.", "Received", "Raised by"]


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["export", "items", "--station", "nowhere"], "nowhere"),
        (["export", "all", "--format", "csv"], "one register"),
        (["export", "items", "--period", "13月"], "13月"),
        (["export", "items", "--period", "2026-12..2026-10"], "2026-12..2026-10"),
    ],
)
def test_bad_arguments_exit_2(county: str, capsys: pytest.CaptureFixture[str], argv: list[str], problem: str) -> None:
    assert cli.main([*argv, "--db", county]) == 2
    assert problem in capsys.readouterr().err


def test_empty_database_exports_a_header(db_url: str, tmp_path: Path) -> None:
    async def one_station() -> None:
        engine = create_engine(db_url)
        async with session_factory(engine)() as session:
            session.add(Station(code="lianxi", name="濂溪社区联络站"))
            await session.commit()
        await engine.dispose()

    asyncio.run(one_station())
    out = tmp_path / "none.csv"
    assert cli.main(["export", "items", "--db", db_url, "--out", str(out)]) == 0
    assert read_csv(out.read_bytes()) == (ITEM_KEYS, [])


# --- /export in a chat ----------------------------------------------------------------------------
async def bind(app: App, code: str, chat_id: str, purpose: ChatPurpose) -> None:
    async with app.sessions() as session:
        station = (await session.exec(select(Station).where(Station.code == code))).one()
        session.add(ChatBinding(platform=PLATFORM, chat_id=chat_id, station_id=station.id or 0, purpose=purpose))
        await session.commit()


@pytest.fixture
async def county_app(app: App, transport: FakeTransport) -> App:
    async with app.sessions() as session:
        seeded = await seed(session)
        for station in seeded.stations.values():  # November's notice is out: no charts drawn here
            session.add(ReceptionSettings(station_id=station.id or 0, last_report_month="2026-11"))
        await session.commit()
    await bind(app, "jiangzhou", "gongzuo", ChatPurpose.STAFF)
    await bind(app, "jiangzhou", "jiangzhou-jumin", ChatPurpose.RESIDENTS)
    await app.settle()  # what the seeded data makes due (chasers) goes out first
    return app


async def test_export_in_the_staff_chat_sends_a_document(county_app: App, chat: ChatDriver) -> None:
    [sent] = await chat.say("admin", "gongzuo", "/export items 11月")
    attachment = sent.outgoing.attachment
    assert attachment is not None and attachment.kind is FileKind.DOCUMENT
    assert attachment.filename == "jiangzhou-意见建议登记簿-2026-11.xlsx"
    assert attachment.mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert sent.chat == "gongzuo" and sent.reply_to == chat.last_message_id
    assert sent.text.splitlines()[:2] == ["江州镇联络站 2026年11月台账：", "意见建议登记簿 9 行"]
    assert "含下级站点 1 个。" in sent.text and "/export items 2026-11 full" in sent.text
    sheet = load_workbook(io.BytesIO(attachment.data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 10 and rows[1][3] == "刘**" and rows[1][7] == "超期办结，电话 ***"
    async with county_app.sessions() as session:
        from storage.models import OutboxFile

        [stored] = (await session.exec(select(OutboxFile).where(OutboxFile.filename == attachment.filename))).all()
    assert stored.data is None and stored.size == len(attachment.data), "sent: the bytes are not kept"


async def test_export_refused_in_the_residents_group_and_to_deputies(county_app: App, chat: ChatDriver) -> None:
    [refused] = await chat.say("admin", "jiangzhou-jumin", "/export")
    assert refused.outgoing.attachment is None and "不能发在居民群" in refused.text
    [bad] = await chat.say("admin", "gongzuo", "/export 账本")
    assert "不认识「账本」" in bad.text and bad.outgoing.attachment is None
    [two] = await chat.say("admin", "gongzuo", "/export items receptions")
    assert "一次导出一种台账" in two.text
    [csv_all] = await chat.say("admin", "gongzuo", "/export csv")
    assert "CSV 只能装一种台账" in csv_all.text


async def test_export_csv_by_dm_after_use(county_app: App, chat: ChatDriver) -> None:
    await chat.say("admin", "dm:admin", "/use hukou")
    [sent] = await chat.say("admin", "dm:admin", "/export summary 2026Q4 csv")
    assert sent.chat == "dm:admin" and sent.outgoing.attachment is not None
    assert sent.outgoing.attachment.filename == "hukou-统计汇总-2026Q4.csv"
    keys, rows = read_csv(sent.outgoing.attachment.data)
    assert keys[:6] == ["station", "level", "received", "received_resolved", "resolution_rate", "resolved"]
    assert [(row["station"], row["received"], row["satisfaction"]) for row in rows] == [("湖口镇联络站", "1", "100.0%")]


def test_console_writes_the_file_under_exports(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    script = "\n".join([
        "admin@dm: /station add lianxi 濂溪社区联络站",
        "admin@gongzuo: /bind lianxi staff",
        "admin@lianxi: /bind lianxi",
        "alice@lianxi: #建议 东门路灯坏了，请联系 13912345678",
        "admin@gongzuo: /export items",
        "admin@gongzuo: /export items",
    ])
    result = run_script(capsys, tmp_path, script, db=db_url)
    first, second = [m for m in result.in_chat("gongzuo") if "file" in m]
    assert first["file"] == "exports/lianxi-意见建议登记簿-2026-12.xlsx"
    assert second["file"] == "exports/lianxi-意见建议登记簿-2026-12-2.xlsx", "an earlier export is never overwritten"
    sheet = load_workbook(tmp_path / first["file"]).worksheets[0]
    assert [cell.value for cell in sheet[2]][:7] == [1, datetime(2026, 12, 1), "a****", "群聊", "建议", None,
                                                     "东门路灯坏了，请联系 ***"]
    assert date(2026, 12, 1) == sheet["B2"].value.date()
