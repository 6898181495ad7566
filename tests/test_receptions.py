"""Reception days end to end: commands, reminders at the right local time (once), leave, sign-in, absences."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from storage.models import Duty, Reception, ReceptionRule
from tests.harness import PLATFORM, ChatDriver, Delivered, FakeTransport, rows, set_up_station

# A residents and a staff chat, a head, a liaison and three deputies who said /start.
LIANXI = {"head": "wang", "liaisons": ["zhang"], "deputies": ["li", "zhao", "qian"]}

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int, zone: ZoneInfo = SH) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def chats(sent: list[Delivered]) -> list[str]:
    return sorted(d.chat for d in sent)


async def test_reminders_go_out_at_the_local_hour_once(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [added] = await chat.say("zhang", "gongzuo", "/reception add 2026-12-15 09:00-11:30 濂溪社区服务中心 加装电梯")
    assert "#1" in added.text and "12月15日（周二） 09:00–11:30" in added.text and "濂溪社区服务中心" in added.text
    [roster] = await chat.say("zhang", "gongzuo", "/duty 12-15 li zhao")
    assert "li（待确认）" in roster.text and "zhao（待确认）" in roster.text

    assert await chat.advance(at(2026, 12, 8, 8, 59)) == []
    week = await chat.advance(at(2026, 12, 8, 9, 0))
    assert chats(week) == ["dm:zhang"]
    assert "一周提醒" in week[0].text and "尚未确认：li、zhao" in week[0].text

    assert await chat.advance(at(2026, 12, 12, 8, 59)) == []
    three = await chat.advance(at(2026, 12, 12, 9, 0))
    assert chats(three) == ["dm:li", "dm:zhao", "lianxi"]
    deputy = next(d for d in three if d.chat == "dm:li")
    assert deputy.buttons == ["确认参加", "请假"]
    assert "12月15日（周二） 09:00–11:30" in deputy.text and "濂溪社区服务中心" in deputy.text and "加装电梯" in deputy.text
    public = next(d for d in three if d.chat == "lianxi")
    assert "li、zhao" in public.text and "濂溪社区服务中心" in public.text and "12月15日" in public.text

    assert await chat.press("li", "dm:li", deputy.id, "确认参加") == []
    assert "已确认参加" in chat.transport.answers[-1][1]

    assert await chat.advance(at(2026, 12, 14, 8, 59)) == []
    one = await chat.advance(at(2026, 12, 14, 9, 0))
    assert chats(one) == ["dm:li", "dm:zhao"]
    assert all("温馨提示" in d.text and "明天" in d.text for d in one)
    assert next(d for d in one if d.chat == "dm:li").buttons == [], "li already confirmed"

    assert await chat.advance(at(2026, 12, 15, 11, 29)) == []
    end = await chat.advance(at(2026, 12, 15, 11, 30))
    assert chats(end) == ["gongzuo"]
    assert "缺勤：li、zhao" in end[0].text and "0.0%" in end[0].text

    assert await chat.advance(at(2026, 12, 31, 23, 0)) == []
    monthly = await chat.advance(at(2027, 1, 1, 9, 0))
    assert chats(monthly) == ["dm:li", "dm:qian", "dm:zhao", "gongzuo"], "the monthly notice: each deputy, the staff"
    li = next(d for d in monthly if d.chat == "dm:li")
    assert "2026年12月履职通报" in li.text and "值班 1 次，到场 0 次，请假 0 次，缺勤 1 次，出勤率 0.0%" in li.text
    qian = next(d for d in monthly if d.chat == "dm:qian")
    assert "值班 0 次" in qian.text and "本期没有承办事项" in qian.text
    assert await chat.advance(at(2027, 1, 20)) == []


async def test_restart_between_reminders_repeats_nothing(db_url: str, tmp_path: Path) -> None:
    config = CoreConfig(admins=frozenset({f"{PLATFORM}:admin"}))
    first = App(database_url=db_url, clock=ManualClock(at(2026, 12, 1, 9)), config=config)
    transport = FakeTransport()
    first.add_transport(transport)
    chat = ChatDriver(first, transport)
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12月15日 9:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    three = await chat.advance(at(2026, 12, 12, 9, 30))
    assert chats(three) == ["dm:li", "dm:zhang", "dm:zhao", "lianxi"]
    await first.close()

    second = App(database_url=db_url, clock=ManualClock(at(2026, 12, 12, 10)), config=config)
    transport2 = FakeTransport(_ids=itertools.count(20_000))
    second.add_transport(transport2)
    chat2 = ChatDriver(second, transport2)
    await second.settle()
    assert transport2.sent == []
    one = await chat2.advance(at(2026, 12, 14, 9))
    assert chats(one) == ["dm:li", "dm:zhao"] and all("温馨提示" in d.text for d in one)
    assert await chat2.advance(at(2026, 12, 14, 20)) == []
    await second.close()


async def test_missed_while_down(db_url: str) -> None:
    """Down from before the 3-day moment until inside the 1-day window: the 1-day reminder replaces the 3-day one."""
    config = CoreConfig(admins=frozenset({f"{PLATFORM}:admin"}))
    first = App(database_url=db_url, clock=ManualClock(at(2026, 12, 1, 9)), config=config)
    transport = FakeTransport()
    first.add_transport(transport)
    chat = ChatDriver(first, transport)
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/reception add 12-20 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.say("zhang", "gongzuo", "/duty 2 li qian")
    await first.close()

    second = App(database_url=db_url, clock=ManualClock(at(2026, 12, 14, 12)), config=config)
    transport2 = FakeTransport(_ids=itertools.count(20_000))
    second.add_transport(transport2)
    await second.settle()
    sent = transport2.sent
    texts = [(d.chat, d.text[:8]) for d in sent]
    reminders = [d for d in sent if d.chat in ("dm:li", "dm:zhao", "dm:qian")]
    # reception 1: 1-day reminders (not the 3-day ones); reception 2: its 7-day moment passed, its 3-day one not yet.
    assert sorted((d.chat, "温馨提示" in d.text) for d in reminders) == [("dm:li", True), ("dm:zhao", True)], texts
    assert [d.chat for d in sent if d.chat == "lianxi"] == ["lianxi"], "residents still get the notice"
    assert sorted(d.chat for d in sent if d.chat == "dm:zhang") == ["dm:zhang", "dm:zhang"], "both 7-day notes"
    await second.close()

    third = App(database_url=db_url, clock=ManualClock(at(2026, 12, 21, 12)), config=config)
    transport3 = FakeTransport(_ids=itertools.count(30_000))
    third.add_transport(transport3)
    await third.settle()
    assert transport3.sent == [], "nothing for receptions already past, not even an old summary"
    async with third.sessions() as session:
        duties = (await session.exec(select(Duty))).all()
        assert {d.outcome for d in duties} == {"absent"}, "absences are still recorded"
    await third.close()


async def test_leave_and_substitution(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    three = await chat.advance(at(2026, 12, 12, 9))
    li_msg = next(d for d in three if d.chat == "dm:li")

    refused = await chat.press("zhao", "dm:li", li_msg.id, "请假")
    assert refused == [] and "本人" in chat.transport.answers[-1][1]

    pressed = await chat.press("li", "dm:li", li_msg.id, "请假")
    notices = [d for d in pressed if d.chat in ("dm:wang", "dm:zhang")]
    assert chats(notices) == ["dm:wang", "dm:zhang"]
    assert "li 请假" in notices[0].text and "建议由 qian 替换" in notices[0].text
    assert notices[0].buttons == ["改由qian值班"]
    assert "/leave 1 <原因>" in chat.transport.answers[-1][1]

    # Only staff may apply a substitute: a deputy pressing the button changes nothing.
    assert await chat.press("zhao", "dm:zhang", notices[1].id, "改由qian值班") == []
    assert chat.transport.answers[-1][1] == "只有站长和联络员可以安排替换。"
    assert len([duty for duty in await rows(app, Duty) if duty.on_duty and duty.leave_at is None]) == 1, "zhao alone"
    applied = await chat.press("zhang", "dm:zhang", notices[1].id, "改由qian值班")
    assert "已安排 qian 替换 li" in chat.transport.answers[-1][1]
    told = [d for d in applied if d.chat == "dm:qian"]
    assert len(told) == 1 and "值班通知" in told[0].text and told[0].buttons == ["确认参加", "请假"]

    reason = await chat.say("zhao", "dm:zhao", "/leave 12-15 外出开会")
    staff = [d for d in reason if d.chat in ("dm:wang", "dm:zhang")]
    assert len(staff) == 2 and "外出开会" in staff[0].text and "没有可替换的代表" in staff[0].text
    assert any("已为您登记请假" in d.text for d in reason if d.chat == "dm:zhao")

    [listing] = await chat.say("zhang", "gongzuo", "/receptions")
    assert "li（请假）" in listing.text and "zhao（请假）" in listing.text and "qian（待确认）" in listing.text

    one = await chat.advance(at(2026, 12, 14, 9))
    assert chats(one) == ["dm:qian"], "people on leave get no 1-day reminder"
    end = await chat.advance(at(2026, 12, 15, 12))
    [summary] = [d for d in end if d.chat == "gongzuo"]
    assert "请假：li（通过按钮请假，未填写原因）、zhao（外出开会）" in summary.text and "缺勤：qian" in summary.text


async def test_checkin_window_walk_in_and_absence(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.advance(at(2026, 12, 15, 8, 29))
    [early] = await chat.say("li", "lianxi", "/checkin")
    assert "不在签到时间内" in early.text and "08:30" in early.text
    await chat.advance(at(2026, 12, 15, 8, 30))
    [ok] = await chat.say("li", "lianxi", "/checkin")
    assert "签到成功" in ok.text and "08:30" in ok.text
    [again] = await chat.say("li", "dm:li", "/checkin")
    assert "已于 08:30 签到" in again.text
    [walk_in] = await chat.say("qian", "lianxi", "/checkin")
    assert "主动到站" in walk_in.text
    [resident] = await chat.say("alice", "lianxi", "/checkin")
    assert "没有权限" in resident.text
    [during] = await chat.say("zhang", "gongzuo", "/attendance 1")
    assert "li（已签到）" in during.text and "主动到站：qian" in during.text
    end = await chat.advance(at(2026, 12, 15, 11, 30))
    [summary] = [d for d in end if d.chat == "gongzuo"]
    assert "到场：li" in summary.text and "缺勤：zhao" in summary.text and "主动到站：qian" in summary.text
    assert "50.0%" in summary.text
    [late] = await chat.say("zhao", "lianxi", "/checkin")
    assert "不在签到时间内" in late.text
    duties = {d.person_id: d.outcome for d in await rows(app, Duty)}
    assert sorted(duties.values()) == ["absent", "present", "walk_in"]
    [month] = await chat.say("zhang", "gongzuo", "/attendance 2026-12")
    assert "全站出勤率 50.0%" in month.text and "zhao：值班 1，到场 0，请假 0，缺勤 1" in month.text


async def test_dst_zone_reminders(chat: ChatDriver, app: App) -> None:
    """Europe/Berlin springs forward on 2027-03-28: the 3-day reminder is at 09:00 CET, the 1-day one at 09:00 CEST."""
    await set_up_station(chat, **LIANXI)
    await chat.say("admin", "dm:admin", "/station set lianxi timezone Europe/Berlin")
    await chat.say("zhang", "gongzuo", "/reception add 2027-03-29 10:00-12:00 Rathaus")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    [reception] = await rows(app, Reception)
    assert reception.starts_at == datetime(2027, 3, 29, 8, 0, tzinfo=ZoneInfo("UTC"))
    berlin = ZoneInfo("Europe/Berlin")
    await chat.advance(datetime(2027, 3, 26, 7, 59, tzinfo=ZoneInfo("UTC")))
    three = await chat.advance(datetime(2027, 3, 26, 8, 0, tzinfo=ZoneInfo("UTC")))
    assert chats(three) == ["dm:li", "dm:zhao", "lianxi"]
    assert await chat.advance(datetime(2027, 3, 28, 6, 59, tzinfo=ZoneInfo("UTC"))) == []
    one = await chat.advance(datetime(2027, 3, 28, 9, 0, tzinfo=berlin))  # 07:00 UTC
    assert chats(one) == ["dm:li", "dm:zhao"]


async def test_zone_change_moves_future_receptions(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("admin", "dm:admin", "/station set lianxi timezone Europe/Berlin")
    [reception] = await rows(app, Reception)
    assert reception.starts_at == datetime(2026, 12, 15, 8, 0, tzinfo=ZoneInfo("UTC"))


async def test_reception_created_two_days_ahead(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-03 10:00-12:00 服务中心")
    assert [d.chat for d in chat.transport.sent[-1:]] == ["gongzuo"], "no notice before there is a roster"
    sent = await chat.say("zhang", "gongzuo", "/duty 12-03 li zhao")
    assert chats(sent) == ["dm:li", "dm:zhao", "gongzuo", "lianxi"]
    assert all(d.buttons == ["确认参加", "请假"] for d in sent if d.chat.startswith("dm:"))
    one = await chat.advance(at(2026, 12, 2, 9))
    assert chats(one) == ["dm:li", "dm:zhao"] and all("温馨提示" in d.text for d in one)
    assert await chat.advance(at(2026, 12, 3, 9)) == []


async def test_move_and_cancel_tell_everyone_told(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.advance(at(2026, 12, 12, 9))
    moved = await chat.say("zhang", "gongzuo", "/reception move 1 12-22 14:00-16:00")
    assert chats(moved) == ["dm:li", "dm:zhang", "dm:zhao", "gongzuo", "lianxi"]
    said = {d.chat: d.text for d in moved}
    to_deputies = ("【接待日改期】濂溪社区联络站 的接待日 #1 由 12月15日（周二） 09:00–11:30 改为 12月22日（周二） "
                   "14:00–16:00，地点：服务中心。请重新确认能否参加。")
    assert said["dm:li"] == said["dm:zhao"] == said["dm:zhang"] == to_deputies
    assert said["lianxi"] == "【接待日改期】原定 12月15日（周二） 09:00–11:30 的代表接待日改为 12月22日（周二） 14:00–16:00，地点：服务中心。"
    assert said["gongzuo"].startswith("已将接待日改到 #1 12月22日（周二） 14:00–16:00，地点：服务中心。")
    assert await chat.advance(at(2026, 12, 14, 12)) == [], "the old date's 1-day reminder is gone"
    new_round = await chat.advance(at(2026, 12, 19, 9))
    assert chats(new_round) == ["dm:li", "dm:zhang", "dm:zhao", "lianxi"], "the new date's own week-ahead note too"
    cancelled = await chat.say("zhang", "gongzuo", "/reception cancel 12-22 场地维修")
    assert chats(cancelled) == ["dm:li", "dm:zhang", "dm:zhao", "gongzuo", "lianxi"]
    assert all("取消" in d.text for d in cancelled)
    assert await chat.advance(at(2026, 12, 23)) == []


async def test_recurring_rules_in_english_and_chinese(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    sent = await chat.say("zhang", "gongzuo", "/reception every monthly 15 09:00-11:30 濂溪社区服务中心")
    [monthly] = [d for d in sent if d.chat == "gongzuo"]
    # January 2027 is in the 60 days planned, and chinese-calendar 1.11.0 has no 2027: the reply
    # says so, and the admins are asked (once) to enter it (tests/test_holidays.py).
    assert [d.chat for d in sent if d.chat != "gongzuo"] == ["dm:admin"]
    assert "2027 年放假安排尚未录入" in monthly.text
    assert "R1" in monthly.text and "12月15日（周二）" in monthly.text and "1月15日（周五）" in monthly.text
    [nth] = await chat.say("zhang", "gongzuo", "/reception every monthly 2nd tue 14:00-16:00")
    assert "12月8日（周二） 14:00–16:00" in nth.text and "1月12日（周二）" in nth.text
    [weekly] = await chat.say("zhang", "gongzuo", "/reception every weekly wed 09:00-11:00 活动室")
    assert "12月2日（周三）" in weekly.text
    [zh_day] = await chat.say("zhang", "gongzuo", "/reception every 每月15日 9:00-11:30 服务中心")
    assert "R4" in zh_day.text and "12月15日" in zh_day.text
    [zh_nth] = await chat.say("zhang", "gongzuo", "/reception every 每月第二个周二 14:00-16:00")
    assert "12月8日（周二）" in zh_nth.text
    rules_before = len(await rows(app, ReceptionRule))
    receptions_before = len(await rows(app, Reception))
    for bad, expected in [
        ("monthly 32 09:00-11:30", "1 到 31"),
        ("monthly 2nd xyz 14:00-16:00", "不认识的星期"),
        ("每月第八个周二 14:00-16:00", "重复规则的写法"),
        ("weekly wed", "缺少时间段"),
        ("monthly 15 11:30-09:00", "结束时间应晚于开始时间"),
        ("fortnightly 09:00-11:00", "重复规则的写法"),
    ]:
        [answer] = await chat.say("zhang", "gongzuo", f"/reception every {bad}")
        assert expected in answer.text and "用法" in answer.text, (bad, answer.text)
    assert len(await rows(app, ReceptionRule)) == rules_before
    assert len(await rows(app, Reception)) == receptions_before
    [listing] = await chat.say("zhang", "gongzuo", "/reception rules")
    assert "R1" in listing.text and "每月第二个周二" in listing.text
    auto = await chat.say("zhang", "gongzuo", "/duty auto")
    [reply] = [d for d in auto if d.chat == "gongzuo"]
    assert "新增 18 人次" in reply.text
    [zh_tw] = await chat.say("zhang", "gongzuo", "/reception every 每月最後一個週五 14:00-16:00")
    assert "12月25日（周五）" in zh_tw.text, "traditional characters read like simplified ones"
    # the weekly reception tomorrow is inside its 1-day window: its deputies are told at once
    assert {d.chat for d in auto if d.chat.startswith("dm:")} and all(
        "值班通知" in d.text for d in auto if d.chat.startswith("dm:"))
    duties = await rows(app, Duty)
    per_reception: dict[int, int] = {}
    for duty in duties:
        per_reception[duty.reception_id] = per_reception.get(duty.reception_id, 0) + 1
    assert set(per_reception.values()) == {2}
    counts: dict[int, int] = {}
    for duty in duties:
        counts[duty.person_id] = counts.get(duty.person_id, 0) + 1
    assert max(counts.values()) - min(counts.values()) <= 1, "rotation is fair"
    stopped = await chat.say("zhang", "gongzuo", "/reception stop R3")
    [reply] = [d for d in stopped if d.chat == "gongzuo"]
    assert "R3" in reply.text and "9 场" in reply.text  # the 60-day horizon
    assert all("取消" in d.text for d in stopped if d.chat.startswith("dm:"))


async def test_holiday_policy_moves_or_skips(db_url: str) -> None:
    import chinese_calendar

    config = CoreConfig(admins=frozenset({f"{PLATFORM}:admin"}))
    app = App(database_url=db_url, clock=ManualClock(at(2026, 9, 20, 9)), config=config)
    transport = FakeTransport()
    app.add_transport(transport)
    chat = ChatDriver(app, transport)
    await set_up_station(chat, **LIANXI)
    [moved] = await chat.say("zhang", "gongzuo", "/reception every monthly 1 09:00-11:30")
    day = datetime(2026, 10, 2).date()
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    assert f"{day.month}月{day.day}日" in moved.text and "顺延" in moved.text
    await chat.say("zhang", "gongzuo", "/reception set holidays skip")
    [skipped] = await chat.say("zhang", "gongzuo", "/reception every 每月1日 14:00-16:00")
    assert "10月" not in skipped.text and "11月1日" in skipped.text
    [keep] = await chat.say("zhang", "gongzuo", "/reception set holidays keep")
    assert keep.text == "已更新接待日设置：holidays = 照常举行。"
    [kept] = await chat.say("zhang", "gongzuo", "/reception every monthly 1 15:00-16:00 活动室")
    assert "法定节假日照常举行" in kept.text
    assert "10月1日（周四） 15:00–16:00，地点：活动室" in [line.split(" ", 1)[1] for line in kept.text.splitlines()
                                                  if line.startswith("#")], "National Day, as set"
    await app.close()


async def test_wrong_people_and_bad_input_change_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [resident] = await chat.say("alice", "lianxi", "/reception add 12-15 09:00-11:30")
    assert "没有权限" in resident.text
    [deputy] = await chat.say("li", "lianxi", "/duty auto")
    assert "没有权限" in deputy.text
    for bad, expected in [
        ("/reception add 13-45 09:00-11:30", "不是有效的日期"),
        ("/reception add 12-15 9点", "不是时间段"),
        ("/reception add 2026-11-01 09:00-11:30", "已经过去"),
        ("/reception cancel 99", "#99"),
    ]:
        [answer] = await chat.say("zhang", "gongzuo", bad)
        assert expected in answer.text, (bad, answer.text)
    assert await rows(app, Reception) == []
    [none] = await chat.say("li", "dm:li", "/confirm")
    assert "没有接待日值班安排" in none.text
    [not_deputy] = await chat.say("zhang", "gongzuo", "/duty 12-15 alice")
    assert "没有安排接待日" in not_deputy.text


async def test_residents_hear_when_the_published_roster_changes(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-15 09:00-11:30 濂溪社区服务中心")
    await chat.say("zhang", "gongzuo", "/duty 12-15 li zhao")
    three = await chat.advance(at(2026, 12, 12, 9, 0))
    assert "li、zhao" in next(d for d in three if d.chat == "lianxi").text
    changed = await chat.say("zhang", "gongzuo", "/duty 12-15 +qian -li")
    [public] = [d for d in changed if d.chat == "lianxi"]
    assert "接待代表调整" in public.text and "zhao、qian" in public.text and "li" not in public.text.split("：")[-1]
    # nothing more while the roster stays as published
    assert [d for d in await chat.advance(at(2026, 12, 13, 9, 0)) if d.chat == "lianxi"] == []


def monthly_notices(sent: list[Delivered]) -> list[Delivered]:
    return [message for message in sent if message.outgoing.purpose == "monthly_notice"]


async def test_the_monthly_notice_comes_on_the_stations_day(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    [answer] = await chat.say("zhang", "gongzuo", "/reception set report 15")
    assert answer.text == "已更新接待日设置：report = 每月 15 日。"
    assert monthly_notices(await chat.advance(at(2027, 1, 15, 8, 59))) == [], "not on the 1st"
    sent = monthly_notices(await chat.advance(at(2027, 1, 15, 9)))
    assert [message.chat for message in sent] == ["gongzuo", "dm:li", "dm:qian", "dm:zhao"]  # staff, each deputy
    assert sent[0].text.startswith("【月通报】濂溪社区联络站 2026年12月事项统计")
    assert sent[1].text.startswith("【2026年12月履职通报】li代表您好！")
    [off] = await chat.say("zhang", "gongzuo", "/reception set report off")
    assert off.text == "已更新接待日设置：report = 关闭。"
    assert monthly_notices(await chat.advance(at(2027, 4, 1, 12))) == []


async def test_the_number_of_deputies_per_reception_is_the_stations(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    [answer] = await chat.say("zhang", "gongzuo", "/reception set deputies 3")
    assert answer.text == "已更新接待日设置：deputies = 3。"
    await chat.say("zhang", "gongzuo", "/reception add 12-15 09:00-11:30 服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    week = await chat.advance(at(2026, 12, 8, 9))
    [to_liaison] = [message for message in week if message.chat == "dm:zhang"]
    assert to_liaison.text.splitlines()[-1] == "值班代表不足 3 人，请用 /duty 1 <代表…> 或 /duty auto 排班。"
    [filled] = await chat.say("zhang", "gongzuo", "/duty auto")
    assert filled.text.splitlines()[0] == "已自动排班，新增 1 人次（每场至少 3 人，请假者跳过，值班少者优先）："
    await chat.say("zhang", "gongzuo", "/reception set deputies 4")
    await chat.say("zhang", "gongzuo", "/reception add 12-22 09:00-11:30 服务中心")
    [short] = await chat.say("zhang", "gongzuo", "/duty auto")
    assert short.text.splitlines()[-1] == "有 2 场值班代表不足 4 人：本站代表太少。"
