"""The figures kept per station and month (storage/figure_deltas.py) equal the figures computed
from the items and events themselves, and a rebuild from scratch.

Random but seeded histories, written through the bot's own storage functions (`create_item`,
`transition`) in many small transactions, as handlers write them: items in two stations of
different zones (one with summer time), events on the stroke of local midnight at a month's
start, two events at the same instant, deadlines in later months, reopened and re-rated rounds,
referrals reopened. Then every month, quarter, the year, spans of months and all time, each
both as a period that is over and as one still running, are compared with the figures the SQL
over the events gives (`item_figures(..., from_events=True)`, the definitions of
`storage.reports.item_figures`).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import figure_deltas, items
from storage import reports as figures_repo
from storage.db import create_engine, session_factory
from storage.models import FigureDelta, Item, ItemStatus, Person, Station, StationLevel

ZONES = {"shanghai": "Asia/Shanghai", "berlin": "Europe/Berlin"}
START = datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC"))
MONTHS = 15


def months_from(first: date, count: int) -> list[date]:
    found = [first]
    while len(found) < count:
        last = found[-1]
        found.append(date(last.year + (last.month == 12), last.month % 12 + 1, 1))
    return found


class History:
    """Random item histories along the bot's state machine, written through storage."""

    def __init__(self, session: AsyncSession, rng: random.Random, stations: list[Station], person_id: int) -> None:
        self.session, self.rng, self.stations, self.person_id = session, rng, stations, person_id
        self.open: list[Item] = []
        self.latest = START

    def moment(self, after: datetime) -> datetime:
        """Mostly a few days later; sometimes the same instant, sometimes the next local midnight
        starting a month (the edge of two periods)."""
        roll = self.rng.random()
        if roll < 0.08:
            return after
        if roll < 0.16:
            zone = ZoneInfo(self.rng.choice(list(ZONES.values())))
            local = after.astimezone(zone)
            first = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
            return datetime(first.year, first.month, 1, tzinfo=zone).astimezone(ZoneInfo("UTC"))
        return after + timedelta(hours=self.rng.randint(1, 24 * 25))

    async def step(self, now: datetime) -> None:
        """At `now`: a new item, or the next event of an open (or handled) item."""
        if not self.open or self.rng.random() < 0.3:
            station = self.rng.choice(self.stations)
            item = items.create_item(session=self.session, station=station, tag="建议", text="路灯坏了",
                                     reporter_id=self.person_id, source_message=None, now=now)
            self.open.append(item)
            return
        item = self.rng.choice(self.open)
        if item.updated_at > now:
            return
        status = item.status
        choices: list[tuple[str, str, str | None]] = []
        if status in (ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED):
            choices += [("assigned", ItemStatus.ASSIGNED, None), ("resolved", ItemStatus.RESOLVED, "已处理"),
                        ("rejected", ItemStatus.REJECTED, "转信访"), ("edited", status, "原文")]
            if status != ItemStatus.NEW:
                choices.append(("progress", ItemStatus.IN_PROGRESS, "已联系"))
            else:
                choices.append(("answered", ItemStatus.RESOLVED, "当场答复"))
        elif status == ItemStatus.RESOLVED:
            choices += [("rated", ItemStatus.CLOSED, "satisfied"), ("rated", ItemStatus.CLOSED, "basically_satisfied: 还行"),
                        ("rated", ItemStatus.REOPENED, "unsatisfied: 没修好"), ("reopened", ItemStatus.REOPENED, "重办")]
        elif status in (ItemStatus.REJECTED, ItemStatus.CLOSED):
            choices.append(("reopened", ItemStatus.REOPENED, "重办"))
        kind, to_status, note = self.rng.choice(choices)
        if kind == "assigned":
            item.assignee_id = self.person_id
            item.due_at = now + timedelta(days=self.rng.choice([0, 3, 14, 40, 70]))
        await items.transition(session=self.session, item=item, to_status=to_status, kind=kind,
                               actor_id=self.person_id, note=note, now=now)


async def write_histories(session: AsyncSession, seed: int, count: int) -> tuple[list[Station], datetime]:
    """Stations in two zones and `count` steps of history, committed a few steps at a time; returns
    the stations and the last moment written."""
    rng = random.Random(seed)
    person = Person(display_name="代表")
    stations = [Station(code=f"{code}{seed}", name=code, level=StationLevel.STATION, timezone=zone, created_at=START)
                for code, zone in ZONES.items()]
    session.add_all([person, *stations])
    await session.commit()
    history = History(session, rng, stations, person.id or 0)
    now = START
    for index in range(count):
        now = history.moment(now)
        await history.step(now)
        if index % rng.randint(1, 9) == 0:
            await session.commit()
    await session.commit()
    return stations, now


async def kept_rows(session: AsyncSession) -> dict[tuple[Any, ...], int]:
    rows = (await session.exec(select(FigureDelta.station_id, FigureDelta.figure, FigureDelta.month,  # type: ignore[call-overload]
                                      FigureDelta.other, FigureDelta.count))).all()
    return {tuple(row[:4]): row[4] for row in rows if row[4]}


def periods(now: datetime) -> list[figures_repo.Span]:
    """Every month, quarter, the years, spans of months and all time, around the histories."""
    months = months_from(date(2024, 12, 1), MONTHS + 3)
    spans = list(pairwise(months))
    spans += [(months[i], months[i + 3]) for i in range(1, len(months) - 3, 3)]  # quarters
    spans += [(date(2025, 1, 1), date(2026, 1, 1)), (date(2026, 1, 1), date(2027, 1, 1))]
    spans += [(months[2], months[9]), (date(2000, 1, 1), date(3000, 1, 1))]
    return [figures_repo.Span(start, end, now) for start, end in spans]


async def compare(session: AsyncSession, station_ids: list[int], now: datetime) -> int:
    """Kept figures against the figures from the events, for every period; returns how many
    periods were compared that had anything in them."""
    tree = [node for node in await figures_repo.station_tree(session=session, root_id=None) if node.id in station_ids]
    busy = 0
    for span in periods(now):
        kept = await figures_repo.item_figures(session=session, stations=tree, span=span)
        computed = await figures_repo.item_figures(session=session, stations=tree, span=span, from_events=True)
        kept = {key: figures for key, figures in kept.items() if figures != figures_repo.ItemFigures()}
        computed = {key: figures for key, figures in computed.items() if figures != figures_repo.ItemFigures()}
        assert kept == computed, (span, kept, computed)
        busy += bool(computed)
    return busy


async def check(url: str, seed: int, steps: int) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            stations, last = await write_histories(session, seed, steps)
            station_ids = [station.id or 0 for station in stations]
            kept = await kept_rows(session)
            await (await session.connection()).run_sync(lambda connection: figure_deltas.rebuild(connection))
            assert await kept_rows(session) == kept  # what the flushes kept is what a rebuild computes
            await session.rollback()
            # Over, and still running: as of a moment after the last event, and of a month later.
            for now in (last + timedelta(minutes=1), last + timedelta(days=31)):
                assert await compare(session, station_ids, now) > 10
    finally:
        await engine.dispose()


async def test_kept_figures_equal_the_events_sqlite(db_url: str) -> None:
    for seed in (1, 2, 3):
        await check(db_url, seed, 260)


async def test_kept_figures_equal_the_events_postgresql(pg_url: str) -> None:
    await check(pg_url, 4, 260)


async def test_a_new_time_zone_rebuilds_the_station(db_url: str) -> None:
    """Months are the station's own: changing its zone recounts its months in the new one."""
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            stations, last = await write_histories(session, 5, 200)
            station_ids = [station.id or 0 for station in stations]
            stations[0].timezone = "America/Los_Angeles"
            session.add(stations[0])
            await session.commit()
            kept = await kept_rows(session)
            await (await session.connection()).run_sync(lambda connection: figure_deltas.rebuild(connection))
            assert await kept_rows(session) == kept
            await session.rollback()
            assert await compare(session, station_ids, last + timedelta(minutes=1)) > 10
    finally:
        await engine.dispose()
