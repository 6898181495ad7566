"""Station set-up: /station, /bind, /unbind, roles, /whoami, /help — by the right and the wrong people."""

from __future__ import annotations

import pytest

from bot.app import App
from storage.models import ChatBinding, RoleAssignment, Station
from tests.harness import ChatDriver, rows, set_up_station

LIANXI = {"liaisons": ["zhang"], "deputies": ["li county"], "introduce": []}


async def test_admin_sets_up_a_station(chat: ChatDriver, app: App) -> None:
    [created] = await chat.say("admin", "dm:admin", "/station add lianxi 濂溪社区联络站 站")
    assert "lianxi" in created.text and "濂溪社区联络站" in created.text
    [bound] = await chat.say("admin", "lianxi", "/bind lianxi")
    assert "居民群" in bound.text and "#建议" in bound.text
    assert bound.reply_to == chat.last_message_id
    [staff] = await chat.say("admin", "gongzuo", "/bind lianxi staff")
    assert "工作群" in staff.text
    bindings = {b.chat_id: b.purpose for b in await rows(app, ChatBinding)}
    assert bindings == {"lianxi": "residents", "gongzuo": "staff"}


async def test_roles_and_whoami(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [who] = await chat.say("li", "lianxi", "/whoami")
    assert "代表" in who.text and "县（区）人大代表" in who.text
    [who] = await chat.say("zhang", "lianxi", "/whoami")
    assert "联络员" in who.text
    [listing] = await chat.say("zhang", "lianxi", "/deputies")
    assert "li" in listing.text and "zhang" in listing.text
    [head] = await chat.say("admin", "lianxi", "/head set wang")
    assert "站长" in head.text
    await chat.say("admin", "lianxi", "/head set zhao")
    roles = [(r.role, r.active) for r in await rows(app, RoleAssignment) if r.role == "head"]
    assert sorted(roles) == [("head", False), ("head", True)], "a station has one head at a time"
    [removed] = await chat.say("zhang", "lianxi", "/deputy remove li")
    assert "取消" in removed.text
    [again] = await chat.say("zhang", "lianxi", "/deputy remove li")
    assert "不是" in again.text


async def test_help_lists_only_what_the_caller_may_run(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    [resident] = await chat.say("alice", "lianxi", "/help")
    [liaison] = await chat.say("zhang", "lianxi", "/help")
    [admin] = await chat.say("admin", "lianxi", "/help")
    assert "/bind" not in resident.text and "/station" not in resident.text and "/whoami" in resident.text
    assert "/bind" in liaison.text and "/deputy" in liaison.text and "/station add" not in liaison.text
    assert "/station add" in admin.text and "/head set" in admin.text


@pytest.mark.parametrize(
    ("user", "chat_id", "command"),
    [
        ("alice", "lianxi", "/station add x 某站"),
        ("zhang", "lianxi", "/station add x 某站"),
        ("alice", "other", "/bind lianxi"),
        ("li", "other", "/bind lianxi"),
        ("alice", "lianxi", "/unbind"),
        ("alice", "lianxi", "/deputy add bob"),
        ("li", "lianxi", "/deputy add bob"),
        ("alice", "lianxi", "/liaison add bob"),
        ("zhang", "lianxi", "/liaison add bob"),
        ("zhang", "lianxi", "/head set bob"),
        ("alice", "lianxi", "/tags add 咨询"),
        ("alice", "lianxi", "/language en"),
    ],
)
async def test_refused_commands_change_nothing(chat: ChatDriver, app: App, user: str, chat_id: str, command: str) -> None:
    await set_up_station(chat, **LIANXI)
    before = [await rows(app, m) for m in (Station, ChatBinding, RoleAssignment)]
    [answer] = await chat.say(user, chat_id, command)
    assert "没有权限" in answer.text
    assert [await rows(app, m) for m in (Station, ChatBinding, RoleAssignment)] == before


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/station", "/station add"),
        ("/station add", "/station add"),
        ("/station add bad/code 名称", "只能由字母"),
        ("/station add x 名称 省", "层级"),
        ("/station add x 名称 站 nosuch", "上级"),
        ("/station add lianxi 重复", "已被使用"),
        ("/station set lianxi timezone Mars/Base", "时区"),
        ("/station set lianxi colour red", "timezone"),
        ("/bind", "/bind <站点代码>"),
        ("/bind nosuch", "没有代码为 nosuch"),
        ("/bind lianxi party", "residents"),
        ("/deputy add", "/deputy add|remove"),
        ("/deputy promote li", "/deputy add|remove"),
        ("/deputy add li galactic", "层级"),
        ("/liaison add", "/liaison add|remove"),
        ("/head", "/head set"),
        ("/head set", "/head set"),
        ("/tags frobnicate", "/tags"),
        ("/tags remove 建议 意见 求助 反映 投诉 suggestion issue help", "至少"),
        ("/language klingon", "zh_CN"),
        ("/unbind now", "/unbind"),
        ("/use lianxi", "请私聊"),
    ],
)
async def test_malformed_arguments_say_what_was_expected(chat: ChatDriver, app: App, command: str, expected: str) -> None:
    await set_up_station(chat, **LIANXI)
    before = [await rows(app, m) for m in (Station, ChatBinding, RoleAssignment)]
    [answer] = await chat.say("admin", "lianxi", command)
    assert expected in answer.text
    assert [await rows(app, m) for m in (Station, ChatBinding, RoleAssignment)] == before


async def test_unbind_and_rebind(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [unbound] = await chat.say("zhang", "lianxi", "/unbind")
    assert "解除绑定" in unbound.text
    [again] = await chat.say("zhang", "lianxi", "/unbind")
    assert "没有绑定" in again.text
    await chat.say("zhang", "lianxi", "/bind lianxi")
    assert [b.active for b in await rows(app, ChatBinding) if b.chat_id == "lianxi"] == [True]


async def test_station_language_switches_replies(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("zhang", "lianxi", "/language en")
    [who] = await chat.say("zhang", "lianxi", "/whoami")
    assert "liaison" in who.text.lower()
    await chat.say("zhang", "lianxi", "/language zh_TW")
    [who] = await chat.say("zhang", "lianxi", "/whoami")
    assert "聯絡員" in who.text


async def test_tags_are_configurable(chat: ChatDriver, app: App) -> None:
    await set_up_station(chat, **LIANXI)
    [shown] = await chat.say("zhang", "lianxi", "/tags add ＃咨询")
    assert "#咨询" in shown.text
    [station] = await rows(app, Station)
    assert "咨询" in station.tags
    await chat.say("zhang", "lianxi", "/tags reset")
    [station] = await rows(app, Station)
    assert "咨询" not in station.tags


async def test_unknown_command_in_dm_is_explained_and_ignored_in_groups(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    assert await chat.say("alice", "lianxi", "/frobnicate") == []
    [answer] = await chat.say("alice", "dm:alice", "/frobnicate")
    assert "/help" in answer.text


async def test_command_for_another_bot_is_ignored(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    chat.transport.names.add("liaison_bot")
    assert await chat.say("zhang", "lianxi", "/deputies@other_bot") == []
    [answer] = await chat.say("zhang", "lianxi", "/deputies@liaison_bot")
    assert "代表" in answer.text


async def test_use_chooses_the_station_of_a_dm(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("admin", "dm:admin", "/station add other 另一站")
    [usage] = await chat.say("zhang", "dm:zhang", "/use")
    assert "/use <站点代码>" in usage.text
    [unknown] = await chat.say("zhang", "dm:zhang", "/use nosuch")
    assert "nosuch" in unknown.text
    [chosen] = await chat.say("zhang", "dm:zhang", "/use lianxi")
    assert "濂溪社区联络站" in chosen.text
    [listing] = await chat.say("zhang", "dm:zhang", "/deputies")
    assert "li" in listing.text
    [group_only] = await chat.say("zhang", "dm:zhang", "/unbind")
    assert "群里" in group_only.text


async def test_help_in_a_dm_leaves_out_group_only_commands(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    [in_dm] = await chat.say("zhang", "dm:zhang", "/help")
    [in_group] = await chat.say("zhang", "lianxi", "/help")
    assert "/bind" not in in_dm.text and "/use" in in_dm.text
    assert "/bind" in in_group.text and "/use" not in in_group.text


async def test_a_refused_message_is_still_recorded_so_a_redelivery_is_silent(chat: ChatDriver, app: App) -> None:
    """The refusal rolls back what the handler did, but the message and the answer stay on record."""
    from storage.models import Message

    await set_up_station(chat, **LIANXI)
    [refused] = await chat.say("alice", "lianxi", "/deputy add bob", message_id="r1")
    assert "没有权限" in refused.text
    assert await chat.say("alice", "lianxi", "/deputy add bob", message_id="r1") == []
    logged = [m for m in await rows(app, Message) if m.message_id == "r1"]
    assert len(logged) == 1 and logged[0].text == "/deputy add bob"


async def test_users_named_with_an_at_sign(chat: ChatDriver, app: App) -> None:
    """`@李代表` names the user 李代表, as people type it; nobody's account gets an '@' in its id."""
    await set_up_station(chat, **LIANXI)
    [added] = await chat.say("admin", "lianxi", "/deputy add @李代表 县")
    assert "李代表" in added.text and "代表" in added.text
    [who] = await chat.say("李代表", "lianxi", "/whoami")
    assert "县（区）人大代表" in who.text


async def test_station_list_names_every_station_with_its_level(chat: ChatDriver) -> None:
    await set_up_station(chat, **LIANXI)
    await chat.say("admin", "dm:admin", "/station add xian 县代表之家 家")
    await chat.say("admin", "dm:admin", "/station add yiliao 医疗卫生专业代表工作站 专业:医疗")
    [listing] = await chat.say("admin", "dm:admin", "/station list")
    assert listing.text.splitlines() == [
        "联络站：", "lianxi  濂溪社区联络站（代表联络站）", "xian  县代表之家（代表之家）",
        "yiliao  医疗卫生专业代表工作站（专业代表工作站·医疗）",
    ]
    [by_liaison] = await chat.say("zhang", "gongzuo", "/stations")
    assert by_liaison.text == listing.text
    [refused] = await chat.say("zhang", "gongzuo", "/station list")
    assert refused.text == "抱歉，您没有权限使用 /station。发送 /help 查看您可用的命令。", "/station is the admins' command"
