"""Handling units (/unit, /units, /assign to a unit with a 督办 deputy) and categories (/tag, /categories)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from handlers.clock import ManualClock
from storage.models import Duty, HandlingUnit, Item, ItemEvent, RoleAssignment, Station
from tests.harness import ChatDriver, rows, set_up_station
from tests.transcripts.runner import clean_environment, run_script

LIANXI = {"liaisons": ["zhang"], "deputies": ["li county"], "introduce": ["li", "wangke"]}


@pytest.fixture
async def station(chat: ChatDriver) -> ChatDriver:
    await set_up_station(chat, **LIANXI)
    await chat.say("alice", "lianxi", "#建议 小区东门路灯坏了，晚上很黑")
    await chat.say("bob", "lianxi", "#反映 3栋楼道堆满杂物，有消防隐患")
    return chat


def texts(sent: list, chat: str) -> list[str]:
    return [message.text for message in sent if message.chat == chat]


async def snapshot(app: App) -> tuple[list, ...]:
    return (await rows(app, HandlingUnit), await rows(app, Item), await rows(app, ItemEvent),
            await rows(app, RoleAssignment), await rows(app, Station))


async def test_a_department_is_no_deputy_and_is_never_added_as_one(station: ChatDriver, app: App) -> None:
    before = await snapshot(app)
    [answer] = await station.say("zhang", "gongzuo", "/assign 1 街道城管科 5")
    assert answer.text == (
        "「街道城管科」既不是 濂溪社区联络站 的代表，也不是本站的承办单位。交部门办理：先用 /unit add 街道城管科 [联系人] "
        "添加承办单位；交代表办理：先用 /deputy add <用户> 添加代表。发送 /units 查看本站的承办单位。")
    assert await snapshot(app) == before


async def test_a_unit_with_a_contact_gets_the_assignment_and_may_progress_and_close(station: ChatDriver, app: App) -> None:
    [added] = await station.say("zhang", "gongzuo", "/unit add 街道城管科 wangke")
    assert added.text.startswith("已添加承办单位「街道城管科」，联系人 wangke：交该单位办理的事项会私信通知联系人")
    sent = await station.say("zhang", "gongzuo", "/assign 2 街道城管科 10")
    assert texts(sent, "gongzuo") == ["已将事项 #2 分派给 街道城管科，办理时限 10 个工作日，截止 2026-12-15。\n"
                                      "已私信通知 街道城管科 的联系人 wangke。"]
    assert texts(sent, "dm:wangke") == [
        "您好！濂溪社区联络站 把事项 #2 交 街道城管科 办理：\n3栋楼道堆满杂物，有消防隐患\n"
        "办理时限：10 个工作日，截止 2026-12-15。\n登记进展请发送 /progress 2 <进展>，办结请发送 /close 2 <办理结果>。"]
    [mine] = await station.say("wangke", "dm:wangke", "/items mine")
    assert mine.text == "分派给您、尚未办结的事项（1 项）：\n#2 [已分派] 3栋楼道堆满杂物，有消防隐患 — 街道城管科 （截止 12-15）"
    [progress] = await station.say("wangke", "dm:wangke", "/progress 2 已安排环卫工人清运")
    assert progress.text == "已记录事项 #2 的办理进展，状态：办理中。"
    [refused] = await station.say("wangke", "dm:wangke", "/progress 1 不是我们的")
    assert refused.text == "抱歉，您没有权限对事项 #1 使用 /progress。"
    sent = await station.say("wangke", "dm:wangke", "/close 2 杂物已清运完毕")
    [feedback] = texts(sent, "lianxi")
    assert feedback.startswith("bob，您反映的事项 #2「3栋楼道堆满杂物，有消防隐患」已办结。\n办理结果：杂物已清运完毕")
    [item] = [item for item in await rows(app, Item) if item.number == 2]
    assert item.status == "resolved" and item.assignee_id is None and item.unit_id is not None
    assert [e.kind for e in await rows(app, ItemEvent, ItemEvent.item_id == item.id)][-1] == "resolved"
    # A unit is no person: never on a roster, never a deputy.
    assert await rows(app, Duty) == []
    [whoami] = await station.say("wangke", "dm:wangke", "/whoami")
    assert "濂溪社区联络站（lianxi）：承办单位联系人" in whoami.text


async def test_a_unit_without_contact_and_a_supervising_deputy(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/unit add 供电所")
    sent = await station.say("zhang", "gongzuo", "/assign 1 供电所 10 督办 li")
    assert texts(sent, "gongzuo") == [
        "已将事项 #1 分派给 供电所（督办代表 li），办理时限 10 个工作日，截止 2026-12-15。\n"
        "供电所 没有登记联系人：请联络员联系该单位，并代为登记进展（/progress 1 <进展>）和办理结果（/close 1 <办理结果>）。\n"
        "已私信通知督办代表 li。"]
    [dm] = texts(sent, "dm:li")
    assert dm.startswith("您好！濂溪社区联络站 把事项 #1 交 供电所 办理，请您督办：\n小区东门路灯坏了，晚上很黑\n")
    [detail] = await station.say("zhang", "gongzuo", "/item 1")
    assert "承办单位：供电所（未登记联系人，由联络员代为登记）\n督办代表：li\n" in detail.text
    # The liaison records on the unit's behalf; the deputy may close it too.
    [recorded] = await station.say("zhang", "gongzuo", "/progress 1 已电话联系供电所，明天派人")
    assert recorded.text == "已记录事项 #1 的办理进展，状态：办理中。"
    sent = await station.say("li", "dm:li", "/close 1 供电所已更换路灯")
    assert texts(sent, "lianxi")[0].startswith("alice，您反映的事项 #1「小区东门路灯坏了，晚上很黑」已办结。")
    [event] = [e for e in await rows(app, ItemEvent) if e.kind in ("resolved", "answered")]
    assert event.kind == "resolved", "a unit's result is no direct answer of the station"


@pytest.mark.parametrize(("command", "answer"), [
    ("/assign 1 供电所 abc", "办理时限应为 1 到 365 之间的工作日天数，而不是「abc」。\n"
                            "用法：/assign <编号> <代表或承办单位> [工作日天数] [督办 <代表>]"),
    ("/assign 1 供电所 5 督办", "督办代表的写法是「督办 <代表>」，例如 /assign 4 街道城管科 10 督办 @li。\n"
                              "用法：/assign <编号> <代表或承办单位> [工作日天数] [督办 <代表>]"),
    ("/assign 1 li 5 督办 li", "li 是代表，由其直接承办即可。「督办」用于交承办单位办理时指定督办代表："
                              "/assign <编号> <承办单位> [天数] 督办 <代表>。"),
    ("/assign 1 供电所 5 督办 zhang", "zhang 不是 濂溪社区联络站 的代表，不能担任督办代表。"),
    ("/assign 9 供电所", "濂溪社区联络站 没有编号为 #9 的事项。发送 /items 查看事项。"),
    ("/unit remove 水务所", "本站没有名为「水务所」的承办单位。现有承办单位：供电所"),
    ("/unit add 供电所", "承办单位「供电所」已经在本站名单中，没有变化。发送 /units 查看。"),
    ("/unit add 10", "「10」不能作为承办单位名称：名称最长 50 个字，不能是数字、「督办」，也不能以 @ 或 # 开头，例如 街道城管科。\n"
                     "用法：/unit add <单位名称> [联系人] | /unit remove <单位名称>"),
    ("/unit", "参数不对。用法：/unit add <单位名称> [联系人] | /unit remove <单位名称>"),
    ("/tag 1 养老", "「养老」不是本站的类别。本站的类别：交通出行、环境卫生、物业管理、社会保障、教育医疗、城乡建设、治安安全、其他"
                   "（联络员可用 /categories add 增加）。\n用法：/tag <编号> <类别>"),
    ("/categories remove 不存在", "本站没有类别「不存在」。本站的类别：交通出行、环境卫生、物业管理、社会保障、教育医疗、城乡建设、治安安全、其他"),
])
async def test_bad_input_is_answered_and_changes_nothing(station: ChatDriver, app: App, command: str, answer: str) -> None:
    await station.say("zhang", "gongzuo", "/unit add 供电所")
    before = await snapshot(app)
    [reply] = await station.say("zhang", "gongzuo", command)
    assert reply.text == answer
    assert await snapshot(app) == before


async def test_removing_a_unit_lists_its_open_items_and_drops_the_contact_role(station: ChatDriver, app: App) -> None:
    await station.say("zhang", "gongzuo", "/unit add 街道城管科 wangke")
    await station.say("zhang", "gongzuo", "/assign 2 街道城管科 5")
    [units] = await station.say("zhang", "gongzuo", "/units")
    assert units.text == ("濂溪社区联络站 的承办单位（1 个）：\n· 街道城管科 — 联系人 wangke；未办结 1 件\n"
                          "分派：/assign <编号> <承办单位> [天数] [督办 <代表>]")
    [removed] = await station.say("zhang", "gongzuo", "/unit remove 街道城管科")
    assert removed.text == ("已把「街道城管科」从本站的承办单位中移除（已办事项的记录保留）。\n"
                            "它还有 1 件未办结的事项，请重新分派：\n  #2 3栋楼道堆满杂物，有消防隐患：/assign 2 <代表或承办单位>")
    [refused] = await station.say("wangke", "dm:wangke", "/progress 2 继续")
    assert refused.text.startswith("抱歉，您没有权限")
    [gone] = await station.say("zhang", "gongzuo", "/assign 2 街道城管科")
    assert gone.text == "承办单位「街道城管科」已从本站移除。如需继续交它办理，请先 /unit add 街道城管科。"


async def test_categories_are_per_station_and_every_filing_is_recorded(station: ChatDriver, app: App) -> None:
    [listed] = await station.say("zhang", "gongzuo", "/categories")
    assert listed.text == "本站的类别：交通出行、环境卫生、物业管理、社会保障、教育医疗、城乡建设、治安安全、其他\n归类：/tag <编号> <类别>"
    [tagged] = await station.say("zhang", "gongzuo", "/tag 1 交通出行")
    assert tagged.text == "已把事项 #1 归入「交通出行」。"
    [moved] = await station.say("zhang", "gongzuo", "/tag 1 城鄉建設")  # traditional characters are the same category
    assert moved.text == "已把事项 #1 从「交通出行」改归「城乡建设」。"
    [added] = await station.say("zhang", "gongzuo", "/categories add 养老服务")
    assert added.text.startswith("本站的类别：交通出行、环境卫生、物业管理、社会保障、教育医疗、城乡建设、治安安全、其他、养老服务")
    await station.say("zhang", "gongzuo", "/tag 2 养老服务")
    [removed] = await station.say("zhang", "gongzuo", "/categories remove 养老服务")
    assert removed.text.endswith("已归入被删除类别的事项保留原类别，可用 /tag <编号> <类别> 改归。")
    assert {item.number: item.category for item in await rows(app, Item)} == {1: "城乡建设", 2: "养老服务"}
    assert [e.note for e in await rows(app, ItemEvent) if e.kind == "categorized"] == ["交通出行", "城乡建设", "养老服务"]
    [resident] = await station.say("alice", "lianxi", "/tag 1 其他")
    assert resident.text == "抱歉，您没有权限使用 /tag。发送 /help 查看您可用的命令。"


async def test_registers_and_stats_by_unit_and_by_category(station: ChatDriver, app: App, clock: ManualClock) -> None:
    """The items register's 来源, 类别, 附议人数 and 承办单位; the receptions register's 接待人数 and
    登记事项编号; /stats by unit and by category."""
    await station.say("zhang", "gongzuo", "/reception add 2026-12-02 09:00-11:30 社区服务中心")
    clock.set(datetime(2026, 12, 2, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    await station.say("zhang", "gongzuo", "/visit 刘大爷 13712345678 小区门口积水\n来电 赵老师 学校门口拥堵")
    [ack] = [m for m in station.transport.sent if m.chat == "lianxi" and m.text.startswith("已受理，编号 #1")]
    await station.say("dave", "lianxi", "+1", reply_to=ack.id)  # a supporter of #1
    await station.say("zhang", "gongzuo", "/unit add 街道城管科 wangke")
    await station.say("zhang", "gongzuo", "/assign 2 街道城管科 5")
    await station.say("zhang", "gongzuo", "/assign 3 街道城管科 5")
    await station.say("zhang", "gongzuo", "/tag 1 城乡建设")
    await station.say("zhang", "gongzuo", "/tag 2 环境卫生")
    await station.say("zhang", "gongzuo", "/tag 3 环境卫生")
    await station.say("wangke", "dm:wangke", "/close 2 已清运")
    [sent] = await station.say("zhang", "gongzuo", "/export items csv")
    assert sent.outgoing.attachment is not None
    reader = csv.DictReader(io.StringIO(sent.outgoing.attachment.data.decode("utf-8-sig"), newline=""))
    register = [(row["number"], row["source"], row["category"], row["supporters"], row["unit"], row["reporter"])
                for row in reader]
    assert register == [("1", "群聊", "城乡建设", "1", "", "a****"), ("2", "群聊", "环境卫生", "", "街道城管科", "b**"),
                        ("3", "接待", "环境卫生", "", "街道城管科", "刘**"), ("4", "来电", "", "", "", "赵**")]
    [sent] = await station.say("zhang", "gongzuo", "/export receptions csv")
    assert sent.outgoing.attachment is not None
    [row] = list(csv.DictReader(io.StringIO(sent.outgoing.attachment.data.decode("utf-8-sig"), newline="")))
    assert (row["visitors"], row["visitor_items"]) == ("2", "#3、#4")
    [by_unit] = await station.say("zhang", "gongzuo", "/stats by unit")
    assert by_unit.text == (
        "濂溪社区联络站 2026年12月各承办单位办理情况：\n"
        "· 街道城管科：受理 2 件，办结 1 件（按时 1 件），不予受理 0 件，办理中 1 件（超期 0 件），满意率 —\n"
        "· 未交承办单位：受理 2 件，办结 0 件（按时 0 件），不予受理 0 件，办理中 2 件（超期 0 件），满意率 —")
    [by_category] = await station.say("zhang", "gongzuo", "/stats 按类别")
    lines = by_category.text.splitlines()
    assert lines[0] == "濂溪社区联络站 2026年12月按类别统计："
    assert "· 环境卫生：受理 2 件，办结 1 件（按时 1 件），不予受理 0 件，办理中 1 件（超期 0 件），满意率 —" in lines
    assert "· 城乡建设：受理 1 件，办结 0 件（按时 0 件），不予受理 0 件，办理中 1 件（超期 0 件），满意率 —" in lines
    assert "· 交通出行：本期没有事项" in lines
    assert lines[-1] == "· 未归类：受理 1 件，办结 0 件（按时 0 件），不予受理 0 件，办理中 1 件（超期 0 件），满意率 —"


def test_units_and_visitors_on_the_console(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The console, as a station lives it: a unit with a contact, a visitor recorded by the deputy on
    duty, the unit closing it from its DM, and the liaison pressing the visitor's rating under the
    回访 task (`!press`)."""
    clean_environment(monkeypatch, tmp_path)
    script = "\n".join([
        "admin@dm: /station add lianxi 濂溪社区联络站",
        "admin@lianxi: /bind lianxi",
        "admin@gongzuo: /bind lianxi staff",
        "admin@gongzuo: /liaison add zhang",
        "admin@gongzuo: /deputy add lidb county",
        "zhang@gongzuo: /unit add 街道城管科 wangke",
        "zhang@gongzuo: /reception add 2026-12-02 09:00-11:30 濂溪社区服务中心",
        "zhang@gongzuo: /duty 2026-12-02 lidb",
        "~ 2026-12-02 09:30",
        "lidb@dm: /visit 刘大爷 13712345678 小区门口下雨积水，老人出行不便",
        "zhang@gongzuo: /assign 1 街道城管科 5",
        "wangke@dm: /close 1 已疏通下水道，积水已排除",
    ])
    result = run_script(capsys, tmp_path, script, db=db_url)
    assert result.errors == []
    [recorded] = [m for m in result.in_chat("dm:lidb") if m["text"].startswith("已登记来访群众")]
    assert recorded["text"] == ("已登记来访群众：\n#1 刘大爷（13712345678）：小区门口下雨积水，老人出行不便\n"
                                "请把事项编号告诉来访群众，便于查询。联络员会分派办理。\n"
                                "已记入接待日 #1（12月2日（周三） 09:00–11:30）的接待登记。")
    [assigned] = [m for m in result.in_chat("dm:wangke") if "交 街道城管科 办理" in m["text"]]
    assert assigned["text"].startswith("您好！濂溪社区联络站 把事项 #1 交 街道城管科 办理：\n小区门口下雨积水，老人出行不便")
    [task] = [m for m in result.in_chat("gongzuo") if m["text"].startswith("回访 刘大爷")]
    assert task["buttons"] == ["满意", "基本满意", "不满意", "未能联系上"]
    again = run_script(capsys, tmp_path, f"zhang@gongzuo!press {task['id']} 满意", db=db_url,
                       clock="2026-12-02T10:00+08:00", name="press.txt")
    assert [m["text"] for m in again.in_chat("gongzuo")] == ["已记录 刘大爷 的评价：满意（zhang 回访）。事项 #1 已关闭。"]
    assert not [m for m in [*result.messages, *again.messages]
                if m["chat"] == "lianxi" and ("刘大爷" in m["text"] or "13712345678" in m["text"])]
