"""Visitors at the reception (/visit), their 回访 task, the staff chat's #建议, and /route."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.clock import ManualClock
from storage.models import Item, ItemEvent, Outbox, Person, Station, Visitor
from tests.harness import ChatDriver, rows, set_up_station

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIANXI = {"liaisons": ["zhang"], "deputies": ["li county", "wang county"]}


@pytest.fixture
async def station(chat: ChatDriver, clock: ManualClock) -> ChatDriver:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "gongzuo", "/reception add 2026-12-02 09:00-11:30 濂溪社区服务中心")
    await chat.say("zhang", "gongzuo", "/duty 2026-12-02 li")
    clock.set(datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI))
    return chat


def texts(sent: list, chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


async def snapshot(app: App) -> tuple[list, ...]:
    return (await rows(app, Item), await rows(app, ItemEvent), await rows(app, Visitor), await rows(app, Person),
            await rows(app, Station))


async def test_several_lines_are_several_visitors_linked_to_the_reception(station: ChatDriver, app: App) -> None:
    [answer] = await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 小区门口下雨积水，老人出行不便\n"
                                                     "王阿姨 139-8765-4321 楼上漏水三个月\n"
                                                     "来电 赵老师 学校门口早高峰拥堵")
    assert answer.text == (
        "已登记 3 位来访群众：\n"
        "#1 刘大爷（13712345678）：小区门口下雨积水，老人出行不便\n"
        "#2 王阿姨（139-8765-4321）：楼上漏水三个月\n"
        "#3 赵老师（来电）：学校门口早高峰拥堵\n"
        "请把事项编号告诉来访群众，便于查询。分派：/assign <编号> <代表或承办单位> [天数]。\n"
        "已记入接待日 #1（12月2日（周三） 09:00–11:30）的接待登记。")
    visitors = await rows(app, Visitor)
    assert [(v.name, v.phone, v.channel, v.reception_id) for v in visitors] == [
        ("刘大爷", "13712345678", "visit", 1), ("王阿姨", "139-8765-4321", "visit", 1), ("赵老师", None, "phone", 1)]
    assert [item.text for item in await rows(app, Item)] == ["小区门口下雨积水，老人出行不便", "楼上漏水三个月", "学校门口早高峰拥堵"]
    [record] = await station.say("zhang", "gongzuo", "/attendance 1")
    assert "来访群众 3 人，登记事项：#1 刘大爷、#2 王阿姨、#3 赵老师" in record.text
    # In a residents group the reception's record names no visitor.
    [public] = await station.say("zhang", "lianxi", "/attendance 1")
    assert "来访群众 3 人，登记事项：#1、#2、#3" in public.text and "刘大爷" not in public.text
    # The deputy on duty may record too; a deputy not on duty may not.
    [li] = await station.say("li", "dm:li", "/visit 孙奶奶 想申请居家养老服务补贴")
    assert li.text.startswith("已登记来访群众：\n#4 孙奶奶：想申请居家养老服务补贴\n")
    before = await snapshot(station.app)
    [wang] = await station.say("wang", "dm:wang", "/visit 周先生 路灯不亮")
    assert wang.text == "今天没有您值班的接待日：来访群众请由联络员用 /visit 登记。"
    assert await snapshot(station.app) == before


@pytest.mark.parametrize(("where", "command", "answer"), [
    ("gongzuo", "/visit 13712345678 积水", "「13712345678」不像姓名：请先写姓名（最长 20 个字，如 刘大爷），再写电话（可不写）和内容。\n"
                                         "用法：/visit [来电|来信] <姓名> [电话] <内容>（一行一位）"),
    ("gongzuo", "/visit 刘大爷 13712345678", "缺少 刘大爷 反映的内容。\n用法：/visit [来电|来信] <姓名> [电话] <内容>（一行一位）"),
    ("gongzuo", "/visit 刘大爷 积水\n王阿姨", "第 2 行：缺少 王阿姨 反映的内容。\n用法：/visit [来电|来信] <姓名> [电话] <内容>（一行一位）"),
    ("lianxi", "/visit 刘大爷 13712345678 积水", "/visit 会记录来访群众的姓名和电话，请在工作群或私聊中发送，不要在居民群里发送。"),
    ("gongzuo", "/visit", "参数不对。用法：/visit [来电|来信] <姓名> [电话] <内容>（一行一位）"),
])
async def test_bad_visits_are_answered_and_record_nothing(
    station: ChatDriver, app: App, where: str, command: str, answer: str
) -> None:
    before = await snapshot(app)
    [reply] = await station.say("zhang", where, command)
    assert reply.text == answer
    assert await snapshot(app) == before


async def test_a_visitors_result_becomes_a_callback_task_with_rating_buttons(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 小区门口下雨积水")
    await station.say("zhang", "gongzuo", "/assign 1 li 5")
    sent = await station.say("li", "dm:li", "/close 1 已联系物业疏通下水道，积水已排除")
    [task] = [message for message in sent if message.chat == "gongzuo"]
    assert task.text == ("回访 刘大爷 13712345678：事项 #1「小区门口下雨积水」已办结。\n结果：已联系物业疏通下水道，积水已排除\n"
                         "请电话或当面告知来访群众，并按其意见点击下方按钮记录评价。")
    assert task.buttons == ["满意", "基本满意", "不满意", "未能联系上"]
    assert texts(sent, "dm:li") == ["事项 #1 已办结。来访群众没有聊天账号：回访任务已发给工作群，回访后请按来访群众的意见点击评价。"]
    assert all("13712345678" not in message.text for message in station.transport.sent if message.chat == "lianxi")
    # Only staff record the visitor's answer; 未能联系上 keeps the task open.
    refused = await station.press("li", "gongzuo", task.id, "满意")
    assert station.transport.answers[-1][1] == "回访结果由联络员记录。" and not texts(refused, "gongzuo")
    [unreached] = texts(await station.press("zhang", "gongzuo", task.id, "未能联系上"), "gongzuo")
    assert unreached == "已记录：zhang 回访 刘大爷 未能联系上（事项 #1）。联系上后，请在这条回访任务上点击评价。"
    sent = await station.press("zhang", "gongzuo", task.id, "不满意")
    assert texts(sent, "gongzuo") == ["事项 #1「小区门口下雨积水」的提出人对办理结果不满意，事项已重新办理（第 1 次）。"
                                      "请继续办理：/progress 1 <进展>，或由联络员 /assign 1 <代表> 重新分派。"
                                      "\n新的办理时限：15 个工作日，截止 2026-12-23。",
                                      "已记录 刘大爷 的评价：不满意（zhang 回访）。事项 #1 已重新办理，承办人已收到通知。"]
    assert texts(sent, "dm:li")[0].startswith("事项 #1「小区门口下雨积水」的提出人对办理结果不满意")
    stale = await station.press("zhang", "gongzuo", task.id, "满意")
    assert not texts(stale, "gongzuo") and "已过期" in station.transport.answers[-1][1]
    sent = await station.say("li", "dm:li", "/close 1 已更换排水管")
    [second] = [message for message in sent if message.chat == "gongzuo"]
    [thanks] = texts(await station.press("zhang", "gongzuo", second.id, "基本满意"), "gongzuo")
    assert thanks == "已记录 刘大爷 的评价：基本满意（zhang 回访）。事项 #1 已关闭。"
    [item] = await rows(app, Item)
    assert (item.status, item.rating) == ("closed", "basically_satisfied")
    kinds = [(event.kind, event.note) for event in await rows(app, ItemEvent, ItemEvent.item_id == item.id)]
    assert ("callback", "unreached") in kinds and ("rated", "unsatisfied") in kinds and kinds[-1] == ("rated", "basically_satisfied")
    again = await station.press("zhang", "gongzuo", second.id, "满意")
    assert not texts(again, "gongzuo") and station.transport.answers[-1][1] == "事项 #1 的回访评价已经记录，不能重复记录。"


async def test_a_tagged_message_in_the_staff_chat_is_answered_with_how_to_record_it(station: ChatDriver, app: App) -> None:
    [answer] = await station.say("zhang", "gongzuo", "#建议 东门路灯坏了")
    assert answer.text == ("工作群里的 #建议 不会登记为事项。代来访群众登记，请发送 /visit <姓名> [电话] <内容>"
                           "（例如 /visit 刘大爷 13712345678 小区门口积水；一行一位）；居民可在居民群发送 #建议 内容。")
    assert await rows(app, Item) == []
    assert await station.say("zhang", "gongzuo", "今天下午开会") == []


async def test_route_petition_is_a_final_referral_with_the_office_address(station: ChatDriver, app: App) -> None:
    await station.say("alice", "lianxi", "#建议 我和单位有劳动纠纷，工资拖欠半年")
    sent = await station.say("zhang", "gongzuo", "/route 1 petition")
    [feedback] = texts(sent, "lianxi")
    assert feedback == (
        "alice，您反映的事项 #1「我和单位有劳动纠纷，工资拖欠半年」属于个人信访事项，本站已登记并为您指明反映渠道：\n"
        "按照《信访工作条例》，个人信访事项由有权处理的机关依法办理，联络站不能代为受理。请您携带身份证件和相关材料，"
        "到所在县（区）信访局（地址可向本站联络员询问）反映；也可以通过网上信访平台或拨打 12345 热线反映。\n"
        "如有疑问，请联系本站联络员。")
    assert texts(sent, "gongzuo") == [
        "事项 #1 已按个人信访事项转介，信访渠道说明已回复到居民的原消息下（不请居民评价；如需重新办理，请用 /reopen 1）。\n"
        "提示：本站还没有设置信访部门的地址，说明中写的是「所在县（区）信访局」。"
        "设置：/station set lianxi petition_office <地址和接待时间>（管理员）。"]
    [item] = await rows(app, Item)
    assert (item.status, item.route) == ("rejected", "petition")
    [unrated] = await station.say("alice", "lianxi", "不满意", reply_to=feedback and sent[0].id)
    assert unrated.text.startswith("您好！事项 #1 不属于本站受理范围")
    await station.say("admin", "gongzuo", "/station set lianxi petition_office 县信访局（县行政服务中心三楼，工作日 8:30-17:00）")
    await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 想让联络站帮忙打官司")
    sent = await station.say("zhang", "gongzuo", "/route 2 信访 建议先咨询法律援助中心")
    assert texts(sent, "gongzuo") == [
        "回访 刘大爷 13712345678：事项 #2「想让联络站帮忙打官司」属于个人信访事项，已转介信访部门。\n请告知："
        "按照《信访工作条例》，个人信访事项由有权处理的机关依法办理，联络站不能代为受理。请您携带身份证件和相关材料，"
        "到县信访局（县行政服务中心三楼，工作日 8:30-17:00）反映；也可以通过网上信访平台或拨打 12345 热线反映。\n"
        "联络员说明：建议先咨询法律援助中心",
        "事项 #2 已按个人信访事项转介。来访群众没有聊天账号：回访任务已发给工作群，请告知其信访渠道（不请其评价；如需重新办理，请用 /reopen 2）。"]
    before = await snapshot(app)
    [again] = await station.say("zhang", "gongzuo", "/route 2 county")
    assert again.text.startswith("事项 #2 当前状态为「不予受理」，不能分派。")
    assert await snapshot(app) == before


async def test_route_county_is_a_deputy_suggestion_tracked_until_its_reply(station: ChatDriver, app: App) -> None:
    await station.say("bob", "lianxi", "#建议 县道 X302 路面破损严重，大货车多")
    sent = await station.say("zhang", "gongzuo", "/route 1 county 已请李代表牵头起草代表建议")
    assert texts(sent, "gongzuo") == [
        "事项 #1 已整理为代表建议，报送县（区）人大常委会交有关部门办理，答复期限 2027-03-02（自交办之日起三个月）。"
        "收到答复后请用 /close 1 <答复内容> 登记，答复会转告居民并请其评价。\n已告知居民。"]
    assert texts(sent, "lianxi") == ["bob，您反映的事项 #1「县道 X302 路面破损严重，大货车多」已整理为代表建议，"
                                     "报送县（区）人大常委会交有关部门办理。收到答复后会告诉您。"]
    before = await snapshot(app)
    for command, answer in [
        ("/route 1 county", "事项 #1 已经是「县（区）代表建议」，没有变化。"),
        ("/route 1 省", "去向应为 township、county、city 或 petition（乡镇、县、市、信访），而不是「省」。\n"
                        "用法：/route <编号> township|county|city|petition [说明]"),
        ("/route 9 city", "濂溪社区联络站 没有编号为 #9 的事项。发送 /items 查看事项。"),
    ]:
        [reply] = await station.say("zhang", "gongzuo", command)
        assert reply.text == answer
    assert await snapshot(app) == before
    [items] = await station.say("zhang", "gongzuo", "/items")
    assert "#1 [已分派] 县道 X302 路面破损严重，大货车多 — 县（区）代表建议 （截止 03-02）" in items.text
    sent = await station.say("zhang", "gongzuo", "/close 1 县交通运输局答复：X302 大修已列入明年计划，近期先行修补坑槽")
    [feedback] = texts(sent, "lianxi")
    assert feedback.startswith("bob，您反映的事项 #1「县道 X302 路面破损严重，大货车多」已办结。\n"
                               "办理结果：县交通运输局答复：X302 大修已列入明年计划，近期先行修补坑槽")
    [item] = await rows(app, Item)
    assert (item.status, item.route) == ("resolved", "county")
    assert [event.kind for event in await rows(app, ItemEvent)] == ["created", "routed", "resolved"]
    [detail] = await station.say("zhang", "gongzuo", "/item 1")
    assert "去向：县（区）代表建议" in detail.text
    # Handed back to the station, it is no longer the county's.
    await station.say("zhang", "gongzuo", "/reopen 1 县里答复需要本站先协调")
    await station.say("zhang", "gongzuo", "/assign 1 li 5")
    [item] = await rows(app, Item)
    assert (item.route, item.assignee_id is not None) == (None, True)
    assert "zhang 转办（已受理 → 已分派）：整理为代表建议，报送县（区）人大常委会交有关部门办理：已请李代表牵头起草代表建议" in detail.text
    assert await rows(app, Outbox, Outbox.purpose == "routed")


async def test_a_visitors_matter_is_published_under_its_category_without_the_visitor(station: ChatDriver) -> None:
    await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 小区门口下雨积水，老人出行不便")
    await station.say("zhang", "gongzuo", "/visit 来电 赵老师 学校门口早高峰拥堵")
    await station.say("zhang", "gongzuo", "/tag 1 城乡建设")
    await station.say("zhang", "gongzuo", "/close 1 已疏通雨水井")
    await station.say("zhang", "gongzuo", "/close 2 已协调交警早高峰值守")
    sent = await station.say("zhang", "gongzuo", "/publish")
    [notice] = texts(sent, "lianxi")
    assert notice.splitlines()[2:] == [
        "#1【城乡建设】小区门口下雨积水，老人出行不便 —— 已答复：已疏通雨水井",
        "#2 学校门口早高峰拥堵 —— 已答复：已协调交警早高峰值守",
    ]
    assert "刘大爷" not in notice and "赵老师" not in notice and "137" not in notice


async def test_a_visitors_unsatisfied_rating_reaches_the_handling_units_contact(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/unit add 街道城管科 wangke")
    await station.say("wangke", "dm:wangke", "/start")
    await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 小区门口下雨积水")
    await station.say("zhang", "gongzuo", "/assign 1 街道城管科 5")
    sent = await station.say("wangke", "dm:wangke", "/close 1 已疏通下水道")
    [task] = [message for message in sent if message.chat == "gongzuo"]
    sent = await station.press("zhang", "gongzuo", task.id, "不满意")
    assert texts(sent, "dm:wangke") == ["事项 #1「小区门口下雨积水」的提出人对办理结果不满意，事项已重新办理（第 1 次）。"
                                        "请继续办理：/progress 1 <进展>，或由联络员 /assign 1 <代表> 重新分派。"
                                        "\n新的办理时限：15 个工作日，截止 2026-12-23。"]
    [items] = await station.say("zhang", "gongzuo", "/items")
    assert items.text == "濂溪社区联络站 未办结的事项（1 项）：\n#1 [已重新办理] 小区门口下雨积水 — 街道城管科 （截止 12-23）"
