"""The station's work in real Matrix rooms: the real handlers, a real Synapse, residents on matrix-nio.

invite → !bind → tagged message → item with a reply → !close → feedback as a reply to the
resident's event → rating by reaction; downtime catch-up; strangers; kicks and room upgrades;
an unbound room; a report that keeps failing, set aside.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from bot.intake import RetryPolicy
from storage.models import ChatBinding, Item, ItemStatus, SetAsideEvent
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import MakeBot
from tests.matrix.residents import Event, MakeUser, Resident


def reply_to(bot_id: str, event_id: str) -> Any:
    """A bot notice that replies to `event_id` (directly or inside a thread)."""

    def match(ev: Event) -> bool:
        relates = ev.get("content", {}).get("m.relates_to") or {}
        return (
            ev.get("sender") == bot_id
            and ev.get("type") == "m.room.message"
            and (relates.get("m.in_reply_to") or {}).get("event_id") == event_id
        )

    return match


async def command(user: Resident, room: str, bot: BotRunner, text: str) -> Event:
    """Say something and return the bot's reply to it."""
    sent = await user.say(room, text)
    [answer] = await user.wait_for(reply_to(bot.user_id, sent), room, what=f"the answer to {text!r}")
    return answer


async def bound_residents_room(admin: Resident, bot: BotRunner, members: list[Resident]) -> str:
    """The admin makes the residents room with the bot and `members`, adds station `lianxi` and binds it."""
    room = await admin.create_room(invite=[bot.user_id, *(member.user_id for member in members)], name="濂溪居民群")
    for member in members:
        await member.wait_for_invite(room)
        await member.join(room)
    await admin.wait_for_join(room, bot.user_id)
    await command(admin, room, bot, "!station add lianxi 濂溪社区联络站")
    bound = await command(admin, room, bot, "!bind lianxi")
    assert bound["content"]["body"].startswith("本群已绑定到「濂溪社区联络站」，用途：居民群。")
    return room


async def items(bot: BotRunner) -> list[Item]:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return list((await session.exec(select(Item).order_by(col(Item.id)))).all())


async def bindings(bot: BotRunner) -> list[ChatBinding]:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return list((await session.exec(select(ChatBinding).order_by(col(ChatBinding.id)))).all())


async def station_with_rooms(
    make_bot: MakeBot, matrix_users: MakeUser, **bot_kwargs: Any
) -> tuple[BotRunner, dict[str, Resident], str]:
    """An admin sets up station `lianxi`: residents room bound, liaison zhang, deputy li, resident alice."""
    admin = await matrix_users("admin")
    zhang, li, alice = [await matrix_users(name) for name in ("zhang", "li", "alice")]
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), **bot_kwargs)
    room = await bound_residents_room(admin, bot, [zhang, li, alice])
    await command(admin, room, bot, "!station set lianxi flood 0")  # bursts here test catch-up, not the flood limit
    await command(admin, room, bot, f"!liaison add {zhang.user_id}")
    await command(admin, room, bot, f"!deputy add {li.user_id}")
    return bot, {"admin": admin, "zhang": zhang, "li": li, "alice": alice}, room


async def test_item_loop_from_tagged_message_to_rating_by_reaction(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    alice, zhang = people["alice"], people["zhang"]
    [binding] = await bindings(bot)
    assert (binding.platform, binding.chat_id, binding.active) == ("matrix", room, True)

    report = await alice.say(room, "#建议 小区东门的路灯坏了")
    [ack] = await alice.wait_for(reply_to(bot.user_id, report), room, what="the item's ack")
    assert ack["content"]["msgtype"] == "m.notice"
    assert "#1" in ack["content"]["body"]
    assert ack["content"]["formatted_body"]
    assert alice.user_id in ack["content"]["m.mentions"]["user_ids"]
    [item] = await items(bot)
    assert (item.number, item.status, item.text) == (1, ItemStatus.NEW, "小区东门的路灯坏了")

    await command(zhang, room, bot, f"!assign 1 {people['li'].user_id}")
    await command(zhang, room, bot, "/progress 1 已报修")
    await zhang.say(room, "!close 1 路灯已更换")
    # The result goes back as a reply to the resident's own message, mentioning her, with buttons.
    feedback_found = await alice.wait_for(
        lambda ev: reply_to(bot.user_id, report)(ev) and "路灯已更换" in ev["content"]["body"],
        room,
        what="the feedback",
    )
    feedback = feedback_found[0]
    assert alice.user_id in feedback["content"]["m.mentions"]["user_ids"]
    seeded = await alice.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == feedback["event_id"],
        room,
        count=3,
        what="rating reactions",
    )
    assert [ev["content"]["m.relates_to"]["key"] for ev in seeded] == ["满意", "基本满意", "不满意"]

    await alice.react(room, feedback["event_id"], "满意")
    for _attempt in range(100):
        [item] = await items(bot)
        if item.status == ItemStatus.CLOSED:
            break
        await alice.sync(timeout_ms=200)
    assert (item.status, item.rating) == (ItemStatus.CLOSED, "satisfied")
    bot.check_alive()


async def test_bot_down_while_residents_post_30_messages_makes_exactly_one_item_per_tag(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users, timeline_limit=8)
    alice, zhang = people["alice"], people["zhang"]
    await bot.stop()
    tagged = []
    for n in range(30):
        if n % 3 == 2:
            await zhang.say(room, f"大家好 {n}")  # chatter, no tag: no item
        else:
            tagged.append(f"路灯 {n} 号坏了")
            await alice.say(room, f"#建议 路灯 {n} 号坏了")
    await bot.start()
    acks = await alice.wait_for(
        lambda ev: (
            ev.get("sender") == bot.user_id
            and "#" in str(ev.get("content", {}).get("body", ""))
            and (ev.get("content", {}).get("m.relates_to") or {}).get("m.in_reply_to") is not None
        ),
        room,
        count=len(tagged),
        within=90,
        what="an ack per tagged message",
    )
    assert len(acks) == len(tagged)
    assert bot.transport is not None and bot.transport.batched_events >= 2, "the backlog went through batches"
    made = await items(bot)
    assert sorted(item.text for item in made) == sorted(tagged)
    assert sorted(item.number for item in made) == list(range(1, len(tagged) + 1))
    # Another restart replays nothing.
    await bot.stop()
    await bot.start()
    await command(alice, room, bot, "#求助 最后一条")
    assert len(await items(bot)) == len(tagged) + 1


async def test_strangers_invite_is_declined_and_a_liaisons_is_accepted(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, _room = await station_with_rooms(make_bot, matrix_users)
    stranger = await matrix_users("stranger")
    theirs = await stranger.create_room(invite=[bot.user_id], name="陌生人的房间")
    await stranger.wait_for(
        lambda ev: (
            ev.get("type") == "m.room.member"
            and ev.get("state_key") == bot.user_id
            and ev["content"].get("membership") == "leave"
        ),
        theirs,
        what="the bot declining the stranger",
    )
    zhang = people["zhang"]
    staff = await zhang.create_room(invite=[bot.user_id], name="工作群")
    await zhang.wait_for_join(staff, bot.user_id)
    [welcome] = await zhang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "/bind" in str(ev.get("content", {}).get("body", "")),
        staff,
        what="the bot's greeting in a room it was brought into",
    )
    assert "站点代码" in welcome["content"]["body"]
    await command(zhang, staff, bot, "!bind lianxi staff")
    assert [(b.chat_id, b.purpose) for b in await bindings(bot)][-1] == (staff, "staff")
    assert theirs not in [b.chat_id for b in await bindings(bot)]


async def test_kick_deactivates_the_binding_and_tells_the_staff_room(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    zhang, admin = people["zhang"], people["admin"]
    staff = await zhang.create_room(invite=[bot.user_id], name="工作群")
    await zhang.wait_for_join(staff, bot.user_id)
    await command(zhang, staff, bot, "!bind lianxi staff")

    kicked = await admin.client.room_kick(room, bot.user_id, reason="test")
    assert not hasattr(kicked, "status_code") or kicked.status_code is None, kicked  # type: ignore[union-attr]
    [notice] = await zhang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "移出" in str(ev.get("content", {}).get("body", "")),
        staff,
        what="the removal notice",
    )
    assert "/bind lianxi" in notice["content"]["body"]
    residents = [b for b in await bindings(bot) if b.chat_id == room]
    assert [b.active for b in residents] == [False]


async def test_room_upgrade_moves_the_binding_to_the_new_room(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    admin, alice = people["admin"], people["alice"]
    caps = bot.synapse.request("GET", "/_matrix/client/v3/capabilities", token=admin.client.access_token)
    version = caps["capabilities"]["m.room_versions"]["default"]  # type: ignore[index]
    path = f"/_matrix/client/v3/rooms/{room}/upgrade"
    new_room = str(
        bot.synapse.request("POST", path, {"new_version": version}, token=admin.client.access_token)["replacement_room"]
    )
    await admin.invite(new_room, alice.user_id)
    await admin.invite(new_room, bot.user_id)
    await alice.wait_for_invite(new_room)
    await alice.join(new_room)
    await alice.wait_for_join(new_room, bot.user_id)
    for _attempt in range(100):
        if [b.chat_id for b in await bindings(bot) if b.active] == [new_room]:
            break
        await alice.sync(timeout_ms=200)
    assert [b.chat_id for b in await bindings(bot) if b.active] == [new_room]
    ack = await command(alice, new_room, bot, "#建议 升级后的房间也能用")
    assert "#1" in ack["content"]["body"]


def said_by(bot: BotRunner) -> Any:
    return lambda ev: ev.get("sender") == bot.user_id and ev.get("type") == "m.room.message"


UNBOUND_FOR_RESIDENTS = (
    "这个群还没有绑定联络站，机器人在这里不办理事项，也不提供查询。反映问题请到本社区的居民群发送「#建议 内容」，或私信机器人。"
)
UNBOUND_FOR_STAFF = "这个群还没有绑定联络站。请先发送 /bind <站点代码>。"


async def test_an_unbound_room_is_answered_once_with_how_to_bind_and_never_with_data(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    """Alice has an item in the station's room. In a room the admin brought the bot into but never
    bound, a stranger's `!my` gets where to go instead, once; Alice's own queries after it get
    nothing, and nothing of her item shows anywhere but the station's room."""
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    admin, alice = people["admin"], people["alice"]
    stranger = await matrix_users("stranger")
    ack = await command(alice, room, bot, "#建议 东门路灯坏了，联系电话13800138000")
    assert ack["content"]["body"].startswith("已受理，编号 #1。")

    chatter = await admin.create_room(invite=[bot.user_id, alice.user_id, stranger.user_id], name="小区闲聊群")
    for member in (alice, stranger):
        await member.wait_for_invite(chatter)
        await member.join(chatter)
    await admin.wait_for_join(chatter, bot.user_id)
    first = await command(stranger, chatter, bot, "!my")
    assert first["content"]["body"] == UNBOUND_FOR_RESIDENTS
    for who, text in ((alice, "!my"), (alice, "!item 1"), (stranger, "!items"), (alice, "#建议 闲聊群里的事")):
        await who.say(chatter, text)
    staff = await command(admin, chatter, bot, "!items")  # answered after everything before it was handled
    assert staff["content"]["body"] == UNBOUND_FOR_STAFF

    said = [ev["content"]["body"] for ev in admin.find(chatter, said_by(bot))]
    assert [body for body in said if not body.startswith("您好！")] == [UNBOUND_FOR_RESIDENTS, UNBOUND_FOR_STAFF]
    await alice.sync()
    elsewhere = [
        ev["content"]["body"] for ev in alice.find(None, said_by(bot)) if ev not in alice.find(room, said_by(bot))
    ]
    assert not [body for body in elsewhere if "路灯" in body or "13800138000" in body]
    assert [item.text for item in await items(bot)] == ["东门路灯坏了，联系电话13800138000"]


async def test_a_message_that_keeps_failing_is_set_aside_and_the_room_goes_on(
    make_bot: MakeBot, matrix_users: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    """A report whose content trips a bug is tried a bounded number of times, set aside (logged
    with its event id, the staff room told once, the resident answered), and the reports after it
    are handled; a restart does not bring it back."""
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    zhang, alice = people["zhang"], people["alice"]
    staff = await zhang.create_room(invite=[bot.user_id], name="工作群")
    await zhang.wait_for_join(staff, bot.user_id)
    await command(zhang, staff, bot, "!bind lianxi staff")
    assert bot.app is not None
    bot.app.guard.policy = RetryPolicy(attempts=3, first_delay=0.01)
    real_dispatch = bot.app.router.dispatch
    tries: list[str] = []

    async def buggy(ctx):  # type: ignore[no-untyped-def]
        tries.append(ctx.incoming.text)
        if "毒" in ctx.incoming.text:
            raise ValueError("a bug this message triggers")
        await real_dispatch(ctx)

    bot.app.router.dispatch = buggy  # type: ignore[method-assign]
    poison = await alice.say(room, "#建议 毒")
    after = await alice.say(room, "#建议 垃圾桶满了")
    [sorry] = await alice.wait_for(reply_to(bot.user_id, poison), room, what="the answer to the set-aside report")
    assert sorry["content"]["body"] == "抱歉，机器人处理这条消息时出错了。消息已保存并转给工作人员人工处理，您不必重发。"
    [ack] = await alice.wait_for(reply_to(bot.user_id, after), room, what="the next report's ack")
    assert ack["content"]["body"].startswith("已受理，编号 #1。")
    assert tries.count("#建议 毒") == 3
    assert f"setting aside matrix event {poison} after 3 failures" in caplog.text
    async with bot.app.sessions() as session:
        [kept] = (await session.exec(select(SetAsideEvent))).all()
    assert (kept.event_id, kept.chat_id, kept.sender, kept.text, kept.attempts) == (
        poison, room, f"matrix:{alice.user_id}", "#建议 毒", 3
    )
    assert "a bug this message triggers" in kept.error

    def told(ev: Event) -> bool:
        return said_by(bot)(ev) and "多次处理失败" in ev["content"]["body"]

    [notice] = await zhang.wait_for(told, staff, what="the staff notice")
    assert f"matrix 事件 {poison}" in notice["content"]["body"] and "原文：#建议 毒" in notice["content"]["body"]

    await bot.stop()
    await bot.start()  # the sync position moved past it: it is not tried again
    later = await command(alice, room, bot, "#建议 楼道灯不亮")
    assert later["content"]["body"].startswith("已受理，编号 #2。")
    await zhang.sync()
    assert len(zhang.find(staff, told)) == 1, "the staff told once"
    assert [item.text for item in await items(bot)] == ["垃圾桶满了", "楼道灯不亮"]
