"""Reception days (接待日): /reception add|every|cancel|move|rules|stop|set, /receptions, /duty.

Receptions are concrete rows (one-off or materialized from a recurrence rule); reminders are
computed from them by `schedules.receptions` on every tick, so a command only changes rows and,
for a move or a cancellation, tells everyone already told.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlmodel import col, select

from handlers import reception_notify as notify
from handlers.args import to_id, to_int
from handlers.context import Context
from handlers.holidays import unknown_year_notice
from handlers.i18n import Translator, _, translator
from handlers.people import person_name, require_station, resolve_user
from handlers.reception_parse import (
    RULE_HELP,
    ParseError,
    parse_date,
    parse_reception_id,
    parse_rule,
    parse_span,
)
from handlers.router import Command, Feature
from storage import receptions as repo
from storage import workdays
from storage.models import Duty, HolidayPolicy, Reception, ReceptionRule, ReceptionStatus, Station
from storage.receptions import carry_over_stages, local_today, set_times
from storage.rows import id_of

POLICY_NAMES = {
    HolidayPolicy.MOVE: _("顺延到下一个工作日"),
    HolidayPolicy.SKIP: _("跳过"),
    HolidayPolicy.KEEP: _("照常举行"),
}
POLICIES = {
    "move": HolidayPolicy.MOVE, "顺延": HolidayPolicy.MOVE, "skip": HolidayPolicy.SKIP, "跳过": HolidayPolicy.SKIP,
    "keep": HolidayPolicy.KEEP, "照常": HolidayPolicy.KEEP,
}
MAX_LISTED = 30


def station_tr(ctx: Context, station: Station) -> Translator:
    """The language of messages that others receive: the station's, not the sender's."""
    return translator(station.language or ctx.config.language)


def parse_or_fail(ctx: Context, error: ParseError) -> Exception:
    return ctx.usage_error(error.msgid, **error.values)


def today_of(ctx: Context, station: Station) -> date:
    return local_today(ctx.now(), station.timezone)


async def find_reception(ctx: Context, token: str, station: Station) -> Reception:
    """A reception of this station named by `#id`/`id` or by its date (scheduled ones only)."""
    reception_id = parse_reception_id(token)
    if reception_id is not None:
        reception = await ctx.session.get(Reception, reception_id)
        if reception is None or reception.station_id != station.id:
            raise ctx.error(_("本站没有编号为 #{id} 的接待日。发送 /receptions 查看。"), id=reception_id)
        return reception
    try:
        day = parse_date(token, today_of(ctx, station))
    except ParseError as error:
        raise parse_or_fail(ctx, error) from None
    if day is None:
        raise ctx.usage_error(_("「{value}」既不是接待日编号也不是日期。"), value=token)
    found = await repo.on_date(session=ctx.session, station_ids=[id_of(station)], day=day)
    if not found:
        raise ctx.error(_("{date} 没有安排接待日。发送 /receptions 查看。"), date=notify.fmt_date(ctx.tr, day))
    if len(found) > 1:
        ids = "、".join(f"#{reception.id}" for reception in found)
        raise ctx.error(_("{date} 有多场接待日（{ids}），请用编号指明。"), date=notify.fmt_date(ctx.tr, day), ids=ids)
    return found[0]


def describe(ctx: Context, reception: Reception) -> str:
    tr = ctx.tr
    text = tr(_("#{id} {when}，地点：{place}"), id=reception.id, when=notify.fmt_when(tr, reception),
              place=notify.fmt_place(tr, reception))
    if reception.topic:
        text += tr(_("，主题：{topic}"), topic=reception.topic)
    if reception.holiday_moved_from is not None:
        text += tr(_("（因节假日由 {date} 顺延）"), date=notify.fmt_date(tr, reception.holiday_moved_from))
    return text


def _split_place_topic(words: list[str]) -> tuple[str | None, str | None]:
    place = words[0] if words else None
    topic = " ".join(words[1:]) or None
    if place and len(place) > 200:
        place = place[:200]
    if topic and len(topic) > 500:
        topic = topic[:500]
    return place, topic


# ------------------------------------------------------------------------------------------------
# /reception
# ------------------------------------------------------------------------------------------------


async def reception_command(ctx: Context) -> None:
    sub = ctx.args[0].lower() if ctx.args else ""
    handlers = {
        "add": _add, "添加": _add, "every": _every, "每": _every, "重复": _every, "cancel": _cancel, "取消": _cancel,
        "move": _move, "改期": _move, "rules": _rules, "规则": _rules, "stop": _stop, "停止": _stop,
        "set": _set, "设置": _set,
    }
    handler = handlers.get(sub)
    if handler is None:
        raise ctx.usage_error()
    await handler(ctx, require_station(ctx))


async def _add(ctx: Context, station: Station) -> None:
    if len(ctx.args) < 3:
        raise ctx.usage_error()
    try:
        day = parse_date(ctx.args[1], today_of(ctx, station))
        span = parse_span(ctx.args[2])
    except ParseError as error:
        raise parse_or_fail(ctx, error) from None
    if day is None:
        raise ctx.usage_error(_("「{value}」不是日期，应为 2026-12-15、12-15 或 12月15日。"), value=ctx.args[1])
    if span is None:
        raise ctx.usage_error(_("「{value}」不是时间段，应为 09:00-11:30 这样的格式。"), value=ctx.args[2])
    place, topic = _split_place_topic(ctx.args[3:])
    reception = Reception(
        station_id=id_of(station), local_date=day, start_time=span[0], end_time=span[1], timezone=station.timezone,
        starts_at=ctx.now(), ends_at=ctx.now(), place=place, topic=topic, revised_at=ctx.now(),
        created_by=ctx.person.id, created_at=ctx.now(), updated_at=ctx.now(),
    )
    set_times(reception, station.timezone)
    if reception.starts_at <= ctx.now():
        raise ctx.error(_("{when} 已经过去，不能安排接待日。"), when=notify.fmt_when(ctx.tr, reception))
    await repo.create_reception(session=ctx.session, reception=reception)
    lines = [ctx.tr(_("已安排接待日 {reception}。"), reception=describe(ctx, reception))]
    calendar = await workdays.calendar(session=ctx.session, first=day)
    if calendar.public_holiday(day):
        lines.append(ctx.tr(_("注意：这一天是法定节假日。")))
    lines.extend(await unknown_year_notice(ctx, calendar, day, day))
    lines.append(ctx.tr(_("用 /duty {id} <代表…> 排班，或 /duty auto 自动排班。"), id=reception.id))
    await ctx.reply("\n".join(lines))


async def _every(ctx: Context, station: Station) -> None:
    words = ctx.args[1:]
    span_at: int | None = None
    span: tuple[time, time] | None = None
    try:
        for index, word in enumerate(words):
            span = parse_span(word)
            if span is not None:
                span_at = index
                break
        if span_at is None or span is None:
            raise ctx.usage_error(_("缺少时间段，例如 09:00-11:30。\n{rules}"), rules=ctx.tr(RULE_HELP))
        rule = parse_rule(words[:span_at])
    except ParseError as error:
        raise parse_or_fail(ctx, error) from None
    place, topic = _split_place_topic(words[span_at + 1 :])
    settings = await repo.get_settings(session=ctx.session, station_id=id_of(station))
    row = ReceptionRule(
        station_id=id_of(station), rrule=rule.rrule, text=f"{rule.text} {words[span_at]}"[:255],
        starts_on=today_of(ctx, station), start_time=span[0], end_time=span[1], place=place, topic=topic,
        created_by=ctx.person.id, created_at=ctx.now(),
    )
    ctx.session.add(row)
    await ctx.session.flush()
    await repo.materialize_rules(session=ctx.session, now=ctx.now(), rule_ids=[id_of(row)],
                                 station_zones={id_of(station): station.timezone})
    planned = [r for r in await repo.upcoming(session=ctx.session, station_id=id_of(station), now=ctx.now())
               if r.rule_id == row.id]
    upcoming = planned[:3]
    if not upcoming:
        raise ctx.error(_("规则「{rule}」在接下来 {days} 天内不会产生接待日，没有保存。"), rule=rule.text,
                        days=repo.HORIZON_DAYS)
    # A year without an official schedule has no holidays to move off: say so rather than promise it.
    first, last = min(r.local_date for r in planned), max(r.local_date for r in planned)
    calendar = await workdays.calendar(session=ctx.session, first=first, last=last)
    unknown = calendar.unknown_years(first, last)
    policy = ctx.tr(POLICY_NAMES[HolidayPolicy(settings.holiday_policy)])
    if unknown and settings.holiday_policy != HolidayPolicy.KEEP:
        policy = ctx.tr(_("{policy}（{years} 年的放假安排录入后才生效，届时尚未通知任何人的接待日会自动调整）"),
                        policy=policy, years="、".join(str(year) for year in unknown))
    lines = [
        ctx.tr(_("已设置重复接待日 R{id}：{rule}，地点：{place}。法定节假日{policy}。"), id=row.id, rule=row.text,
               place=place or ctx.tr(_("地点待定")), policy=policy),
        ctx.tr(_("接下来：")),
        *(describe(ctx, reception) for reception in upcoming),
    ]
    lines.extend(await unknown_year_notice(ctx, calendar, first, last))
    lines.append(ctx.tr(_("用 /duty auto 为接下来的接待日自动排班。")))
    await ctx.reply("\n".join(lines))


async def _cancel(ctx: Context, station: Station) -> None:
    if len(ctx.args) < 2:
        raise ctx.usage_error()
    reception = await find_reception(ctx, ctx.args[1], station)
    if reception.status == ReceptionStatus.CANCELLED:
        raise ctx.error(_("接待日 #{id} 已经取消了。"), id=reception.id)
    if reception.starts_at <= ctx.now():
        raise ctx.error(_("接待日 #{id} 已经开始，不能取消。"), id=reception.id)
    reason = ctx.rest(2) or None
    reception.status = ReceptionStatus.CANCELLED
    reception.cancelled_at = reception.updated_at = ctx.now()
    ctx.session.add(reception)
    await notify.changed(ctx.session, station_tr(ctx, station), station, reception, ctx.now(), kind="cancelled",
                         reason=reason)
    await ctx.reply(ctx.tr(_("已取消接待日 {reception}。已通知的代表和居民群会收到取消通知。"),
                           reception=describe(ctx, reception)))


async def _move(ctx: Context, station: Station) -> None:
    if not 3 <= len(ctx.args) <= 4:
        raise ctx.usage_error()
    reception = await find_reception(ctx, ctx.args[1], station)
    if reception.starts_at <= ctx.now():
        raise ctx.error(_("接待日 #{id} 已经开始，不能改期。"), id=reception.id)
    try:
        day = parse_date(ctx.args[2], today_of(ctx, station))
        span = parse_span(ctx.args[3]) if len(ctx.args) == 4 else (reception.start_time, reception.end_time)
    except ParseError as error:
        raise parse_or_fail(ctx, error) from None
    if day is None:
        raise ctx.usage_error(_("「{value}」不是日期，应为 2026-12-15、12-15 或 12月15日。"), value=ctx.args[2])
    if span is None:
        raise ctx.usage_error(_("「{value}」不是时间段，应为 09:00-11:30 这样的格式。"), value=ctx.args[3])
    tr = station_tr(ctx, station)
    old_when = notify.fmt_when(tr, reception)
    old = (reception.local_date, reception.start_time, reception.end_time)
    reception.local_date, reception.start_time, reception.end_time = day, span[0], span[1]
    set_times(reception, station.timezone)
    if reception.starts_at <= ctx.now():
        raise ctx.error(_("{when} 已经过去，不能改到这个时间。"), when=notify.fmt_when(ctx.tr, reception))
    if (reception.local_date, reception.start_time, reception.end_time) == old:
        raise ctx.error(_("接待日 #{id} 已经是这个时间，没有变化。"), id=reception.id)
    await apply_move(ctx, station, reception)
    await notify.changed(ctx.session, tr, station, reception, ctx.now(), kind="moved", old_when=old_when)
    await ctx.reply(ctx.tr(_("已将接待日改到 {reception}。已通知的代表和居民群会收到改期通知，提醒按新日期重新发送。"),
                           reception=describe(ctx, reception)))


async def apply_move(ctx: Context, station: Station, reception: Reception) -> None:
    """A new revision: stages already past for the new date count as done when their audience was
    told (the move notice covers it); the others fire again at their new moments. Confirmations reset."""
    old_revision = reception.revision
    reception.revision += 1
    reception.revised_at = reception.updated_at = ctx.now()
    reception.holiday_moved_from = None
    carry_over_stages(reception, old_revision=old_revision, now=ctx.now(), hour=ctx.config.reminder_hour)
    ctx.session.add(reception)
    for duty in await repo.duties_of(session=ctx.session, reception_id=id_of(reception)):
        duty.confirmed_at = None
        ctx.session.add(duty)


async def _rules(ctx: Context, station: Station) -> None:
    result = await ctx.session.exec(
        select(ReceptionRule).where(ReceptionRule.station_id == station.id, ReceptionRule.active)
        .order_by(col(ReceptionRule.id))
    )
    rules = list(result.all())
    settings = await repo.get_settings(session=ctx.session, station_id=id_of(station))
    if not rules:
        await ctx.reply(ctx.tr(_("本站没有重复接待日。用 /reception every <规则> <时间段> [地点] 设置。")))
        return
    lines = [ctx.tr(_("本站的重复接待日（法定节假日{policy}）："),
                    policy=ctx.tr(POLICY_NAMES[HolidayPolicy(settings.holiday_policy)]))]
    for rule in rules:
        lines.append(f"R{rule.id}  {rule.text}  {rule.place or ctx.tr(_('地点待定'))}")
    await ctx.reply("\n".join(lines))


async def _stop(ctx: Context, station: Station) -> None:
    if len(ctx.args) != 2:
        raise ctx.usage_error()
    rule_id = to_id(ctx.args[1].upper().lstrip("R"))
    rule = await ctx.session.get(ReceptionRule, rule_id) if rule_id is not None else None
    if rule is None or rule.station_id != station.id or not rule.active:
        raise ctx.error(_("本站没有编号为 {id} 的重复接待日。发送 /reception rules 查看。"), id=ctx.args[1])
    rule.active = False
    ctx.session.add(rule)
    tr = station_tr(ctx, station)
    cancelled = 0
    for reception in await repo.upcoming(session=ctx.session, station_id=id_of(station), now=ctx.now()):
        if reception.rule_id == rule.id and reception.starts_at > ctx.now():
            reception.status = ReceptionStatus.CANCELLED
            reception.cancelled_at = reception.updated_at = ctx.now()
            ctx.session.add(reception)
            await notify.changed(ctx.session, tr, station, reception, ctx.now(), kind="cancelled")
            cancelled += 1
    await ctx.reply(ctx.tr(_("已停止重复接待日 R{id}，取消了之后的 {count} 场。"), id=rule.id, count=cancelled))


async def _set(ctx: Context, station: Station) -> None:
    if len(ctx.args) != 3:
        raise ctx.usage_error()
    key, value = ctx.args[1].lower(), ctx.args[2].lower()
    settings = await repo.get_settings(session=ctx.session, station_id=id_of(station))
    if key in ("holidays", "节假日"):
        policy = POLICIES.get(value)
        if policy is None:
            raise ctx.usage_error(_("节假日的处理应为 move（顺延）、skip（跳过）或 keep（照常）。"))
        settings.holiday_policy = policy
        shown = ctx.tr(POLICY_NAMES[policy])
    elif key in ("report", "通报"):
        if value in ("off", "关闭", "0"):
            settings.report_day = 0
            shown = ctx.tr(_("关闭"))
        elif (day := to_int(value, low=1, high=28)) is not None:
            settings.report_day = day
            shown = ctx.tr(_("每月 {day} 日"), day=day)
        else:
            raise ctx.usage_error(_("出勤通报日应为 1 到 28 之间的日期，或 off。"))
    elif key in ("deputies", "人数"):
        per_reception = to_int(value, low=1, high=20)
        if per_reception is None:
            raise ctx.usage_error(_("每场值班人数应为 1 到 20 之间的数字。"))
        settings.per_reception = per_reception
        shown = str(per_reception)
    else:
        raise ctx.usage_error(_("可设置的项目：holidays（节假日）、report（出勤通报日）、deputies（每场人数）。"))
    await repo.save_settings(session=ctx.session, settings=settings, now=ctx.now())
    await ctx.reply(ctx.tr(_("已更新接待日设置：{key} = {value}。"), key=key, value=shown))


# ------------------------------------------------------------------------------------------------
# /receptions
# ------------------------------------------------------------------------------------------------


async def receptions_command(ctx: Context) -> None:
    station = require_station(ctx)
    asked = to_int(ctx.args[0]) if len(ctx.args) == 1 else None
    if len(ctx.args) > 1 or (ctx.args and asked is None):
        raise ctx.usage_error()
    limit = min(asked, MAX_LISTED) if asked is not None else 5
    found = await repo.upcoming(session=ctx.session, station_id=id_of(station), now=ctx.now(), limit=limit)
    if not found:
        await ctx.reply(ctx.tr(_("{station} 近期没有安排接待日。用 /reception add 或 /reception every 安排。"),
                               station=station.name))
        return
    grouped = await repo.duties_for(session=ctx.session, reception_ids=[id_of(r) for r in found])
    lines = [ctx.tr(_("{station} 接下来的接待日："), station=station.name)]
    for reception in found:
        lines.append(describe(ctx, reception))
        roster = await notify.roster_text(ctx.session, ctx.tr, grouped.get(id_of(reception), []))
        lines.append("  " + ctx.tr(_("值班：{roster}"), roster=roster))
    await ctx.reply("\n".join(lines))


# ------------------------------------------------------------------------------------------------
# /duty
# ------------------------------------------------------------------------------------------------


async def duty_command(ctx: Context) -> None:
    station = require_station(ctx)
    if not ctx.args:
        raise ctx.usage_error()
    if ctx.args[0].lower() in ("auto", "自动"):
        await _duty_auto(ctx, station)
        return
    if len(ctx.args) < 2:
        raise ctx.usage_error()
    reception = await find_reception(ctx, ctx.args[0], station)
    if reception.status != ReceptionStatus.SCHEDULED or reception.starts_at <= ctx.now():
        raise ctx.error(_("接待日 #{id} 已经开始或已取消，不能再排班。"), id=reception.id)
    deputies = set(await repo.deputy_ids(session=ctx.session, station_id=id_of(station)))
    tokens = ctx.args[1:]
    incremental = all(token[:1] in "+-" and len(token) > 1 for token in tokens)
    adds: list[int] = []
    removes: list[int] = []
    for token in tokens:
        sign, name = (token[0], token[1:]) if incremental else ("+", token)
        account = await resolve_user(ctx, name)
        if sign == "+" and account.person_id not in deputies:
            raise ctx.error(_("{name} 不是本站代表，请先用 /deputy add 添加。"),
                            name=await person_name(ctx, account.person_id))
        (adds if sign == "+" else removes).append(account.person_id)
    duties = {duty.person_id: duty for duty in await repo.duties_of(session=ctx.session, reception_id=id_of(reception))}
    if not incremental:
        removes = [person for person, duty in duties.items() if duty.on_duty and person not in adds]
    tr = station_tr(ctx, station)
    for person_id in dict.fromkeys(removes):
        duty = duties.get(person_id)
        if duty is None or not duty.on_duty:
            continue
        if duty.told:
            await notify.removed(ctx.session, tr, station, reception, duty, ctx.now())
        await ctx.session.delete(duty)
    for person_id in dict.fromkeys(adds):
        await ensure_on_duty(ctx, reception, duties.get(person_id), person_id)
    await ctx.session.flush()
    roster = await notify.roster_text(
        ctx.session, ctx.tr, await repo.duties_of(session=ctx.session, reception_id=id_of(reception))
    )
    await ctx.reply(ctx.tr(_("接待日 {reception}\n值班：{roster}"), reception=describe(ctx, reception), roster=roster))


async def ensure_on_duty(ctx: Context, reception: Reception, duty: Duty | None, person_id: int) -> Duty:
    """Put a deputy on the roster; the reminder job tells them if the reminders already went out."""
    if duty is None:
        duty = Duty(reception_id=id_of(reception), station_id=reception.station_id, person_id=person_id,
                    assigned_at=ctx.now())
    duty.on_duty = True
    duty.leave_at = None
    duty.leave_reason = None
    ctx.session.add(duty)
    return duty


async def _duty_auto(ctx: Context, station: Station) -> None:
    months = to_int(ctx.args[1], low=1, high=12) if len(ctx.args) == 2 else 1
    if len(ctx.args) > 2 or months is None:
        raise ctx.usage_error(_("月数应为 1 到 12 之间的数字。"))
    deputies = await repo.deputy_ids(session=ctx.session, station_id=id_of(station))
    if not deputies:
        raise ctx.error(_("本站还没有代表，请先用 /deputy add 添加。"))
    now = ctx.now()
    until = now + timedelta(days=31 * months)
    if months * 31 > repo.HORIZON_DAYS:
        await repo.materialize_rules(session=ctx.session, now=now, horizon_days=months * 31 + 1,
                                     station_zones={id_of(station): station.timezone})
    added = await repo.auto_roster(session=ctx.session, station_ids=[id_of(station)], start=now, end=until, now=now)
    found = await repo.upcoming(session=ctx.session, station_id=id_of(station), now=now, until=until)
    if not found:
        raise ctx.error(_("接下来 {months} 个月没有安排接待日。"), months=months)
    grouped = await repo.duties_for(session=ctx.session, reception_ids=[id_of(r) for r in found])
    wanted = (await repo.get_settings(session=ctx.session, station_id=id_of(station))).per_reception
    lines = [ctx.tr(_("已自动排班，新增 {count} 人次（每场至少 {wanted} 人，请假者跳过，值班少者优先）："), count=len(added),
                    wanted=wanted)]
    short = 0
    for reception in found[:MAX_LISTED]:
        duties = grouped.get(id_of(reception), [])
        if len(notify.active_duties(duties)) < wanted:
            short += 1
        roster = await notify.roster_text(ctx.session, ctx.tr, duties)
        lines.append(ctx.tr(_("#{id} {date}：{roster}"), id=reception.id,
                            date=notify.fmt_date(ctx.tr, reception.local_date), roster=roster))
    if short:
        lines.append(ctx.tr(_("有 {count} 场值班代表不足 {wanted} 人：本站代表太少。"), count=short, wanted=wanted))
    await ctx.reply("\n".join(lines))


FEATURE = Feature(
    name="receptions",
    commands=[
        Command(
            "reception", reception_command,
            _("/reception add <日期> <开始>-<结束> [地点] [主题…] | every <规则> <开始>-<结束> [地点] [主题…] | "
              "cancel <日期|编号> [原因] | move <日期|编号> <新日期> [开始-结束] | rules | stop <规则编号> | "
              "set holidays move|skip|keep / report <日>|off / deputies <人数>"),
            _("安排、改期、取消接待日"),
        ),
        Command("receptions", receptions_command, _("/receptions [数量]"), _("查看接下来的接待日和值班代表")),
        Command("duty", duty_command, _("/duty <日期|编号> <代表…> | /duty <编号> +代表 -代表 | /duty auto [月数]"),
                _("为接待日排班")),
    ],
)
