"""/stats: the figures stations report (受理、办结、办结率、按时办结率、满意率) for a month, a year or all time.

Counted over the items received in the period, from the items and their event history, so the
figures can be recomputed at any time and agree with the export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from handlers.context import Context
from handlers.i18n import _
from handlers.people import require_station
from handlers.reception_parse import ParseError, parse_month
from handlers.router import Command, Feature
from storage import items as items_repo
from storage.models import OPEN_STATUSES, Item, Rating

YEAR = re.compile(r"^(\d{4})年?$")
ALL = ("all", "全部")


@dataclass
class ItemFigures:
    received: int = 0
    resolved: int = 0
    rejected: int = 0
    open: int = 0
    overdue: int = 0
    with_deadline: int = 0
    on_time: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0

    @property
    def rated(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied


def rate(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def figures(items: list[Item], last_terminal: dict[int, str], now: datetime) -> ItemFigures:
    """`last_terminal` maps an item to its latest 'resolved'/'rejected' event, telling 办结 from 不予受理
    for items that are closed now."""
    result = ItemFigures(received=len(items))
    for item in items:
        if item.status in OPEN_STATUSES:
            result.open += 1
            if item.due_at is not None and item.due_at < now:
                result.overdue += 1
            continue
        if last_terminal.get(item.id or 0) == "rejected":
            result.rejected += 1
            continue
        result.resolved += 1
        if item.due_at is not None and item.resolved_at is not None:
            result.with_deadline += 1
            result.on_time += item.resolved_at <= item.due_at
        if item.rating == Rating.SATISFIED:
            result.satisfied += 1
        elif item.rating == Rating.BASICALLY_SATISFIED:
            result.basically_satisfied += 1
        elif item.rating == Rating.UNSATISFIED:
            result.unsatisfied += 1
    return result


async def stats_command(ctx: Context) -> None:
    station = require_station(ctx)
    zone = ctx.zone(station)
    today = ctx.now().astimezone(zone).date()
    token = ctx.args[0] if ctx.args else ""
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    if not token:
        start, end, label = date(today.year, today.month, 1), None, ctx.tr(_("{year}年{month}月"), year=today.year,
                                                                             month=today.month)
    elif token.lower() in ALL:
        start, end, label = None, None, ctx.tr(_("全部"))
    elif match := YEAR.match(token):
        year = int(match.group(1))
        start, end, label = date(year, 1, 1), date(year + 1, 1, 1), ctx.tr(_("{year}年"), year=year)
    else:
        try:
            month = parse_month(token, today)
        except ParseError as error:
            raise ctx.usage_error(ctx.tr(error.msgid, **error.values)) from None
        if month is None:
            raise ctx.usage_error(ctx.tr(_("「{value}」不是月份或年份，例如 2026-12、12月、2026 或 all。"), value=token))
        year, number = month
        start = date(year, number, 1)
        end = date(year + (number == 12), number % 12 + 1, 1)
        label = ctx.tr(_("{year}年{month}月"), year=year, month=number)

    def moment(day: date | None) -> datetime | None:
        return datetime.combine(day, time.min, tzinfo=zone) if day is not None else None

    items = await items_repo.items_received(
        session=ctx.session, station_id=station.id or 0, since=moment(start), until=moment(end)
    )
    terminal = await items_repo.last_terminal_events(session=ctx.session, item_ids=[i.id or 0 for i in items])
    f = figures(items, terminal, ctx.now())
    lines = [
        ctx.tr(_("{station} {period}事项统计："), station=station.name, period=label),
        ctx.tr(_("受理 {received} 件，办结 {resolved} 件（办结率 {resolution}），不予受理 {rejected} 件，"
                 "办理中 {open} 件（其中超期 {overdue} 件）。"),
               received=f.received, resolved=f.resolved, resolution=rate(f.resolved, f.received),
               rejected=f.rejected, open=f.open, overdue=f.overdue),
        ctx.tr(_("有办理时限的办结事项 {with_deadline} 件，按时办结 {on_time} 件（按时办结率 {on_time_rate}）。"),
               with_deadline=f.with_deadline, on_time=f.on_time, on_time_rate=rate(f.on_time, f.with_deadline)),
        ctx.tr(_("已评价 {rated} 件：满意 {satisfied}、基本满意 {basically}、不满意 {unsatisfied}（满意率 {satisfaction}）。"),
               rated=f.rated, satisfied=f.satisfied, basically=f.basically_satisfied, unsatisfied=f.unsatisfied,
               satisfaction=rate(f.satisfied + f.basically_satisfied, f.rated)),
    ]
    await ctx.reply("\n".join(lines))


FEATURE = Feature(
    name="reports",
    commands=[
        Command("stats", stats_command, _("/stats [2026-12|12月|2026|all]"),
                _("本站事项统计：受理、办结率、按时办结率、满意率")),
    ],
)

