"""Deadlines (办理时限): n working days from the station's today, the default per tag, the notice
for years without an official schedule.

Used by /assign, /reopen, /extend and a resident's 不满意; a deadline is the end of its last
working day in the station's zone. Setting one records when (`Item.due_set_at`), so the chasing
ladder (schedules/overdue.py) starts over from it and skips steps that were due before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.args import MAX_WORKDAYS, to_workdays
from handlers.context import Context
from handlers.holidays import unknown_year_notice
from handlers.i18n import _
from storage import deadlines as deadlines_repo
from storage import workdays
from storage.models import Item, Station
from storage.rows import id_of

DEFAULT_DEADLINE_WORKDAYS = 15
# Digits and a unit: a number of days, even one out of range (which is then refused, not taken as text).
LOOKS_LIKE_DAYS = re.compile(r"^[0-9０-９]+(?:d|天|日|个工作日|工作日)?$")
CLEAR_WORDS = frozenset({"off", "default", "默认", "取消"})


@dataclass(frozen=True)
class Deadline:
    days: int
    day: date  # the last working day, in the station's zone
    due_at: datetime  # the end of that day, aware UTC
    notice: list[str]  # lines for the reply when the span reaches a year without a schedule


def parse_days(token: str) -> int | None:
    """`10`, `10天`, `10个工作日`, `１０`: a number of working days in range, else None."""
    return to_workdays(token)


def days_error(ctx: Context, token: str) -> Exception:
    return ctx.usage_error(_("办理时限应为 1 到 {max} 之间的工作日天数，而不是「{value}」。"),
                           max=MAX_WORKDAYS, value=token)


async def default_days(*, session: AsyncSession, station: Station, tag: str) -> int:
    """The station's days for items of this tag (/tags days), else the general default."""
    return (await deadlines_repo.tag_days(session=session, station_id=id_of(station))).get(
        tag, DEFAULT_DEADLINE_WORKDAYS)


def local_today(ctx: Context, station: Station) -> date:
    return ctx.now().astimezone(ctx.zone(station)).date()


async def compute(ctx: Context, station: Station, days: int, *, start: date | None = None) -> Deadline:
    """The deadline `days` working days after `start` (default: the station's today)."""
    start = start or local_today(ctx, station)
    calendar = await workdays.calendar(session=ctx.session, first=start)
    day = calendar.add_workdays(start, days)
    zone = ctx.zone(station)
    due_at = datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(ctx.now().tzinfo)
    return Deadline(days=days, day=day, due_at=due_at, notice=await unknown_year_notice(ctx, calendar, start, day))


def apply(item: Item, deadline: Deadline, now: datetime) -> None:
    item.due_at = deadline.due_at
    item.due_set_at = now


# --- /tags days -----------------------------------------------------------------------------------
async def tags_days(ctx: Context, station: Station, values: list[str]) -> None:
    """`/tags days` lists; `/tags days 求助 5` sets; `/tags days 求助 off` goes back to the default."""
    if len(values) not in (0, 2):
        raise ctx.usage_error(_("用法：/tags days <标签> <工作日天数|off>，例如 /tags days 求助 5。"))
    if values:
        tag, value = values
        if tag not in station.tags:
            raise ctx.error(_("#{tag} 不是本站的标签。本站的标签：{tags}"), tag=tag,
                            tags=" ".join(f"#{known}" for known in station.tags))
        days = None if value.lower() in CLEAR_WORDS else parse_days(value)
        if days is None and value.lower() not in CLEAR_WORDS:
            raise days_error(ctx, value)
        await deadlines_repo.set_tag_days(session=ctx.session, station_id=id_of(station), tag=tag, days=days)
        await ctx.session.flush()
        first = (ctx.tr(_("#{tag} 事项的默认办理时限改为 {days} 个工作日（/assign 未写天数、/reopen 时使用）。"), tag=tag, days=days)
                 if days is not None else
                 ctx.tr(_("#{tag} 事项的默认办理时限恢复为 {days} 个工作日。"), tag=tag, days=DEFAULT_DEADLINE_WORKDAYS))
        await ctx.reply(first + "\n" + await days_summary(ctx, station))
        return
    await ctx.reply(await days_summary(ctx, station))


async def days_summary(ctx: Context, station: Station) -> str:
    configured = await deadlines_repo.tag_days(session=ctx.session, station_id=id_of(station))
    parts = [ctx.tr(_("#{tag} {days} 个工作日"), tag=tag, days=days) for tag, days in configured.items()
             if tag in station.tags]
    if not parts:
        return ctx.tr(_("默认办理时限：所有标签均为 {days} 个工作日。设置某个标签：/tags days <标签> <天数>。"),
                      days=DEFAULT_DEADLINE_WORKDAYS)
    return ctx.tr(_("默认办理时限：{list}；其余标签 {days} 个工作日。"), list="、".join(parts), days=DEFAULT_DEADLINE_WORKDAYS)
