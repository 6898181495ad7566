"""/stats: the figures stations report (受理、办结、办结率、按时办结率、满意率) for a month, a year or all time.

Counted over the items received in the period, from the items and their event history, so the
figures can be recomputed at any time and agree with the export.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time

from handlers import masking, outbox
from handlers.args import MAX_YEAR, MIN_YEAR, year_in_range
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import require_station
from handlers.reception_parse import ParseError, parse_month
from handlers.router import Command, Feature
from storage import items as items_repo
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import OPEN_STATUSES, ChatPurpose, Item, Rating, Station

YEAR = re.compile(r"^(\d{4})年?$", re.ASCII)
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


@dataclass(frozen=True)
class Period:
    since: datetime | None
    until: datetime | None
    label: str
    key: str  # stable name for outbox keys: 2026-12, 2026, all


def parse_period(ctx: Context, station: Station) -> Period:
    """The period a report covers: this month by default, `2026-12` / `12月`, `2026`, or `all`."""
    zone = ctx.zone(station)
    today = ctx.now().astimezone(zone).date()
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    token = ctx.args[0] if ctx.args else ""

    def moment(day: date | None) -> datetime | None:
        return datetime.combine(day, time.min, tzinfo=zone) if day is not None else None

    def month_period(year: int, number: int) -> Period:
        end = date(year + (number == 12), number % 12 + 1, 1)
        return Period(moment(date(year, number, 1)), moment(end),
                      ctx.tr(_("{year}年{month}月"), year=year, month=number), f"{year}-{number:02d}")

    if not token:
        return month_period(today.year, today.month)
    if token.lower() in ALL:
        return Period(None, None, ctx.tr(_("全部")), "all")
    if match := YEAR.match(token):
        year = int(match.group(1))
        if not year_in_range(year):
            raise ctx.usage_error(ctx.tr(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token,
                                         low=MIN_YEAR, high=MAX_YEAR))
        return Period(moment(date(year, 1, 1)), moment(date(year + 1, 1, 1)), ctx.tr(_("{year}年"), year=year),
                      str(year))
    try:
        month = parse_month(token, today)
    except ParseError as error:
        raise ctx.usage_error(ctx.tr(error.msgid, **error.values)) from None
    if month is None:
        raise ctx.usage_error(ctx.tr(_("「{value}」不是月份或年份，例如 2026-12、12月、2026 或 all。"), value=token))
    return month_period(*month)


async def _period_items(ctx: Context) -> tuple[Station, Period, list[Item], dict[int, str]]:
    """The station, the period the command names, its items received then and their closing events."""
    station = require_station(ctx)
    period = parse_period(ctx, station)
    items = await items_repo.items_received(
        session=ctx.session, station_id=station.id or 0, since=period.since, until=period.until
    )
    terminal = await items_repo.last_terminal_events(session=ctx.session, item_ids=[i.id or 0 for i in items])
    return station, period, items, terminal


async def stats_command(ctx: Context) -> None:
    station, period, items, terminal = await _period_items(ctx)
    f = figures(items, terminal, ctx.now())
    lines = [
        ctx.tr(_("{station} {period}事项统计："), station=station.name, period=period.label),
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


async def publish_command(ctx: Context) -> None:
    """Post the period's handled items and results to the residents' chats: the item number, its
    category, text and result, masked (`handlers.masking`), and no names at all."""
    station, period, items, terminal = await _period_items(ctx)
    handled = [item for item in items if item.status not in OPEN_STATUSES]
    if not handled:
        raise ctx.error(_("{period}还没有办结或不予受理的事项，无可公示。"), period=period.label)
    chats = await stations_repo.bindings_of(session=ctx.session, station_id=station.id or 0,
                                            purpose=ChatPurpose.RESIDENTS)
    if not chats:
        raise ctx.error(_("本站还没有绑定居民群，无处公示。请先在居民群发送 /bind {code}。"), code=station.code)
    tr = translator(ctx.language_for(station))
    f = figures(items, terminal, ctx.now())
    lines = [
        tr(_("【办理情况公示】{station} {period}"), station=station.name, period=period.label),
        tr(_("共受理 {received} 件，办结 {resolved} 件，不予受理 {rejected} 件，办理中 {open} 件；满意率 {satisfaction}。"),
           received=f.received, resolved=f.resolved, rejected=f.rejected, open=f.open,
           satisfaction=rate(f.satisfied + f.basically_satisfied, f.rated)),
    ]
    names = await people_repo.names_of_people(
        session=ctx.session, person_ids={person for item in handled for person in (item.reporter_id, item.assignee_id)
                                         if person is not None},
    )
    hidden: Counter[masking.Kind] = Counter()
    for item in handled:
        text, result = masking.mask(item.text, names=names), masking.mask(item.result or "", names=names)
        hidden += text.hidden + result.hidden
        outcome = tr(_("不予受理")) if terminal.get(item.id or 0) == "rejected" else tr(_("已办结"))
        lines.append(publicity_line(tr, item, text.text, outcome, result.text))
    text = "\n".join(lines)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    posted = 0
    for binding in chats:
        _row, created = await outbox.to_chat(
            session=ctx.session, key=f"publish:station:{station.id}:{period.key}:{digest}:chat:{binding.id}",
            purpose="publicity", platform=binding.platform, chat_id=binding.chat_id, text=text, now=ctx.now(),
            station_id=station.id, private=False,
        )
        posted += created
    if not posted:
        raise ctx.error(_("这份公示已经发布过，内容没有变化。"))
    answer = [ctx.tr(_("已在居民群公示 {period}的 {count} 件事项，公示中不含任何姓名。"), period=period.label,
                     count=len(handled))]
    if hidden:
        answer.append(ctx.tr(_("已隐去个人信息：{hidden}。"), hidden=masking.describe_hidden(ctx.tr, hidden)))
    await ctx.reply("\n".join(answer))


def publicity_line(tr: Translator, item: Item, text: str, outcome: str, result: str) -> str:
    """`#3【建议】东门路灯坏了 —— 已办结：已更换灯泡` (text and result already masked)."""
    category = tr(_("【{tag}】"), tag=item.tag) if item.tag else ""
    return tr(_("#{number}{category}{text} —— {outcome}：{result}"), number=item.number, category=category,
              text=text, outcome=outcome, result=result)


FEATURE = Feature(
    name="reports",
    commands=[
        Command("stats", stats_command, _("/stats [2026-12|12月|2026|all]"),
                _("本站事项统计：受理、办结率、按时办结率、满意率")),
        Command("publish", publish_command, _("/publish [2026-12|12月|2026|all]"),
                _("在居民群公示已办结事项及结果（不含个人信息）")),
    ],
)

