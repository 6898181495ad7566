"""A small county whose November 2026 figures are worked out by hand (see EXPECTED in the tests).

xian 县代表之家 (home)
├── hukou 湖口镇联络站 (station)
└── jiangzhou 江州镇联络站 (station)
    └── lianxi 濂溪社区联络室 (room)

Written as plain rows with the times each thing happened, the way the bot's own commands write
them (an event per change, `updated_at` at the last change), so the same dataset can be put on
SQLite and on PostgreSQL and the two compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    CongressLevel,
    Duty,
    Item,
    ItemEvent,
    ItemStatus,
    Outcome,
    Person,
    Rating,
    Reception,
    ReceptionStatus,
    RoleAssignment,
    RoleName,
    Station,
    StationLevel,
)
from storage.receptions import set_times

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=SH)  # the stations were set up in January


def at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def due(month: int, day: int) -> datetime:
    """A deadline: the end of that working day, as /assign sets it."""
    return datetime(2026, month, day, 23, 59, 59, tzinfo=SH)


@dataclass
class Step:
    at: datetime
    kind: str
    to: str
    note: str | None = None


@dataclass
class Seeded:
    stations: dict[str, Station]
    people: dict[str, Person]


async def seed(session: AsyncSession) -> Seeded:
    stations = {
        "xian": Station(code="xian", name="县代表之家", level=StationLevel.HOME, created_at=CREATED),
    }
    session.add(stations["xian"])
    await session.flush()
    for code, name, level, parent in (
        ("jiangzhou", "江州镇联络站", StationLevel.STATION, "xian"),
        ("hukou", "湖口镇联络站", StationLevel.STATION, "xian"),
        ("lianxi", "濂溪社区联络室", StationLevel.ROOM, "jiangzhou"),
    ):
        stations[code] = Station(code=code, name=name, level=level, parent_id=stations[parent].id, created_at=CREATED)
        session.add(stations[code])
        await session.flush()
    people = {name: Person(display_name=display) for name, display in (
        ("li", "李明"), ("wang", "王芳"), ("zhao", "赵强"), ("sun", "孙丽"), ("alice", "张阿姨"), ("bob", "刘大爷"),
    )}
    session.add_all(people.values())
    await session.flush()
    for name, code, level in (("li", "jiangzhou", CongressLevel.COUNTY), ("wang", "jiangzhou", CongressLevel.CITY),
                              ("zhao", "lianxi", CongressLevel.TOWNSHIP), ("sun", "hukou", CongressLevel.COUNTY)):
        session.add(RoleAssignment(person_id=people[name].id or 0, station_id=stations[code].id, role=RoleName.DEPUTY,
                                   congress_level=level))

    numbers: dict[str, int] = {}

    def item(code: str, created: datetime, text: str, reporter: str, steps: list[Step], *,
             assignee: str | None = None, due_at: datetime | None = None, result: str | None = None) -> None:
        station = stations[code]
        numbers[code] = numbers.get(code, 0) + 1
        row = Item(station_id=station.id or 0, number=numbers[code], tag="建议", text=text,
                   reporter_id=people[reporter].id or 0, assignee_id=people[assignee].id if assignee else None,
                   due_at=due_at, result=result, created_at=created, updated_at=created)
        session.add(row)
        history = [Step(created, "created", ItemStatus.NEW), *steps]
        deadline = None  # each event keeps the deadline in force then, as /assign's events do
        for step in history:
            if step.kind == "assigned":
                deadline = due_at
            session.add(ItemEvent(item=row, station_id=station.id, at=step.at, kind=step.kind, to_status=step.to,
                                  note=step.note, due_at=deadline))
            row.status = step.to
            row.updated_at = step.at
            if step.kind in ("resolved", "rejected"):
                row.resolved_at = step.at
            if step.kind == "rated":
                row.rating = (step.note or "").split(":")[0]
                if step.to == ItemStatus.CLOSED:
                    row.closed_at = step.at

    def assigned(when: datetime) -> Step:
        return Step(when, "assigned", ItemStatus.ASSIGNED)

    def resolved(when: datetime) -> Step:
        return Step(when, "resolved", ItemStatus.RESOLVED, "已处理")

    def rated(when: datetime, rating: Rating) -> Step:
        to = ItemStatus.REOPENED if rating is Rating.UNSATISFIED else ItemStatus.CLOSED
        return Step(when, "rated", to, rating.value)

    # 江州镇联络站 — li and wang
    item("jiangzhou", at(9, 10), "九月的事", "alice", [assigned(at(9, 11)), resolved(at(10, 15)),
                                                      rated(at(10, 16), Rating.SATISFIED)],
         assignee="li", due_at=due(9, 30), result="已处理")  # J1: nothing in November
    item("jiangzhou", at(10, 5), "十月受理、十二月才办结", "bob", [assigned(at(10, 6)), resolved(at(12, 1, 8, 30))],
         assignee="wang", due_at=due(10, 20), result="已处理")  # J2: open and overdue at the end of November
    item("jiangzhou", at(10, 20), "十月受理、十一月按期办结", "alice",
         [assigned(at(10, 21)), resolved(at(11, 3)), rated(at(11, 5), Rating.SATISFIED)],
         assignee="li", due_at=due(11, 4), result="已处理")  # J3
    item("jiangzhou", at(11, 2), "超期办结，电话 13912345678", "bob",
         [assigned(at(11, 2, 11)), resolved(at(11, 12)), rated(at(11, 13), Rating.BASICALLY_SATISFIED)],
         assignee="li", due_at=due(11, 9), result="已处理")  # J4: late
    item("jiangzhou", at(11, 5), "办理中已超期", "alice",
         [assigned(at(11, 5, 11)), Step(at(11, 10), "progress", ItemStatus.IN_PROGRESS, "已联系")],
         assignee="wang", due_at=due(11, 19))  # J5
    item("jiangzhou", at(11, 10), "个人信访事项", "bob", [Step(at(11, 11), "rejected", ItemStatus.REJECTED, "转信访")],
         result="转信访")  # J6
    item("jiangzhou", at(11, 15), "办理中未超期", "alice", [assigned(at(11, 15, 11))],
         assignee="wang", due_at=due(12, 10))  # J7
    item("jiangzhou", at(11, 20), "居民不满意、重新办理", "bob",
         [assigned(at(11, 20, 11)), resolved(at(11, 25)), rated(at(11, 26), Rating.UNSATISFIED)],
         assignee="li", due_at=due(11, 27), result="已处理")  # J8: reopened, overdue at the end
    item("jiangzhou", at(11, 28), "新受理", "alice", [])  # J9
    item("jiangzhou", at(12, 1, 8), "十二月受理", "bob", [])  # J10
    # 濂溪社区联络室 — zhao
    item("lianxi", at(11, 3), "楼道灯坏了", "alice",
         [assigned(at(11, 3, 11)), resolved(at(11, 6)), rated(at(11, 7), Rating.SATISFIED)],
         assignee="zhao", due_at=due(11, 10), result="已更换")
    item("lianxi", at(11, 25), "健身器材损坏", "bob", [])
    item("lianxi", at(11, 26), "垃圾清运时间是几点？", "alice",
         [Step(at(11, 26, 11), "answered", ItemStatus.RESOLVED, "每天早上七点")], result="每天早上七点")  # 当场答复
    # 湖口镇联络站 — sun
    item("hukou", at(11, 8), "路面坑洼", "alice",
         [assigned(at(11, 8, 11)), resolved(at(11, 18)), rated(at(11, 19), Rating.SATISFIED)],
         assignee="sun", due_at=due(11, 20), result="已修补")
    # 县代表之家 itself
    item("xian", at(10, 30), "全县性的建议", "bob", [])

    async def reception(code: str, day: date, duties: list[tuple[str, bool, str | None]], *, closed: bool = True,
                  status: str = ReceptionStatus.SCHEDULED) -> None:
        row = Reception(station_id=stations[code].id or 0, local_date=day, start_time=time(9), end_time=time(11, 30),
                        timezone="Asia/Shanghai", starts_at=NOW, ends_at=NOW, place="服务中心", topic="接待",
                        status=status)
        set_times(row, "Asia/Shanghai")
        row.closed_at = row.ends_at if closed else None
        session.add(row)
        await session.flush()
        for name, on_duty, outcome in duties:
            session.add(Duty(reception_id=row.id or 0, station_id=row.station_id, person_id=people[name].id or 0,
                             on_duty=on_duty, outcome=outcome))

    await session.flush()
    await reception("jiangzhou", date(2026, 11, 15), [("li", True, Outcome.PRESENT), ("wang", True, Outcome.LEAVE)])
    await reception("jiangzhou", date(2026, 11, 28), [("li", True, Outcome.PRESENT), ("wang", True, Outcome.ABSENT),
                                                ("zhao", False, Outcome.WALK_IN)])
    await reception("jiangzhou", date(2026, 11, 22), [("li", True, None)], closed=False, status=ReceptionStatus.CANCELLED)
    await reception("jiangzhou", date(2026, 12, 5), [("li", True, None), ("wang", True, None)], closed=False)
    await reception("lianxi", date(2026, 11, 20), [("zhao", True, Outcome.PRESENT)])
    await reception("hukou", date(2026, 10, 20), [("sun", True, Outcome.ABSENT)])
    await session.commit()
    return Seeded(stations, people)
