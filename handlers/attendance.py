"""Deputies' side of reception days: /confirm, /leave, /checkin, the Confirm/Leave buttons, and /attendance.

A leave request reaches the head and the liaisons at once with a suggested substitute and a
button to apply it. Sign-in is open from 30 minutes before the start until the end, to the
deputies on duty and, as walk-ins, to any deputy of the station.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from handlers import outbox, visits
from handlers import reception_notify as notify
from handlers.args import to_id
from handlers.context import CommandError, Context
from handlers.i18n import _
from handlers.people import require_station
from handlers.reception_parse import ParseError, parse_date, parse_month, parse_reception_id
from handlers.receptions import describe, ensure_on_duty, find_reception, parse_or_fail, station_tr, today_of
from handlers.router import Command, Feature
from storage import receptions as repo
from storage.models import Duty, Outcome, Reception, ReceptionStatus, RoleName, Station
from storage.receptions import CHECKIN_EARLY, local_today
from storage.rows import id_of

BUTTON_LEAVE_REASON = _("通过按钮请假，未填写原因")


def _deputy_station_ids(ctx: Context) -> list[int]:
    ids = [role.station_id for role in ctx.roles if role.role == RoleName.DEPUTY and role.station_id is not None]
    if ctx.station is not None and ctx.station.id in ids:
        return [id_of(ctx.station)]
    return list(dict.fromkeys(ids))


async def _my_duties(ctx: Context, *, upcoming_only: bool = True) -> list[tuple[Reception, Duty]]:
    """The sender's roster places on scheduled receptions that have not started, soonest first."""
    query = (
        select(Reception, Duty)
        .join(Duty, col(Duty.reception_id) == col(Reception.id))
        .where(Duty.person_id == ctx.person.id, Duty.on_duty, Reception.status == ReceptionStatus.SCHEDULED)
        .order_by(col(Reception.starts_at))
    )
    if upcoming_only:
        query = query.where(col(Reception.starts_at) > ctx.now())
    return [(reception, duty) for reception, duty in (await ctx.session.exec(query)).all()]


async def _my_duty(ctx: Context, token: str | None, *, want: str) -> tuple[Reception, Duty]:
    """The sender's roster place named by id or date, or (no token) the next one still to `want`."""
    mine = await _my_duties(ctx)
    if token is None:
        for reception, duty in mine:
            if want == "confirm" and (duty.confirmed_at is None or duty.leave_at is not None):
                return reception, duty
        if mine:
            return mine[0]
        raise ctx.error(_("您近期没有接待日值班安排。"))
    reception_id = parse_reception_id(token)
    day: date | None = None
    if reception_id is None:
        try:
            day = parse_date(token, local_today(ctx.now(), ctx.station.timezone if ctx.station else ctx.config.timezone))
        except ParseError as error:
            raise parse_or_fail(ctx, error) from None
        if day is None:
            raise ctx.usage_error(_("「{value}」既不是接待日编号也不是日期。"), value=token)
    for reception, duty in mine:
        if reception.id == reception_id or reception.local_date == day:
            return reception, duty
    raise ctx.error(_("您在 {what} 没有值班安排（或该接待日已开始）。发送 /receptions 查看。"),
                    what=f"#{reception_id}" if reception_id is not None else notify.fmt_date(ctx.tr, day or date.min))


async def _station(ctx: Context, reception: Reception) -> Station:
    station = await ctx.session.get(Station, reception.station_id)
    assert station is not None
    return station


# ------------------------------------------------------------------------------------------------
# Confirm and leave (commands and buttons share these)
# ------------------------------------------------------------------------------------------------


async def do_confirm(ctx: Context, reception: Reception, duty: Duty) -> str:
    station = await _station(ctx, reception)
    withdrawn = duty.leave_at is not None
    if duty.confirmed_at is not None and not withdrawn:
        return ctx.tr(_("您已经确认参加接待日 {reception}。"), reception=describe(ctx, reception))
    duty.confirmed_at = ctx.now()
    duty.leave_at = None
    duty.leave_reason = None
    ctx.session.add(duty)
    if withdrawn:
        tr = station_tr(ctx, station)
        text = tr(_("【撤销请假】{name} 撤销了请假，将参加 {when} 的接待日（#{id}）。"), name=ctx.person.display_name,
                  when=notify.fmt_when(tr, reception), id=reception.id)
        for person_id in await notify.staff_of(ctx.session, id_of(station)):
            await outbox.to_person(
                session=ctx.session, key=notify.rkey("leave-withdrawn", reception,
                                                     f"duty:{duty.id}:n{duty.leave_count}:person:{person_id}"),
                purpose="reception_leave", person_id=person_id, text=text, now=ctx.now(), station_id=station.id,
            )
    return ctx.tr(_("已确认参加接待日 {reception}。谢谢！"), reception=describe(ctx, reception))


async def do_leave(ctx: Context, reception: Reception, duty: Duty, reason: str) -> str:
    station = await _station(ctx, reception)
    duty.leave_at = ctx.now()
    duty.leave_reason = reason[:500]
    duty.confirmed_at = None
    duty.leave_count += 1
    ctx.session.add(duty)
    await ctx.session.flush()
    told = await notify.leave_requested(ctx.session, station_tr(ctx, station), station, reception, duty, ctx.now())
    recorded = ctx.tr(_("已为您登记请假：接待日 {reception}。"), reception=describe(ctx, reception))
    if told.people:
        return recorded + ctx.tr(_("已通知：{names}。"), names="、".join(told.people))
    if told.chats:
        return recorded + ctx.tr(_("本站还没有站长或联络员，请假已发到工作群。"))
    return recorded + ctx.tr(_("注意：本站还没有站长或联络员，也没有绑定工作群，这条请假没有人收到，请直接联系联络站。"))


async def confirm_command(ctx: Context) -> None:
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    reception, duty = await _my_duty(ctx, ctx.args[0] if ctx.args else None, want="confirm")
    await ctx.reply(await do_confirm(ctx, reception, duty))


async def leave_command(ctx: Context) -> None:
    if len(ctx.args) < 2:
        raise ctx.usage_error(_("请写明接待日（日期或编号）和请假原因。"))
    reception, duty = await _my_duty(ctx, ctx.args[0], want="leave")
    await ctx.reply(await do_leave(ctx, reception, duty, ctx.rest(1)))


async def on_button(ctx: Context) -> None:
    """`rcpt:<reception>:<person>:confirm|leave` (that deputy only) and `rcpt:<reception>:<leaver>:sub:<person>` (staff)."""
    parts = (ctx.incoming.button_data or "").split(":")
    reception_id, person_id = (to_id(parts[1]), to_id(parts[2])) if len(parts) >= 4 else (None, None)
    if reception_id is None or person_id is None:
        raise ctx.error(_("这个按钮已失效。"))
    reception = await ctx.session.get(Reception, reception_id)
    if reception is None or reception.status != ReceptionStatus.SCHEDULED or reception.starts_at <= ctx.now():
        raise ctx.error(_("这个接待日已开始或已取消，按钮已失效。"))
    action = parts[3]
    substitute_id = to_id(parts[4]) if action == "sub" and len(parts) == 5 else None
    if substitute_id is not None:
        await _substitute(ctx, reception, leaver_id=person_id, substitute_id=substitute_id)
        return
    if person_id != ctx.person.id:
        raise ctx.error(_("这个按钮只能由被安排值班的代表本人使用。"))
    duty = await repo.get_duty(session=ctx.session, reception_id=id_of(reception), person_id=person_id)
    if duty is None or not duty.on_duty:
        raise ctx.error(_("您已不在这个接待日的值班名单中。"))
    if action == "confirm":
        await ctx.answer(await do_confirm(ctx, reception, duty))
    elif action == "leave":
        if duty.leave_at is not None:
            await ctx.answer(ctx.tr(_("您已请假。如需补充原因，发送 /leave {id} <原因>。"), id=reception.id))
            return
        text = await do_leave(ctx, reception, duty, ctx.tr(BUTTON_LEAVE_REASON))
        await ctx.answer(text + "\n" + ctx.tr(_("如需补充原因，发送 /leave {id} <原因>。"), id=reception.id))
    else:
        raise ctx.error(_("这个按钮已失效。"))


async def _substitute(ctx: Context, reception: Reception, *, leaver_id: int, substitute_id: int) -> None:
    if not ctx.is_staff(reception.station_id):
        raise ctx.error(_("只有站长和联络员可以安排替换。"))
    if substitute_id not in await repo.deputy_ids(session=ctx.session, station_id=reception.station_id):
        raise ctx.error(_("这位代表已不在本站，无法安排。"))
    duty = await repo.get_duty(session=ctx.session, reception_id=id_of(reception), person_id=substitute_id)
    names = await notify.names_of(ctx.session, [leaver_id, substitute_id])
    if duty is not None and duty.on_duty and duty.leave_at is None:
        await ctx.answer(ctx.tr(_("{name} 已在值班名单中。"), name=names.get(substitute_id, "")))
        return
    if duty is not None and duty.leave_at is not None:
        raise ctx.error(_("{name} 也已请假，无法安排。"), name=names.get(substitute_id, ""))
    await ensure_on_duty(ctx, reception, duty, substitute_id)
    await ctx.answer(ctx.tr(_("已安排 {substitute} 替换 {leaver} 值班：接待日 {reception}。"),
                            substitute=names.get(substitute_id, ""), leaver=names.get(leaver_id, ""),
                            reception=describe(ctx, reception)))


# ------------------------------------------------------------------------------------------------
# Sign-in
# ------------------------------------------------------------------------------------------------


async def checkin_command(ctx: Context) -> None:
    if ctx.args:
        raise ctx.usage_error()
    station_ids = _deputy_station_ids(ctx)
    if not station_ids:
        raise ctx.error(_("只有本站代表可以签到。"))
    now = ctx.now()
    result = await ctx.session.exec(
        select(Reception)
        .where(col(Reception.station_id).in_(station_ids), Reception.status == ReceptionStatus.SCHEDULED,
               col(Reception.starts_at) <= now + CHECKIN_EARLY, col(Reception.ends_at) > now,
               col(Reception.closed_at).is_(None))
        .order_by(col(Reception.starts_at))
    )
    candidates = list(result.all())
    if not candidates:
        raise CommandError(await _outside_window(ctx, station_ids))
    chosen: tuple[Reception, Duty | None] | None = None
    for reception in candidates:
        duty = await repo.get_duty(session=ctx.session, reception_id=id_of(reception), person_id=id_of(ctx.person))
        if duty is not None and duty.on_duty:
            chosen = (reception, duty)
            break
        if chosen is None:
            chosen = (reception, duty)
    assert chosen is not None
    reception, duty = chosen
    local = now.astimezone(ctx.zone(await _station(ctx, reception)))
    if duty is not None and duty.checked_in_at is not None:
        signed = duty.checked_in_at.astimezone(local.tzinfo)
        await ctx.reply(ctx.tr(_("您已于 {time} 签到，无需重复签到。"), time=f"{signed:%H:%M}"))
        return
    if duty is None:
        duty = Duty(reception_id=id_of(reception), station_id=reception.station_id, person_id=id_of(ctx.person),
                    on_duty=False, assigned_at=now)
    duty.checked_in_at = now
    duty.leave_at = None
    duty.outcome = Outcome.PRESENT if duty.on_duty else Outcome.WALK_IN
    ctx.session.add(duty)
    text = ctx.tr(_("签到成功：{name}，接待日 {reception}，签到时间 {time}。"), name=ctx.person.display_name,
                  reception=describe(ctx, reception), time=f"{local:%H:%M}")
    if not duty.on_duty:
        text += "\n" + ctx.tr(_("您不在本次值班名单中，已按主动到站记录，谢谢！"))
    await ctx.reply(text)


async def _outside_window(ctx: Context, station_ids: list[int]) -> str:
    """Refusal text naming the sender's next (or today's) reception and its sign-in window."""
    result = await ctx.session.exec(
        select(Reception)
        .where(col(Reception.station_id).in_(station_ids), Reception.status == ReceptionStatus.SCHEDULED,
               col(Reception.ends_at) >= ctx.now() - (CHECKIN_EARLY * 48))
        .order_by(col(Reception.starts_at))
        .limit(5)
    )
    for reception in result.all():
        zone = ctx.zone(await _station(ctx, reception))
        opens = (reception.starts_at - CHECKIN_EARLY).astimezone(zone)
        closes = reception.ends_at.astimezone(zone)
        return ctx.tr(_("现在不在签到时间内。接待日 {reception} 的签到时间为 {opens} 至 {closes}。"),
                      reception=describe(ctx, reception), opens=f"{opens:%m-%d %H:%M}", closes=f"{closes:%H:%M}")
    return ctx.tr(_("现在没有可以签到的接待日。签到时间为接待日开始前 30 分钟至结束。"))


# ------------------------------------------------------------------------------------------------
# /attendance
# ------------------------------------------------------------------------------------------------


async def attendance_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    today = today_of(ctx, station)
    token = ctx.args[0] if ctx.args else None
    month: tuple[int, int] | None = (today.year, today.month) if token is None else None
    if token is not None:
        try:
            month = parse_month(token, today)
        except ParseError as error:
            raise parse_or_fail(ctx, error) from None
    if month is not None:
        await ctx.reply(await month_report(ctx, station, *month))
        return
    assert token is not None
    reception = await find_reception(ctx, token, station)
    duties = await repo.duties_of(session=ctx.session, reception_id=id_of(reception))
    lines = [ctx.tr(_("接待日 {reception}"), reception=describe(ctx, reception))]
    if reception.closed_at is None:
        lines.append(ctx.tr(_("值班：{roster}"), roster=await notify.roster_text(ctx.session, ctx.tr, duties)))
        walk_ins = await notify.names_of(ctx.session, [d.person_id for d in duties if d.outcome == Outcome.WALK_IN])
        if walk_ins:
            lines.append(ctx.tr(_("主动到站：{names}"), names="、".join(walk_ins.values())))
        lines.append(ctx.tr(_("接待日尚未结束，结束后统计缺勤。")))
    else:
        summary, rate = await notify.attendance_lines(ctx.session, ctx.tr, duties)
        lines += [*summary, ctx.tr(_("本次出勤率：{rate}"), rate=rate)]
    lines += await visits.reception_lines(ctx, reception)
    await ctx.reply("\n".join(lines))


async def month_report(ctx: Context, station: Station, year: int, month: int) -> str:
    tallies, total, held = await repo.month_tallies(session=ctx.session, station_id=id_of(station), year=year,
                                                    month=month)
    lines = [ctx.tr(_("{station} {year}年{month}月出勤：已结束接待日 {held} 场，全站出勤率 {rate}。"),
                    station=station.name, year=year, month=month, held=held,
                    rate=notify.fmt_rate(total.present, total.on_duty))]
    names = await notify.names_of(ctx.session, list(tallies))
    for person_id, tally in sorted(tallies.items(), key=lambda item: names.get(item[0], "")):
        lines.append(ctx.tr(_("{name}：值班 {duties}，到场 {present}，请假 {leave}，缺勤 {absent}，主动到站 {walk_in}，出勤率 {rate}"),
                            name=names.get(person_id, str(person_id)), duties=tally.on_duty, present=tally.present,
                            leave=tally.leave, absent=tally.absent, walk_in=tally.walk_in,
                            rate=notify.fmt_rate(tally.present, tally.on_duty)))
    if not tallies:
        lines.append(ctx.tr(_("这个月还没有出勤记录。")))
    return "\n".join(lines)


FEATURE = Feature(
    name="attendance",
    commands=[
        Command("confirm", confirm_command, _("/confirm [日期|编号]"), _("确认参加接待日值班")),
        Command("leave", leave_command, _("/leave <日期|编号> <原因>"), _("接待日请假")),
        Command("checkin", checkin_command, _("/checkin"), _("接待日到场签到")),
        Command("attendance", attendance_command, _("/attendance [日期|编号|月份]"), _("查看出勤情况")),
    ],
    on_button={notify.BUTTON_PREFIX: on_button},
)
