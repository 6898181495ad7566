"""/stats, deeper: periods (month, quarter, year, span), a parent station with its children and the
total, every station below, one station, by deputy, and the chart — on the hand-worked county of
tests/reports_data.py (its November figures are derived in tests/test_reports_sql.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.app import App
from handlers.transport import FileKind
from storage.models import ChatBinding, ChatPurpose, ReceptionSettings
from tests.harness import PLATFORM, ChatDriver, FakeTransport
from tests.reports_data import seed


@pytest.fixture
async def county(app: App, transport: FakeTransport, chat: ChatDriver) -> ChatDriver:
    async with app.sessions() as session:
        seeded = await seed(session)
        for station in seeded.stations.values():  # November's notice is out: no charts drawn here
            session.add(ReceptionSettings(station_id=station.id or 0, last_report_month="2026-11"))
        for code in ("xian", "jiangzhou"):
            session.add(ChatBinding(platform=PLATFORM, chat_id=f"{code}-staff", station_id=seeded.stations[code].id or 0,
                                    purpose=ChatPurpose.STAFF))
        await session.commit()
    await app.settle()
    return chat


async def stats(chat: ChatDriver, where: str, args: str) -> str:
    [answer] = await chat.say("admin", f"{where}-staff", f"/stats {args}".strip())
    return answer.text


async def test_a_parent_sees_its_children_and_the_total(county: ChatDriver) -> None:
    text = await stats(county, "jiangzhou", "11月")
    assert text.splitlines() == [
        "江州镇联络站 2026年11月事项统计（含下级 1 个站点）：",
        "合计：受理 9 件，截至2026年11月30日已办结 3 件（办结率 33.3%）。",
        "办结 5 件，其中按时办结 4 件（按时办结率 80.0%）；不予受理 1 件。",
        "截至2026年11月30日办理中 6 件，其中超期 3 件。",
        "评价 4 件：满意 2、基本满意 1、不满意 1（满意率 75.0%）。",
        "接待日 3 场，代表应到 5 人次、实到 3 人次，出勤率 60.0%。",
        "· 江州镇联络站（本级）：受理 6，办结 3（按时 2），不予受理 1，办理中 5（超期 3），满意率 66.7%，出勤率 50.0%",
        "· 濂溪社区联络室：受理 3，办结 2（按时 2），不予受理 0，办理中 1（超期 0），满意率 100.0%，出勤率 100.0%",
        "统计口径：受理按收到时间，办结、不予受理按办结时间，评价按评价时间计入本期（同一事项只计最新一轮评价）；"
        "没有办理时限的（如当场答复）算按时办结。",
    ]


async def test_all_one_station_and_periods(county: ChatDriver) -> None:
    every = (await stats(county, "xian", "11月 all")).splitlines()
    assert every[0] == "县代表之家 2026年11月事项统计（含下级 3 个站点）："
    assert every[1] == "合计：受理 10 件，截至2026年11月30日已办结 4 件（办结率 40.0%）。"
    assert [line.split("：")[0] for line in every if "·" in line] == [
        "· 县代表之家", "　· 湖口镇联络站", "　· 江州镇联络站", "　　· 濂溪社区联络室"]
    room = (await stats(county, "xian", "lianxi 2026-11")).splitlines()
    assert room[:2] == ["濂溪社区联络室 2026年11月事项统计：", "受理 3 件，截至2026年11月30日已办结 2 件（办结率 66.7%）。"]
    assert (await stats(county, "jiangzhou", "2026Q4")).startswith("江州镇联络站 2026年第4季度事项统计")
    assert (await stats(county, "jiangzhou", "四季度")).startswith("江州镇联络站 2026年第4季度事项统计")
    span = await stats(county, "jiangzhou", "2026-10..2026-11 jiangzhou")
    assert span.startswith("江州镇联络站 2026-10-01 至 2026-11-30事项统计")
    assert "受理 11 件" in span, "October's J2 J3, November's six, and 濂溪's three"


async def test_by_deputy(county: ChatDriver) -> None:
    lines = (await stats(county, "jiangzhou", "11月 by deputy")).splitlines()
    assert lines[0] == "江州镇联络站 2026年11月各代表履职情况："
    assert ("· 李明（江州镇联络站）：承办 2 件，办结 3 件（按时 2 件），办理中 1 件（超期 1 件），满意率 66.7%；"
            "接待日值班 2 次、到场 2 次（出勤率 100.0%）") in lines
    assert "· 王芳（江州镇联络站）：承办 2 件，办结 0 件（按时 0 件），办理中 3 件（超期 2 件），满意率 —；接待日值班 2 次、到场 0 次（出勤率 0.0%）" in lines
    assert "· 赵强（江州镇联络站）：本期没有承办事项，主动到站 1 次" in lines
    assert "· 未分派：受理 4 件，办理中 2 件。" in lines
    assert lines == (await stats(county, "jiangzhou", "11月 按代表")).splitlines()


async def test_chart_is_a_photo_with_the_figures_as_caption(county: ChatDriver) -> None:
    [answer] = await county.say("admin", "jiangzhou-staff", "/stats chart 11月")
    chart = answer.outgoing.attachment
    assert chart is not None and chart.kind is FileKind.PHOTO and chart.mime == "image/png"
    assert chart.filename == "jiangzhou-2026-11.png"
    assert Image.open(io.BytesIO(chart.data)).size == (1440, 1020)
    assert answer.text.startswith("江州镇联络站 2026年11月事项统计（含下级 1 个站点）：")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("2026-13", "「2026-13」不是有效的月份。"),
        ("3000", "「3000」的年份应在 2000 到 2099 年之间。"),
        ("hello", "不认识「hello」"),
        ("11月 10月", "不认识「10月」"),
        ("2026-12..2026-10", "「2026-12..2026-10」的结束早于开始。"),
    ],
)
async def test_bad_input_says_what_was_expected(county: ChatDriver, args: str, expected: str) -> None:
    text = await stats(county, "jiangzhou", args)
    assert expected in text and "用法：/stats" in text
