"""/stats and /publish: the figures stations report (受理、办结、按时办结率、满意率) and publicity (公示),
for a month, a year or all time.

Every figure counts an event in the period it happened, computed from the items' event history
by one function, `period_figures` (its docstring is the definition of each figure). Events after
the end of a period are not looked at, so a past month's figures never change afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from handlers import masking, outbox
from handlers.args import MAX_YEAR, MIN_YEAR, year_in_range
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import require_station
from handlers.reception_parse import ParseError, parse_month
from handlers.router import Command, Feature
from storage import items as items_repo
from storage import kv
from storage import people as people_repo
from storage import stations as stations_repo
from storage.items import RESOLUTION_KINDS, TERMINAL_KINDS
from storage.models import OPEN_STATUSES, ChatPurpose, Item, ItemEvent, ItemStatus, Rating, Station

YEAR = re.compile(r"^(\d{4})年?$", re.ASCII)
ALL = ("all", "全部")
PUBLISHED_KEY = "published:station:{station_id}:{period}"


@dataclass(frozen=True)
class Period:
    since: datetime | None  # inclusive; None: from the beginning
    until: datetime | None  # exclusive; None: open-ended
    label: str
    key: str  # stable name for outbox and state keys: 2026-12, 2026, all
    last_day: date | None = None  # the period's last local day, to say "as of" for a past period


@dataclass
class PeriodFigures:
    received: int = 0
    received_resolved: int = 0
    resolved: int = 0
    on_time: int = 0
    rejected: int = 0
    open: int = 0
    overdue: int = 0
    ratings: Counter[Rating] = field(default_factory=Counter)

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def satisfaction(self) -> str:
        return rate(self.ratings[Rating.SATISFIED] + self.ratings[Rating.BASICALLY_SATISFIED], self.rated)


def rate(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def _within(moment: datetime, period: Period) -> bool:
    return (period.since is None or moment >= period.since) and (period.until is None or moment < period.until)


def period_cutoff(period: Period, now: datetime) -> datetime | None:
    """The end of a period that is over; None while it lasts (then everything up to now counts)."""
    return period.until if period.until is not None and period.until <= now else None


def period_figures(
    history: Sequence[tuple[Item, Sequence[ItemEvent]]], period: Period, now: datetime
) -> PeriodFigures:
    """The station's figures for a period, each event counted in the period it happened.

    `history` is every item received before the period's end with its events in order (events
    after the end are ignored, so a closed period's figures never change).

    - received: items received in the period; received_resolved: of those, the ones resolved
      (办结: resolved or answered, not rejected) at the period's end — the resolution rate is
      received_resolved / received.
    - resolved: items with a resolution ('resolved', or 'answered' by the station) in the period,
      whenever received; on_time: of those, the ones whose last resolution in the period came by
      the deadline in force then (an item without a deadline, such as a direct answer, is on time).
    - rejected: items referred / not accepted ('rejected') in the period.
    - open, overdue: items open at the period's end (now for the current period), and of those
      the ones past the deadline in force at that moment.
    - ratings: the ratings given in the period that belong to their item's latest round as of the
      period's end (a later resolution in the period makes an earlier rating history); the
      satisfaction rate is (满意 + 基本满意) / all of them.
    """
    cutoff = period_cutoff(period, now)
    end = cutoff or now
    result = PeriodFigures()
    for item, all_events in history:
        if cutoff is not None and item.created_at >= cutoff:
            continue
        events = [event for event in all_events if cutoff is None or event.at < cutoff]
        status = next((e.to_status for e in reversed(events) if e.to_status), ItemStatus.NEW)
        if _within(item.created_at, period):
            result.received += 1
            result.received_resolved += status in (ItemStatus.RESOLVED, ItemStatus.CLOSED)
        resolutions = [e for e in events if e.kind in RESOLUTION_KINDS and _within(e.at, period)]
        if resolutions:
            last = resolutions[-1]
            result.resolved += 1
            result.on_time += last.due_at is None or last.at <= last.due_at
        result.rejected += any(e.kind == "rejected" and _within(e.at, period) for e in events)
        if status in OPEN_STATUSES:
            result.open += 1
            deadline = events[-1].due_at if events else None
            result.overdue += deadline is not None and deadline < end
        rating = _latest_round_rating(events)
        if rating is not None and _within(rating[0].at, period):
            result.ratings[rating[1]] += 1
    return result


def _latest_round_rating(events: Sequence[ItemEvent]) -> tuple[ItemEvent, Rating] | None:
    """The last rating, unless a resolution came after it (then the new round has none yet)."""
    for event in reversed(events):
        if event.kind in RESOLUTION_KINDS:
            return None
        if event.kind == "rated" and event.note:
            code = event.note.partition(":")[0].strip()
            if code in {member.value for member in Rating}:
                return event, Rating(code)
    return None


def parse_period(ctx: Context, station: Station) -> Period:
    """The period a report covers: this month by default, `2026-12` / `12月`, `2026`, or `all`."""
    zone = ctx.zone(station)
    today = ctx.now().astimezone(zone).date()
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    token = ctx.args[0] if ctx.args else ""

    def moment(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=zone)

    def span(first: date, following: date, label: str, key: str) -> Period:
        return Period(moment(first), moment(following), label, key, following - timedelta(days=1))

    def month_period(year: int, number: int) -> Period:
        following = date(year + (number == 12), number % 12 + 1, 1)
        return span(date(year, number, 1), following, ctx.tr(_("{year}年{month}月"), year=year, month=number),
                    f"{year}-{number:02d}")

    if not token:
        return month_period(today.year, today.month)
    if token.lower() in ALL:
        return Period(None, None, ctx.tr(_("全部")), "all")
    if match := YEAR.match(token):
        year = int(match.group(1))
        if not year_in_range(year):
            raise ctx.usage_error(ctx.tr(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token,
                                         low=MIN_YEAR, high=MAX_YEAR))
        return span(date(year, 1, 1), date(year + 1, 1, 1), ctx.tr(_("{year}年"), year=year), str(year))
    try:
        month = parse_month(token, today)
    except ParseError as error:
        raise ctx.usage_error(ctx.tr(error.msgid, **error.values)) from None
    if month is None:
        raise ctx.usage_error(ctx.tr(_("「{value}」不是月份或年份，例如 2026-12、12月、2026 或 all。"), value=token))
    return month_period(*month)


async def _period_history(ctx: Context) -> tuple[Station, Period, list[tuple[Item, list[ItemEvent]]]]:
    station = require_station(ctx)
    period = parse_period(ctx, station)
    history = await items_repo.station_history(
        session=ctx.session, station_id=station.id or 0, until=period_cutoff(period, ctx.now())
    )
    return station, period, history


def as_of(tr: Translator, period: Period, now: datetime) -> str:
    """'截至2026年10月31日' for a past period, '截至目前' while it lasts."""
    day = period.last_day
    if period_cutoff(period, now) is None or day is None:
        return tr(_("截至目前"))
    return tr(_("截至{year}年{month}月{day}日"), year=day.year, month=day.month, day=day.day)


async def stats_command(ctx: Context) -> None:
    station, period, history = await _period_history(ctx)
    f = period_figures(history, period, ctx.now())
    tr = ctx.tr
    lines = [
        tr(_("{station} {period}事项统计："), station=station.name, period=period.label),
        tr(_("受理 {received} 件，{as_of}已办结 {done} 件（办结率 {resolution}）。"), received=f.received,
           as_of=as_of(tr, period, ctx.now()), done=f.received_resolved, resolution=rate(f.received_resolved, f.received)),
        tr(_("办结 {resolved} 件，其中按时办结 {on_time} 件（按时办结率 {on_time_rate}）；不予受理 {rejected} 件。"),
           resolved=f.resolved, on_time=f.on_time, on_time_rate=rate(f.on_time, f.resolved), rejected=f.rejected),
        tr(_("{as_of}办理中 {open} 件，其中超期 {overdue} 件。"), as_of=as_of(tr, period, ctx.now()), open=f.open,
           overdue=f.overdue),
        tr(_("评价 {rated} 件：满意 {satisfied}、基本满意 {basically}、不满意 {unsatisfied}（满意率 {satisfaction}）。"),
           rated=f.rated, satisfied=f.ratings[Rating.SATISFIED], basically=f.ratings[Rating.BASICALLY_SATISFIED],
           unsatisfied=f.ratings[Rating.UNSATISFIED], satisfaction=f.satisfaction),
        tr(_("统计口径：受理按收到时间，办结、不予受理按办结时间，评价按评价时间计入本期（同一事项只计最新一轮评价）；"
             "没有办理时限的（如当场答复）算按时办结。")),
    ]
    await ctx.reply("\n".join(lines))


@dataclass(frozen=True)
class Handled:
    """One item's line in a publicity notice: how it ended in the period, and with what result."""

    item: Item
    kind: str  # resolved, answered, rejected
    result: str


def handled_in(history: Sequence[tuple[Item, Sequence[ItemEvent]]], period: Period) -> list[Handled]:
    """The items resolved, answered or referred in the period, each with its last such event there."""
    found = []
    for item, events in history:
        ends = [e for e in events if e.kind in TERMINAL_KINDS and _within(e.at, period)]
        if ends:
            found.append(Handled(item, ends[-1].kind, ends[-1].note or ""))
    return found


OUTCOMES = {"resolved": _("已办结"), "answered": _("已答复"), "rejected": _("不予受理")}


async def publish_command(ctx: Context) -> None:
    """Post the items resolved or referred in the period to the residents' chats: the item number,
    its category, text and result, masked (`handlers.masking`), and no names at all. Publishing a
    period again posts only the items whose line changed since its last publication."""
    station, period, history = await _period_history(ctx)
    handled = handled_in(history, period)
    if not handled:
        raise ctx.error(_("{period}没有办结或不予受理的事项，无可公示。"), period=period.label)
    chats = await stations_repo.bindings_of(session=ctx.session, station_id=station.id or 0,
                                            purpose=ChatPurpose.RESIDENTS)
    if not chats:
        raise ctx.error(_("本站还没有绑定居民群，无处公示。请先在居民群发送 /bind {code}。"), code=station.code)
    tr = translator(ctx.language_for(station))
    names = await people_repo.names_of_people(
        session=ctx.session,
        person_ids={person for h in handled for person in (h.item.reporter_id, h.item.assignee_id) if person is not None},
    )
    lines: dict[str, str] = {}
    hidden_in: dict[str, Counter[masking.Kind]] = {}
    for entry in handled:
        text, result = masking.mask(entry.item.text, names=names), masking.mask(entry.result, names=names)
        number = str(entry.item.number)
        lines[number] = publicity_line(tr, entry.item, text.text, tr(OUTCOMES[entry.kind]), result.text)
        hidden_in[number] = text.hidden + result.hidden
    state_key = PUBLISHED_KEY.format(station_id=station.id, period=period.key)
    published: dict[str, str] = json.loads(await kv.get_value(session=ctx.session, key=state_key) or "{}")
    changed = {number: line for number, line in lines.items() if published.get(number) != _digest(line)}
    if not changed:
        raise ctx.error(_("{period}的公示自上次发布以来没有变化，不再重复发布。"), period=period.label)
    f = period_figures(history, period, ctx.now())
    header = (_("【办理情况公示·更新】{station} {period}（上次公示后有变化的事项）") if published
              else _("【办理情况公示】{station} {period}"))
    text = "\n".join([
        tr(header, station=station.name, period=period.label),
        tr(_("本期受理 {received} 件，办结 {resolved} 件，不予受理 {rejected} 件；满意率 {satisfaction}。"),
           received=f.received, resolved=f.resolved, rejected=f.rejected, satisfaction=f.satisfaction),
        *changed.values(),
    ])
    for binding in chats:
        await outbox.to_chat(
            session=ctx.session, key=f"publish:station:{station.id}:{period.key}:{_digest(text)}:chat:{binding.id}",
            purpose="publicity", platform=binding.platform, chat_id=binding.chat_id, text=text, now=ctx.now(),
            station_id=station.id, private=False,
        )
    published.update({number: _digest(line) for number, line in changed.items()})
    await kv.set_value(session=ctx.session, key=state_key, value=json.dumps(published, sort_keys=True), now=ctx.now())
    answer = [ctx.tr(_("已在居民群公示 {period}的 {count} 件事项，公示中不含任何姓名。") if len(changed) == len(lines)
                     else _("已在居民群公示 {period}有变化的 {count} 件事项，公示中不含任何姓名。"),
                     period=period.label, count=len(changed))]
    hidden = sum((hidden_in[number] for number in changed), Counter[masking.Kind]())
    if hidden:
        answer.append(ctx.tr(_("已隐去个人信息：{hidden}。"), hidden=masking.describe_hidden(ctx.tr, hidden)))
    await ctx.reply("\n".join(answer))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
