"""Private reports: `#建议` in a direct message is never shown in any group; which station it goes to."""

from __future__ import annotations

from bot.app import App
from storage.models import Item, ItemStatus
from tests.harness import ChatDriver, Delivered, rows, set_up_station

LIANXI = {"liaisons": ["zhang"], "deputies": ["li"]}
SECRET = ("隔壁502", "煤气", "不想让邻居知道", "13912345678")  # fragments of the private report that must never reach a group


def texts(sent: list[Delivered], chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


def group_messages(chat: ChatDriver) -> list[Delivered]:
    """Everything the bot ever posted in a chat that is not a direct chat and not the staff chat."""
    return [message for message in chat.transport.sent if not message.chat.startswith("dm:") and message.chat != "gongzuo"]


async def test_a_private_report_never_reaches_a_group(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "大家好")  # alice lives here: her DM reports go to this station
    sent = await chat.say("alice", "dm:alice", "#投诉 隔壁502经常半夜有煤气味，我不想让邻居知道是我反映的，电话13912345678")
    assert texts(sent, "dm:alice") == [
        "已受理，编号 #1。您是私信反映的，事项只有联络站工作人员和承办人能看到，不会出现在任何群里；办理进展和结果都会私信告诉您。"]
    [item] = await rows(app, Item)
    assert item.private and item.station_id == 1
    # a group report of the same matter, merged into the private one: its reporter hears of a merge, not of #1
    await chat.say("bob", "lianxi", "#建议 5栋楼道里有股怪味")
    merged = await chat.say("zhang", "gongzuo", "/merge 2 1")
    assert texts(merged, "lianxi") == ["bob，您反映的事项 #2「5栋楼道里有股怪味」与本站正在办理的另一件事项是同一问题，已合并办理，"
                                       "您已记为附议人。办结后会在此回复您。"]
    # staff typing an item command about it in the residents group is refused there, changing nothing
    refused = await chat.say("zhang", "lianxi", "/assign 1 li 3")
    assert texts(refused, "lianxi") == ["这件事项是居民私信反映的，不在群里处理。请在工作群或私聊中发送这条命令。"]
    assert (await rows(app, Item))[0].status == ItemStatus.NEW
    await chat.say("zhang", "gongzuo", "/assign 1 li 3")
    closed = await chat.say("li", "dm:li", "/close 1 已联系燃气公司上门检修，更换了老化的软管")
    assert texts(closed, "dm:alice") == ["\n".join([
        "alice，您反映的事项 #1「隔壁502经常半夜有煤气味，我不想让邻居知道是我反映的，电话…」已办结。",
        "办理结果：已联系燃气公司上门检修，更换了老化的软管",
        "请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"])]
    assert texts(closed, "lianxi") == ["\n".join([
        "bob，您反映的事项 #2「5栋楼道里有股怪味」已办结。", "办理结果：已联系燃气公司上门检修，更换了老化的软管",
        "请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"])]
    await chat.press("alice", "dm:alice", only(closed, "dm:alice").id, "满意")
    published = await chat.say("zhang", "gongzuo", "/publish")
    assert texts(published, "gongzuo") == ["2026年12月办结或不予受理的事项都是居民私信反映的，不在群里公示，无可公示。"]
    await chat.say("carol", "lianxi", "#建议 东门路灯坏了")
    await chat.say("zhang", "gongzuo", "/close 3 已更换")
    published = await chat.say("zhang", "gongzuo", "/publish")
    [notice] = texts(published, "lianxi")
    assert "#3" in notice and "#1" not in notice
    assert texts(published, "gongzuo") == ["已在居民群公示 2026年12月的 1 件事项，公示中不含任何姓名。\n"
                                           "居民私信反映的 1 件事项不在群里公示。"]
    # grep every group message of the whole test
    for message in group_messages(chat):
        assert "#1" not in message.text.replace("#1。", ""), message.text
        for fragment in SECRET:
            assert fragment not in message.text, message.text


def only(sent: list[Delivered], chat: str) -> Delivered:
    [message] = [m for m in sent if m.chat == chat]
    return message


async def test_which_station_is_asked_with_buttons_when_nothing_tells(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await set_up_station(chat, code="dongmen", name="东门社区联络站", residents="dongmen-qun", staff="dongmen-gz")
    asked = await chat.say("alice", "dm:alice", "#建议 楼下早餐店油烟太大")
    question = only(asked, "dm:alice")
    assert question.text == ("已收到您的反映。请问您要向哪个联络站反映？请点击下方按钮选择（也可以回复本消息，写上联络站代码）。"
                             "选好后即为您登记，您的反映只有工作人员能看到，不会出现在任何群里。")
    assert question.buttons == ["东门社区联络站", "濂溪社区联络站"]  # by code
    assert await rows(app, Item) == []
    # only the person who sent it may pick
    await chat.press("bob", "dm:alice", question.id, "东门社区联络站")
    assert chat.transport.answers[-1] == ("dm:alice", "只有发送这条反映的居民本人可以选择联络站。")
    picked = await chat.press("alice", "dm:alice", question.id, "东门社区联络站")
    assert texts(picked, "dm:alice") == ["\n".join([
        "已受理，编号 #1。您是私信反映的，事项只有联络站工作人员和承办人能看到，不会出现在任何群里；办理进展和结果都会私信告诉您。",
        "（已交给 东门社区联络站；以后私信反映的问题也交给该站，如需更改请发送 /use <站点代码>。）"])]
    [item] = await rows(app, Item)
    assert (item.station_id, item.text, item.tag, item.private) == (2, "楼下早餐店油烟太大", "建议", True)
    again = await chat.press("alice", "dm:alice", question.id, "濂溪社区联络站")
    assert again == [] and chat.transport.answers[-1] == ("dm:alice", "这条反映已经登记为 东门社区联络站 的事项 #1，无需重复选择。")
    assert len(await rows(app, Item)) == 1
    # her next DM report goes to the station she chose, at once
    nxt = await chat.say("alice", "dm:alice", "#建议 早餐店门口电动车乱停")
    assert texts(nxt, "dm:alice")[0].startswith("已受理，编号 #2。")


async def test_a_code_reply_answers_the_question_and_a_wrong_code_changes_nothing(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await set_up_station(chat, code="dongmen", name="东门社区联络站", residents="dongmen-qun", staff="dongmen-gz")
    await chat.say("bob", "lianxi", "大家好")
    await chat.say("bob", "dongmen-qun", "大家好")  # bob is in both groups: asked, with the two
    question = only(await chat.say("bob", "dm:bob", "#求助 独居老人需要上门送餐"), "dm:bob")
    wrong = await chat.say("bob", "dm:bob", "xiaoqu", reply_to=question.id)
    assert texts(wrong, "dm:bob") == ["没有代码为「xiaoqu」的联络站。请回复正确的联络站代码，或点击上面的按钮选择。"]
    assert await rows(app, Item) == []
    right = await chat.say("bob", "dm:bob", "lianxi", reply_to=question.id)
    assert texts(right, "dm:bob")[0].startswith("已受理，编号 #1。您是私信反映的")
    [item] = await rows(app, Item)
    assert (item.station_id, item.text, item.private) == (1, "独居老人需要上门送餐", True)


async def test_the_station_of_the_residents_group_is_taken_without_asking(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    await set_up_station(chat, code="dongmen", name="东门社区联络站", residents="dongmen-qun", staff="dongmen-gz")
    await chat.say("carol", "dongmen-qun", "#建议 东门修路太吵")
    sent = await chat.say("carol", "dm:carol", "#建议 我家楼上漏水，物业不管")
    assert texts(sent, "dm:carol")[0].startswith("已受理，编号 #2。您是私信反映的")
    private = [item for item in await rows(app, Item) if item.private]
    assert [(item.station_id, item.number) for item in private] == [(2, 2)]
    register = await chat.say("admin", "dongmen-gz", "/export items csv")
    [file] = [m for m in register if m.outgoing.attachment is not None]
    content = file.outgoing.attachment.data.decode("utf-8-sig")
    assert "（居民私信反映，内容不公开）" in content and "漏水" not in content
    full = await chat.say("admin", "dongmen-gz", "/export items full csv")
    [file] = [m for m in full if m.outgoing.attachment is not None]
    assert "我家楼上漏水，物业不管" in file.outgoing.attachment.data.decode("utf-8-sig")
