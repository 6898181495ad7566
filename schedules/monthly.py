"""The monthly notice (月通报), on each station's notice day at the reminder hour.

For last month: the station's staff chat gets the figures and the chart (a station with stations
below it gets the roll-up: its own figures, each child's, the total; the chart of them all); each
deputy of the station gets their own record by DM (attendance, items assigned, resolved on time,
satisfaction). With no staff chat bound, the liaisons (or the head) get the station's notice
directly. One outbox row per (station's chat or person, month), and the station remembers the
month it reported, so a repeated tick, a restart or a second process never sends twice; a notice
missed while the bot was down goes out at start, until the next month's is due. The day is
`/reception set report <1-28>|off` (default the 1st).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import charts, outbox
from handlers import reception_notify as notify
from handlers.context import CoreConfig
from handlers.i18n import Translator, _, translator
from handlers.periods import Period, next_month, previous_month
from handlers.stats import chart_attachment, deputy_line, percent, station_report
from handlers.transport import Attachment
from storage import reports as figures_repo
from storage import stations as stations_repo
from storage.models import ChatPurpose, ReceptionSettings, Station
from storage.receptions import local_instant
from storage.reports import Attendance, ItemFigures, Span, StationNode
from storage.rows import id_of

log = logging.getLogger(__name__)

COMMIT_EVERY = 5  # stations per transaction: a county's notices are committed as they are written


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def notice_moment(year: int, month: int, day: int, hour: int, zone: str) -> datetime:
    return local_instant(date(year, month, day), time(hour), zone)


def due_month(now: datetime, zone: str, day: int, hour: int) -> date:
    """The month whose notice is due at `now`: last month once this month's notice moment has come,
    else the month before it."""
    local = now.astimezone(ZoneInfo(zone)).date()
    this_month = notice_moment(local.year, local.month, day, hour, zone)
    return previous_month(local if now >= this_month else previous_month(local))


class MonthlyNotice:
    name = "monthly-notice"

    async def _stations(self, session: AsyncSession) -> list[tuple[Station, ReceptionSettings]]:
        stations = list((await session.exec(select(Station).order_by(col(Station.id)))).all())
        settings = {row.station_id: row for row in (await session.exec(select(ReceptionSettings))).all()}
        return [(station, settings.get(id_of(station)) or ReceptionSettings(station_id=id_of(station)))
                for station in stations]

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        done = 0
        for station, settings in await self._stations(session):
            if settings.report_day <= 0:
                continue
            month = due_month(now, station.timezone, settings.report_day, config.reminder_hour)
            if settings.last_report_month is not None and settings.last_report_month >= month_key(month):
                continue
            if station.created_at.astimezone(ZoneInfo(station.timezone)).date() >= next_month(month):
                log.info("monthly notice for %s %s skipped: the station did not exist yet", station.code,
                         month_key(month))
            else:
                await self._notify(session, station, Period.month(month.year, month.month), now, config)
            settings.last_report_month = month_key(month)
            settings.updated_at = now
            session.add(settings)
            done += 1
            if done % COMMIT_EVERY == 0:
                await session.commit()

    async def _notify(self, session: AsyncSession, station: Station, period: Period, now: datetime,
                      config: CoreConfig) -> None:
        tr = translator(station.language or config.language)
        tree = await figures_repo.station_tree(session=session, root_id=station.id)
        lines = await station_report(session, tr, tree, period, now)
        text = tr(_("【月通报】")) + "\n".join(lines)
        chats = await stations_repo.bindings_of(session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
        staff = [] if chats else await notify.liaisons_or_heads(session, id_of(station))
        attachment: Attachment | None = None
        if chats or staff:
            try:
                attachment = await chart_attachment(session, tr, tree, period, now)
            except charts.ChartError as problem:  # the figures still go out, and the log says why the chart did not
                log.error("monthly notice for %s without its chart: %s", station.code, problem)
        key = f"monthly:station:{station.id}:{period.key}"
        for binding in chats:
            await outbox.to_chat(
                session=session, key=f"{key}:chat:{binding.id}", purpose="monthly_notice", platform=binding.platform,
                chat_id=binding.chat_id, text=text, now=now, station_id=station.id, private=True,
                attachment=attachment,
            )
        for person_id in staff:
            await outbox.to_person(
                session=session, key=f"{key}:person:{person_id}", purpose="monthly_notice", person_id=person_id,
                text=text, now=now, station_id=station.id, attachment=attachment,
            )
        if not chats and not staff:
            log.info("monthly notice for %s %s: no staff chat and no liaison or head to send it to", station.code,
                     period.key)
        await self._deputies(session, tr, tree[:1], period, now, key)

    async def _deputies(self, session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                        now: datetime, key: str) -> None:
        """Each deputy's own record of the month, by DM (only the station itself, not those below)."""
        station = stations[0]
        span = Span(period.start, period.end, now)
        items = await figures_repo.item_figures(session=session, stations=stations, span=span, grouping="deputy")
        tallies = await figures_repo.attendance(session=session, station_ids=[station.id], start=period.start,
                                                end=period.end, grouping="deputy")
        totals = await figures_repo.attendance(session=session, station_ids=[station.id], start=period.start,
                                               end=period.end)
        total = totals.get((station.id,), Attendance())
        people = await figures_repo.deputies(session=session, station_ids=[station.id],
                                             also=[k for k in [*items, *tallies] if k[1] is not None])
        for deputy in people:
            figures = items.get((station.id, deputy.person_id), ItemFigures())
            tally = tallies.get((station.id, deputy.person_id), Attendance())
            lines = [
                tr(_("【{period}履职通报】{name}代表您好！以下是您{period}在 {station} 的履职情况："), period=period.label(tr),
                   name=deputy.name, station=station.name),
                tr(_("接待日：值班 {on_duty} 次，到场 {present} 次，请假 {leave} 次，缺勤 {absent} 次，出勤率 {rate}"),
                   on_duty=tally.on_duty, present=tally.present, leave=tally.leave, absent=tally.absent,
                   rate=percent(tally.present, tally.on_duty))
                + (tr(_("；另有 {count} 次主动到站，谢谢！"), count=tally.walk_in) if tally.walk_in else "。"),
                tr(_("事项：{line}。"), line=deputy_line(tr, figures, Attendance())),
                tr(_("全站当月接待日 {held} 场，出勤率 {rate}。"), held=total.held, rate=percent(total.present, total.on_duty)),
            ]
            await outbox.to_person(
                session=session, key=f"{key}:person:{deputy.person_id}", purpose="monthly_notice",
                person_id=deputy.person_id, text="\n".join(lines), now=now, station_id=station.id,
            )

    async def next_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> datetime | None:
        best: datetime | None = None
        for station, settings in await self._stations(session):
            if settings.report_day <= 0:
                continue
            local = now.astimezone(ZoneInfo(station.timezone)).date()
            moment = notice_moment(local.year, local.month, settings.report_day, config.reminder_hour,
                                   station.timezone)
            if moment <= now:
                following = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
                moment = notice_moment(following.year, following.month, settings.report_day, config.reminder_hour,
                                       station.timezone)
            best = moment if best is None else min(best, moment)
        return best
