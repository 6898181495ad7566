"""Batched handling (`App.handle_batch`): the outcome of one event at a time, in far fewer transactions."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event

from bot.app import App
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from handlers.events import EventKind, Incoming
from storage.models import Item, ItemEvent, Message, Outbox
from tests.conftest import START
from tests.harness import PLATFORM, ChatDriver, FakeTransport, rows, set_up_station


async def two_stations(chat: ChatDriver) -> None:
    """lianxi with both chats bound, and hexi (so a DM without /use is refused); zhang a resident."""
    await set_up_station(chat)
    await chat.say("admin", "dm:admin", "/station add hexi 河西社区联络站")
    await chat.say("zhang", "lianxi", "大家好")


def script(chat: ChatDriver) -> list[Incoming]:
    """A busy minute: intake in two groups (one bound mid-way), chatter, a redelivery, an edit,
    a staff chat message and a command, in one getUpdates answer."""

    def say(user: str, chat_id: str, text: str, message_id: str) -> Incoming:
        return chat._incoming(user, chat_id, kind=EventKind.MESSAGE, message_id=message_id, text=text)

    return [
        say("zhang", "lianxi", "#建议 东门路灯坏了", "b1"),
        say("wang", "lianxi", "今天开会吗", "b2"),
        say("wang", "lianxi", "＃求助 楼道堆满杂物", "b3"),
        say("li", "hexi-group", "#建议 还没绑定的群", "b4"),  # unbound group: no item
        say("zhang", "lianxi", "#建议 东门路灯坏了", "b1"),  # redelivered: nothing new
        say("zhang", "lianxi", "#投诉 夜里施工噪音", "b6"),
        say("admin", "hexi-group", "/bind hexi", "b7"),  # a command: runs alone, later messages see it
        say("li", "hexi-group", "#建议 河西菜市场积水", "b8"),
        chat._incoming("wang", "lianxi", kind=EventKind.EDIT, message_id="b3", text="#求助 三楼楼道堆满杂物"),
        say("zhang", "gongzuo", "#建议 工作群里不算", "b9"),
        say("sun", "lianxi", "#建议 小区门口缺少垃圾桶", "b10"),
    ]


async def outcome(app: App) -> dict[str, list[tuple[object, ...]]]:
    """What a station would see, without ids or random transaction ids."""
    return {
        "items": [(i.station_id, i.number, i.tag, i.text, i.status) for i in await rows(app, Item)],
        "events": [(e.kind, e.to_status, e.note) for e in await rows(app, ItemEvent)],
        "messages": [(m.chat_id, m.message_id, m.direction, m.text) for m in await rows(app, Message) if m.direction == "in"],
        "outbox": [(o.key, o.chat_id, o.reply_to, o.text, o.state) for o in await rows(app, Outbox)],
    }


@pytest.fixture
async def twin(template_db: Path, tmp_path: Path, clock: ManualClock) -> AsyncIterator[tuple[App, FakeTransport]]:
    """A second bot on its own copy of the database, at the same moment."""
    target = tmp_path / "twin.db"
    shutil.copy(template_db, target)
    application = App(
        database_url=f"sqlite+aiosqlite:///{target}",
        clock=ManualClock(START),
        config=CoreConfig(admins=frozenset({f"{PLATFORM}:admin"})),
    )
    transport = FakeTransport()
    application.add_transport(transport)
    yield application, transport
    await application.close()


async def test_a_batch_ends_as_one_event_at_a_time(
    app: App, chat: ChatDriver, transport: FakeTransport, twin: tuple[App, FakeTransport]
) -> None:
    twin_app, twin_transport = twin
    twin_chat = ChatDriver(twin_app, twin_transport)
    await two_stations(chat)
    await two_stations(twin_chat)

    for incoming in script(chat):
        await app.handle(incoming)
    await app.settle()
    await twin_app.handle_batch(script(twin_chat))
    await twin_app.settle()

    one_by_one, batched = await outcome(app), await outcome(twin_app)
    assert batched == one_by_one
    assert [d.text for d in twin_transport.sent] == [d.text for d in transport.sent]
    # and the outcome is the right one, not merely the same
    assert [(station, number, text) for station, number, _, text, _ in batched["items"]] == [
        (1, 1, "东门路灯坏了"),
        (1, 2, "三楼楼道堆满杂物"),
        (1, 3, "夜里施工噪音"),
        (2, 1, "河西菜市场积水"),
        (1, 4, "小区门口缺少垃圾桶"),
    ]


async def test_a_refusal_in_a_batch_changes_only_its_own_event(
    app: App, chat: ChatDriver, transport: FakeTransport
) -> None:
    await two_stations(chat)
    # two stations and no /use: the bot asks which station a DM report is for ...
    [question] = await chat.say("zhao", "dm:zhao", "#建议 私聊反映")
    await app.handle_batch(
        [
            chat._incoming("zhang", "lianxi", kind=EventKind.MESSAGE, message_id="r1", text="#建议 东门路灯坏了"),
            # ... and an answer naming no station is refused
            chat._incoming("zhao", "dm:zhao", kind=EventKind.MESSAGE, message_id="r2", text="huayuan",
                           reply_to=question.id),
            chat._incoming("wang", "lianxi", kind=EventKind.MESSAGE, message_id="r3", text="#求助 楼道堆满杂物"),
        ]
    )
    await app.settle()
    assert [i.text for i in await rows(app, Item)] == ["东门路灯坏了", "楼道堆满杂物"]
    refusals = [d for d in transport.sent if d.chat == "dm:zhao" and d.id != question.id]
    assert [d.text for d in refusals] == ["没有代码为「huayuan」的联络站。请回复正确的联络站代码，或点击上面的按钮选择。"]
    stored = [(m.chat_id, m.message_id) for m in await rows(app, Message) if m.direction == "in"]
    assert ("dm:zhao", "r2") in stored, "a refused message is still recorded"


async def test_plain_messages_share_one_transaction(app: App, chat: ChatDriver) -> None:
    await two_stations(chat)
    commits: list[int] = []
    event.listen(app.engine.sync_engine, "commit", lambda _connection: commits.append(1))
    incoming = [
        chat._incoming(f"r{n}", "lianxi", kind=EventKind.MESSAGE, message_id=f"p{n}", text=f"#建议 第{n}件事")
        for n in range(40)
    ]
    await app.handle_batch(incoming)
    assert len(commits) == 1
    assert [item.number for item in await rows(app, Item)] == list(range(1, 41))
    acks = await rows(app, Outbox, Outbox.purpose == "ack")
    assert [(ack.reply_to, ack.item_id) for ack in acks] == [(f"p{n}", n + 1) for n in range(40)]
    assert all(e.item_id for e in await rows(app, ItemEvent))


async def test_a_failing_batch_leaves_nothing_behind(app: App, chat: ChatDriver) -> None:
    """A bug in the middle of a run rolls the whole run back: the adapter then takes its events one
    by one, and those it already committed are recognised as redeliveries."""
    await two_stations(chat)
    before = await outcome(app)
    real_dispatch = app.router.dispatch

    async def broken(ctx):  # type: ignore[no-untyped-def]
        if "坏" in ctx.incoming.text:
            raise RuntimeError("a bug")
        await real_dispatch(ctx)

    app.router.dispatch = broken  # type: ignore[method-assign]
    incoming = [
        chat._incoming("r1", "lianxi", kind=EventKind.MESSAGE, message_id="f1", text="#建议 好事一件"),
        chat._incoming("r2", "lianxi", kind=EventKind.MESSAGE, message_id="f2", text="#建议 路灯坏了"),
    ]
    with pytest.raises(RuntimeError):
        await app.handle_batch(incoming)
    assert await outcome(app) == before
    app.router.dispatch = real_dispatch  # type: ignore[method-assign]
    for one in incoming:
        await app.handle(one)
    await app.handle(incoming[0])  # the adapter's retry of an update it already handled
    assert [i.text for i in await rows(app, Item)] == ["好事一件", "路灯坏了"]
