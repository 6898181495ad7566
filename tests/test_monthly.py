"""The monthly notice (月通报) of the hand-worked county (tests/reports_data.py; its November figures
are derived in tests/test_reports_sql.py): on 1 December at the reminder hour, November's figures
and chart to each staff chat (a parent gets the roll-up), each deputy's own record by DM, once."""

from __future__ import annotations

import io
import itertools
from datetime import datetime

from PIL import Image
from sqlmodel import select

from bot.app import App
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from handlers.transport import FileKind
from storage.models import (
    Account,
    ChatBinding,
    ChatPurpose,
    Outbox,
    ReceptionSettings,
    RoleAssignment,
    RoleName,
    Station,
)
from tests.harness import PLATFORM, Delivered, FakeTransport
from tests.reports_data import SH, seed

CONFIG = CoreConfig(admins=frozenset({f"{PLATFORM}:admin"}))


def at(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


async def county(app: App) -> None:
    """The county, with staff chats for 县代表之家 and 江州, a liaison (no staff chat) at 濂溪, and
    nothing at 湖口; the deputies have accounts, so they can be written to."""
    async with app.sessions() as session:
        seeded = await seed(session)
        for code, chat in (("xian", "xian-staff"), ("jiangzhou", "jiangzhou-staff")):
            session.add(ChatBinding(platform=PLATFORM, chat_id=chat, station_id=seeded.stations[code].id or 0,
                                    purpose=ChatPurpose.STAFF))
        for name in ("li", "wang", "zhao", "sun", "alice"):
            session.add(Account(person_id=seeded.people[name].id or 0, platform=PLATFORM, user_id=name))
        session.add(RoleAssignment(person_id=seeded.people["alice"].id or 0, station_id=seeded.stations["lianxi"].id,
                                   role=RoleName.LIAISON))
        await session.commit()


def one(sent: list[Delivered], chat: str) -> Delivered:
    found = [d for d in sent if d.chat == chat]
    assert len(found) == 1, [(d.chat, d.text[:30]) for d in sent]
    return found[0]


async def test_notices_on_the_first_at_the_reminder_hour(db_url: str) -> None:
    app = App(database_url=db_url, clock=ManualClock(at(11, 30, 12)), config=CONFIG)
    transport = FakeTransport()
    app.add_transport(transport)
    await county(app)
    await app.settle()
    assert {d.chat for d in transport.sent if "2026年10月" in d.text} >= {"xian-staff", "dm:li"}, \
        "a new deployment first sends the notice still due: October's"
    transport.sent.clear()

    await app.advance_to(at(12, 1, 8, 59))
    assert [d for d in transport.sent if "通报" in d.text] == [], "not before the reminder hour"
    await app.advance_to(at(12, 1, 9))
    sent = [d for d in transport.sent if "通报" in d.text]
    assert sorted(d.chat for d in sent) == sorted([
        "xian-staff", "jiangzhou-staff", "dm:alice",  # 濂溪 has no staff chat: its liaison
        "dm:li", "dm:wang", "dm:zhao", "dm:zhao", "dm:sun",  # 赵强: his own station, and his walk-in at 江州
    ]), "湖口 has neither a staff chat nor a liaison: its notice is logged as undeliverable, its deputy still told"

    rollup = one(sent, "xian-staff")
    assert rollup.text.splitlines()[:2] == [
        "【月通报】县代表之家 2026年11月事项统计（含下级 3 个站点）：",
        "合计：受理 10 件，截至2026年11月30日已办结 4 件（办结率 40.0%）。",
    ]
    assert "办结 6 件，其中按时办结 5 件（按时办结率 83.3%）；不予受理 1 件。" in rollup.text
    assert "截至2026年11月30日办理中 7 件，其中超期 3 件。" in rollup.text
    assert "· 江州镇联络站（含下级）：受理 9，办结 5（按时 4），不予受理 1，办理中 6（超期 3），满意率 75.0%，出勤率 60.0%" in rollup.text
    assert "· 湖口镇联络站：受理 1，办结 1（按时 1），不予受理 0，办理中 0（超期 0），满意率 100.0%" in rollup.text
    chart = rollup.outgoing.attachment
    assert chart is not None and chart.kind is FileKind.PHOTO and chart.filename == "xian-2026-11.png"
    assert Image.open(io.BytesIO(chart.data)).size == (1440, 1020)

    station = one(sent, "jiangzhou-staff")
    assert "评价 4 件：满意 2、基本满意 1、不满意 1（满意率 75.0%）。" in station.text
    assert "接待日 3 场，代表应到 5 人次、实到 3 人次，出勤率 60.0%。" in station.text
    assert station.outgoing.attachment is not None

    li = one(sent, "dm:li").text
    assert li.startswith("【2026年11月履职通报】李明代表您好！以下是您2026年11月在 江州镇联络站 的履职情况：")
    assert "接待日：值班 2 次，到场 2 次，请假 0 次，缺勤 0 次，出勤率 100.0%。" in li
    assert "事项：承办 2 件，办结 3 件（按时 2 件），办理中 1 件（超期 1 件），满意率 66.7%。" in li
    assert "全站当月接待日 2 场，出勤率 50.0%。" in li
    assert "请假 1 次，缺勤 1 次，出勤率 0.0%" in one(sent, "dm:wang").text
    walk_in = next(d.text for d in sent if d.chat == "dm:zhao" and "江州" in d.text)
    assert "另有 1 次主动到站，谢谢！" in walk_in
    assert one(sent, "dm:alice").outgoing.attachment is not None, "the liaison gets the chart too"

    before = len(transport.sent)
    await app.advance_to(at(12, 20))
    assert [d for d in transport.sent[before:] if "通报" in d.text] == [], "once a month"
    await app.close()

    again = App(database_url=db_url, clock=ManualClock(at(12, 20, 10)), config=CONFIG)
    later = FakeTransport(_ids=itertools.count(50_000))
    again.add_transport(later)
    await again.settle()
    assert [d for d in later.sent if "通报" in d.text] == [], "a restart sends nothing again"
    async with again.sessions() as session:
        keys = [row.key for row in (await session.exec(select(Outbox))).all()
                if row.key.startswith("monthly:") and row.key.split(":")[3] == "2026-11"]
    assert len(keys) == len(set(keys)) == 8
    await again.close()


async def test_missed_while_down_and_switched_off(db_url: str) -> None:
    app = App(database_url=db_url, clock=ManualClock(at(11, 30, 12)), config=CONFIG)
    transport = FakeTransport()
    app.add_transport(transport)
    await county(app)
    async with app.sessions() as session:
        hukou = (await session.exec(select(Station).where(Station.code == "hukou"))).one()
        session.add(ReceptionSettings(station_id=hukou.id or 0, report_day=0))
        await session.commit()
    await app.close()

    # Down over the 1st: the notice goes out at start, on the 3rd.
    back = App(database_url=db_url, clock=ManualClock(at(12, 3, 15)), config=CONFIG)
    transport = FakeTransport()
    back.add_transport(transport)
    await back.settle()
    notices = [d for d in transport.sent if "通报" in d.text]
    assert "xian-staff" in {d.chat for d in notices}
    assert "dm:sun" not in {d.chat for d in notices}, "湖口 switched its notice off"
    await back.close()
