"""The chart: a real PNG (decoded with Pillow) with Chinese drawn in a CJK font, never boxes."""

from __future__ import annotations

import io
import warnings
from datetime import date

import pytest
from PIL import Image

from handlers import charts
from handlers.i18n import translator
from handlers.periods import Period
from handlers.stats import chart_data, chart_months
from storage import reports
from storage.db import create_engine, session_factory
from tests.reports_data import NOW, seed

ZH = translator("zh_CN")


def sample() -> charts.ChartData:
    months = [charts.MonthPoint(date(2026, m, 1), received=m, resolved=m - 1, rejected=1, on_time=m - 2, rated=4,
                                content=3) for m in range(6, 12)]
    deputies = [charts.DeputyBar("李明", 2, 2), charts.DeputyBar("王芳", 0, 2), charts.DeputyBar("赵强", 1, 1)]
    return charts.ChartData("江州镇联络站 2026年11月事项与出勤", months, deputies, "2026年11月")


def test_a_cjk_font_is_installed() -> None:
    """`make install` installs one (Debian's fonts-noto-cjk) when the machine has none."""
    assert charts.cjk_family() is not None


def test_png_decodes_with_the_right_size_and_a_picture_on_it() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning while drawing (a missing glyph first of all) fails the test
        png = charts.render_png(sample(), ZH)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (int(charts.SIZE_INCHES[0] * charts.DPI), int(charts.SIZE_INCHES[1] * charts.DPI))
    colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50, "bars, lines and text, not a blank page"
    white = max(colors)[1]
    assert white == (255, 255, 255)
    assert sum(count for count, color in colors if color == (0x44, 0x72, 0xC4)) > 1000, "the received bars are drawn"


def test_a_missing_glyph_refuses_the_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn in a font without Chinese, matplotlib warns of missing glyphs: that is an error, not a picture."""
    monkeypatch.setattr(charts, "cjk_family", lambda: "DejaVu Sans")
    with pytest.raises(charts.ChartError, match="missing from font"):
        charts.render_png(sample(), ZH)


def test_a_month_chart_shows_the_six_months_up_to_it() -> None:
    assert chart_months(Period.month(2026, 2)) == [date(2025, 9, 1), date(2025, 10, 1), date(2025, 11, 1),
                                                   date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert chart_months(Period.quarter(2026, 4)) == [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)]


async def test_chart_data_from_the_county(db_url: str) -> None:
    """October and November of the hand-worked county (tests/test_reports_sql.py): October 江州 received
    J2 J3 and 县代表之家 its own item (3), J1 resolved late and rated 满意; November as in that module."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        seeded = await seed(session)
        tree = await reports.station_tree(session=session, root_id=seeded.stations["xian"].id)
        data = await chart_data(session, ZH, tree, Period.month(2026, 11), NOW)
    await engine.dispose()
    october, november = data.months[-2:]
    assert (october.received, october.resolved, october.on_time, october.rated, october.content) == (3, 1, 0, 1, 1)
    assert (november.received, november.resolved, november.rejected, november.on_time, november.rated,
            november.content) == (10, 6, 1, 5, 5, 4)
    assert [p.received for p in data.months[:4]] == [0, 0, 0, 1], "June to September: J1 in September"
    assert [(bar.name, bar.present, bar.on_duty) for bar in data.deputies] == [
        ("李明", 2, 2), ("王芳", 0, 2), ("赵强", 1, 1)], "赵强's walk-in at 江州 and duty at 濂溪 are one bar"
    assert data.title == "县代表之家 2026年11月事项与出勤"
