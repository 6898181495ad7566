"""The report figures in SQL, on a dataset worked out by hand (tests/reports_data.py), the same on
SQLite and on a real PostgreSQL server.

November 2026, Asia/Shanghai; figures taken on 2026-12-01 09:00, so "open" and "overdue" are as
of the end of November (2026-12-01 00:00).

江州镇联络站 (items J1–J10):
- received in November: J4 J5 J6 J7 J8 J9 = 6 (J3 arrived in October, J10 on 1 December); of those
  resolved or closed at the end of November: J4 = 1 (J6 was rejected, J8 reopened)
- resolved in November: J3 (11-03, due 11-04: on time), J4 (11-12, due 11-09: late), J8 (11-25,
  due 11-27: on time) = 3, on time 2
- rejected: J6 = 1
- ratings given in November that are still the item's rating: J3 满意, J4 基本满意, J8 不满意
- open at the end: J2 (resolved only on 12-01 08:30: the event-by-event path, its status and
  deadline as its events before 1 December left them), J5, J7, J8 (reopened by 不满意), J9 = 5;
  overdue then, by the deadline each event carried: J2 (due 10-20), J5 (11-19), J8 (11-27) = 3
濂溪社区联络室: received 3 (2 of them resolved at the end), resolved 2 on time (one answered on the spot
by the station, which had no deadline to miss), 满意 1, open 1.
湖口镇联络站: received 1 (resolved), resolved 1 on time, 满意 1, open 0.
县代表之家 itself: one item from 10-30, still open, no deadline.
Whole county: received 6+3+1 = 10 (1+2+1 = 4 of them resolved at the end), resolved 3+2+1 = 6, on time 2+2+1 = 5, rejected 1,
open 5+1+0+1 = 7, overdue 3, 满意 3, 基本满意 1, 不满意 1 (satisfaction 4/5 = 80%).

Attendance (receptions held in November; the cancelled one and the December one don't count):
江州 11-15 (李明 present, 王芳 leave), 11-28 (李明 present, 王芳 absent, 赵强 walk-in):
on duty 4, present 2, leave 1, absent 1, walk-ins 1, held 2; 濂溪 11-20: 赵强 present, held 1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from storage import reports
from storage.db import create_engine, session_factory
from storage.reports import Attendance, ItemFigures, Span
from tests.reports_data import NOW, Seeded, seed

NOVEMBER = Span(date(2026, 11, 1), date(2026, 12, 1), NOW)

EXPECTED_OWN = {
    "jiangzhou": ItemFigures(received=6, received_resolved=1, resolved=3, on_time=2, rejected=1, open=5, overdue=3, satisfied=1,
                             basically_satisfied=1, unsatisfied=1),
    "lianxi": ItemFigures(received=3, received_resolved=2, resolved=2, on_time=2, open=1, satisfied=1),
    "hukou": ItemFigures(received=1, received_resolved=1, resolved=1, on_time=1, satisfied=1),
    "xian": ItemFigures(open=1),
}
EXPECTED_COUNTY = ItemFigures(received=10, received_resolved=4, resolved=6, on_time=5, rejected=1, open=7, overdue=3, satisfied=3,
                              basically_satisfied=1, unsatisfied=1)
# 李明: J4 J8 received; J3 J4 J8 resolved (J3 J8 on time); J8 open and overdue.
# 王芳: J5 J7 received; J2 J5 J7 open, J2 J5 overdue. Unassigned: J6 (rejected), J9 (open).
EXPECTED_DEPUTIES = {
    "李明": ItemFigures(received=2, received_resolved=1, resolved=3, on_time=2, open=1, overdue=1, satisfied=1, basically_satisfied=1,
                      unsatisfied=1),
    "王芳": ItemFigures(received=2, open=3, overdue=2),
    None: ItemFigures(received=2, rejected=1, open=1),
}
EXPECTED_ATTENDANCE = {
    "jiangzhou": Attendance(on_duty=4, present=2, leave=1, absent=1, walk_in=1, held=2),
    "lianxi": Attendance(on_duty=1, present=1, held=1),
}


async def figures_of(url: str) -> dict[str, Any]:
    """Every figure the reports use, keyed by station codes and names so two databases compare."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            seeded: Seeded = await seed(session)
            codes = {station.id: code for code, station in seeded.stations.items()}
            names = {person.id: person.display_name for person in seeded.people.values()}
            tree = await reports.station_tree(session=session, root_id=seeded.stations["xian"].id)
            own = await reports.item_figures(session=session, stations=tree, span=NOVEMBER)
            deputies = await reports.item_figures(session=session, stations=tree, span=NOVEMBER, grouping="deputy")
            monthly = await reports.monthly_figures(session=session, stations=tree, now=NOW,
                                                    months=[date(2026, 10, 1), date(2026, 11, 1)])
            tallies = await reports.attendance(session=session, station_ids=[n.id for n in tree],
                                               start=NOVEMBER.start, end=NOVEMBER.end)
            per_deputy = await reports.attendance(session=session, station_ids=[n.id for n in tree],
                                                  start=NOVEMBER.start, end=NOVEMBER.end, grouping="deputy")
            return {
                "tree": [(node.code, node.depth) for node in tree],
                "own": {codes[key[0]]: value for key, value in own.items()},
                "deputies": {(codes[key[0]], names.get(key[1])): value for key, value in deputies.items()},
                "monthly": {(codes[key[0]], index): value for index, month in enumerate(monthly)
                            for key, value in month.items()},
                "attendance": {codes[key[0]]: value for key, value in tallies.items()},
                "attendance_deputies": {(codes[key[0]], names[key[1]]): value for key, value in per_deputy.items()},
            }
    finally:
        await engine.dispose()


@pytest.fixture
async def sqlite_figures(db_url: str) -> AsyncIterator[dict[str, Any]]:
    yield await figures_of(db_url)


async def test_figures_by_hand(sqlite_figures: dict[str, Any]) -> None:
    found = sqlite_figures
    assert found["tree"] == [("xian", 0), ("hukou", 1), ("jiangzhou", 1), ("lianxi", 2)]
    assert found["own"] == EXPECTED_OWN
    assert ItemFigures.total(found["own"].values()) == EXPECTED_COUNTY
    assert {name: figures for (code, name), figures in found["deputies"].items() if code == "jiangzhou"} \
        == EXPECTED_DEPUTIES
    assert found["attendance"] == EXPECTED_ATTENDANCE
    assert found["attendance_deputies"][("jiangzhou", "李明")] == Attendance(on_duty=2, present=2)
    assert found["attendance_deputies"][("jiangzhou", "王芳")] == Attendance(on_duty=2, leave=1, absent=1)
    assert found["attendance_deputies"][("jiangzhou", "赵强")] == Attendance(walk_in=1)


async def test_figures_per_month(sqlite_figures: dict[str, Any]) -> None:
    """October for 江州, as of 31 October: J2 J3 received (J3 still open); J1 resolved 10-15 (due
    09-30: late), rated 满意 10-16; open then: J2 (due 10-20: overdue), J3 (due 11-04). A month of a
    chart is exactly that month's period."""
    monthly = sqlite_figures["monthly"]
    assert monthly[("jiangzhou", 0)] == ItemFigures(received=2, resolved=1, on_time=0, open=2, overdue=1,
                                                    satisfied=1)
    assert monthly[("jiangzhou", 1)] == EXPECTED_OWN["jiangzhou"]
    assert monthly[("xian", 0)] == ItemFigures(received=1, open=1)


async def test_postgresql_gives_the_same_figures(sqlite_figures: dict[str, Any], pg_url: str) -> None:
    assert await figures_of(pg_url) == sqlite_figures


def test_descendants() -> None:
    tree = [reports.StationNode(1, "xian", "", "home", None, "Asia/Shanghai", 0),
            reports.StationNode(2, "a", "", "station", 1, "Asia/Shanghai", 1),
            reports.StationNode(3, "b", "", "room", 2, "Asia/Shanghai", 2),
            reports.StationNode(4, "c", "", "station", 1, "Asia/Shanghai", 1)]
    assert sorted(reports.descendants(tree, 2)) == [2, 3]
    assert sorted(reports.descendants(tree, 1)) == [1, 2, 3, 4]
