"""Charts for the chat: one PNG of a station's (or a county's) months, drawn by matplotlib's
headless Agg backend.

Four panels: items per month by outcome (received, resolved, rejected), the satisfaction rate per
month, the on-time rate per month, and each deputy's attendance over the period. Chinese needs a
CJK font: the first of `CJK_FAMILIES` matplotlib knows, else one found on disk (fonts installed
after matplotlib built its font cache); `make install` installs Debian's fonts-noto-cjk when
there is none. A chart that would draw a missing glyph (a box for every character) is refused,
not sent.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from handlers.i18n import Translator, _

log = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "SimHei", "Noto Sans CJK TC", "Noto Sans CJK JP",
)
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/System/Library/Fonts", "C:/Windows/Fonts")
FONT_FILES = ("*CJK*", "wqy*", "SourceHan*", "msyh*", "simhei*", "PingFang*")
PNG_MIME = "image/png"
SIZE_INCHES = (12.0, 8.5)
DPI = 120

COLORS = {"received": "#4472C4", "resolved": "#70AD47", "rejected": "#A5A5A5", "satisfaction": "#ED7D31",
          "on_time": "#5B9BD5", "attendance": "#FFC000"}


class ChartError(Exception):
    """The chart cannot be drawn as it should be (no CJK font): say so instead of sending boxes."""


@dataclass(frozen=True)
class MonthPoint:
    month: date
    received: int
    resolved: int
    rejected: int
    on_time: int
    rated: int
    content: int  # 满意 + 基本满意


@dataclass(frozen=True)
class DeputyBar:
    name: str
    present: int
    on_duty: int


@dataclass(frozen=True)
class ChartData:
    title: str
    months: Sequence[MonthPoint]
    deputies: Sequence[DeputyBar]
    deputies_period: str


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """A font family with Chinese glyphs that matplotlib can use, or None."""
    from matplotlib import font_manager

    def known() -> str | None:
        names = {entry.name for entry in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found is None:
        for folder in FONT_DIRS:
            root = Path(folder).expanduser()
            if not root.is_dir():
                continue
            for pattern in FONT_FILES:
                for path in root.rglob(pattern):
                    if path.suffix.lower() in (".ttf", ".ttc", ".otf"):
                        font_manager.fontManager.addfont(str(path))
        found = known()
    if found is None:
        log.error("no CJK font found for charts; install one (Debian: apt-get install fonts-noto-cjk)")
    return found


def _percent(part: int, whole: int) -> float | None:
    return part * 100 / whole if whole else None


def render_png(data: ChartData, tr: Translator) -> bytes:
    """The chart as PNG bytes. Raises ChartError when the text cannot be drawn in Chinese."""
    family = cjk_family()
    if family is None:
        raise ChartError("no CJK font")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with warnings.catch_warnings(record=True) as caught, matplotlib.rc_context({
        "font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"], "axes.unicode_minus": False,
    }):
        warnings.simplefilter("always")
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
        figure.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.09, hspace=0.42, wspace=0.16)
        figure.suptitle(data.title, fontsize=16, fontweight="bold")
        top_left, top_right, bottom_left, bottom_right = figure.subplots(2, 2).flat
        labels = [tr(_("{month}月"), month=point.month.month) if point.month.month != 1 or len(data.months) == 1
                  else tr(_("{year}年{month}月"), year=point.month.year, month=1) for point in data.months]
        _items_panel(top_left, data.months, labels, tr)
        _rate_panel(top_right, labels, [_percent(p.content, p.rated) for p in data.months],
                    [p.rated for p in data.months], tr(_("满意率（满意＋基本满意）")), tr(_("评价")), COLORS["satisfaction"])
        _rate_panel(bottom_left, labels, [_percent(p.on_time, p.resolved) for p in data.months],
                    [p.resolved for p in data.months], tr(_("按时办结率")), tr(_("办结")), COLORS["on_time"])
        _attendance_panel(bottom_right, data.deputies, tr(_("代表出勤率（{period}）"), period=data.deputies_period), tr)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", facecolor="white")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    if missing:
        log.error("chart drawn with missing glyphs: %s", missing[0])
        raise ChartError(missing[0])
    return buffer.getvalue()


def render_for(data: ChartData, language: str) -> bytes:
    """`render_png` in a worker process, which is given the language rather than a translator."""
    from handlers.i18n import translator

    return render_png(data, translator(language))


class ChartWorkers:
    """Charts drawn in a process of their own, for a batch of them (the monthly notice of a county
    or a province: hundreds of charts). matplotlib's half second a chart then neither holds the
    event loop nor competes with it for the GIL, and the next station's figures are read while the
    last one's chart is drawn. One process by default: the other core stays the bot's. Started at
    the first chart; `close` ends it."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def render(self, data: ChartData, language: str) -> asyncio.Future[bytes]:
        """The chart's PNG, drawn in the worker (raises ChartError like `render_png`)."""
        if self._pool is None:
            # spawn: a fresh interpreter, not a fork of a process with an event loop and connections
            self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=get_context("spawn"))
        return asyncio.wrap_future(self._pool.submit(render_for, data, language))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def _items_panel(axes, months: Sequence[MonthPoint], labels: list[str], tr: Translator) -> None:  # type: ignore[no-untyped-def]
    width = 0.27
    positions = range(len(months))
    series = (("received", _("受理")), ("resolved", _("办结")), ("rejected", _("不予受理")))
    for offset, (name, label) in enumerate(series):
        values = [getattr(point, name) for point in months]
        bars = axes.bar([x + (offset - 1) * width for x in positions], values, width, label=tr(label),
                        color=COLORS[name])
        axes.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=8)
    axes.set_title(tr(_("各月事项")))
    axes.set_xticks(list(positions), labels)
    axes.set_ylabel(tr(_("件")))
    axes.legend(loc="upper left", fontsize=9)
    axes.set_ylim(bottom=0)
    axes.yaxis.get_major_locator().set_params(integer=True)


def _rate_panel(axes, labels: list[str], rates: list[float | None], counts: list[int], title: str,  # type: ignore[no-untyped-def]
                counted: str, color: str) -> None:
    points = [(x, rate) for x, rate in enumerate(rates) if rate is not None]
    if points:
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o", color=color, linewidth=2)
        for x, y in points:
            axes.annotate(f"{y:.1f}%", (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    axes.set_xticks(range(len(labels)), [f"{label}\n{counted} {count}" for label, count in zip(labels, counts,
                                                                                                 strict=True)])
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylim(0, 110)
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)


def _attendance_panel(axes, deputies: Sequence[DeputyBar], title: str, tr: Translator) -> None:  # type: ignore[no-untyped-def]
    axes.set_title(title)
    shown = [deputy for deputy in deputies if deputy.on_duty]
    if not shown:
        axes.text(0.5, 0.5, tr(_("本期没有已结束的接待日")), ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    names = [deputy.name for deputy in shown]
    rates = [deputy.present * 100 / deputy.on_duty for deputy in shown]
    bars = axes.barh(range(len(shown)), rates, color=COLORS["attendance"])
    axes.bar_label(bars, labels=[f"{rate:.0f}%（{d.present}/{d.on_duty}）" for rate, d in zip(rates, shown, strict=True)],
                   fontsize=8, padding=3)
    axes.set_yticks(range(len(shown)), names)
    axes.invert_yaxis()
    axes.set_xlim(0, 125)
    axes.set_xlabel("%")
