"""Residents' notifications: a DM when an item is assigned and when it is overdue (/notify per
station: on for private reports, off for group items by default), /mute and /unmute per item."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from storage.models import Item, ResidentNotify, Supporter
from tests.harness import ChatDriver, Delivered, rows, set_up_station

LIANXI = {"liaisons": ["zhang"], "deputies": ["li"]}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def texts(sent: list[Delivered], chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


async def test_a_private_report_is_followed_by_dm_and_a_group_item_only_when_the_station_says_so(
    chat: ChatDriver, app: App
) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "dm:alice", "#建议 小区健身器材坏了两个，老人锻炼不方便")
    assigned = await chat.say("zhang", "gongzuo", "/assign 1 li 2")
    assert texts(assigned, "gongzuo") == [
        "已将事项 #1 分派给 li，办理时限 2 个工作日，截止 2026-12-03。\n已私信通知 li。\n已私信告知提出人。"]
    assert texts(assigned, "dm:alice") == [
        "您反映的事项 #1「小区健身器材坏了两个，老人锻炼不方便」已交办：由 li 负责办理，办理时限至 2026-12-03。\n"
        "办结后会把结果告诉您。不想再收到这类通知，请发送 /mute 1。"]
    # a group item: nothing by default
    _ack = await chat.say("bob", "lianxi", "#建议 东门路灯坏了")
    group_ack = chat.transport.sent[-1]
    await chat.say("carol", "lianxi", "+1", reply_to=group_ack.id)
    quiet = await chat.say("zhang", "gongzuo", "/assign 2 li 2")
    assert texts(quiet, "dm:bob") == [] and texts(quiet, "dm:carol") == []
    # the station turns them on: the reporter and the supporter hear of the next assignment
    switched = await chat.say("zhang", "gongzuo", "/notify on")
    assert texts(switched, "gongzuo") == ["\n".join([
        "濂溪社区联络站 给居民的私信通知（事项分派时、超期时）：", "群里反映的事项：开；私信反映的事项：开。",
        "修改：/notify on|off（群里反映的事项），/notify private on|off，/notify all on|off。"
        "居民可用 /mute <编号> 关闭某件事项的通知；办理结果总会告诉居民。"])]
    again = await chat.say("zhang", "gongzuo", "/assign 2 li 2")
    assert texts(again, "gongzuo")[0].endswith("\n已私信告知提出人和 1 位附议人。")
    assert texts(again, "dm:bob") == ["您反映的事项 #2「东门路灯坏了」已交办：由 li 负责办理，办理时限至 2026-12-03。\n"
                                      "办结后会把结果告诉您。不想再收到这类通知，请发送 /mute 2。"]
    assert texts(again, "dm:carol") == ["您附议的事项 #2「东门路灯坏了」已交办：由 li 负责办理，办理时限至 2026-12-03。\n"
                                        "办结后会把结果告诉您。不想再收到这类通知，请发送 /mute 2。"]
    # carol mutes #2 (in the group: answered privately), so only bob hears it is overdue
    muted = await chat.say("carol", "lianxi", "/mute 2")
    assert texts(muted, "dm:carol") == ["好的，事项 #2 的分派、超期等通知不再发给您；办结时仍会把结果告诉您。恢复请发送 /unmute 2。"]
    assert texts(muted, "lianxi") == ["已私信回复您（您的事项信息只在私聊中显示）。"]
    # the deadline is the end of 2026-12-03; the notice comes at 09:00 the next morning, once
    at_midnight = await chat.advance(datetime(2026, 12, 4, 0, 30, tzinfo=SHANGHAI))
    assert texts(at_midnight, "dm:alice") == [] and texts(at_midnight, "dm:bob") == []
    morning = await chat.advance(datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI))
    assert texts(morning, "dm:alice") == ["您反映的事项 #1「小区健身器材坏了两个，老人锻炼不方便」已超过办理时限（2026-12-03），联络站正在督办。\n"
                                          "有了办理结果会马上告诉您。不想再收到这类通知，请发送 /mute 1。"]
    assert texts(morning, "dm:bob") == ["您反映的事项 #2「东门路灯坏了」已超过办理时限（2026-12-03），联络站正在督办。\n"
                                        "有了办理结果会马上告诉您。不想再收到这类通知，请发送 /mute 2。"]
    assert texts(morning, "dm:carol") == []
    later = await chat.advance(datetime(2026, 12, 5, 9, 0, tzinfo=SHANGHAI))
    assert [m for m in later if m.chat in ("dm:alice", "dm:bob", "dm:carol")] == []
    # muting stops notices, never the result
    await chat.say("alice", "dm:alice", "/mute 1")
    closed = await chat.say("li", "dm:li", "/close 1 已更换健身器材")
    assert texts(closed, "dm:alice")[0].startswith("alice，您反映的事项 #1")
    late = await chat.say("alice", "dm:alice", "/unmute 1")
    assert texts(late, "dm:alice") == ["事项 #1 已经办结或不再办理，不会再有分派、超期通知。"]
    unmuted = await chat.say("carol", "dm:carol", "/unmute 2")
    assert texts(unmuted, "dm:carol") == [  # and #2 is still overdue: she hears what she missed
        "好的，事项 #2 的分派、超期等通知会继续发给您。",
        "您附议的事项 #2「东门路灯坏了」已超过办理时限（2026-12-03），联络站正在督办。\n"
        "有了办理结果会马上告诉您。不想再收到这类通知，请发送 /mute 2。"]
    assert [s.muted for s in await rows(app, Supporter)] == [False]


async def test_bad_notify_and_mute_input_is_answered_and_changes_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    cases = [
        ("zhang", "gongzuo", "/notify maybe", "请写 on（开）或 off（关），而不是「maybe」。\n用法：/notify [group|private|all] [on|off]"),
        ("zhang", "gongzuo", "/notify 群众 on",
         "不认识「群众」，可选 group（群里反映的事项）、private（私信反映的事项）或 all。\n用法：/notify [group|private|all] [on|off]"),
        ("zhang", "gongzuo", "/notify a b c", "参数不对。用法：/notify [group|private|all] [on|off]"),
        ("alice", "lianxi", "/notify on", "抱歉，您没有权限使用 /notify。发送 /help 查看您可用的命令。"),
        ("bob", "dm:bob", "/mute 1", "您没有提出或附议编号为 #1 的事项，无法设置它的通知。发送 /my 查看您的事项。"),
        ("alice", "dm:alice", "/mute 99", "您没有提出或附议编号为 #99 的事项，无法设置它的通知。发送 /my 查看您的事项。"),
        ("alice", "dm:alice", "/mute abc", "「abc」不是事项编号，编号应为正整数，例如 12。\n用法：/mute <编号>"),
        ("alice", "dm:alice", "/mute", "参数不对。用法：/mute <编号>"),
    ]
    for user, where, text, answer in cases:
        before = (await rows(app, Item), await rows(app, ResidentNotify))
        sent = await chat.say(user, where, text)
        assert texts(sent, where) == [answer], text
        assert (await rows(app, Item), await rows(app, ResidentNotify)) == before, text


async def test_the_overdue_notice_waits_for_the_next_working_day(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "dm:alice", "#求助 楼道灯不亮")
    await chat.say("zhang", "gongzuo", "/assign 1 li 3")  # Tuesday 12-01 + 3 working days: Friday 12-04
    weekend = await chat.advance(datetime(2026, 12, 6, 18, 0, tzinfo=SHANGHAI))
    assert texts(weekend, "dm:alice") == []
    monday = await chat.advance(datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI))
    assert texts(monday, "dm:alice") == ["您反映的事项 #1「楼道灯不亮」已超过办理时限（2026-12-04），联络站正在督办。\n"
                                         "有了办理结果会马上告诉您。不想再收到这类通知，请发送 /mute 1。"]
