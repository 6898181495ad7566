"""A flood from one resident: every message an item, the first few acknowledged one by one, the
rest of the minute in one batched reply; other residents are answered as usual (handlers/flood.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from handlers.clock import ManualClock
from handlers.events import ChatType, EventKind, Incoming, UserRef
from storage.models import Item
from tests.harness import PLATFORM, ChatDriver, FakeTransport, rows

BATCHED = "您刚才连续发来的另外 {count} 条意见建议也都已受理，编号 {numbers}。为免刷屏，合并在此答复；办结后会逐条回复您。"


async def set_up(chat: ChatDriver) -> None:
    await chat.say("admin", "dm:admin", "/station add lianxi 濂溪社区联络站")
    await chat.say("admin", "lianxi", "/bind lianxi")


def acks(transport: FakeTransport) -> list[str]:
    return [d.text for d in transport.sent if d.chat == "lianxi" and ("已受理" in d.text or "也都已受理" in d.text)]


async def test_a_hundred_messages_in_a_minute_are_all_items_and_one_batched_reply(
    app: App, chat: ChatDriver, transport: FakeTransport, clock: ManualClock
) -> None:
    await set_up(chat)
    for n in range(100):
        await chat.say("alice", "lianxi", f"#建议 第{n}件：路灯又坏了")
        if n == 50:
            [other] = await chat.say("bob", "lianxi", "#建议 垃圾桶满了")
            assert other.text.startswith("已受理，编号 #52。"), "another resident is answered at once"
        clock.set(clock.now() + timedelta(seconds=0.5))
    items = await rows(app, Item)
    assert len(items) == 101 and len({item.text for item in items}) == 101, "nothing lost"
    assert [text.split("。")[0] for text in acks(transport)] == [f"已受理，编号 #{n}" for n in range(1, 6)] + [
        "已受理，编号 #52"
    ]
    sent = await chat.advance(clock.now() + timedelta(minutes=1))
    assert [d.text for d in sent] == [BATCHED.format(count=95, numbers="#6–#51、#53–#101")]
    assert sent[0].reply_to is not None

    # the next minute starts afresh: the first five are acknowledged one by one again
    [again] = await chat.say("alice", "lianxi", "#建议 又一件")
    assert again.text.startswith("已受理，编号 #102。")


async def test_a_flood_in_one_batch_of_updates_is_limited_the_same_way(
    app: App, chat: ChatDriver, transport: FakeTransport, clock: ManualClock
) -> None:
    """One getUpdates answer with 30 of one resident's messages: one transaction, the same outcome."""
    await set_up(chat)
    await app.handle_batch([
        Incoming(kind=EventKind.MESSAGE, platform=PLATFORM, chat_id="lianxi", chat_type=ChatType.GROUP,
                 sender=UserRef(PLATFORM, "alice", display_name="alice"), message_id=f"b{n}", text=f"#建议 第{n}件")
        for n in range(30)
    ])
    await app.settle()
    assert len(await rows(app, Item)) == 30
    assert len(acks(transport)) == 5
    sent = await chat.advance(clock.now() + timedelta(minutes=1, seconds=1))
    assert [d.text for d in sent] == [BATCHED.format(count=25, numbers="#6–#30")]


async def test_the_limit_is_a_station_setting(
    app: App, chat: ChatDriver, transport: FakeTransport, clock: ManualClock
) -> None:
    await set_up(chat)
    [answer] = await chat.say("admin", "dm:admin", "/station set lianxi flood 0")
    assert answer.text == "已更新 lianxi 的设置：flood = 0。"
    for n in range(12):
        await chat.say("alice", "lianxi", f"#建议 第{n}件")
    assert len(acks(transport)) == 12, "0: every item acknowledged on its own"
    [refused] = await chat.say("admin", "dm:admin", "/station set lianxi flood 很多")
    assert refused.text.startswith("「很多」不对：每人每分钟逐条答复的条数应为 0 到 100（0 为不限）。")
