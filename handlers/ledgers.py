"""The five registers (台账) a station keeps, as the offices file them.

意见建议登记簿 (items), 接待登记簿 (receptions), 代表考勤表 (attendance), 代表履职档案 (deputy
record) and 统计汇总 (summary, with the station tree's subtotals). Each register is a list of
columns and an async stream of rows read from the database a page at a time, written straight
into the workbook, so a county's year is never all in memory.

The columns are data: a column of the items register is one line (`Column(key, header, kind,
value)`); a value that is a field of `Item` is read as `lambda row: row.item.<field>`.
Outside the full register (`full`) the reporter's name is shortened to the surname and the text
and result go through the masking of public texts (`handlers.masking`).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Translator, _
from handlers.items import STATUS_LABELS
from handlers.masking import mask, mask_name
from handlers.periods import Period
from handlers.rating import RATING_LABELS
from handlers.workbook import CellKind, Column, CsvWriter
from handlers.workbook_process import WorkbookProcess
from storage import reports as figures_repo
from storage import units as units_repo
from storage.models import (
    OPEN_STATUSES,
    ChatBinding,
    Duty,
    HandlingUnit,
    Item,
    ItemEvent,
    Message,
    Outcome,
    Person,
    Reception,
    ReceptionStatus,
    StationLevel,
    Supporter,
    Visitor,
)
from storage.reports import Attendance, ItemFigures, Span, StationNode
from storage.rows import id_of

PAGE = 1000  # rows read per query
C = CellKind

LEVEL_NAMES = {
    StationLevel.HOME: _("代表之家"),
    StationLevel.STATION: _("代表联络站"),
    StationLevel.ROOM: _("联络室"),
    StationLevel.PROFESSIONAL: _("专业代表工作站"),
}
CONGRESS_NAMES = {
    "national": _("全国"), "provincial": _("省"), "city": _("市"), "county": _("县（区）"), "township": _("乡镇（街道）"),
}


@dataclass
class Scope:
    """What a register covers: the stations (a station and those below it), the period, the
    language, and whether personal data is shown in full."""

    session: AsyncSession
    stations: list[StationNode]
    period: Period
    now: datetime
    tr: Translator
    full: bool = False
    everything: bool = False  # every station (the command line without --station)
    # A text masked for the register, (text, reporter) -> text; results repeat (已办结, 转信访 …),
    # so each distinct one is masked once.
    masked: Callable[[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.masked = lru_cache(maxsize=4096)(lambda text, reporter: mask(text, names=[reporter]).text)

    @property
    def root(self) -> StationNode:
        return self.stations[0]

    @property
    def title(self) -> str:
        return self.tr(_("全部联络站")) if self.everything else self.root.name

    @property
    def code(self) -> str:
        return "all" if self.everything else self.root.code

    @property
    def several(self) -> bool:
        return len(self.stations) > 1

    @property
    def span(self) -> Span:
        return Span(self.period.start, self.period.end, self.now)

    def station(self, station_id: int) -> StationNode:
        return next(node for node in self.stations if node.id == station_id)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return moment.astimezone(zone).date() if moment is not None else None


# --- 意见建议登记簿 ------------------------------------------------------------------------------
@dataclass
class ItemRow:
    item: Any  # the item's columns the register shows, by name (a row of `ITEM_FIELDS`)
    station: StationNode
    zone: ZoneInfo  # the station's
    reporter: str
    assignee: str | None
    assigned_at: datetime | None
    scope: Scope

    @property
    def handled(self) -> bool:
        return self.item.status not in OPEN_STATUSES

    def on_time(self) -> str | None:
        """是否按时: 是/否 once resolved (no deadline counts as on time); 否 while open past it."""
        item, tr = self.item, self.scope.tr
        if self.handled and item.resolved_at is not None:
            return tr(_("是")) if item.due_at is None or item.resolved_at <= item.due_at else tr(_("否"))
        if not self.handled and item.due_at is not None and item.due_at < self.scope.now:
            return tr(_("否（超期）"))
        return None

    def private(self, text: str | None) -> str:
        """The full text in the full register; else masked like any public text (and the reporter's
        name, wherever it appears); a private report's not at all."""
        if self.scope.full:
            return text or ""
        if self.item.private:
            return self.scope.tr(_("（居民私信反映，内容不公开）"))
        return self.scope.masked(text or "", self.reporter)


def _label(tr: Translator, labels: dict[Any, str], value: str | None) -> str | None:
    return tr(labels[value]) if value in labels else value


ITEM_COLUMNS: list[Column] = [
    Column("number", _("编号"), C.INT, lambda r: r.item.number),
    Column("received_on", _("受理日期"), C.DATE, lambda r: _day(r.item.created_at, r.zone)),
    Column("reporter", _("提出人"), C.TEXT, lambda r: r.reporter if r.scope.full else mask_name(r.reporter)),
    Column("source", _("来源"), C.TEXT, lambda r: _label(r.scope.tr, SOURCE_LABELS, source_of(r.item))),
    Column("tag", _("标签"), C.TEXT, lambda r: r.item.tag),
    Column("category", _("类别"), C.TEXT, lambda r: r.item.category),
    Column("text", _("内容"), C.LONG, lambda r: r.private(r.item.text)),
    Column("supporters", _("附议人数"), C.INT, lambda r: r.item.supporters or None),
    Column("deputy", _("承办代表"), C.TEXT, lambda r: r.assignee),
    Column("unit", _("承办单位"), C.TEXT, lambda r: r.item.unit_name),
    Column("assigned_on", _("交办日期"), C.DATE, lambda r: _day(r.assigned_at, r.zone)),
    Column("deadline", _("办理时限"), C.DATE, lambda r: _day(r.item.due_at, r.zone)),
    Column("resolved_on", _("办结日期"), C.DATE, lambda r: _day(r.item.resolved_at, r.zone) if r.handled else None),
    Column("on_time", _("是否按时"), C.TEXT, lambda r: r.on_time()),
    Column("result", _("办理结果"), C.LONG, lambda r: r.private(r.item.result) if r.item.result else None),
    Column("rating", _("评价"), C.TEXT, lambda r: _label(r.scope.tr, RATING_LABELS, r.item.rating)),
    Column("status", _("状态"), C.TEXT, lambda r: _label(r.scope.tr, STATUS_LABELS, r.item.status)),
]
STATION_COLUMN = Column("station", _("联络站"), C.TEXT, lambda r: r.station.name)
# The item's columns the register reads (only these: every datetime read costs a conversion).
ITEM_FIELDS = ("number", "status", "tag", "text", "due_at", "result", "rating", "created_at", "resolved_at", "private",
               "category")
# Where an item came from (来源): a visitor's channel (handlers.visits), else a message in a bound
# group (群聊) or a direct chat (私信).
SOURCE_LABELS = {"group": _("群聊"), "dm": _("私信"), "visit": _("接待"), "phone": _("来电"), "letter": _("来信")}


def source_of(item: Any) -> str | None:
    if item.channel is not None:
        return str(item.channel)
    if item.source_message is not None:
        return "group" if item.source_chat is not None else "dm"
    return None


async def item_rows(scope: Scope) -> AsyncIterator[ItemRow]:
    """Items received in the period, station by station (tree order), by number. Rows are read as
    plain rows (the item's columns by name, `row.item.<field>`), not as ORM objects: a county's
    year is tens of thousands of them."""
    table = Item.__table__  # type: ignore[attr-defined]
    reporter, assignee = aliased(Person), aliased(Person)
    assigned = (
        select(func.max(ItemEvent.at)).where(ItemEvent.item_id == table.c.id,
                                             col(ItemEvent.kind).in_(("assigned", "routed")))  # 交办: to a handler, or up
        .correlate(table).scalar_subquery()
    )
    shown = [table.c[name] for name in ITEM_FIELDS]
    for station in scope.stations:
        zone = ZoneInfo(station.timezone)
        since, until = scope.period.bounds(zone)
        after = 0
        while True:
            query = (
                select(*shown, reporter.display_name.label("reporter_name"),
                       assignee.display_name.label("assignee_name"), assigned.label("assigned_at"),
                       *_handling_columns(table))
                .join(reporter, col(reporter.id) == table.c.reporter_id)
                .outerjoin(assignee, col(assignee.id) == table.c.assignee_id)
                .where(table.c.station_id == station.id, table.c.created_at >= since, table.c.created_at < until,
                       table.c.number > after)
                .order_by(table.c.number).limit(PAGE)
            )
            page = (await scope.session.exec(_handling_joins(query, table))).all()  # type: ignore[call-overload]
            for row in page:
                assigned_at = row.assigned_at
                if isinstance(assigned_at, str):  # SQLite returns max() of a custom type as text
                    assigned_at = datetime.fromisoformat(assigned_at).replace(tzinfo=ZoneInfo("UTC"))
                yield ItemRow(row, station, zone, row.reporter_name, row.assignee_name, assigned_at, scope)
            if len(page) < PAGE:
                break
            after = page[-1].number


UNIT, VISITOR = HandlingUnit.__table__, Visitor.__table__  # type: ignore[attr-defined]
MESSAGE, BINDING = Message.__table__, ChatBinding.__table__  # type: ignore[attr-defined]


def _handling_columns(table: Any) -> list[Any]:
    """The unit's name, the visitor's channel, the source message and its bound chat (来源), and the
    number of supporters (附议人数)."""
    supporters = (select(func.count()).select_from(Supporter).where(Supporter.item_id == table.c.id)
                  .correlate(table).scalar_subquery())
    return [UNIT.c.name.label("unit_name"), VISITOR.c.channel.label("channel"), MESSAGE.c.id.label("source_message"),
            BINDING.c.id.label("source_chat"), supporters.label("supporters")]


def _handling_joins(query: Any, table: Any) -> Any:
    return (query.outerjoin(UNIT, UNIT.c.id == table.c.unit_id)
            .outerjoin(VISITOR, VISITOR.c.item_id == table.c.id)
            .outerjoin(MESSAGE, MESSAGE.c.id == table.c.source_message_id)
            .outerjoin(BINDING, and_(BINDING.c.platform == MESSAGE.c.platform, BINDING.c.chat_id == MESSAGE.c.chat_id)))


async def count_items(scope: Scope) -> int:
    total = 0
    for station in scope.stations:
        since, until = scope.period.bounds(ZoneInfo(station.timezone))
        total += (await scope.session.exec(
            select(func.count()).select_from(Item)
            .where(Item.station_id == station.id, col(Item.created_at) >= since, col(Item.created_at) < until)
        )).one()
    return total


# --- 接待登记簿 ----------------------------------------------------------------------------------
@dataclass
class ReceptionRow:
    reception: Reception
    station: StationNode
    roster: list[str] = field(default_factory=list)
    signed: list[str] = field(default_factory=list)
    leave: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    visitor_items: list[int] = field(default_factory=list)  # the numbers of the items its visitors raised


def _names(names: list[str]) -> str | None:
    return "、".join(names) or None


RECEPTION_COLUMNS: list[Column] = [
    Column("date", _("日期"), C.DATE, lambda r: r.reception.local_date),
    Column("starts", _("开始时间"), C.TIME, lambda r: r.reception.start_time),
    Column("ends", _("结束时间"), C.TIME, lambda r: r.reception.end_time),
    Column("place", _("地点"), C.TEXT, lambda r: r.reception.place),
    Column("topic", _("主题"), C.LONG, lambda r: r.reception.topic),
    Column("on_duty", _("值班代表"), C.TEXT, lambda r: _names(r.roster)),
    Column("signed_in", _("签到"), C.TEXT, lambda r: _names(r.signed)),
    Column("leave", _("请假"), C.TEXT, lambda r: _names(r.leave)),
    Column("absent", _("缺席"), C.TEXT, lambda r: _names(r.absent)),
    Column("visitors", _("接待人数"), C.INT, lambda r: len(r.visitor_items)),
    Column("visitor_items", _("登记事项编号"), C.TEXT, lambda r: "、".join(f"#{n}" for n in r.visitor_items) or None),
]


async def reception_rows(scope: Scope) -> AsyncIterator[ReceptionRow]:
    """Receptions held or scheduled on the period's days (not cancelled), by date, with their roster."""
    for station in scope.stations:
        after: tuple[date, int] = (date.min, 0)
        while True:
            page = list((await scope.session.exec(
                select(Reception)
                .where(Reception.station_id == station.id, Reception.status == ReceptionStatus.SCHEDULED,
                       col(Reception.local_date) >= scope.period.start, col(Reception.local_date) < scope.period.end,
                       (col(Reception.local_date) > after[0])
                       | ((col(Reception.local_date) == after[0]) & (col(Reception.id) > after[1])))
                .order_by(col(Reception.local_date), col(Reception.id)).limit(PAGE)
            )).all())
            if not page:
                break
            duties = (await scope.session.exec(
                select(Duty.reception_id, Duty.on_duty, Duty.outcome, Duty.leave_at, Person.display_name)
                .join(Person, col(Person.id) == col(Duty.person_id))
                .where(col(Duty.reception_id).in_([r.id for r in page]))
                .order_by(col(Duty.id))
            )).all()
            rows = {reception.id: ReceptionRow(reception, station) for reception in page}
            for reception_id, on_duty, outcome, leave_at, name in duties:
                row = rows[reception_id]
                if on_duty:
                    row.roster.append(name)
                if outcome in (Outcome.PRESENT, Outcome.WALK_IN):
                    row.signed.append(name)
                elif outcome == Outcome.LEAVE or (outcome is None and on_duty and leave_at is not None):
                    row.leave.append(name)
                elif outcome == Outcome.ABSENT:
                    row.absent.append(name)
            visitors = await units_repo.visitor_counts(session=scope.session, reception_ids=list(rows))
            for reception in page:
                rows[reception.id].visitor_items = visitors.get(id_of(reception), [])
                yield rows[reception.id]
            if len(page) < PAGE:
                break
            after = (page[-1].local_date, id_of(page[-1]))


# --- 代表考勤表 ----------------------------------------------------------------------------------
@dataclass
class AttendanceRow:
    station: StationNode
    name: str
    month: date
    tally: Attendance


ATTENDANCE_COLUMNS: list[Column] = [
    Column("deputy", _("代表"), C.TEXT, lambda r: r.name),
    Column("month", _("月份"), C.MONTH, lambda r: r.month),
    Column("expected", _("应到"), C.INT, lambda r: r.tally.on_duty),
    Column("present", _("实到"), C.INT, lambda r: r.tally.present),
    Column("leave", _("请假"), C.INT, lambda r: r.tally.leave),
    Column("absent", _("缺席"), C.INT, lambda r: r.tally.absent),
    Column("walk_in", _("主动到站"), C.INT, lambda r: r.tally.walk_in),
    Column("attendance_rate", _("出勤率"), C.PERCENT, lambda r: rate(r.tally.present, r.tally.on_duty)),
]


async def attendance_rows(scope: Scope) -> AsyncIterator[AttendanceRow]:
    """Per deputy and month of the period, over the receptions held; deputies by name."""
    station_ids = [s.id for s in scope.stations]
    held = await figures_repo.held_between(session=scope.session, station_ids=station_ids,
                                           start=scope.period.start, end=scope.period.end)
    if held is None:
        return
    months = Period(held[0], held[1] + timedelta(days=1), "span").months()
    tallies = await figures_repo.attendance(
        session=scope.session, station_ids=station_ids, start=held[0], end=held[1] + timedelta(days=1),
        grouping="deputy_month", months=months,
    )
    names = await figures_repo.person_names(session=scope.session, person_ids=[key[1] for key in tallies])
    order = {node.id: index for index, node in enumerate(scope.stations)}
    for station_id, person_id, month in sorted(tallies, key=lambda k: (order[k[0]], names.get(k[1], ""), k[1], k[2])):
        yield AttendanceRow(scope.station(station_id), names.get(person_id, ""), months[month],
                            tallies[(station_id, person_id, month)])


# --- 代表履职档案 --------------------------------------------------------------------------------
@dataclass
class DeputyRow:
    station: StationNode
    deputy: figures_repo.DeputyRef
    items: ItemFigures
    tally: Attendance
    scope: Scope


DEPUTY_COLUMNS: list[Column] = [
    Column("deputy", _("代表"), C.TEXT, lambda r: r.deputy.name),
    Column("level", _("层级"), C.TEXT, lambda r: _label(r.scope.tr, CONGRESS_NAMES, r.deputy.level)),
    Column("receptions", _("接待次数"), C.INT, lambda r: r.tally.attended),
    Column("attendance_rate", _("出勤率"), C.PERCENT, lambda r: rate(r.tally.present, r.tally.on_duty)),
    Column("items", _("承办事项"), C.INT, lambda r: r.items.received),
    Column("resolved", _("办结"), C.INT, lambda r: r.items.resolved),
    Column("on_time", _("按时办结"), C.INT, lambda r: r.items.on_time),
    Column("satisfaction", _("满意率"), C.PERCENT, lambda r: rate(r.items.content, r.items.rated)),
]


async def deputy_rows(scope: Scope) -> AsyncIterator[DeputyRow]:
    """Each deputy of the stations (and anyone who had duties or items there in the period)."""
    station_ids = [s.id for s in scope.stations]
    items = await figures_repo.item_figures(session=scope.session, stations=scope.stations, span=scope.span,
                                            grouping="deputy")
    tallies = await figures_repo.attendance(session=scope.session, station_ids=station_ids,
                                            start=scope.period.start, end=scope.period.end, grouping="deputy")
    involved = {key for key in [*items, *tallies] if key[1] is not None}
    people = await figures_repo.deputies(session=scope.session, station_ids=station_ids,
                                         also=[(s, p) for s, p in involved])
    order = {node.id: index for index, node in enumerate(scope.stations)}
    for deputy in sorted(people, key=lambda d: (order[d.station_id], d.name, d.person_id)):
        key = (deputy.station_id, deputy.person_id)
        yield DeputyRow(scope.station(deputy.station_id), deputy, items.get(key, ItemFigures()),
                        tallies.get(key, Attendance()), scope)


# --- 统计汇总 ------------------------------------------------------------------------------------
@dataclass
class SummaryRow:
    name: str
    level: str | None
    items: ItemFigures
    tally: Attendance
    total: bool = False


SUMMARY_COLUMNS: list[Column] = [
    Column("station", _("联络站"), C.TEXT, lambda r: r.name),
    Column("level", _("级别"), C.TEXT, lambda r: r.level),
    Column("received", _("受理"), C.INT, lambda r: r.items.received),
    Column("received_resolved", _("其中已办结"), C.INT, lambda r: r.items.received_resolved),
    Column("resolution_rate", _("办结率"), C.PERCENT, lambda r: rate(r.items.received_resolved, r.items.received)),
    Column("resolved", _("办结"), C.INT, lambda r: r.items.resolved),
    Column("on_time", _("按时办结"), C.INT, lambda r: r.items.on_time),
    Column("on_time_rate", _("按时办结率"), C.PERCENT, lambda r: rate(r.items.on_time, r.items.resolved)),
    Column("rejected", _("不予受理"), C.INT, lambda r: r.items.rejected),
    Column("open", _("办理中"), C.INT, lambda r: r.items.open),
    Column("overdue", _("超期"), C.INT, lambda r: r.items.overdue),
    Column("rated", _("已评价"), C.INT, lambda r: r.items.rated),
    Column("satisfied", _("满意"), C.INT, lambda r: r.items.satisfied),
    Column("basically_satisfied", _("基本满意"), C.INT, lambda r: r.items.basically_satisfied),
    Column("unsatisfied", _("不满意"), C.INT, lambda r: r.items.unsatisfied),
    Column("satisfaction", _("满意率"), C.PERCENT, lambda r: rate(r.items.content, r.items.rated)),
    Column("receptions", _("接待日"), C.INT, lambda r: r.tally.held),
    Column("attendance_rate", _("出勤率"), C.PERCENT, lambda r: rate(r.tally.present, r.tally.on_duty)),
]


@dataclass
class StationFigures:
    """Each station's own figures over a span, and the sum of a station with everything below it."""

    stations: list[StationNode]
    own: dict[int, ItemFigures]
    tallies: dict[int, Attendance]

    def subtree(self, station_id: int) -> tuple[ItemFigures, Attendance]:
        ids = figures_repo.descendants(self.stations, station_id)
        return (ItemFigures.total(self.own.get(i, ItemFigures()) for i in ids),
                Attendance.total(self.tallies.get(i, Attendance()) for i in ids))

    def total(self) -> tuple[ItemFigures, Attendance]:
        return (ItemFigures.total(self.own.values()), Attendance.total(self.tallies.values()))

    def children(self, station_id: int) -> list[StationNode]:
        return [node for node in self.stations if node.parent_id == station_id]


async def station_figures(session: AsyncSession, stations: list[StationNode], span: Span) -> StationFigures:
    items = await figures_repo.item_figures(session=session, stations=stations, span=span)
    tallies = await figures_repo.attendance(session=session, station_ids=[s.id for s in stations],
                                            start=span.start, end=span.end)
    return StationFigures(stations, {key[0]: value for key, value in items.items()},
                          {key[0]: value for key, value in tallies.items()})


async def summary_rows(scope: Scope) -> AsyncIterator[SummaryRow]:
    """Tree order: each station's own figures; after a station with stations below it, its subtotal
    (itself and everything below); the total last when the register covers several top stations."""
    tr = scope.tr
    computed = await station_figures(scope.session, scope.stations, scope.span)
    closing: list[tuple[int, StationNode]] = []  # (depth, station) whose subtotal follows its subtree

    def subtotals_down_to(depth: int) -> list[SummaryRow]:
        rows = []
        while closing and closing[-1][0] >= depth:
            _depth, station = closing.pop()
            items, tally = computed.subtree(station.id)
            rows.append(SummaryRow(tr(_("{station} 小计"), station=station.name), None, items, tally, total=True))
        return rows

    for node in scope.stations:
        for row in subtotals_down_to(node.depth):
            yield row
        level = _label(tr, LEVEL_NAMES, node.level)
        yield SummaryRow("　" * node.depth + node.name, level, computed.own.get(node.id, ItemFigures()),
                         computed.tallies.get(node.id, Attendance()))
        if computed.children(node.id):
            closing.append((node.depth, node))
    for row in subtotals_down_to(0):
        yield row
    if scope.everything and sum(1 for node in scope.stations if node.depth == 0) > 1:
        items, tally = computed.total()
        yield SummaryRow(tr(_("合计")), None, items, tally, total=True)


# --- the registers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ledger:
    name: str  # the machine name: /export items
    title: str  # msgid of the sheet (and file) title
    columns: list[Column]
    rows: Callable[[Scope], AsyncIterator[Any]]
    per_station: bool = True  # rows belong to one station: a 联络站 column when several are covered


LEDGERS: dict[str, Ledger] = {
    ledger.name: ledger
    for ledger in (
        Ledger("items", _("意见建议登记簿"), ITEM_COLUMNS, item_rows),
        Ledger("receptions", _("接待登记簿"), RECEPTION_COLUMNS, reception_rows),
        Ledger("attendance", _("代表考勤表"), ATTENDANCE_COLUMNS, attendance_rows),
        Ledger("deputies", _("代表履职档案"), DEPUTY_COLUMNS, deputy_rows),
        Ledger("summary", _("统计汇总"), SUMMARY_COLUMNS, summary_rows, per_station=False),
    )
}
ALIASES = {
    "items": "items", "item": "items", "事项": "items", "意见建议": "items", "登记簿": "items",
    "receptions": "receptions", "reception": "receptions", "接待": "receptions", "接待登记": "receptions",
    "attendance": "attendance", "考勤": "attendance", "出勤": "attendance",
    "deputies": "deputies", "deputy": "deputies", "履职": "deputies", "履职档案": "deputies", "代表": "deputies",
    "summary": "summary", "汇总": "summary", "统计": "summary",
}


def columns_of(ledger: Ledger, scope: Scope) -> list[Column]:
    if ledger.per_station and scope.several:
        return [STATION_COLUMN, *ledger.columns]
    return list(ledger.columns)


Progress = Callable[[int], None]


async def write_xlsx(target: Any, ledgers: Sequence[Ledger], scope: Scope, progress: Progress | None = None) -> dict[str, int]:
    """Write the registers into one workbook (one sheet each); returns the rows written per register.
    Rows are read and their values computed here, the sheets written by a process beside this one
    (`handlers.workbook_process`)."""
    tr = scope.tr
    async with WorkbookProcess(target, station=scope.title, period=scope.period.label(tr)) as book:
        for ledger in ledgers:
            columns = columns_of(ledger, scope)
            await book.sheet(tr(ledger.title), columns, tr)
            async for row in ledger.rows(scope):
                await book.row([column.value(row) for column in columns], total=getattr(row, "total", False))
                if progress is not None:
                    progress(1)
        rows = await book.close()
    return {ledger.name: count for ledger, count in zip(ledgers, rows, strict=True)}


async def write_csv(stream: Any, ledger: Ledger, scope: Scope, progress: Progress | None = None) -> int:
    writer = CsvWriter(stream, columns_of(ledger, scope))
    try:
        async for row in ledger.rows(scope):
            writer.write(row)
            if progress is not None:
                progress(1)
    finally:
        writer.close()
    return writer.rows


async def render(ledgers: Sequence[Ledger], scope: Scope, *, csv: bool = False) -> tuple[bytes, dict[str, int]]:
    """The file in memory (for a chat), and the rows per register."""
    buffer = io.BytesIO()
    if csv:
        written = {ledgers[0].name: await write_csv(buffer, ledgers[0], scope)}
    else:
        written = await write_xlsx(buffer, ledgers, scope)
    return buffer.getvalue(), written


def filename(ledgers: Sequence[Ledger], scope: Scope, *, csv: bool = False) -> str:
    """`lianxi-意见建议登记簿-2026-11.xlsx`, or `lianxi-台账-2026-11.xlsx` for the whole set."""
    title = scope.tr(ledgers[0].title) if len(ledgers) == 1 else scope.tr(_("台账"))
    return f"{scope.code}-{title}-{scope.period.key}.{'csv' if csv else 'xlsx'}"

