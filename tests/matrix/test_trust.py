"""The privacy rule and the rating rule in real Matrix rooms (Synapse, matrix-nio residents): the
residents room sees masked text and no item details, answers about one's own items arrive in a
direct room, and a text reply rates only when it is exactly a label."""

from __future__ import annotations

from storage.models import Item, ItemStatus
from tests.matrix.conftest import MakeBot
from tests.matrix.residents import Event, MakeUser, Resident
from tests.matrix.test_station_flow import command, items, reply_to, station_with_rooms

PHONE = "139-1234-5678"
WECHAT = "zhangjg1980"


def body(event: Event) -> str:
    return str(event.get("content", {}).get("body", ""))


async def seeded(user: Resident, room: str, message: Event) -> None:
    """Wait for the three rating reactions under a message, as a resident sees the buttons before answering."""
    await user.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == message["event_id"],
        room, count=3, what="the rating reactions",
    )


async def wait_for_item(bot: object, alice: object, status: str) -> Item:
    for _attempt in range(100):
        [item] = await items(bot)  # type: ignore[arg-type]
        if item.status == status:
            return item
        await alice.sync(timeout_ms=200)  # type: ignore[attr-defined]
    raise AssertionError(f"item never became {status}: {item.status}")


async def test_privacy_and_rating_rules_on_matrix(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    alice, zhang, li = people["alice"], people["zhang"], people["li"]

    report = await alice.say(room, f"#求助 家里水管爆了，电话 {PHONE}，微信号 {WECHAT}")
    await alice.wait_for(reply_to(bot.user_id, report), room, what="the ack")
    await command(zhang, room, bot, f"!assign 1 {li.user_id}")
    await zhang.say(room, "!close 1 已修好，回访电话 139-1234-5678 已打通")
    [feedback] = await alice.wait_for(
        lambda ev: reply_to(bot.user_id, report)(ev) and "已修好" in body(ev), room, what="the feedback"
    )
    for field in ("body", "formatted_body"):
        text = str(feedback["content"].get(field, ""))
        assert PHONE not in text and "13912345678" not in text and WECHAT not in text, (field, text)
    assert "***" in body(feedback)
    await seeded(alice, room, feedback)

    # An unclear reply gets the question and the buttons (reactions), and records nothing.
    unclear = await alice.say(room, "满意？根本没修好", reply_to=feedback["event_id"])
    [question] = await alice.wait_for(reply_to(bot.user_id, unclear), room, what="the rating question")
    assert "是否满意" in body(question)
    await seeded(alice, room, question)
    [item] = await items(bot)
    assert (item.status, item.rating) == (ItemStatus.RESOLVED, None)

    # A label with a comment after a clear separator is a rating.
    meant = await alice.say(room, "不满意，晚上还是很吵", reply_to=feedback["event_id"])
    [thanks] = await alice.wait_for(reply_to(bot.user_id, meant), room, what="the thanks")
    assert "不满意" in body(thanks)
    item = await wait_for_item(bot, alice, ItemStatus.REOPENED)
    assert item.rating == "unsatisfied"

    # One's own items: a pointer in the room, the details in a direct room (encrypted, as the bot's
    # direct rooms are: this resident's client encrypts like Element).
    dora = await matrix_users("dora", encrypted=True)
    await people["admin"].invite(room, dora.user_id)
    await dora.wait_for_invite(room)
    await dora.join(room)
    await dora.sync()
    reported = await dora.say(room, f"#建议 东门路灯坏了，联系我 {PHONE}")
    await dora.wait_for(reply_to(bot.user_id, reported), room, what="dora's ack")
    asked = await dora.say(room, "!my")
    [pointer] = await dora.wait_for(reply_to(bot.user_id, asked), room, what="the pointer")
    assert "已私信回复您" in body(pointer) and "路灯" not in body(pointer) and PHONE not in body(pointer)
    direct = await dora.wait_for_invite(within=30)
    await dora.join(direct)
    [answer] = await dora.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "您提出的事项" in body(ev), direct, within=30,
        what="the private answer",
    )
    assert "#2" in body(answer) and "东门路灯坏了" in body(answer)
    bot.check_alive()
