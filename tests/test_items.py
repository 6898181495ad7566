"""Items end to end: intake, the lifecycle commands, feedback as a reply, ratings, and refusals."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.events import EventKind
from storage.models import Item, ItemEvent, Outbox
from tests.harness import ChatDriver, Delivered, rows, set_up_station

# Residents chat `lianxi`, staff chat `gongzuo`, liaison zhang, deputies li and wu (who have written to the bot).
LIANXI = {"liaisons": ["zhang"], "deputies": ["li county", "wu"], "introduce": ["li", "wu"]}

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def items(app: App) -> list[Item]:
    return await rows(app, Item)


async def events(app: App, item_id: int) -> list[ItemEvent]:
    return await rows(app, ItemEvent, ItemEvent.item_id == item_id)


async def report(chat: ChatDriver, text: str = "#建议 小区路灯坏了", user: str = "alice") -> tuple[str, Delivered]:
    sent = await chat.say(user, "lianxi", text)
    assert len(sent) == 1, sent
    return chat.last_message_id, sent[0]


def the_one(sent: list[Delivered], chat: str) -> Delivered:
    found = [message for message in sent if message.chat == chat]
    assert len(found) == 1, [(m.chat, m.text) for m in sent]
    return found[0]


@pytest.fixture
async def station(chat: ChatDriver) -> ChatDriver:
    await set_up_station(chat, **LIANXI)
    return chat


# --- intake --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "tag", "content"),
    [
        ("#建议 小区路灯坏了", "建议", "小区路灯坏了"),
        ("＃求助 楼道堆满杂物", "求助", "楼道堆满杂物"),
        ("#投诉：噪音扰民", "投诉", "噪音扰民"),
        ("#意见路面坑洼", "意见", "路面坑洼"),
        ("#Suggestion: more benches", "suggestion", "more benches"),
        ("# 建议 公园厕所太脏", "建议", "公园厕所太脏"),
        ("公园东门的厕所太脏\n#建议", "建议", "公园东门的厕所太脏"),
        ("@liaison_bot #求助 电梯困人", "求助", "电梯困人"),
        ("#HELP the lift is broken", "help", "the lift is broken"),
        ("＃ｉｓｓｕｅ water leak", "issue", "water leak"),
    ],
)
async def test_tagged_message_becomes_an_item(station: ChatDriver, app: App, text: str, tag: str,
                                              content: str) -> None:
    station.transport.names.add("liaison_bot")
    message_id, ack = await report(station, text)
    [item] = await items(app)
    assert (item.number, item.tag, item.text, item.status) == (1, tag, content, "new")
    assert ack.chat == "lianxi" and ack.reply_to == message_id
    assert "#1" in ack.text and "已受理" in ack.text
    [created] = await events(app, item.id)
    assert (created.kind, created.to_status) == ("created", "new")


async def test_numbers_are_per_station(station: ChatDriver, app: App) -> None:
    await report(station, "#建议 一")
    await report(station, "#建议 二", user="bob")
    await station.say("admin", "dm:admin", "/station add other 另一站")
    await station.say("admin", "other-res", "/bind other")
    [ack] = await station.say("carol", "other-res", "#求助 三")
    assert "#1" in ack.text
    numbers = sorted((item.station_id, item.number) for item in await items(app))
    assert numbers == [(1, 1), (1, 2), (2, 1)]


@pytest.mark.parametrize("text", ["路灯坏了", "#helpdesk 路灯", "看 #12 的进展", "#建议", "有人知道#建议怎么用吗？",
                                  "The #suggestion tag is for ideas", "大家好\n#建议路灯坏了"])
async def test_untagged_or_empty_message_makes_nothing(station: ChatDriver, app: App, text: str) -> None:
    sent = await station.say("alice", "lianxi", text)
    assert await items(app) == []
    if text == "#建议":
        [ask] = sent
        assert "具体内容" in ask.text
    else:
        assert sent == []


async def test_tagged_message_in_staff_chat_or_unbound_group_makes_nothing(station: ChatDriver, app: App) -> None:
    [hint] = await station.say("zhang", "gongzuo", "#建议 工作群的讨论")  # answered with how to record it (/visit)
    assert hint.text.startswith("工作群里的 #建议 不会登记为事项。代来访群众登记，请发送 /visit")
    assert await station.say("alice", "random-group", "#建议 别的群") == []
    assert await items(app) == []


async def test_mention_of_the_bot_makes_an_item(station: ChatDriver, app: App) -> None:
    station.transport.names.add("liaison_bot")
    incoming = station._incoming("alice", "lianxi", kind=EventKind.MESSAGE, message_id="mention-1",
                                 text="@liaison_bot 垃圾没人收", mentions_bot=True)
    await app.handle(incoming)
    await app.settle()
    [item] = await items(app)
    assert (item.tag, item.text) == ("", "垃圾没人收")


async def test_redelivered_message_makes_one_item(station: ChatDriver, app: App) -> None:
    first = await station.say("alice", "lianxi", "#建议 路灯坏了", message_id="tg-77")
    again = await station.say("alice", "lianxi", "#建议 路灯坏了", message_id="tg-77")
    assert len(first) == 1 and again == []
    assert len(await items(app)) == 1
    assert len(await rows(app, Outbox, Outbox.key.startswith("ack:"))) == 1


async def test_edit_updates_the_item_and_records_an_event(station: ChatDriver, app: App) -> None:
    message_id, _ack = await report(station, "#建议 路灯坏了")
    assert await station.edit("alice", "lianxi", message_id, "#建议 三号楼前的路灯坏了") == []
    again = await station.edit("alice", "lianxi", message_id, "#建议 三号楼前的路灯坏了")  # redelivered edit
    assert again == []
    [item] = await items(app)
    assert item.text == "三号楼前的路灯坏了"
    kinds = [(event.kind, event.note) for event in await events(app, item.id)]
    assert kinds == [("created", None), ("edited", "路灯坏了")]


async def test_edit_that_adds_a_tag_creates_the_item(station: ChatDriver, app: App) -> None:
    assert await station.say("alice", "lianxi", "路灯坏了") == []
    message_id = station.last_message_id
    [ack] = await station.edit("alice", "lianxi", message_id, "#求助 路灯坏了")
    assert ack.reply_to == message_id and "#1" in ack.text
    [item] = await items(app)
    assert (item.tag, item.text) == ("求助", "路灯坏了")
    await station.edit("alice", "lianxi", message_id, "#求助 路灯坏了，好几天了")
    assert len(await items(app)) == 1


async def test_item_from_a_dm(station: ChatDriver, app: App) -> None:
    [ack] = await station.say("dora", "dm:dora", "#反映 公交站没有遮雨棚")
    assert "#1" in ack.text and ack.chat == "dm:dora"
    [item] = await items(app)
    assert item.text == "公交站没有遮雨棚"


async def test_dm_item_needs_a_station_when_there_are_several(station: ChatDriver, app: App) -> None:
    await station.say("admin", "dm:admin", "/station add other 另一站")
    [answer] = await station.say("dora", "dm:dora", "#反映 公交站没有遮雨棚")
    assert answer.text.startswith("已收到您的反映。请问您要向哪个联络站反映？")  # tests/test_private_reports.py
    assert answer.buttons == ["濂溪社区联络站", "另一站"]
    assert await items(app) == []
    await station.say("dora", "dm:dora", "/use lianxi")
    [ack] = await station.say("dora", "dm:dora", "#反映 公交站没有遮雨棚")
    assert "#1" in ack.text


async def test_custom_station_tags(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "lianxi", "/tags add 咨询")
    [ack] = await station.say("alice", "lianxi", "#咨询 社保怎么办")
    assert "#1" in ack.text
    await station.say("zhang", "lianxi", "/tags remove 建议")
    assert await station.say("alice", "lianxi", "#建议 不再是标签") == []
    assert [item.tag for item in await items(app)] == ["咨询"]


# --- the lifecycle -------------------------------------------------------------------------------
async def test_full_lifecycle_with_feedback_and_rating(station: ChatDriver, app: App) -> None:
    source_id, _ack = await report(station, "#建议 小区路灯坏了")
    sent = await station.say("zhang", "gongzuo", "/assign 1 li 5")
    reply = the_one(sent, "gongzuo")
    assert "li" in reply.text and "5 个工作日" in reply.text and "2026-12-08" in reply.text
    dm = the_one(sent, "dm:li")
    assert "#1" in dm.text and "小区路灯坏了" in dm.text and "/progress 1" in dm.text and "/close 1" in dm.text
    [item] = await items(app)
    assert item.status == "assigned" and item.due_at == datetime(2026, 12, 8, 23, 59, 59, tzinfo=SHANGHAI)

    [progress] = await station.say("li", "dm:li", "/progress 1 已联系物业，明天维修")
    assert "办理中" in progress.text
    sent = await station.say("li", "dm:li", "/close 1 路灯已修好")
    feedback = the_one(sent, "lianxi")
    assert feedback.reply_to == source_id
    assert "#1" in feedback.text and "路灯已修好" in feedback.text and "alice" in feedback.text
    assert feedback.buttons == ["满意", "基本满意", "不满意"]
    assert feedback.outgoing.mentions == ["alice"]
    assert all(len(button.data.encode()) <= 64 for button in feedback.outgoing.buttons)
    [item] = await items(app)
    assert (item.status, item.result) == ("resolved", "路灯已修好")

    await station.press("alice", "lianxi", feedback.id, "基本满意")
    assert "感谢" in station.transport.answers[-1][1]
    [item] = await items(app)
    assert (item.status, item.rating) == ("closed", "basically_satisfied")
    assert item.closed_at is not None
    history = [(e.kind, e.from_status, e.to_status) for e in await events(app, item.id)]
    assert history == [
        ("created", None, "new"),
        ("assigned", "new", "assigned"),
        ("progress", "assigned", "in_progress"),
        ("resolved", "in_progress", "resolved"),
        ("rated", "resolved", "closed"),
    ]
    # a second press of the same round changes nothing
    await station.press("alice", "lianxi", feedback.id, "不满意")
    assert "已经评价" in station.transport.answers[-1][1]
    assert (await items(app))[0].status == "closed"

    [details] = await station.say("zhang", "gongzuo", "/item 1")
    for expected in ("#1", "已关闭", "小区路灯坏了", "alice", "li", "已联系物业", "路灯已修好", "基本满意",
                     "2026-12-01 09:00"):
        assert expected in details.text
    [mine] = await station.say("alice", "dm:alice", "/my")
    assert "#1" in mine.text and "已关闭" in mine.text and "路灯已修好" in mine.text


async def test_reject_posts_the_reason_without_rating_buttons(station: ChatDriver, app: App) -> None:
    source_id, _ack = await report(station, "#投诉 邻居家的狗")
    sent = await station.say("zhang", "lianxi", "/reject 1 属于个人纠纷，请联系社区调解室")
    referral = next(m for m in sent if m.reply_to == source_id and "不予受理" in m.text and "调解室" in m.text)
    assert referral.buttons == []
    [item] = await items(app)
    assert (item.status, item.rating) == ("rejected", None) and item.closed_at is not None


async def test_unsatisfied_reopens_and_tells_assignee_and_staff(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "gongzuo", "/assign 1 li")
    await station.say("li", "dm:li", "/progress 1 在修")
    [_reply, feedback] = sorted(await station.say("li", "dm:li", "/close 1 修好了"), key=lambda m: m.chat != "dm:li")
    sent = await station.press("alice", "lianxi", feedback.id, "不满意")
    assert "不满意" in station.transport.answers[-1][1]
    assert "#1" in the_one(sent, "dm:li").text and "不满意" in the_one(sent, "dm:li").text
    assert "#1" in the_one(sent, "gongzuo").text
    [item] = await items(app)
    assert (item.status, item.reopen_count, item.rating) == ("reopened", 1, "unsatisfied")
    assert (await events(app, item.id))[-1].to_status == "reopened"

    # the old buttons are stale now
    await station.press("alice", "lianxi", feedback.id, "满意")
    assert "过期" in station.transport.answers[-1][1]
    assert (await items(app))[0].status == "reopened"

    # handled again: the assignee may close a reopened item straight away
    sent = await station.say("li", "dm:li", "/close 1 真修好了")
    second = the_one(sent, "lianxi")
    assert second.id != feedback.id and "真修好了" in second.text
    assert len(await rows(app, Outbox, Outbox.key == "feedback:item:1:1")) == 1
    await station.press("alice", "lianxi", second.id, "满意")
    assert (await items(app))[0].status == "closed"


async def test_text_reply_rating(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/progress 1 在修")
    sent = await station.say("li", "dm:li", "/close 1 修好了")
    feedback = the_one(sent, "lianxi")
    [refused] = await station.say("bob", "lianxi", "满意", reply_to=feedback.id)
    assert "本人" in refused.text
    assert (await items(app))[0].status == "resolved"
    sent = await station.say("alice", "lianxi", "不满意，晚上还是不亮", reply_to=feedback.id)
    assert "不满意" in the_one(sent, "lianxi").text
    [item] = await items(app)
    assert item.status == "reopened"
    assert (await events(app, item.id))[-1].note == "unsatisfied: 晚上还是不亮"


async def test_english_text_rating(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/close 1 duplicate of an item already fixed")
    feedback = [m for m in station.transport.sent if m.buttons][-1]
    await station.say("alice", "lianxi", "Basically satisfied", reply_to=feedback.id)
    assert (await items(app))[0].rating == "basically_satisfied"


async def test_rating_refusals(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/progress 1 在修")
    feedback = the_one(await station.say("li", "dm:li", "/close 1 修好了"), "lianxi")
    await station.press("bob", "lianxi", feedback.id, "满意")
    assert "本人" in station.transport.answers[-1][1]
    for forged in ("rate:1:0:x", "rate:abc", "rate:999:0:s", "rate:1:7:s", "nonsense"):
        await station.press_data("alice", "lianxi", feedback.id, forged)
        assert station.transport.answers[-1][1] == "这个按钮已失效。", forged
    # data naming this item pressed under another message (the ack) is refused too
    ack = next(m for m in station.transport.sent if m.text.startswith("已受理"))
    await station.press_data("alice", "lianxi", ack.id, "rate:1:0:s")
    assert "失效" in station.transport.answers[-1][1]
    [item] = await items(app)
    assert (item.status, item.rating) == ("resolved", None)


async def test_reassign_records_an_event_and_dms_the_new_deputy(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    sent = await station.say("zhang", "lianxi", "/assign 1 wu 3")
    assert "#1" in the_one(sent, "dm:wu").text
    [item] = await items(app)
    assert item.status == "assigned"
    assert [e.kind for e in await events(app, item.id)].count("assigned") == 2
    # li no longer may progress it, wu may
    [refused] = await station.say("li", "dm:li", "/progress 1 我来")
    assert "没有权限" in refused.text
    [ok] = await station.say("wu", "dm:wu", "/progress 1 我来")
    assert "办理中" in ok.text


async def test_staff_reopen_of_a_closed_item(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/close 1 已答复：属于市政管辖")
    feedback = [m for m in station.transport.sent if m.buttons][-1]
    await station.press("alice", "lianxi", feedback.id, "满意")
    [reply] = await station.say("zhang", "gongzuo", "/reopen 1 居民补充了材料")
    assert "重新办理" in reply.text
    [item] = await items(app)
    assert (item.status, item.reopen_count) == ("reopened", 1)
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/progress 1 补办")
    second = the_one(await station.say("li", "dm:li", "/close 1 已转交街道"), "lianxi")
    assert re.search(r"rate:\d+:1:s", second.outgoing.buttons[0].data)


# --- listing -------------------------------------------------------------------------------------
async def test_items_lists_and_filters(station: ChatDriver, app: App) -> None:
    for text in ("#建议 路灯坏了", "#求助 电梯停了", "#意见 垃圾桶太少"):
        await report(station, text)
    await station.say("zhang", "lianxi", "/assign 1 li 2")
    await station.say("zhang", "lianxi", "/assign 2 wu")
    await station.say("zhang", "lianxi", "/reject 3 重复")
    [listing] = await station.say("zhang", "gongzuo", "/items")
    assert "#1 [已分派] 路灯坏了 — li （截止 12-03）" in listing.text
    assert "#2 [已分派] 电梯停了 — wu" in listing.text and "#3" not in listing.text
    [everything] = await station.say("zhang", "gongzuo", "/items all")
    assert "#3 [不予受理]" in everything.text
    [none_overdue] = await station.say("zhang", "gongzuo", "/items overdue")
    assert "没有" in none_overdue.text
    await station.advance(datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI))
    [overdue] = await station.say("zhang", "gongzuo", "/items overdue")
    assert "#1" in overdue.text and "已超期" in overdue.text and "#2" not in overdue.text
    [mine] = await station.say("li", "dm:li", "/items")
    assert "#1" in mine.text and "#2" not in mine.text
    [refused] = await station.say("li", "dm:li", "/items all")
    assert "mine" in refused.text


async def test_items_list_is_capped(station: ChatDriver, app: App) -> None:
    for n in range(35):
        await station.say("alice", "lianxi", f"#建议 第{n}件事")
    [listing] = await station.say("zhang", "gongzuo", "/items")
    assert "35 项" in listing.text and "另有 5 项" in listing.text
    assert listing.text.count("\n#") == 30


# --- permissions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "chat_id", "command"),
    [
        ("alice", "lianxi", "/assign 1 li"),
        ("alice", "lianxi", "/progress 1 我自己修了"),
        ("alice", "lianxi", "/close 1 好了"),
        ("alice", "lianxi", "/reject 1 算了"),
        ("alice", "lianxi", "/reopen 1"),
        ("alice", "lianxi", "/items"),
        ("bob", "lianxi", "/item 1"),
        ("wu", "dm:wu", "/progress 1 我来"),
        ("wu", "dm:wu", "/close 1 好了"),
        ("wu", "dm:wu", "/item 1"),
        ("wu", "dm:wu", "/assign 1 wu"),
        ("li", "dm:li", "/reject 1 不办"),
        ("li", "dm:li", "/reopen 1"),
    ],
)
async def test_commands_refused_for_the_wrong_people(station: ChatDriver, app: App, user: str, chat_id: str,
                                                     command: str) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/progress 1 在修")
    before = [(i.status, i.assignee_id, i.result) for i in await items(app)]
    before_events = len(await events(app, 1))
    [refused] = await station.say(user, chat_id, command)
    assert "权限" in refused.text
    assert [(i.status, i.assignee_id, i.result) for i in await items(app)] == before
    assert len(await events(app, 1)) == before_events


async def test_reporter_and_assignee_may_see_the_item(station: ChatDriver) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    own = the_one(await station.say("alice", "lianxi", "/item 1"), "dm:alice")  # privately (tests/test_privacy.py)
    assert "小区路灯坏了" in own.text
    [assignee] = await station.say("li", "dm:li", "/item 1")
    assert "小区路灯坏了" in assignee.text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/assign", "用法"),
        ("/assign 1", "用法"),
        ("/assign x li", "不是事项编号"),
        ("/assign 0 li", "不是事项编号"),
        ("/assign 9 li", "没有编号为 #9"),
        ("/assign 1 nobody", "不是 濂溪社区联络站 的代表"),
        ("/assign 1 li 0", "工作日天数"),
        ("/assign 1 li -3", "工作日天数"),
        ("/assign 1 li abc", "工作日天数"),
        ("/assign 1 li 5 extra", "用法"),
        ("/progress", "缺少事项编号"),
        ("/progress 1", "缺少说明"),
        ("/progress abc 进展", "不是事项编号"),
        ("/close 1", "缺少说明"),
        ("/close 9 好了", "没有编号为 #9"),
        ("/reject 1", "缺少说明"),
        ("/reject", "缺少事项编号"),
        ("/reopen", "缺少事项编号"),
        ("/reopen 1", "不能重新办理"),
        ("/close 1", "缺少说明文字"),
        ("/progress 1 开始", "不能登记进展"),
        ("/item", "用法"),
        ("/item 1 2", "用法"),
        ("/item 99", "没有编号为 #99"),
        ("/items bogus", "open、overdue"),
        ("/my extra", "用法"),
    ],
)
async def test_bad_arguments_change_nothing(station: ChatDriver, app: App, command: str, expected: str) -> None:
    await report(station)
    before = [(i.status, i.assignee_id, i.result, i.due_at) for i in await items(app)]
    [answer] = await station.say("zhang", "gongzuo", command)
    assert expected in answer.text, answer.text
    assert [(i.status, i.assignee_id, i.result, i.due_at) for i in await items(app)] == before
    assert len(await events(app, 1)) == 1


async def test_illegal_transition_names_status_and_options(station: ChatDriver, app: App) -> None:
    await report(station)
    [answer] = await station.say("zhang", "lianxi", "/progress 1 好了")
    assert "「已受理」" in answer.text and "/assign 1" in answer.text and "/reject 1" in answer.text
    assert "/close 1" in answer.text, "staff may answer a new item directly"
    await station.say("zhang", "lianxi", "/reject 1 不归我们")
    [again] = await station.say("zhang", "lianxi", "/assign 1 li")
    assert "「不予受理」" in again.text and "/reopen 1" in again.text
    assert (await items(app))[0].status == "rejected"


async def test_traditional_chinese_tags_and_keywords(station: ChatDriver, app: App) -> None:
    """Taiwan users type 建議 and 縣: they mean the same tag and level as 建议 and 县."""
    sent = await station.say("alice", "lianxi", "#建議 路燈壞了")
    assert "#1" in the_one(sent, "lianxi").text
    [item] = await items(app)
    assert (item.tag, item.text) == ("建议", "路燈壞了"), "the tag is matched, the resident's text is kept as written"
    [answer] = await station.say("admin", "lianxi", "/deputy add chen 縣")
    assert "代表" in answer.text and "层级" not in answer.text


async def test_staff_reopen_tells_the_assignee(station: ChatDriver, app: App) -> None:
    await report(station)
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/close 1 修好了")
    sent = await station.say("zhang", "gongzuo", "/reopen 1 晚上还是不亮")
    told = the_one(sent, "dm:li")
    assert "#1" in told.text and "晚上还是不亮" in told.text and "/close 1" in told.text
    again = await station.say("li", "dm:li", "/close 1 这次真修好了")
    assert "#1" in the_one(again, "lianxi").text


async def test_stats_for_the_month_and_the_year(station: ChatDriver, app: App) -> None:
    """受理 / 办结率 / 按时办结率 / 满意率 as stations report them, from the items' real history."""
    for text in ("#建议 路灯坏了", "#求助 电梯停了", "#意见 垃圾桶太少", "#投诉 噪音扰民"):
        await report(station, text)
    await station.say("zhang", "lianxi", "/assign 1 li 5")
    await station.say("zhang", "lianxi", "/assign 2 li 5")
    feedback1 = the_one(await station.say("li", "dm:li", "/close 1 已修好"), "lianxi")
    feedback2 = the_one(await station.say("li", "dm:li", "/close 2 已修复"), "lianxi")
    await station.press("alice", "lianxi", feedback1.id, "满意")
    await station.press("alice", "lianxi", feedback2.id, "基本满意")
    await station.say("zhang", "lianxi", "/reject 3 属于个人信访，已转信访办")
    [stats] = await station.say("zhang", "gongzuo", "/stats")
    assert "受理 4 件，截至目前已办结 2 件（办结率 50.0%）。" in stats.text
    assert "办结 2 件，其中按时办结 2 件（按时办结率 100.0%）；不予受理 1 件。" in stats.text
    assert "截至目前办理中 1 件，其中超期 0 件。" in stats.text
    assert "评价 2 件：满意 1、基本满意 1、不满意 0（满意率 100.0%）。" in stats.text
    assert "统计口径：" in stats.text
    [year] = await station.say("zhang", "gongzuo", "/stats 2026")
    assert "受理 4 件" in year.text
    [other] = await station.say("zhang", "gongzuo", "/stats 2025-01")
    assert "受理 0 件" in other.text and "—" in other.text
    [bad] = await station.say("zhang", "gongzuo", "/stats soon")
    assert "2026-12" in bad.text and "用法" in bad.text
    [refused] = await station.say("alice", "lianxi", "/stats")
    assert "没有权限" in refused.text


async def test_publish_handled_items_without_personal_data(station: ChatDriver, app: App) -> None:
    """公示: the month's handled matters and results in the residents chat, with no names, phones or IDs."""
    [refused] = await station.say("zhang", "gongzuo", "/publish")
    assert "无可公示" in refused.text
    await report(station, "#建议 东门路灯坏了，请联系我 13812345678")
    await report(station, "#求助 电梯停了", user="bob")
    await station.say("zhang", "lianxi", "/assign 1 li")
    await station.say("li", "dm:li", "/close 1 已更换灯泡，回访号码 13912345678")
    await station.say("zhang", "lianxi", "/reject 2 属于物业合同纠纷，请联系物业")
    sent = await station.say("zhang", "gongzuo", "/publish")
    public = the_one(sent, "lianxi")
    assert "【办理情况公示】" in public.text and "本期受理 2 件，办结 1 件，不予受理 1 件" in public.text
    assert "#1【建议】东门路灯坏了，请联系我 *** —— 已办结：已更换灯泡，回访号码 ***" in public.text
    assert "#2【求助】电梯停了 —— 不予受理：属于物业合同纠纷" in public.text
    assert "alice" not in public.text and "bob" not in public.text and "138" not in public.text
    answer = the_one(sent, "gongzuo").text
    assert "已在居民群公示" in answer and "不含任何姓名" in answer
    assert "已隐去个人信息：电话号码 2 处。" in answer
    [again] = await station.say("zhang", "gongzuo", "/publish")
    assert "没有变化" in again.text
    [bad] = await station.say("zhang", "gongzuo", "/publish someday")
    assert "用法" in bad.text
    [resident] = await station.say("alice", "lianxi", "/publish")
    assert "没有权限" in resident.text
