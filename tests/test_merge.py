"""Duplicates and supporters: /merge, "+1" replies, the result to every reporter and supporter, the figures."""

from __future__ import annotations

import pytest

from bot.app import App
from storage.models import Item, ItemEvent, ItemStatus, Supporter
from tests.harness import ChatDriver, Delivered, rows, set_up_station

LIANXI = {"liaisons": ["zhang"], "deputies": ["li"]}


def texts(sent: list[Delivered], chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


def only(sent: list[Delivered], chat: str) -> Delivered:
    [message] = [m for m in sent if m.chat == chat]
    return message


async def report(chat: ChatDriver, user: str, text: str) -> tuple[str, Delivered]:
    """A resident's tagged message in the residents group: its id and the ack."""
    sent = await chat.say(user, "lianxi", text)
    return chat.last_message_id, only(sent, "lianxi")


async def snapshot(app: App) -> tuple[list, list, list]:
    return ([(i.number, i.status, i.merged_into_id) for i in await rows(app, Item)],
            [(s.item_id, s.person_id) for s in await rows(app, Supporter)], await rows(app, ItemEvent))


async def test_merge_makes_one_item_and_every_reporter_and_supporter_gets_the_result(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    first, first_ack = await report(chat, "alice", "#建议 东门路灯坏了，晚上一片漆黑")
    second, _ack = await report(chat, "bob", "#建议 小区东门的路灯不亮了")
    third, _ack = await report(chat, "carol", "#意见 东门路灯好几天没亮")
    # dave answers the first item's acknowledgement with "+1"; his note goes privately
    plus = await chat.say("dave", "lianxi", "+1", reply_to=first_ack.id)
    dave_plus = chat.last_message_id
    assert texts(plus, "lianxi") == []
    assert texts(plus, "dm:dave") == [
        "已记录您对事项 #1「东门路灯坏了，晚上一片漆黑」的附议（目前共 1 位居民附议）。办结后会把结果告诉您。"]
    # a second +1 by the same person changes nothing
    before = await snapshot(app)
    again = await chat.say("dave", "lianxi", "同问！", reply_to=first_ack.id)
    assert texts(again, "dm:dave") == ["您已经附议过事项 #1「东门路灯坏了，晚上一片漆黑」，无需重复；办结后会把结果告诉您。"]
    assert await snapshot(app) == before

    merged = await chat.say("zhang", "gongzuo", "/merge 2 1")
    assert texts(merged, "gongzuo") == ["\n".join([
        "已将事项 #2 并入事项 #1，今后按一件事项办理。",
        "#2 的提出人 bob 已记为 #1 的附议人，并已告知。",
        "事项 #1 现有附议 2 人；办结时，结果会一并告知提出人和每位附议人。",
    ])]
    told = only(merged, "lianxi")
    assert told.reply_to == second
    assert told.text == ("bob，您反映的事项 #2「小区东门的路灯不亮了」与事项 #1「东门路灯坏了，晚上一片漆黑」是同一问题，"
                         "已合并办理，您已记为附议人。办结后会把结果告诉您。")
    await chat.say("zhang", "gongzuo", "/merge 3 1")
    mine = await chat.say("bob", "dm:bob", "/my")
    assert texts(mine, "dm:bob") == ["您提出的事项：\n#2 [已合并] 小区东门的路灯不亮了（已并入事项 #1 合并办理）\n"
                                     "您附议的事项：\n#1 [已受理] 东门路灯坏了，晚上一片漆黑"]
    theirs = await chat.say("dave", "dm:dave", "/my")
    assert texts(theirs, "dm:dave") == ["您附议的事项：\n#1 [已受理] 东门路灯坏了，晚上一片漆黑"]

    await chat.say("zhang", "gongzuo", "/assign 1 li 5")
    closed = await chat.say("li", "dm:li", "/close 1 已更换东门路灯灯头，今晚恢复照明")
    assert texts(closed, "dm:li") == ["事项 #1 已办结。结果已回复到居民的原消息下，并请其评价。\n"
                                      "结果也已告知 3 位附议人（回复到各自的消息下，或私信）。"]
    by_reply = {message.reply_to: message for message in closed if message.chat == "lianxi"}
    assert set(by_reply) == {first, second, third, dave_plus}
    assert by_reply[first].text.startswith("alice，您反映的事项 #1「东门路灯坏了，晚上一片漆黑」已办结。\n办理结果：已更换东门路灯灯头")
    assert by_reply[second].text == "\n".join([
        "bob，您反映的事项 #2「小区东门的路灯不亮了」已与事项 #1 合并办理，现已办结。",
        "办理结果：已更换东门路灯灯头，今晚恢复照明",
        "请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"])
    assert by_reply[third].text.startswith("carol，您反映的事项 #3「东门路灯好几天没亮」已与事项 #1 合并办理，现已办结。")
    dave = by_reply[dave_plus]
    assert dave.text.startswith("dave，您附议的事项 #1「东门路灯坏了，晚上一片漆黑」已办结。\n办理结果：已更换东门路灯灯头")
    for message in by_reply.values():
        assert message.buttons == ["满意", "基本满意", "不满意"]

    # a supporter rates with their own buttons: recorded, the item's status is the reporter's to decide
    await chat.press("bob", "lianxi", by_reply[second].id, "满意")
    assert chat.transport.answers[-1] == ("lianxi", "感谢您的评价（满意）！")
    await chat.press("alice", "lianxi", by_reply[second].id, "满意")
    assert chat.transport.answers[-1] == ("lianxi", "只有附议人本人可以评价这条结果。")
    unhappy = await chat.say("carol", "lianxi", "不满意，西门也不亮", reply_to=by_reply[third].id)
    assert texts(unhappy, "lianxi") == ["已收到您的评价：不满意。已转告联络站工作人员，谢谢您的意见。"]
    assert texts(unhappy, "gongzuo") == [
        "事项 #1「东门路灯坏了，晚上一片漆黑」的附议人 carol 对办理结果不满意。事项状态不变（是否重新办理以提出人的评价为准）；"
        "如需重新办理，请发送 /reopen 1。\n居民意见：西门也不亮"]
    [item1, item2, item3] = await rows(app, Item)
    assert (item1.status, item2.status, item3.status) == (ItemStatus.RESOLVED, ItemStatus.MERGED, ItemStatus.MERGED)
    await chat.press("alice", "lianxi", by_reply[first].id, "满意")
    assert (await rows(app, Item))[0].status == ItemStatus.CLOSED

    stats = await chat.say("zhang", "gongzuo", "/stats")
    [answer] = texts(stats, "gongzuo")
    assert "受理 1 件，截至目前已办结 1 件（办结率 100.0%）。" in answer
    assert "居民附议 3 人次（涉及 1 件）；重复反映合并 2 件，已并入原事项，不另计受理。" in answer
    assert "评价 1 件：满意 1、基本满意 0、不满意 0（满意率 100.0%）。" in answer


@pytest.mark.parametrize(("command", "answer"), [
    ("/merge 1 1", "不能把事项 #1 并入它自己。请写明重复的事项和要并入的事项，例如 /merge 5 3。\n用法：/merge <编号> <并入编号>"),
    ("/merge 2 3", "事项 #3 当前状态为「已办结」，已不再办理，不能并入。如果是同一问题，请直接用 /close 答复或 /reject 说明。"),
    ("/merge 2 4", "事项 #4 当前状态为「不予受理」，已不再办理，不能并入。如果是同一问题，请直接用 /close 答复或 /reject 说明。"),
    ("/merge 2 5", "事项 #5 本身已并入其他事项，不能再并入。请并入它所并入的那件事项（/item 5 可查看）。"),
    ("/merge 5 1", "事项 #5 已并入事项 #1，不能再合并。"),
    ("/merge 2 99", "濂溪社区联络站 没有编号为 #99 的事项。发送 /items 查看事项。"),
    ("/merge 2", "参数不对。用法：/merge <编号> <并入编号>"),
    ("/merge 二 1", "「二」不是事项编号，编号应为正整数，例如 12。\n用法：/merge <编号> <并入编号>"),
    ("/merge 3 1", "事项 #3 当前状态为「已办结」，不能合并。现在可以：等待居民评价；/reopen 3 [工作日天数] [理由]"),
])
async def test_bad_merges_are_refused_and_change_nothing(chat: ChatDriver, app: App, command: str, answer: str) -> None:
    await set_up_station(chat, **LIANXI)
    for text in ("#建议 路灯坏了", "#建议 路灯不亮", "#建议 垃圾没人收", "#投诉 邻居纠纷", "#建议 路灯又坏"):
        await chat.say("alice", "lianxi", text)
    await chat.say("zhang", "gongzuo", "/close 3 已清运")
    await chat.say("zhang", "gongzuo", "/reject 4 属于个人纠纷，请联系人民调解委员会")
    await chat.say("zhang", "gongzuo", "/merge 5 1")
    before = await snapshot(app)
    sent = await chat.say("zhang", "gongzuo", command)
    assert texts(sent, "gongzuo") == [answer]
    assert await snapshot(app) == before


async def test_merge_is_staff_only(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#建议 路灯坏了")
    await chat.say("bob", "lianxi", "#建议 路灯不亮")
    sent = await chat.say("li", "dm:li", "/merge 2 1")
    assert texts(sent, "dm:li") == ["抱歉，您没有权限使用 /merge。发送 /help 查看您可用的命令。"]
    assert [i.status for i in await rows(app, Item)] == [ItemStatus.NEW, ItemStatus.NEW]


@pytest.mark.parametrize("text", ["+1", "＋1", "+1+1", "同问", "同問！", "同样问题", "我也是", "我也是，3栋也一样", "👍 +1",
                                  "Same here", "附议"])
def test_plus_one_variants(text: str) -> None:
    from handlers.supporters import is_plus_one
    assert is_plus_one(text)


@pytest.mark.parametrize("text", ["+1000块钱", "一样吗？", "同问一下怎么报名", "我也是这么想的但是", "好的", "1", "+"])
def test_not_plus_one(text: str) -> None:
    from handlers.supporters import is_plus_one
    assert not is_plus_one(text)


async def test_plus_one_to_a_closed_item_or_own_item_changes_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _id, ack = await report(chat, "alice", "#建议 路灯坏了")
    own = await chat.say("alice", "lianxi", "+1", reply_to=ack.id)
    assert texts(own, "dm:alice") == ["您就是事项 #1 的提出人，不需要附议；办结后会把结果告诉您。"]
    await chat.say("zhang", "gongzuo", "/close 1 已修好")
    late = await chat.say("bob", "lianxi", "我也是", reply_to=ack.id)
    assert texts(late, "dm:bob") == ["事项 #1 已办结。如果问题仍然存在，请发送「#建议 内容」重新反映。"]
    assert await rows(app, Supporter) == []


async def test_plus_one_note_goes_to_the_group_when_no_dm_can_reach(chat: ChatDriver, app: App) -> None:
    from handlers.transport import Undeliverable

    await set_up_station(chat, **LIANXI)
    _id, ack = await report(chat, "alice", "#建议 路灯坏了")
    chat.transport.fail_next.append(Undeliverable("Forbidden: bot can't initiate conversation", code="dm_blocked"))
    sent = await chat.say("bob", "lianxi", "+1", reply_to=ack.id)
    assert texts(sent, "lianxi") == ["已记录您对事项 #1 的附议，办结后会在此回复您。"]
    assert texts(sent, "gongzuo") == []
    assert len(await rows(app, Supporter)) == 1


async def test_a_referral_reaches_every_supporter_without_rating_buttons(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    _first, ack = await report(chat, "alice", "#投诉 楼上邻居家狗天天叫")
    second, _ack = await report(chat, "bob", "#投诉 5楼的狗一直叫")
    await chat.say("carol", "lianxi", "同问", reply_to=ack.id)
    await chat.say("zhang", "gongzuo", "/merge 2 1")
    rejected = await chat.say("zhang", "gongzuo", "/reject 1 属于邻里纠纷，请联系社区人民调解委员会（社区服务中心二楼）")
    assert texts(rejected, "gongzuo") == [
        "事项 #1 不予受理，理由已回复到居民的原消息下（不请居民评价；如需重新办理，请用 /reopen 1）。\n"
        "结果也已告知 2 位附议人（回复到各自的消息下，或私信）。"]
    to_bob = [m for m in rejected if m.chat == "lianxi" and m.reply_to == second]
    assert [(m.text, m.buttons) for m in to_bob] == [("\n".join([
        "bob，您反映的事项 #2「5楼的狗一直叫」已与事项 #1 合并办理；该事项不属于本站受理范围，不予受理。",
        "说明：属于邻里纠纷，请联系社区人民调解委员会（社区服务中心二楼）", "如有疑问，请联系本站联络员。"]), [])]
    to_carol = [m for m in rejected if m.chat == "lianxi" and m.text.startswith("carol，")]
    assert [m.text.split("\n")[0] for m in to_carol] == ["carol，您附议的事项 #1「楼上邻居家狗天天叫」不属于本站受理范围，不予受理。"]
    assert to_carol[0].buttons == []
