"""/stats: the figures a station reports upward, from SQL (`storage.reports`), and its chart.

`/stats [period] [station|all] [by deputy] [chart]`. Each event counts in the period it happened
in (received when it arrived, resolved when it was resolved, a rating when it was given; open and
overdue as of the end of the period). A station with stations below it sees its own figures, each
child's (with everything below that child) and the total; `all` lists every station below one by
one; a station code narrows to that station. `by deputy` gives each deputy's items and attendance;
`chart` sends a PNG of the months (`handlers.charts`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import charts, group_stats
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.ledgers import station_figures
from handlers.people import require_station
from handlers.periods import PERIOD_HINT, Period, next_month, parse_period, previous_month
from handlers.reception_parse import ParseError
from handlers.router import Command, Feature
from handlers.transport import Attachment, FileKind
from storage import reports as figures_repo
from storage.reports import Attendance, ItemFigures, Span, StationNode

BY_DEPUTY = ("deputy", "deputies", "代表", "按代表")
BY_WORDS = ("by", "按")
CHART = ("chart", "图表", "图")
ALL = ("all", "全部")
TREND_MONTHS = 6  # a one-month chart shows the months leading up to it
MAX_CHART_MONTHS = 36


def percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


@dataclass
class StatsRequest:
    period: Period
    stations: list[StationNode]  # the tree the figures cover, the asked-for station first
    each: bool = False  # `all`: every station one by one
    by_deputy: bool = False
    by_group: str | None = None  # "unit" or "category" (handlers.group_stats)
    chart: bool = False


async def parse_request(ctx: Context) -> StatsRequest:
    station = require_station(ctx)
    today = ctx.now().astimezone(ctx.zone(station)).date()
    tree = await figures_repo.station_tree(session=ctx.session, root_id=station.id)
    period: Period | None = None
    request = StatsRequest(Period.month(today.year, today.month), tree)
    tokens = [token.lower() for token in ctx.args]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token in BY_WORDS and index < len(tokens) and tokens[index] in BY_DEPUTY:
            request.by_deputy, index = True, index + 1
        elif token in BY_WORDS and index < len(tokens) and tokens[index] in group_stats.GROUPS:
            request.by_group, index = group_stats.GROUPS[tokens[index]], index + 1
        elif token in ("按单位", "按承办单位", "按类别", "by-unit", "by_unit", "by-category", "by_category"):
            request.by_group = "category" if "categ" in token or "类别" in token else "unit"
        elif token in BY_DEPUTY[2:] or token in ("by-deputy", "by_deputy"):
            request.by_deputy = True
        elif token in CHART:
            request.chart = True
        elif token in ALL:
            request.each = True
        elif (named := next((node for node in tree if node.code.lower() == token), None)) is not None:
            request.stations = subtree_of(tree, named.id)
        else:
            try:
                found = parse_period(ctx.args[index - 1], today)
            except ParseError as error:
                raise ctx.usage_error(error.msgid, **error.values) from None
            if found is None or period is not None:
                raise ctx.usage_error(
                    _("不认识「{value}」。可以写时间、本站或下级站点的代码、all、by deputy（按代表）、by unit（按单位）、"
                      "by category（按类别）或 chart（图表）；{hint}"),
                    value=ctx.args[index - 1], hint=ctx.tr(PERIOD_HINT))
            period = found
    if period is not None:
        request.period = period
    return request


def subtree_of(tree: list[StationNode], station_id: int) -> list[StationNode]:
    """The part of a tree at and below one station, in the same order, depths kept."""
    keep = set(figures_repo.descendants(tree, station_id))
    return [node for node in tree if node.id in keep]


def figures_line(tr: Translator, items: ItemFigures, tally: Attendance) -> str:
    """One station's figures on one line (a roll-up's rows)."""
    line = tr(_("受理 {received}，办结 {resolved}（按时 {on_time}），不予受理 {rejected}，办理中 {open}（超期 {overdue}），"
                "满意率 {satisfaction}"),
              received=items.received, resolved=items.resolved, on_time=items.on_time, rejected=items.rejected,
              open=items.open, overdue=items.overdue, satisfaction=percent(items.content, items.rated))
    if tally.on_duty:
        line += tr(_("，出勤率 {rate}"), rate=percent(tally.present, tally.on_duty))
    return line


def as_of(tr: Translator, period: Period, zone: ZoneInfo, now: datetime) -> str:
    """'截至2026年10月31日' for a period that is over, '截至目前' while it lasts."""
    if period.bounds(zone)[1] > now or period.kind == "all":
        return tr(_("截至目前"))
    day = period.end - timedelta(days=1)
    return tr(_("截至{year}年{month}月{day}日"), year=day.year, month=day.month, day=day.day)


def figures_block(tr: Translator, items: ItemFigures, tally: Attendance, ended: str) -> list[str]:
    """A station's (or a total's) figures, spelled out; `ended` says as of when (`as_of`)."""
    lines = [
        tr(_("受理 {received} 件，{as_of}已办结 {done} 件（办结率 {resolution}）。"), received=items.received,
           as_of=ended, done=items.received_resolved, resolution=percent(items.received_resolved, items.received)),
        tr(_("办结 {resolved} 件，其中按时办结 {on_time} 件（按时办结率 {on_time_rate}）；不予受理 {rejected} 件。"),
           resolved=items.resolved, on_time=items.on_time, on_time_rate=percent(items.on_time, items.resolved),
           rejected=items.rejected),
        tr(_("{as_of}办理中 {open} 件，其中超期 {overdue} 件。"), as_of=ended, open=items.open, overdue=items.overdue),
        tr(_("评价 {rated} 件：满意 {satisfied}、基本满意 {basically}、不满意 {unsatisfied}（满意率 {satisfaction}）。"),
           rated=items.rated, satisfied=items.satisfied, basically=items.basically_satisfied,
           unsatisfied=items.unsatisfied, satisfaction=percent(items.content, items.rated)),
    ]
    if items.supporters or items.merged:
        lines.append(tr(_("居民附议 {supporters} 人次（涉及 {supported} 件）；重复反映合并 {merged} 件，已并入原事项，不另计受理。"),
                        supporters=items.supporters, supported=items.supported, merged=items.merged))
    if tally.held:
        lines.append(tr(_("接待日 {held} 场，代表应到 {on_duty} 人次、实到 {present} 人次，出勤率 {rate}。"),
                        held=tally.held, on_duty=tally.on_duty, present=tally.present,
                        rate=percent(tally.present, tally.on_duty)))
    return lines


BASIS = _("统计口径：受理按收到时间，办结、不予受理按办结时间，评价按评价时间计入本期（同一事项只计最新一轮评价）；"
          "没有办理时限的（如当场答复）算按时办结。")


async def station_report(session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                         now: datetime, *, each: bool = False) -> list[str]:
    """The text of /stats (and of the monthly notice): one station, or a station and those below."""
    root = stations[0]
    computed = await station_figures(session, stations, Span(period.start, period.end, now))
    label = period.label(tr)
    ended = as_of(tr, period, ZoneInfo(root.timezone), now)
    if len(stations) == 1:
        items, tally = computed.own.get(root.id, ItemFigures()), computed.tallies.get(root.id, Attendance())
        return [tr(_("{station} {period}事项统计："), station=root.name, period=label),
                *figures_block(tr, items, tally, ended), tr(BASIS)]
    total_items, total_tally = computed.subtree(root.id)
    lines = [tr(_("{station} {period}事项统计（含下级 {count} 个站点）："), station=root.name, period=label,
                count=len(stations) - 1),
             *[(tr(_("合计：")) if index == 0 else "") + line
               for index, line in enumerate(figures_block(tr, total_items, total_tally, ended))]]
    if each:
        rows = [(node, computed.own.get(node.id, ItemFigures()), computed.tallies.get(node.id, Attendance()))
                for node in stations]
        for node, items, tally in rows:
            lines.append("　" * node.depth + f"· {node.name}：" + figures_line(tr, items, tally))
    else:
        lines.append(f"· {root.name}" + tr(_("（本级）")) + "：" + figures_line(
            tr, computed.own.get(root.id, ItemFigures()), computed.tallies.get(root.id, Attendance())))
        for child in computed.children(root.id):
            items, tally = computed.subtree(child.id)
            below = tr(_("（含下级）")) if computed.children(child.id) else ""
            lines.append(f"· {child.name}{below}：" + figures_line(tr, items, tally))
    lines.append(tr(BASIS))
    return lines


async def deputy_report(session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                        now: datetime) -> list[str]:
    """Each deputy's items and attendance over the period (/stats by deputy)."""
    span = Span(period.start, period.end, now)
    station_ids = [node.id for node in stations]
    items = await figures_repo.item_figures(session=session, stations=stations, span=span, grouping="deputy")
    tallies = await figures_repo.attendance(session=session, station_ids=station_ids, start=period.start,
                                            end=period.end, grouping="deputy")
    people = await figures_repo.deputies(session=session, station_ids=station_ids,
                                         also=[key for key in [*items, *tallies] if key[1] is not None])
    lines = [tr(_("{station} {period}各代表履职情况："), station=stations[0].name, period=period.label(tr))]
    names = {node.id: node.name for node in stations}
    for deputy in people:
        key = (deputy.station_id, deputy.person_id)
        figures, tally = items.get(key, ItemFigures()), tallies.get(key, Attendance())
        where = f"（{names[deputy.station_id]}）" if len(stations) > 1 else ""
        lines.append(f"· {deputy.name}{where}：" + deputy_line(tr, figures, tally))
    unassigned = ItemFigures.total(value for key, value in items.items() if key[1] is None)
    if unassigned.received or unassigned.open:
        lines.append(tr(_("· 未分派：受理 {received} 件，办理中 {open} 件。"), received=unassigned.received,
                        open=unassigned.open))
    if len(lines) == 1:
        lines.append(tr(_("本期没有代表的记录。")))
    return lines


def deputy_line(tr: Translator, items: ItemFigures, tally: Attendance) -> str:
    if not (items.received or items.resolved or items.open or items.rated):
        line = tr(_("本期没有承办事项"))
    else:
        line = tr(_("承办 {received} 件，办结 {resolved} 件（按时 {on_time} 件），办理中 {open} 件（超期 {overdue} 件），满意率 {satisfaction}"),
                  received=items.received, resolved=items.resolved, on_time=items.on_time, open=items.open,
                  overdue=items.overdue, satisfaction=percent(items.content, items.rated))
    if tally.on_duty or tally.walk_in:
        if tally.on_duty:
            line += tr(_("；接待日值班 {on_duty} 次、到场 {present} 次（出勤率 {rate}）"), on_duty=tally.on_duty,
                       present=tally.present, rate=percent(tally.present, tally.on_duty))
        if tally.walk_in:
            line += tr(_("，主动到站 {count} 次"), count=tally.walk_in)
    return line


def chart_months(period: Period) -> list[date]:
    """The months a chart shows: the period's, or for one month the six up to it (a trend)."""
    if period.kind == "month":
        months = [period.start]
        while len(months) < TREND_MONTHS:
            months.insert(0, previous_month(months[0]))
        return months
    return period.months()[-MAX_CHART_MONTHS:]


async def chart_data(session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                     now: datetime) -> charts.ChartData:
    months = chart_months(period)
    monthly = await figures_repo.monthly_figures(session=session, stations=stations, months=months, now=now)
    points = []
    for month, figures in zip(months, monthly, strict=True):
        total = ItemFigures.total(figures.values())
        points.append(charts.MonthPoint(month, total.received, total.resolved, total.rejected, total.on_time,
                                        total.rated, total.content))
    tallies = await figures_repo.attendance(session=session, station_ids=[node.id for node in stations],
                                            start=period.start, end=min(period.end, next_month(months[-1])),
                                            grouping="deputy")
    per_person: dict[int, Attendance] = {}
    for (_station, person_id), tally in tallies.items():  # a deputy of two stations is one bar
        per_person.setdefault(person_id, Attendance()).add(tally)
    names = await figures_repo.person_names(session=session, person_ids=per_person)
    bars = sorted((charts.DeputyBar(names.get(person_id, ""), tally.present, tally.on_duty)
                   for person_id, tally in per_person.items()), key=lambda bar: (-bar.on_duty, bar.name))
    root = stations[0]
    title = tr(_("{station} {period}事项与出勤"), station=root.name, period=period.label(tr))
    return charts.ChartData(title, points, bars[:20], period.label(tr))


async def chart_attachment(session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                           now: datetime) -> Attachment:
    """The chart as a photo to send; drawn on a worker thread (matplotlib takes a few hundred ms)."""
    data = await chart_data(session, tr, stations, period, now)
    png = await asyncio.to_thread(charts.render_png, data, tr)
    return Attachment(kind=FileKind.PHOTO, filename=f"{stations[0].code}-{period.key}.png", mime=charts.PNG_MIME,
                      data=png)


async def stats_command(ctx: Context) -> None:
    request = await parse_request(ctx)
    tr = ctx.tr
    if request.by_group is not None:
        lines = await group_stats.group_report(ctx.session, tr, request.stations, request.period, ctx.now(),
                                               request.by_group)
    elif request.by_deputy:
        lines = await deputy_report(ctx.session, tr, request.stations, request.period, ctx.now())
    else:
        lines = await station_report(ctx.session, tr, request.stations, request.period, ctx.now(), each=request.each)
    if not request.chart:
        await ctx.reply("\n".join(lines))
        return
    station_tr = translator(ctx.language_for(ctx.station))
    try:
        attachment = await chart_attachment(ctx.session, station_tr, request.stations, request.period, ctx.now())
    except charts.ChartError:
        raise ctx.error(_("服务器缺少中文字体，暂时无法生成图表。请管理员安装中文字体（Debian：apt-get install fonts-noto-cjk；"
                          "make install 会自动安装），文字统计请发送 /stats。")) from None
    await ctx.reply("\n".join(lines), attachment=attachment, purpose="chart")


FEATURE = Feature(
    name="stats",
    commands=[
        Command("stats", stats_command, _("/stats [时间] [站点代码|all] [by deputy|unit|category] [chart]"),
                _("事项统计：受理、办结、按时办结率、满意率、出勤率；可按代表、承办单位、类别，看下级站点、发图表")),
    ],
)
