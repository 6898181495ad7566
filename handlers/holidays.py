"""The national holiday table (/holiday, /workday, /holidays) and the notice for years it lacks.

chinese_calendar knows the years it shipped with; the State Council publishes the next year's
schedule in November–December, and until the package catches up the admins enter it here. A
deadline or a reception date in a year nobody entered is counted Monday–Friday: every reply that
computed one says so (once), and the admins are reminded once per year to enter it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from handlers import outbox
from handlers import reception_notify as notify
from handlers.args import MAX_YEAR, MIN_YEAR, to_int
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.router import Command, Feature
from storage import people as people_repo
from storage import receptions as receptions_repo
from storage import stations as stations_repo
from storage import workdays
from storage.models import CalendarOverride, ChatPurpose, DayKind, RoleName, Station
from storage.rows import id_of

MAX_SPAN_DAYS = 15  # the longest statutory holiday (Spring Festival, National Day) is 8–9 days
MAX_NAME_LENGTH = 20
FULLWIDTH = str.maketrans("０１２３４５６７８９－／．", "0123456789-/.")
FULL_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})[日号]?)$", re.ASCII)
RANGE_SPLIT = re.compile(r"\.\.|～|~|至|到|—|–")
WEEKDAYS = (_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日"))
KIND_WORDS = {DayKind.HOLIDAY: _("假期"), DayKind.WORKDAY: _("调休上班日")}
# chinese_calendar names its holidays in English; the table shows them in the station's language.
PACKAGE_NAMES = {
    "New Year's Day": _("元旦"), "Spring Festival": _("春节"), "Tomb-sweeping Day": _("清明节"),
    "Labour Day": _("劳动节"), "Dragon Boat Festival": _("端午节"), "Mid-autumn Festival": _("中秋节"),
    "National Day": _("国庆节"), "Anti-Fascist 70th Day": _("中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"),
}
UNKNOWN_YEAR = _("{year} 年放假安排尚未录入，按周一至周五计算；管理员可用 /holiday add 录入。")


# --- the notice -----------------------------------------------------------------------------------
async def unknown_year_notice(ctx: Context, calendar: workdays.WorkCalendar, first: date, last: date) -> list[str]:
    """The lines a reply adds when [first, last] reaches a year without an official schedule
    (one line per year, so said once per reply), and the admins' reminder (once per year)."""
    years = calendar.unknown_years(first, last)
    for year in years:
        await remind_admins(ctx, year)
    return [ctx.tr(UNKNOWN_YEAR, year=year) for year in years]


async def remind_admins(ctx: Context, year: int) -> None:
    tr = translator(ctx.config.language)
    text = tr(_("请录入 {year} 年的放假安排：有事项的办理时限或接待日落在 {year} 年，而机器人还没有这一年的放假安排，"
                "只能按周一至周五计算，不避开节假日。国务院办公厅公布后，请用 /holiday add <开始日期>..<结束日期> <名称> "
                "录入每个假期（例如 /holiday add {year}-10-01..{year}-10-07 国庆节），用 /workday add <日期> <名称> "
                "录入调休上班日，再用 /holidays {year} 核对。"), year=year)
    await outbox.to_admins(session=ctx.session, admins=ctx.config.admins, key=f"holidays-missing:{year}",
                           purpose="holidays", text=text, now=ctx.now())


# --- parsing --------------------------------------------------------------------------------------
def parse_full_date(ctx: Context, token: str) -> date:
    """`2027-02-05`, `2027/2/5`, `2027年2月5日`: the year is required (the table is per year)."""
    match = FULL_DATE.match(token.strip().translate(FULLWIDTH))
    if match is None:
        raise ctx.usage_error(_("「{value}」不是完整的日期，应写明年份，例如 2027-02-05 或 2027年2月5日。"), value=token)
    year = int(match.group(1))
    month, day = (match.group(2), match.group(3)) if match.group(2) else (match.group(4), match.group(5))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ctx.usage_error(_("「{value}」的年份应在 {low} 到 {high} 年之间。"), value=token, low=MIN_YEAR, high=MAX_YEAR)
    try:
        return date(year, int(month), int(day))
    except ValueError:
        raise ctx.usage_error(_("「{value}」不是有效的日期。"), value=token) from None


def parse_span(ctx: Context, token: str) -> tuple[date, date]:
    parts = [part for part in RANGE_SPLIT.split(token) if part]
    if len(parts) > 2 or not parts:
        raise ctx.usage_error(_("「{value}」不是日期或日期范围，应为 2027-02-05 或 2027-02-05..2027-02-11。"), value=token)
    first = parse_full_date(ctx, parts[0])
    last = parse_full_date(ctx, parts[-1])
    if last < first:
        raise ctx.usage_error(_("日期范围的结束日期 {last} 早于开始日期 {first}。"), first=first.isoformat(), last=last.isoformat())
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise ctx.usage_error(_("{first} 至 {last} 共 {days} 天，超过了 {max} 天：法定假期没有这么长，请检查日期。"),
                              first=first.isoformat(), last=last.isoformat(), days=(last - first).days + 1,
                              max=MAX_SPAN_DAYS)
    return first, last


def span_text(ctx: Context, first: date, last: date) -> str:
    if first == last:
        return ctx.tr(_("{date}（{weekday}）"), date=first.isoformat(), weekday=ctx.tr(WEEKDAYS[first.weekday()]))
    return ctx.tr(_("{first} 至 {last}（{days} 天）"), first=first.isoformat(), last=last.isoformat(),
                  days=(last - first).days + 1)


def entry_text(ctx: Context, entry: CalendarOverride) -> str:
    return ctx.tr(_("{name} {span}"), name=entry.name, span=span_text(ctx, entry.first_day, entry.last_day))


# --- commands -------------------------------------------------------------------------------------
async def holiday_command(ctx: Context) -> None:
    await _change(ctx, DayKind.HOLIDAY)


async def workday_command(ctx: Context) -> None:
    await _change(ctx, DayKind.WORKDAY)


async def _change(ctx: Context, kind: DayKind) -> None:
    action = ctx.args[0].lower() if ctx.args else ""
    if action in ("add", "添加", "录入") and len(ctx.args) >= 3:
        await _add(ctx, kind)
    elif action in ("remove", "删除", "del") and len(ctx.args) == 2:
        await _remove(ctx, kind)
    else:
        raise ctx.usage_error()


async def _add(ctx: Context, kind: DayKind) -> None:
    first, last = parse_span(ctx, ctx.args[1])
    name = ctx.rest(2)
    if len(name) > MAX_NAME_LENGTH:
        raise ctx.usage_error(_("名称最长 {max} 个字，例如「春节」「国庆节调休」。"), max=MAX_NAME_LENGTH)
    if kind == DayKind.WORKDAY:
        weekdays = [day for day in _days(first, last) if day.weekday() < 5]
        if weekdays:
            raise ctx.error(_("{date} 是{weekday}，本来就是工作日，无需录入调休上班日；调休上班日是要上班的周六或周日。"),
                            date=weekdays[0].isoformat(), weekday=ctx.tr(WEEKDAYS[weekdays[0].weekday()]))
    clash = await workdays.entries(session=ctx.session, first=first, last=last)
    if clash:
        raise ctx.error(_("{span}与已录入的{kind}「{entry}」重叠，没有录入。如需更正，请先用 /{command} remove {date} 删除原来的。"),
                        span=span_text(ctx, first, last), kind=ctx.tr(KIND_WORDS[DayKind(clash[0].kind)]),
                        entry=entry_text(ctx, clash[0]), date=clash[0].first_day.isoformat(),
                        command="holiday" if clash[0].kind == DayKind.HOLIDAY else "workday")
    unknown_before = (await workdays.calendar(session=ctx.session, first=first, last=last)).unknown_years(first, last)
    row = await workdays.add_entry(session=ctx.session, first=first, last=last, kind=kind, name=name,
                                   person_id=ctx.person.id, now=ctx.now())
    lines = [ctx.tr(_("已录入{kind}：{entry}。"), kind=ctx.tr(KIND_WORDS[kind]), entry=entry_text(ctx, row))]
    now_known = [year for year in unknown_before
                 if (await workdays.calendar(session=ctx.session, first=date(year, 1, 1), last=date(year, 1, 1))).known(year)]
    for year in now_known:
        lines.append(ctx.tr(_("{year} 年从现在起按录入的放假安排计算工作日；请把这一年的其他假期和调休上班日一并录入，"
                              "用 /holidays {year} 核对。"), year=year))
    lines.extend(await replan_receptions(ctx, first, last, entered_holiday=kind == DayKind.HOLIDAY))
    lines.append(ctx.tr(_("已经定下的办理时限不变；需要时可用 /extend 延期。")))
    await ctx.reply("\n".join(lines))


async def _remove(ctx: Context, kind: DayKind) -> None:
    day = parse_full_date(ctx, ctx.args[1])
    found = [entry for entry in await workdays.entries(session=ctx.session, first=day, last=day) if entry.kind == kind]
    if not found:
        raise ctx.error(_("{date} 没有录入的{kind}。发送 /holidays {year} 查看已录入的日期。"),
                        date=day.isoformat(), kind=ctx.tr(KIND_WORDS[kind]), year=day.year)
    await workdays.remove_entries(session=ctx.session, ids=[id_of(entry) for entry in found])
    lines = [ctx.tr(_("已删除{kind}：{entry}。"), kind=ctx.tr(KIND_WORDS[kind]), entry=entry_text(ctx, found[0]))]
    lines.extend(await replan_receptions(ctx, found[0].first_day, found[0].last_day))
    await ctx.reply("\n".join(lines))


async def replan_receptions(ctx: Context, first: date, last: date, *, entered_holiday: bool = False) -> list[str]:
    """Receptions of recurring rules follow a change of the table: those nobody was told about are
    moved (or skipped) by their station's holiday policy and the station's staff are told; those
    already announced stay, and the station's staff are asked to /reception move them."""
    margin = timedelta(days=MAX_SPAN_DAYS + 1)
    calendar = await workdays.calendar(session=ctx.session, first=first - margin, last=last + margin)
    changed = await receptions_repo.replan_for_holidays(session=ctx.session, first=first - margin, last=last + margin,
                                                        now=ctx.now(), calendar=calendar)
    lines: list[str] = []
    for change in changed:
        reception = change.reception
        station = await ctx.session.get(Station, reception.station_id)
        assert station is not None
        tr = translator(station.language or ctx.config.language)
        values = {"station": station.name, "id": reception.id, "date": notify.fmt_date(tr, change.old_day)}
        if change.told:
            text = tr(_("接待日 #{id} 定在 {date}，按新的放假安排应当{change}，但值班代表或居民已收到通知，所以没有自动调整。"
                        "如需改期，请用 /reception move {id} <新日期>。"),
                      change=_change_words(tr, change.held_on), **values)
        elif change.held_on is None:
            text = tr(_("接待日 #{id} 定在 {date}，落在法定节假日，按本站的设置已取消（跳过）。"), **values)
        else:
            text = tr(_("接待日 #{id} 按新的放假安排改到 {new}（原 {date}），还没有通知过任何人。"),
                      new=notify.fmt_date(tr, change.held_on), **values)
        await _tell_station(ctx, station, text, f"holidays:reception:{reception.id}:{reception.updated_at:%Y%m%d%H%M%S}")
        lines.append(ctx.tr(_("{station}：{text}"), station=station.name, text=text))
    if entered_holiday:
        for reception in await receptions_repo.one_off_receptions(session=ctx.session, first=first, last=last,
                                                                  now=ctx.now()):
            station = await ctx.session.get(Station, reception.station_id)
            assert station is not None
            tr = translator(station.language or ctx.config.language)
            text = tr(_("接待日 #{id} 定在 {date}，落在新录入的法定节假日内。请确认是否照常举行；如需改期，请用 /reception move {id} <新日期>。"),
                      id=reception.id, date=notify.fmt_date(tr, reception.local_date))
            await _tell_station(ctx, station, text, f"holidays:reception:{reception.id}:{first.isoformat()}")
            lines.append(ctx.tr(_("{station}：{text}"), station=station.name, text=text))
    return lines


def _change_words(tr: Translator, held_on: date | None) -> str:
    if held_on is None:
        return tr(_("取消（跳过）"))
    return tr(_("改到 {date}"), date=notify.fmt_date(tr, held_on))


async def _tell_station(ctx: Context, station: Station, text: str, key: str) -> None:
    """The station's staff chat; without one, its liaisons and head directly."""
    bindings = await stations_repo.bindings_of(session=ctx.session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
    for binding in bindings:
        await outbox.to_chat(session=ctx.session, key=f"{key}:chat:{binding.id}", purpose="holidays",
                             platform=binding.platform, chat_id=binding.chat_id, text=text, now=ctx.now(),
                             station_id=station.id, private=True)
    if bindings:
        return
    for role in (RoleName.LIAISON, RoleName.HEAD):
        for person in await people_repo.people_with_role(session=ctx.session, station_id=id_of(station), role=role):
            await outbox.to_person(session=ctx.session, key=f"{key}:person:{person.id}", purpose="holidays",
                                   person_id=id_of(person), text=text, now=ctx.now(), station_id=station.id)


async def holidays_command(ctx: Context) -> None:
    """The schedule of a year (default: this one, and the next from November, when it is published)."""
    today = ctx.now().astimezone(ctx.zone()).date()
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    if ctx.args:
        year = to_int(ctx.args[0].removesuffix("年"), low=MIN_YEAR, high=MAX_YEAR)
        if year is None:
            raise ctx.usage_error(_("「{value}」不是年份，应为 {low} 到 {high} 之间的年份，例如 2027。"),
                                  value=ctx.args[0], low=MIN_YEAR, high=MAX_YEAR)
        years = [year]
    else:
        years = [today.year, today.year + 1] if today.month >= 11 else [today.year]
    blocks = [await _year_block(ctx, year) for year in years]
    await ctx.reply("\n\n".join(blocks))


async def _year_block(ctx: Context, year: int) -> str:
    first, last = date(year, 1, 1), date(year, 12, 31)
    calendar = await workdays.calendar(session=ctx.session, first=first, last=last)
    entered = await workdays.entries(session=ctx.session, first=first, last=last)
    if not calendar.known(year) and not entered:
        return ctx.tr(UNKNOWN_YEAR, year=year)
    packaged = year in workdays.PACKAGE_YEARS
    source = _("{year} 年放假安排（内置日历，管理员录入的优先）：") if packaged else _("{year} 年放假安排（管理员录入）：")
    lines = [ctx.tr(source, year=year)]
    holidays = [(entry.first_day, entry.last_day, entry.name, True) for entry in entered if entry.kind == DayKind.HOLIDAY]
    covered = {day for day_first, day_last, _name, _mine in holidays for day in _days(day_first, day_last)}
    for span_first, span_last, name in workdays.package_holidays(year):
        if not covered.intersection(_days(span_first, span_last)) and _package_span_stands(calendar, span_first, span_last):
            holidays.append((span_first, span_last, ctx.tr(PACKAGE_NAMES[name]) if name in PACKAGE_NAMES else name, False))
    for span_first, span_last, name, mine in sorted(holidays):
        line = "· " + ctx.tr(_("{name} {span}"), name=name, span=span_text(ctx, span_first, span_last))
        lines.append(line + (ctx.tr(_("（录入）")) if mine and packaged else ""))
    if not holidays:
        lines.append(ctx.tr(_("（没有假期）")))
    workdays_entered = [(entry.first_day, entry.last_day, entry.name, True) for entry in entered
                        if entry.kind == DayKind.WORKDAY]
    package_days = [(day, day, "", False) for day in workdays.package_workdays(year) if calendar.entered(day) is None]
    make_up = sorted(workdays_entered + package_days)
    if make_up:
        lines.append(ctx.tr(_("调休上班：")))
        for span_first, span_last, name, mine in make_up:
            text = span_text(ctx, span_first, span_last) + (f" {name}" if name else "")
            lines.append("· " + text + (ctx.tr(_("（录入）")) if mine and packaged else ""))
    if not calendar.known(year):
        lines.append(ctx.tr(_("（只录入了调休上班日，没有假期：{year} 年仍按周一至周五计算。）"), year=year))
    return "\n".join(lines)


def _package_span_stands(calendar: workdays.WorkCalendar, first: date, last: date) -> bool:
    """A package holiday the admins did not override day by day (an entered workday inside it wins)."""
    return any(calendar.entered(day) is None for day in _days(first, last))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


FEATURE = Feature(
    name="holidays",
    commands=[
        Command("holidays", holidays_command, _("/holidays [年份]"), _("查看某年的放假安排和调休上班日")),
        Command("holiday", holiday_command, _("/holiday add <日期>[..<日期>] <名称> | remove <日期>"),
                _("录入或删除法定节假日（全国）")),
        Command("workday", workday_command, _("/workday add <日期> <名称> | remove <日期>"),
                _("录入或删除调休上班日（全国）")),
    ],
)
