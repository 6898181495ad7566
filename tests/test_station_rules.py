"""Smaller rules a station relies on: a residents group never silently becomes a staff chat, a
deputy who leaves hands over items and duties, residents always see the current roster, a leave
request says who heard it, and commands typed the way people type them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from storage.models import Account, ChatBinding, Duty, Item
from tests.harness import ChatDriver, Delivered, rows, set_up_station

LIANXI = {
    "head": "wang", "liaisons": ["zhang"], "deputies": ["li", "zhao", "qian"],
    "introduce": ["wang", "zhang", "li", "zhao", "qian"],
}

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def the_one(sent: list[Delivered], chat: str) -> Delivered:
    found = [message for message in sent if message.chat == chat]
    assert len(found) == 1, [(m.chat, m.text) for m in sent]
    return found[0]


# --- /bind staff on a residents group ---------------------------------------------------------------
async def test_a_residents_group_becomes_a_staff_chat_only_when_confirmed(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **{**LIANXI, "staff": None})
    [asked] = await chat.say("admin", "lianxi", "/bind lianxi staff")
    assert "居民群" in asked.text and "个人信息" in asked.text and "/bind lianxi staff confirm" in asked.text
    assert [b.purpose for b in await rows(app, ChatBinding)] == ["residents"]
    [bad] = await chat.say("admin", "lianxi", "/bind lianxi staff yes")
    assert "confirm" in bad.text and "用法" in bad.text
    [done] = await chat.say("admin", "lianxi", "/bind lianxi staff confirm")
    assert "工作群" in done.text
    assert [b.purpose for b in await rows(app, ChatBinding)] == ["staff"]
    # a fresh group, or a staff chat again, needs no confirmation
    [fresh] = await chat.say("admin", "gongzuo2", "/bind lianxi staff")
    assert "已绑定" in fresh.text


# --- /deputy remove ------------------------------------------------------------------------------------
async def test_removing_a_deputy_hands_over_items_and_duties(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#建议 东门路灯坏了")
    await chat.say("bob", "lianxi", "#求助 楼道堆满杂物")
    await chat.say("zhang", "gongzuo", "/assign 1 li 5")
    await chat.say("zhang", "gongzuo", "/assign 2 li 5")
    await chat.say("li", "dm:li", "/close 2 已清理")
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-15 09:00-11:30 社区服务中心")
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-29 09:00-11:30 社区服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.say("zhang", "gongzuo", "/duty 2 li qian")
    three = await chat.advance(at(2026, 12, 12, 9, 0))
    assert "li、zhao" in the_one(three, "lianxi").text

    sent = await chat.say("zhang", "gongzuo", "/deputy remove li")
    answer = the_one(sent, "gongzuo").text
    assert "已取消 li 在 濂溪社区联络站 的代表身份" in answer
    assert "li 还有 1 件未办结的事项" in answer and "#1 东门路灯坏了" in answer and "/assign 1 <代表>" in answer
    assert "#2" not in answer.replace("#2 12月29日", ""), "a resolved item needs no handover"
    assert "从之后 2 场接待日的值班名单中移除" in answer and "/duty 1 +<代表>" in answer and "/duty 2 +<代表>" in answer
    assert "zhao" in answer and "qian" in answer
    assert "不在" in the_one(sent, "dm:li").text, "li had been told of the 15th"
    roster = the_one(sent, "lianxi").text
    assert "接待代表调整" in roster and "zhao" in roster and "li" not in roster.split("：")[-1]
    [li] = await rows(app, Account, Account.user_id == "li")
    duties = await rows(app, Duty)
    assert len(duties) == 2 and li.person_id not in {d.person_id for d in duties}, "zhao and qian stay"
    first = (await rows(app, Item))[0]
    assert first.assignee_id == li.person_id, "reassigned by staff (listed above), never silently"


# --- the residents' roster notice ------------------------------------------------------------------
async def test_residents_see_every_change_back_and_forth(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-15 09:00-11:30 社区服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    await chat.advance(at(2026, 12, 12, 9, 0))
    seen = []
    for command in ("/leave 1 单位开会", "/confirm 1", "/leave 1 还是要开会"):
        sent = await chat.say("li", "dm:li", command)
        [public] = [m for m in sent if m.chat == "lianxi"]
        seen.append(public.text.split("：")[-1])
    assert seen == ["zhao。", "li、zhao。", "zhao。"]


# --- the leave answer ------------------------------------------------------------------------------
async def test_the_leave_answer_names_who_was_told(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-15 09:00-11:30 社区服务中心")
    await chat.say("zhang", "gongzuo", "/duty 1 li zhao")
    answer = the_one(await chat.say("li", "dm:li", "/leave 1 单位开会"), "dm:li")
    assert "已通知：wang、zhang。" in answer.text


async def test_the_leave_answer_is_honest_without_head_or_liaison(chat: ChatDriver) -> None:
    await set_up_station(chat, **{**LIANXI, "head": None, "liaisons": []})
    await chat.say("admin", "gongzuo", "/reception add 2026-12-15 09:00-11:30 社区服务中心")
    await chat.say("admin", "gongzuo", "/duty 1 li zhao")
    sent = await chat.say("li", "dm:li", "/leave 1 单位开会")
    assert "请假已发到工作群" in the_one(sent, "dm:li").text
    assert "li 请假" in the_one(sent, "gongzuo").text


async def test_the_leave_answer_says_nobody_heard_it(chat: ChatDriver) -> None:
    await set_up_station(chat, **{**LIANXI, "staff": None, "head": None, "liaisons": []})
    await chat.say("admin", "dm:admin", "/use lianxi")
    await chat.say("admin", "dm:admin", "/reception add 2026-12-15 09:00-11:30 社区服务中心")
    await chat.say("admin", "dm:admin", "/duty 1 li zhao")
    [answer] = await chat.say("li", "dm:li", "/leave 1 单位开会")
    assert "没有人收到" in answer.text and "已通知" not in answer.text


# --- commands as people type them ----------------------------------------------------------------
async def test_fullwidth_slash_and_unknown_commands_addressed_to_this_bot(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    chat.transport.names.add("liaison_bot")
    [help_answer] = await chat.say("alice", "lianxi", "／help")
    assert "您可以使用的命令" in help_answer.text
    [mine] = await chat.say("alice", "lianxi", "！whoami")
    assert "您是 alice" in mine.text
    [hint] = await chat.say("alice", "lianxi", "/stat@liaison_bot")
    assert "不认识的命令 /stat" in hint.text and "/help" in hint.text
    assert await chat.say("alice", "lianxi", "/stat") == [], "a bare unknown command may be another bot's"
    assert await chat.say("alice", "lianxi", "/stat@other_bot") == []
    [in_dm] = await chat.say("alice", "dm:alice", "/stat")
    assert "不认识的命令" in in_dm.text
