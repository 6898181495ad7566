"""/publish: publicity (公示) of the items resolved or referred in a period, without personal data.

The period is read as `/stats` reads it (`handlers.periods`); the figures in the notice's header
are the `/stats` figures (`storage.reports.item_figures`, whose docstring defines each of them).
Events after the end of a period are not looked at, so a past month's publication never changes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers import masking, outbox
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import require_station
from handlers.periods import PERIOD_HINT, Period, parse_period
from handlers.reception_parse import ParseError
from handlers.router import Command, Feature
from handlers.stats import percent
from storage import items as items_repo
from storage import kv
from storage import people as people_repo
from storage import reports as figures_repo
from storage import stations as stations_repo
from storage.items import TERMINAL_KINDS
from storage.models import ChatPurpose, Item, ItemEvent, Station
from storage.reports import ItemFigures, Span
from storage.rows import id_of

PUBLISHED_KEY = "published:station:{station_id}:{period}"


@dataclass(frozen=True)
class Window:
    """The period a publication covers, as instants in the station's zone; `cutoff` is its end
    when it is over (events after it are not looked at), None while it lasts."""

    period: Period
    since: datetime
    until: datetime
    cutoff: datetime | None

    def within(self, moment: datetime) -> bool:
        return self.since <= moment < self.until


async def _period_history(ctx: Context) -> tuple[Station, Window, list[tuple[Item, list[ItemEvent]]]]:
    station = require_station(ctx)
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    zone = ctx.zone(station)
    today = ctx.now().astimezone(zone).date()
    try:
        period = parse_period(ctx.args[0], today) if ctx.args else Period.month(today.year, today.month)
    except ParseError as error:
        raise ctx.usage_error(error.msgid, **error.values) from None
    if period is None:
        raise ctx.usage_error(_("「{value}」不是时间。{hint}"), value=ctx.args[0], hint=ctx.tr(PERIOD_HINT))
    since, until = period.bounds(zone)
    window = Window(period, since, until, until if until <= ctx.now() else None)
    history = await items_repo.station_history(session=ctx.session, station_id=id_of(station), until=window.cutoff)
    return station, window, history


@dataclass(frozen=True)
class Handled:
    """One item's line in a publicity notice: how it ended in the period, and with what result."""

    item: Item
    kind: str  # resolved, answered, rejected
    result: str


def handled_in(history: Sequence[tuple[Item, Sequence[ItemEvent]]], window: Window) -> list[Handled]:
    """The items resolved, answered or referred in the period, each with its last such event there."""
    found = []
    for item, events in history:
        ends = [e for e in events if e.kind in TERMINAL_KINDS and window.within(e.at)]
        if ends:
            found.append(Handled(item, ends[-1].kind, ends[-1].note or ""))
    return found


OUTCOMES = {"resolved": _("已办结"), "answered": _("已答复"), "rejected": _("不予受理")}


async def publish_command(ctx: Context) -> None:
    """Post the items resolved or referred in the period to the residents' chats: the item number,
    its category, text and result, masked (`handlers.masking`), and no names at all. Publishing a
    period again posts only the items whose line changed since its last publication."""
    station, window, history = await _period_history(ctx)
    period, label = window.period, window.period.label(ctx.tr)
    everything = handled_in(history, window)
    handled = [entry for entry in everything if not entry.item.private]  # a private report is never shown in a group
    withheld = len(everything) - len(handled)
    if not handled:
        if withheld:
            raise ctx.error(_("{period}办结或不予受理的事项都是居民私信反映的，不在群里公示，无可公示。"), period=label)
        raise ctx.error(_("{period}没有办结或不予受理的事项，无可公示。"), period=label)
    chats = await stations_repo.bindings_of(session=ctx.session, station_id=id_of(station),
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
        raise ctx.error(_("{period}的公示自上次发布以来没有变化，不再重复发布。"), period=label)
    tree = await figures_repo.station_tree(session=ctx.session, root_id=station.id)
    computed = await figures_repo.item_figures(session=ctx.session, stations=tree[:1],
                                               span=Span(period.start, period.end, ctx.now()))
    f = computed.get((station.id,), ItemFigures())
    header = (_("【办理情况公示·更新】{station} {period}（上次公示后有变化的事项）") if published
              else _("【办理情况公示】{station} {period}"))
    text = "\n".join([
        tr(header, station=station.name, period=period.label(tr)),
        tr(_("本期受理 {received} 件，办结 {resolved} 件，不予受理 {rejected} 件；满意率 {satisfaction}。"),
           received=f.received, resolved=f.resolved, rejected=f.rejected, satisfaction=percent(f.content, f.rated)),
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
                     period=label, count=len(changed))]
    if withheld:
        answer.append(ctx.tr(_("居民私信反映的 {count} 件事项不在群里公示。"), count=withheld))
    hidden = sum((hidden_in[number] for number in changed), Counter[masking.Kind]())
    if hidden:
        answer.append(ctx.tr(_("已隐去个人信息：{hidden}。"), hidden=masking.describe_hidden(ctx.tr, hidden)))
    await ctx.reply("\n".join(answer))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def publicity_line(tr: Translator, item: Item, text: str, outcome: str, result: str) -> str:
    """`#3【建议】东门路灯坏了 —— 已办结：已更换灯泡` (text and result already masked)."""
    label = item.tag or item.category  # a visitor's matter has no tag; staff may have filed it (/tag)
    category = tr(_("【{tag}】"), tag=label) if label else " "
    return tr(_("#{number}{category}{text} —— {outcome}：{result}"), number=item.number, category=category,
              text=text, outcome=outcome, result=result)


FEATURE = Feature(
    name="reports",
    commands=[
        Command("publish", publish_command, _("/publish [2026-12|12月|2026Q4|2026|all]"),
                _("在居民群公示已办结事项及结果（不含个人信息）")),
    ],
)
