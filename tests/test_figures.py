"""Figures by the month in which things happened: /stats and /publish over three months of a station.

September: four items arrive, one is resolved on time. October: two are resolved late and rated,
one is referred, one rating is superseded by a new round (不满意 gives the item a new deadline, which
its second result meets). November: a direct answer, a reopened September item resolved again
within its new deadline. Each month's figures are computed as of its end and never change.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.clock import ManualClock
from storage import reports
from storage.reports import ItemFigures, Span
from tests.harness import ChatDriver, Delivered, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(9, 7, 9))


def the_one(sent: list[Delivered], chat: str) -> Delivered:
    found = [message for message in sent if message.chat == chat]
    assert len(found) == 1, [(m.chat, m.text) for m in sent]
    return found[0]


async def stats(chat: ChatDriver, period: str) -> str:
    [answer] = await chat.say("zhang", "gongzuo", f"/stats {period}")
    return answer.text


async def publish(chat: ChatDriver, period: str) -> tuple[str | None, str]:
    """(the post in the residents group or None, the answer to the staff)."""
    sent = await chat.say("zhang", "gongzuo", f"/publish {period}")
    public = [m.text for m in sent if m.chat == "lianxi"]
    return (public[0] if public else None), the_one(sent, "gongzuo").text


@pytest.fixture
async def station(chat: ChatDriver) -> ChatDriver:
    return await set_up_station(chat, liaisons=["zhang"], deputies=["li county"], introduce=["li"])


async def test_three_months_of_figures(station: ChatDriver, app: App) -> None:
    chat = station
    feedback: dict[int, Delivered] = {}

    async def close(number: int, result: str) -> None:
        feedback[number] = the_one(await chat.say("li", "dm:li", f"/close {number} {result}"), "lianxi")

    # September: four items; #4 resolved on time, the others wait past their deadline (09-15).
    for user, text in (("alice", "#建议 东门路灯坏了"), ("bob", "#投诉 广场舞噪音太大"),
                       ("carol", "#求助 邻居占用车位"), ("dora", "#建议 垃圾桶太少")):
        await chat.say(user, "lianxi", text)
    await chat.advance(at(9, 8))
    for number in (1, 2, 3, 4):
        await chat.say("zhang", "gongzuo", f"/assign {number} li 5")
    await chat.advance(at(9, 10))
    await close(4, "已增设两个垃圾桶")
    await chat.advance(at(10, 1, 9))
    september = await stats(chat, "9月")
    assert "受理 4 件，截至2026年9月30日已办结 1 件（办结率 25.0%）。" in september
    assert "办结 1 件，其中按时办结 1 件（按时办结率 100.0%）；不予受理 0 件。" in september
    assert "截至2026年9月30日办理中 3 件，其中超期 3 件。" in september
    assert "评价 0 件" in september

    # October: #4 rated; #1 and #2 resolved late; #3 referred; #2 rated 不满意, resolved again, rated.
    await chat.press("dora", "lianxi", feedback[4].id, "满意")
    await chat.advance(at(10, 9))
    await close(1, "已更换灯泡")
    await close(2, "已与广场舞队协商")
    await chat.say("zhang", "gongzuo", "/reject 3 属于邻里民事纠纷，已告知可申请人民调解")
    await chat.advance(at(10, 10))
    await chat.press("alice", "lianxi", feedback[1].id, "满意")
    await chat.press("bob", "lianxi", feedback[2].id, "不满意")
    await chat.advance(at(10, 15))
    first_october, answer = await publish(chat, "10月")
    assert first_october is not None and "已在居民群公示 2026年10月的 3 件事项" in answer
    assert "#2【投诉】广场舞噪音太大 —— 已办结：已与广场舞队协商" in first_october
    await chat.advance(at(10, 20))
    await close(2, "已限定音量和时段，晚八点结束")
    await chat.say("bob", "lianxi", "基本满意", reply_to=feedback[2].id)
    await chat.advance(at(11, 2))

    october = await stats(chat, "10月")
    assert "受理 0 件，截至2026年10月31日已办结 0 件（办结率 —）。" in october, "nothing was received in October"
    # #1 late, whenever received; #2's last resolution (10-20) within the deadline its 不满意 gave (15 days).
    assert "办结 2 件，其中按时办结 1 件（按时办结率 50.0%）；不予受理 1 件。" in october
    assert "截至2026年10月31日办理中 0 件，其中超期 0 件。" in october
    assert "评价 3 件：满意 2、基本满意 1、不满意 0（满意率 100.0%）。" in october, "bob's 不满意 was superseded"
    assert await stats(chat, "9月") == september, "a closed month's figures never change"

    # /publish: September's list is its own; October again posts only what changed (#2's new result).
    public, answer = await publish(chat, "9月")
    assert public is not None and "#4【建议】垃圾桶太少 —— 已办结：已增设两个垃圾桶" in public
    assert "#1" not in public and "#2" not in public
    assert (await publish(chat, "9月"))[0] is None
    update, answer = await publish(chat, "10月")
    assert update is not None and update.startswith("【办理情况公示·更新】濂溪社区联络站 2026年10月")
    assert "#2【投诉】广场舞噪音太大 —— 已办结：已限定音量和时段，晚八点结束" in update
    assert "#1" not in update and "#3" not in update
    assert "有变化的 1 件事项" in answer
    [nothing] = await chat.say("zhang", "gongzuo", "/publish 10月")
    assert "没有变化" in nothing.text

    # November: a direct answer (on time, no deadline) and September's #4 handled again.
    await chat.say("erin", "lianxi", "#求助 老年证在哪里办")
    await chat.say("zhang", "gongzuo", "/close 5 带身份证到社区服务中心一楼办理")
    await chat.say("zhang", "gongzuo", "/reopen 4 居民反映又满了")
    await close(4, "改为每天清运两次")
    november = await stats(chat, "11月")
    assert "受理 1 件，截至目前已办结 1 件（办结率 100.0%）。" in november
    assert "办结 2 件，其中按时办结 2 件（按时办结率 100.0%）；不予受理 0 件。" in november, "#4's new deadline"
    assert (await publish(chat, "9月"))[0] is None, "September's publication stays as it was"
    public, _answer = await publish(chat, "11月")
    assert public is not None and "#5【求助】老年证在哪里办 —— 已答复：带身份证到社区服务中心一楼办理" in public
    assert "#4【建议】垃圾桶太少 —— 已办结：改为每天清运两次" in public
    year = await stats(chat, "2026")
    assert "受理 5 件" in year and "不予受理 1 件" in year


async def test_figures_count_only_the_latest_round(station: ChatDriver, app: App) -> None:
    """The figures themselves (`storage.reports.item_figures`): a rating followed by a new
    resolution in the period is history."""
    chat = station
    await chat.say("alice", "lianxi", "#建议 东门路灯坏了")
    await chat.say("zhang", "gongzuo", "/assign 1 li 5")
    first = the_one(await chat.say("li", "dm:li", "/close 1 修好了"), "lianxi")
    await chat.press("alice", "lianxi", first.id, "不满意")
    await chat.say("li", "dm:li", "/close 1 换了新灯")
    async with app.sessions() as session:
        tree = await reports.station_tree(session=session, root_id=1)
        found = await reports.item_figures(session=session, stations=tree,
                                           span=Span(date(2026, 9, 1), date(2026, 10, 1), at(9, 8)))
    assert found[(1,)] == ItemFigures(received=1, received_resolved=1, resolved=1, on_time=1)
