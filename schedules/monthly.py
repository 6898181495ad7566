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

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import charts, outbox
from handlers import reception_notify as notify
from handlers.context import CoreConfig
from handlers.i18n import Translator, _, translator
from handlers.periods import Period, next_month, previous_month
from handlers.stats import chart_data, deputy_line, percent, station_report
from handlers.transport import Attachment, FileKind
from storage import reports as figures_repo
from storage import stations as stations_repo
from storage.models import ChatBinding, ChatPurpose, ReceptionSettings, Station
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


@dataclass
class Notice:
    """A station's notice for a month, read and ready to be written."""

    station: Station
    settings: ReceptionSettings
    month: str  # the month it reports, "2026-11"
    key: str = ""
    text: str = ""
    chats: list[ChatBinding] = field(default_factory=list)
    staff: list[int] = field(default_factory=list)  # liaisons (or the head) when there is no staff chat
    chart: asyncio.Future[bytes] | None = None
    chart_name: str = ""
    records: list[tuple[int, str]] = field(default_factory=list)  # each deputy's own record: (person, text)


class MonthlyNotice:
    name = "monthly-notice"

    async def _stations(self, session: AsyncSession) -> list[tuple[Station, ReceptionSettings]]:
        stations = list((await session.exec(select(Station).order_by(col(Station.id)))).all())
        settings = {row.station_id: row for row in (await session.exec(select(ReceptionSettings))).all()}
        return [(station, settings.get(id_of(station)) or ReceptionSettings(station_id=id_of(station)))
                for station in stations]

    async def run_due(self, *, session: AsyncSession, now: datetime, config: CoreConfig) -> None:
        """The notices due, a few stations at a time: their figures are read and their charts
        started (in a worker process), then the previous few's rows are written and committed
        once their charts are drawn. So no chart is drawn while this transaction holds SQLite's
        write lock, and the loop answers handlers throughout."""
        workers = charts.ChartWorkers()
        try:
            ready: list[Notice] = []
            batch: list[Notice] = []
            for station, settings in await self._stations(session):
                notice = await self._due(session, station, settings, now, config, workers)
                if notice is None:
                    continue
                batch.append(notice)
                if len(batch) == COMMIT_EVERY:
                    await self._write(session, ready, now)  # drawn while `batch` was being read
                    ready, batch = batch, []
            await self._write(session, ready, now)
            await self._write(session, batch, now)
        finally:
            await workers.close()

    async def _due(self, session: AsyncSession, station: Station, settings: ReceptionSettings, now: datetime,
                   config: CoreConfig, workers: charts.ChartWorkers) -> Notice | None:
        """The station's notice if one is due (figures read, chart started), else None."""
        if settings.report_day <= 0:
            return None
        month = due_month(now, station.timezone, settings.report_day, config.reminder_hour)
        if settings.last_report_month is not None and settings.last_report_month >= month_key(month):
            return None
        notice = Notice(station, settings, month_key(month))
        if station.created_at.astimezone(ZoneInfo(station.timezone)).date() >= next_month(month):
            log.info("monthly notice for %s %s skipped: the station did not exist yet", station.code, notice.month)
            return notice
        await self._prepare(session, notice, Period.month(month.year, month.month), now, config, workers)
        return notice

    async def _prepare(self, session: AsyncSession, notice: Notice, period: Period, now: datetime,
                       config: CoreConfig, workers: charts.ChartWorkers) -> None:
        station = notice.station
        language = station.language or config.language
        tr = translator(language)
        tree = await figures_repo.station_tree(session=session, root_id=station.id)
        lines = await station_report(session, tr, tree, period, now)
        notice.text = tr(_("【月通报】")) + "\n".join(lines)
        notice.key = f"monthly:station:{station.id}:{period.key}"
        notice.chats = await stations_repo.bindings_of(session=session, station_id=id_of(station),
                                                       purpose=ChatPurpose.STAFF)
        notice.staff = [] if notice.chats else await notify.liaisons_or_heads(session, id_of(station))
        if notice.chats or notice.staff:
            data = await chart_data(session, tr, tree, period, now)
            notice.chart = workers.render(data, language)
            notice.chart_name = f"{station.code}-{period.key}.png"
        else:
            log.info("monthly notice for %s %s: no staff chat and no liaison or head to send it to", station.code,
                     period.key)
        notice.records = await self._deputies(session, tr, tree[:1], period, now)

    async def _write(self, session: AsyncSession, notices: list[Notice], now: datetime) -> None:
        """The notices' outbox rows, once their charts are drawn, and the months they reported."""
        if not notices:
            return
        attachments = [await self._attachment(notice) for notice in notices]
        for notice, attachment in zip(notices, attachments, strict=True):
            station = notice.station
            for binding in notice.chats:
                await outbox.to_chat(
                    session=session, key=f"{notice.key}:chat:{binding.id}", purpose="monthly_notice",
                    platform=binding.platform, chat_id=binding.chat_id, text=notice.text, now=now,
                    station_id=station.id, private=True, attachment=attachment,
                )
            for person_id in notice.staff:
                await outbox.to_person(
                    session=session, key=f"{notice.key}:person:{person_id}", purpose="monthly_notice",
                    person_id=person_id, text=notice.text, now=now, station_id=station.id, attachment=attachment,
                )
            for person_id, text in notice.records:
                await outbox.to_person(
                    session=session, key=f"{notice.key}:person:{person_id}", purpose="monthly_notice",
                    person_id=person_id, text=text, now=now, station_id=station.id,
                )
            notice.settings.last_report_month = notice.month
            notice.settings.updated_at = now
            session.add(notice.settings)
        await session.commit()

    @staticmethod
    async def _attachment(notice: Notice) -> Attachment | None:
        if notice.chart is None:
            return None
        try:
            png = await notice.chart
        except charts.ChartError as problem:  # the figures still go out, and the log says why the chart did not
            log.error("monthly notice for %s without its chart: %s", notice.station.code, problem)
            return None
        return Attachment(kind=FileKind.PHOTO, filename=notice.chart_name, mime=charts.PNG_MIME, data=png)

    async def _deputies(self, session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                        now: datetime) -> list[tuple[int, str]]:
        """Each deputy's own record of the month, for a DM (only the station itself, not those below)."""
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
        records = []
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
            records.append((deputy.person_id, "\n".join(lines)))
        return records

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
