"""The outbox dispatcher against a fake transport: retries, retry-after, dead letters, moved chats, once-only keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from handlers import outbox
from handlers.clock import ManualClock
from handlers.transport import ChatMoved, RetryLater, Undeliverable
from storage.db import create_engine, session_factory
from storage.models import Account, ChatBinding, Message, Outbox, OutboxState
from tests.harness import ChatDriver, FakeTransport, rows, set_up_station


async def enqueue(app: App, key: str, chat_id: str = "lianxi", text: str = "hello") -> None:
    async with app.sessions() as session:
        await outbox.to_chat(
            session=session, key=key, purpose="test", platform="fake", chat_id=chat_id, text=text,
            now=app.clock.now(),
        )
        await session.commit()


async def the_row(app: App, key: str) -> Outbox:
    async with app.sessions() as session:
        return (await session.exec(select(Outbox).where(Outbox.key == key))).one()


async def test_same_key_is_sent_once(app: App, transport: FakeTransport) -> None:
    await enqueue(app, "k1", text="first")
    await enqueue(app, "k1", text="second")
    await app.settle()
    await app.settle()
    assert [d.text for d in transport.sent] == ["first"]
    row = await the_row(app, "k1")
    assert row.state == OutboxState.SENT and row.sent_message_id == transport.sent[0].id
    async with app.sessions() as session:
        logged = (await session.exec(select(Message).where(Message.outbox_id == row.id))).one()
    assert logged.direction == "out" and logged.text == "first"


async def test_retry_after_is_honoured(app: App, transport: FakeTransport, clock: ManualClock) -> None:
    transport.fail_next.append(RetryLater("flood", retry_after=30))
    await enqueue(app, "k2")
    await app.settle()
    row = await the_row(app, "k2")
    assert transport.sent == [] and row.state == OutboxState.PENDING
    assert row.attempts == 0, "flood control is the platform's pace, not a failed attempt"
    assert row.next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.set(clock.now() + timedelta(seconds=29))
    await app.settle()
    assert transport.sent == []
    await app.advance_to(clock.now() + timedelta(seconds=1))
    assert [d.text for d in transport.sent] == ["hello"]
    assert (await the_row(app, "k2")).state == OutboxState.SENT


async def test_permanent_failure_is_dead_not_retried(app: App, transport: FakeTransport) -> None:
    transport.fail_next.append(Undeliverable("bot was kicked", code="chat_gone"))
    await enqueue(app, "k3")
    await app.settle()
    await app.advance_to(app.clock.now() + timedelta(days=1))
    row = await the_row(app, "k3")
    assert row.state == OutboxState.DEAD and "chat_gone" in (row.last_error or "")
    # The chat belongs to no station, so no staff chat can hear of it: the admins do, once.
    assert [(d.chat, d.text) for d in transport.sent] == [("dm:admin", "无法把消息送达 lianxi（该聊天已不存在）。原文：hello")]


@pytest.mark.parametrize("staff", ["gongzuo", None])
async def test_a_direct_message_that_cannot_be_delivered_is_reported(
    chat: ChatDriver, app: App, transport: FakeTransport, staff: str | None
) -> None:
    """To the station's staff chat; to the admins when the station has none."""
    await set_up_station(chat, staff=staff, deputies=["li"])
    async with app.sessions() as session:
        li = (await session.exec(select(Account).where(Account.user_id == "li"))).one()
        station_id = (await session.exec(select(ChatBinding))).first().station_id  # type: ignore[union-attr]
        await outbox.to_person(session=session, key="remind", purpose="test", person_id=li.person_id,
                               text="明天上午九点接待日", now=app.clock.now(), station_id=station_id)
        await session.commit()
    transport.sent.clear()
    transport.fail_next.append(Undeliverable("blocked by the user", code="dm_blocked"))
    await app.settle()
    told = "无法把消息送达 li（对方还没有与机器人开始私聊）。原文：明天上午九点接待日"
    assert [(d.chat, d.text) for d in transport.sent] == [(staff or "dm:admin", told)]
    async with app.sessions() as session:
        assert (await session.get(Account, li.id)).dm_blocked  # type: ignore[union-attr]


async def test_gives_up_after_max_attempts(app: App, transport: FakeTransport) -> None:
    app.outbox.max_attempts = 3
    transport.fail_next.extend(RetryLater("down") for _ in range(3))
    await enqueue(app, "k4")
    await app.advance_to(app.clock.now() + timedelta(hours=2))
    row = await the_row(app, "k4")
    assert row.state == OutboxState.DEAD and row.attempts == 3
    assert [(d.chat, d.text) for d in transport.sent] == [("dm:admin", "无法把消息送达 lianxi（多次重试仍未成功）。原文：hello")]


async def test_moved_chat_is_followed(chat: ChatDriver, app: App, transport: FakeTransport) -> None:
    await chat.say("admin", "dm:admin", "/station add lianxi 濂溪 站")
    await chat.say("admin", "old", "/bind lianxi")
    transport.fail_next.append(ChatMoved("upgraded", new_chat_id="new"))
    await enqueue(app, "k5", chat_id="old")
    await app.settle()
    assert [(d.chat, d.text) for d in transport.sent][-1] == ("new", "hello")
    async with app.sessions() as session:
        bindings = [(b.chat_id, b.active) for b in (await session.exec(select(ChatBinding))).all()]
    assert bindings == [("new", True)]


async def test_rows_wait_for_their_due_time(app: App, transport: FakeTransport, clock: ManualClock) -> None:
    async with app.sessions() as session:
        await outbox.to_chat(
            session=session, key="later", purpose="test", platform="fake", chat_id="c", text="later",
            now=clock.now(), due_at=clock.now() + timedelta(hours=3),
        )
        await session.commit()
    await app.settle()
    assert transport.sent == []
    assert await app.next_due() == clock.now() + timedelta(hours=3)
    await app.advance_to(clock.now() + timedelta(hours=4))
    assert [d.text for d in transport.sent] == ["later"]


async def test_rows_for_an_absent_platform_stay_pending(app: App, transport: FakeTransport) -> None:
    async with app.sessions() as session:
        await outbox.to_chat(
            session=session, key="tg", purpose="test", platform="telegram", chat_id="c", text="x",
            now=app.clock.now(),
        )
        await session.commit()
    await app.settle()
    assert (await the_row(app, "tg")).state == OutboxState.PENDING


async def test_flood_control_pauses_the_platform_and_keeps_order(
    app: App, transport: FakeTransport, clock: ManualClock
) -> None:
    transport.fail_next.append(RetryLater("flood", retry_after=10))
    for n in range(3):
        await enqueue(app, f"order{n}", text=f"m{n}")
    await app.settle()
    assert transport.sent == [], "after a 429 nothing else goes to that platform until the pause ends"
    await app.advance_to(clock.now() + timedelta(seconds=10))
    assert [d.text for d in transport.sent] == ["m0", "m1", "m2"]



class HeldTransport(FakeTransport):
    """A transport whose sends from the `hold_from`-th on wait until released; optionally it
    swallows one cancellation the way an HTTP client stack can (the send returns as if nothing
    happened)."""

    def __init__(self, *, hold_from: int = 1, swallow_cancel: bool = False) -> None:
        super().__init__()
        self.calls = 0
        self.hold_from = hold_from
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.swallow_cancel = swallow_cancel

    async def send(self, message):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls >= self.hold_from:
            self.entered.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                if not self.swallow_cancel:
                    raise
                self.swallow_cancel = False
        return await super().send(message)


async def test_a_batch_being_sent_holds_no_write_lock(chat: ChatDriver, app: App) -> None:
    """While the dispatcher waits on the platform, intake must be able to commit at once, even
    when the batch already sent something and reads more (a direct message's account)."""
    await chat.say("li", "dm:li", "/whoami")  # li has an account, so a DM can be addressed
    [li] = [a for a in await rows(app, Account) if a.user_id == "li"]
    held = HeldTransport(hold_from=2)
    app.add_transport(held)
    await enqueue(app, "group first")
    async with app.sessions() as session:
        await outbox.to_person(
            session=session, key="dm second", purpose="test", person_id=li.person_id, text="私信", now=app.clock.now()
        )
        await session.commit()
    dispatcher = asyncio.create_task(app.outbox.drain())
    await asyncio.wait_for(held.entered.wait(), 5)
    # The send stays held until after this write: had the write waited for the dispatcher's
    # transaction, it would fail (SQLite's busy wait ends in an error) or never finish.
    await asyncio.wait_for(enqueue(app, "written meanwhile"), 30)
    assert not dispatcher.done() and not held.release.is_set(), "written while the send was still held"
    held.release.set()
    await dispatcher
    await app.outbox.drain()
    assert [d.text for d in held.sent] == ["hello", "私信", "hello"]


async def test_a_stopped_dispatcher_stops_even_if_a_send_swallowed_the_cancellation(app: App) -> None:
    held = HeldTransport(swallow_cancel=True)
    app.add_transport(held)
    await enqueue(app, "k")
    dispatcher = asyncio.create_task(app.outbox.run_forever(idle_seconds=0.05))
    await asyncio.wait_for(held.entered.wait(), 5)
    dispatcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(dispatcher, 5)
    row = await the_row(app, "k")
    assert row.state == OutboxState.SENT, "what was sent before stopping is recorded, not sent again"


async def test_a_cancellation_arriving_with_a_wake_up_still_stops_the_dispatcher(app: App) -> None:
    """Python 3.11's `asyncio.wait_for` returns normally when the awaited thing finishes as the
    cancellation arrives: a wake-up (rows committed) at the moment of a shutdown's cancel. The
    dispatcher must stop all the same, not drain again (the test harness held the drain lock then:
    the suite hung)."""
    dispatcher = asyncio.create_task(app.outbox.run_forever(idle_seconds=30))
    await asyncio.sleep(0.2)  # idle, waiting to be woken
    async with app.outbox._drain_lock:  # cancelled between drains, as tests/matrix/botrunner.py does
        app.outbox.wake.set()
        dispatcher.cancel()  # handled after the wake-up: wait_for swallows it
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(dispatcher, 5)


async def test_a_stop_lets_the_send_in_hand_finish_and_leaves_the_rest_pending(app: App) -> None:
    """Shutdown (SIGTERM) asks the dispatcher to stop: the message being sent is recorded as sent,
    not cut off to go out again after the restart; the next ones wait for the next process."""
    held = HeldTransport()
    app.add_transport(held)
    await enqueue(app, "first", text="first")
    await enqueue(app, "second", text="second")
    dispatcher = asyncio.create_task(app.outbox.run_forever(idle_seconds=0.05))
    await asyncio.wait_for(held.entered.wait(), 5)
    app.outbox.stop()
    held.release.set()
    await asyncio.wait_for(dispatcher, 5)  # ends by itself, not cancelled
    assert [d.text for d in held.sent] == ["first"]
    assert (await the_row(app, "first")).state == OutboxState.SENT
    second = await the_row(app, "second")
    assert second.state == OutboxState.PENDING and second.attempts == 0
    await app.outbox.drain()  # the next run (here: by hand) sends the rest
    assert [d.text for d in held.sent] == ["first", "second"]


async def test_a_held_chat_waits_in_order_while_other_chats_go(app: App, transport: FakeTransport) -> None:
    """A group at its flood limit keeps its rows pending; everyone else's go meanwhile."""
    for n in (1, 2, 3):
        await enqueue(app, f"busy:{n}", chat_id="busy", text=f"busy {n}")
    await enqueue(app, "quiet:1", chat_id="quiet", text="quiet 1")
    transport.held.add("busy")
    await app.settle()
    assert [d.text for d in transport.sent] == ["quiet 1"]
    assert {(await the_row(app, f"busy:{n}")).state for n in (1, 2, 3)} == {OutboxState.PENDING}
    assert (await the_row(app, "busy:1")).attempts == 0, "being held is no failed attempt"
    transport.held.clear()
    await app.settle()
    assert [d.text for d in transport.sent] == ["quiet 1", "busy 1", "busy 2", "busy 3"]


class HoldingTransport(FakeTransport):
    """Holds a chat after one of its sends and lets it go after another chat's, within one batch."""

    def __init__(self, hold_after: str, release_after: str) -> None:
        super().__init__()
        self.hold_after = hold_after
        self.release_after = release_after

    async def send(self, message):  # type: ignore[no-untyped-def]
        sent = await super().send(message)
        if message.text == self.hold_after:
            self.held.add(message.chat_id)
        if message.text == self.release_after:
            self.held.clear()
        return sent


async def test_a_chat_passed_over_in_a_batch_keeps_its_order(app: App) -> None:
    """Once a chat's row was passed over, its later rows in the batch wait too, even if the chat
    may post again by then: a chat's messages never overtake each other."""
    transport = HoldingTransport(hold_after="busy 1", release_after="quiet 1")
    app.add_transport(transport)
    for key, chat, text in (("b1", "busy", "busy 1"), ("b2", "busy", "busy 2"), ("q1", "quiet", "quiet 1"),
                            ("b3", "busy", "busy 3")):
        await enqueue(app, key, chat_id=chat, text=text)
    assert await app.outbox.drain() == 2
    assert [d.text for d in transport.sent] == ["busy 1", "quiet 1"]
    await app.settle()
    assert [d.text for d in transport.sent if d.chat == "busy"] == ["busy 1", "busy 2", "busy 3"]


async def test_a_held_chat_with_a_long_queue_does_not_starve_the_others(app: App, transport: FakeTransport) -> None:
    """More held rows than a batch takes are left out of the query, not claimed and passed over
    again and again (which would never reach the rows behind them)."""
    from bot.outbox import BATCH

    for n in range(BATCH + 5):
        await enqueue(app, f"busy:{n}", chat_id="busy", text=f"busy {n}")
    await enqueue(app, "quiet", chat_id="quiet", text="quiet")
    transport.held.add("busy")
    await asyncio.wait_for(app.settle(), timeout=10)
    assert [d.text for d in transport.sent] == ["quiet"]


class RecordCheckingTransport(FakeTransport):
    """Looks into the database (through a connection of its own) at the start of every send."""

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self.recorded_at_each_send: list[int] = []

    async def send(self, message):  # type: ignore[no-untyped-def]
        engine = create_engine(self.app.database_url)
        try:
            async with session_factory(engine)() as session:
                sent = (await session.exec(select(Outbox).where(Outbox.state == OutboxState.SENT))).all()
        finally:
            await engine.dispose()
        self.recorded_at_each_send.append(len(sent))
        return await super().send(message)


async def test_each_send_is_recorded_before_the_next_one_leaves(app: App) -> None:
    """So a crash (kill -9) at any moment repeats at most the one message in flight: when send
    k leaves, the k-1 before it are committed as sent, within one batch and across batches."""
    from bot.outbox import BATCH

    checking = RecordCheckingTransport(app)
    app.add_transport(checking)
    for n in range(BATCH + 5):
        await enqueue(app, f"k{n}", chat_id=f"chat{n % 3}", text=f"m{n}")
    assert await app.outbox.drain() == BATCH + 5
    assert checking.recorded_at_each_send == list(range(BATCH + 5))
