"""The core's intake mechanisms every adapter uses (`bot/intake.py`): runs of plain messages,
backoff and stoppable pauses, and the guard that sets a poisonous event aside instead of
retrying it forever, while a database outage pauses intake and loses nothing."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.intake import Backoff, Outcome, RetryPolicy, StopSignal, incoming_runs, plain_runs
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.set_aside import SetAside
from storage.models import Item, SetAsideEvent
from tests.harness import PLATFORM, ChatDriver, FakeTransport, rows, set_up_station


def message(text: str, message_id: str, *, chat: str = "lianxi", kind: EventKind = EventKind.MESSAGE) -> Incoming:
    return Incoming(
        kind=kind, platform=PLATFORM, chat_id=chat, chat_type=ChatType.GROUP,
        sender=UserRef(PLATFORM, "alice", display_name="alice"), message_id=message_id, text=text,
    )


def test_plain_runs_keep_order_and_put_every_other_event_alone() -> None:
    events = [
        message("#建议 一", "1"), message("#建议 二", "2"), message("/bind lianxi", "3"),
        message("#建议 三", "4"), message("#建议 二改", "2", kind=EventKind.EDIT), message("你好", "5"),
    ]
    segments = incoming_runs(events)
    assert [[e.message_id for e in s.sources] for s in segments] == [["1", "2"], ["3"], ["4"], ["2"], ["5"]]
    assert [s.is_run for s in segments] == [True, False, True, False, True]
    assert plain_runs([]) == []


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(first=0.5, maximum=3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


async def test_a_stop_ends_a_pause_at_once() -> None:
    stop = StopSignal()
    assert await stop.sleep(0.01) is True
    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(stop.sleep(60), 5) is False


async def test_a_poisonous_message_is_set_aside_the_staff_told_once_and_intake_goes_on(
    app: App, chat: ChatDriver, transport: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    await set_up_station(chat)
    app.guard.policy = RetryPolicy(attempts=3, first_delay=0.001)
    real_dispatch = app.router.dispatch
    tries: list[str] = []

    async def buggy(ctx):  # type: ignore[no-untyped-def]
        tries.append(ctx.incoming.text)
        if "毒" in ctx.incoming.text:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        await real_dispatch(ctx)

    monkeypatch.setattr(app.router, "dispatch", buggy)
    poison = message("#建议 毒 9223372036854775808", "m-poison")
    assert await app.guard.handle(poison) is Outcome.SET_ASIDE
    await app.settle()
    assert tries.count(poison.text) == 3
    [kept] = await rows(app, SetAsideEvent)
    assert (kept.platform, kept.chat_id, kept.message_id, kept.sender, kept.text, kept.attempts) == (
        PLATFORM, "lianxi", "m-poison", "fake:alice", poison.text, 3
    )
    assert "OverflowError" in kept.error
    notice = [d for d in transport.sent if d.chat == "gongzuo"][-1]
    assert notice.text == (
        f"有一条消息机器人多次处理失败，已另行保存，没有自动处理（fake 事件 {kept.event_id}，记录 #{kept.id}）。\n"
        "发送人：alice\n原文：#建议 毒 9223372036854775808\n请人工跟进；技术人员可按事件编号查看日志。"
    )
    sorry = [d for d in transport.sent if d.chat == "lianxi"][-1]
    assert sorry.reply_to == "m-poison"
    assert sorry.text == "抱歉，机器人处理这条消息时出错了。消息已保存并转给工作人员人工处理，您不必重发。"
    sent_before = len(transport.sent)

    # delivered again (the platform never heard it was done): set aside again, nobody told twice
    assert await app.guard.handle(poison) is Outcome.SET_ASIDE
    await app.settle()
    assert len(transport.sent) == sent_before and len(await rows(app, SetAsideEvent)) == 1

    # and the next resident's message is handled as usual
    [ack] = await chat.say("bob", "lianxi", "#建议 垃圾桶满了")
    assert ack.text.startswith("已受理，编号 #1。")


async def test_an_outage_pauses_intake_until_the_database_is_back(
    app: App, chat: ChatDriver, transport: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    await set_up_station(chat)
    app.guard.policy = RetryPolicy(attempts=2, first_delay=0.001, max_delay=0.01)
    real_dispatch = app.router.dispatch
    down = {"tries": 0}

    async def database_gone(ctx):  # type: ignore[no-untyped-def]
        if down["tries"] < 6:
            down["tries"] += 1
            raise OperationalError("SELECT …", {}, sqlite3.OperationalError("unable to open database file"))
        await real_dispatch(ctx)

    monkeypatch.setattr(app.router, "dispatch", database_gone)
    assert await app.guard.handle(message("#建议 路灯坏了", "m1")) is Outcome.DONE
    assert down["tries"] == 6, "far past the budget of 2: an outage is no fault of the message"
    assert [item.text for item in await rows(app, Item)] == ["路灯坏了"]
    assert await rows(app, SetAsideEvent) == []


async def test_an_unexpected_error_while_the_database_is_unreachable_counts_as_an_outage(
    app: App, chat: ChatDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OSError alone says nothing; whether the database answers decides."""
    app.guard.policy = RetryPolicy(attempts=1, first_delay=0.001)
    probes = iter([False, False, True])

    async def reachable() -> bool:
        return next(probes)

    monkeypatch.setattr(app, "database_reachable", reachable)
    failures = iter([OSError("connection refused"), OSError("connection refused"), OSError("file name too long")])

    async def work() -> None:
        raise next(failures)

    outcome = await app.guard.run(
        work, describe=lambda: SetAside(platform=PLATFORM, event_id="e1", text="x"), stop=StopSignal()
    )
    assert outcome is Outcome.SET_ASIDE
    [kept] = await rows(app, SetAsideEvent)
    assert "file name too long" in kept.error


async def test_a_stop_during_an_outage_leaves_the_event_unconfirmed(app: App) -> None:
    stop = StopSignal()

    async def work() -> None:
        stop.set()
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

    outcome = await app.guard.run(work, describe=lambda: SetAside(platform=PLATFORM, event_id="e2"), stop=stop)
    assert outcome is Outcome.STOPPED
    assert await rows(app, SetAsideEvent) == []
