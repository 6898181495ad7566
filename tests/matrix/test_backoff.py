"""Synapse's default rate limits (rc_message: 0.2/s, burst 10) against a burst of residents' reports:
the bot is told M_LIMIT_EXCEEDED, waits what `retry_after_ms` says, and loses nothing."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from storage.models import Item, Outbox, OutboxState
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import new_user, register_bot
from tests.matrix.residents import Event
from tests.matrix.test_station_flow import command
from tests.peers.synapse import SynapseServer

REPORTS = 12


async def test_default_rate_limits_back_off_and_lose_nothing(
    synapse_default_limits: SynapseServer, db_url: str
) -> None:
    server = synapse_default_limits
    # Residents are exempt (their own sending is not under test); the bot meets the defaults.
    admin = await new_user(server, "admin", unlimited=True)
    alice = await new_user(server, "alice", unlimited=True)
    user_id, password = register_bot(server)
    bot = BotRunner(
        synapse=server,
        db_url=db_url,
        user_id=user_id,
        password=password,
        admins=frozenset({f"matrix:{admin.user_id}"}),
    )
    try:
        await bot.start()
        room = await admin.create_room(invite=[bot.user_id, alice.user_id])
        await alice.wait_for_invite(room)
        await alice.join(room)
        await admin.wait_for_join(room, bot.user_id)
        await command(admin, room, bot, "!station add lianxi 濂溪社区联络站")
        await command(admin, room, bot, "!bind lianxi")
        await command(admin, room, bot, "!station set lianxi flood 0")  # one resident's burst: every ack alone

        reports = [await alice.say(room, f"#建议 第{n}件事") for n in range(REPORTS)]

        def is_ack(ev: Event) -> bool:
            relates = ev.get("content", {}).get("m.relates_to") or {}
            return ev.get("sender") == bot.user_id and relates.get("m.in_reply_to", {}).get("event_id") in reports

        try:
            await alice.wait_for(is_ack, room, count=REPORTS, within=120, what="an ack per report")
        except AssertionError as missing:
            assert bot.app is not None
            async with bot.app.sessions() as session:
                rows = (await session.exec(select(Outbox))).all()
            states = [(r.key, r.state, r.attempts, r.last_error) for r in rows]
            raise AssertionError(f"{missing}; outbox: {states}") from None
        acks = alice.find(room, is_ack)
        assert len(acks) == REPORTS  # each report answered exactly once, in the end

        assert bot.app is not None
        # The ack is visible to alice a moment before the dispatcher commits "sent": poll briefly.
        for _attempt in range(100):
            async with bot.app.sessions() as session:
                made = list((await session.exec(select(Item).order_by(col(Item.number)))).all())
                rows = list((await session.exec(select(Outbox))).all())
            if all(row.state != OutboxState.PENDING for row in rows):
                break
            await asyncio.sleep(0.1)
        assert [item.text for item in made] == [f"第{n}件事" for n in range(REPORTS)]
        assert [(r.key, r.state) for r in rows if r.state != OutboxState.SENT] == []
        assert bot.transport is not None
        assert bot.transport.rate_limited > 0, "the burst never met Synapse's rate limit: the test proves nothing"
        # retry_after was honoured: the last ack went out seconds after the first, not in a tight loop.
        sent = sorted(row.sent_at for row in rows if row.sent_at is not None)
        assert (sent[-1] - sent[0]).total_seconds() >= 2.0
        # Short waits are taken in order, so the acks arrive in the order of the reports.
        order = [
            ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
            for ev in alice.find(room, lambda ev: ev.get("sender") == bot.user_id)
            if (ev["content"].get("m.relates_to") or {}).get("m.in_reply_to", {}).get("event_id") in reports
        ]
        assert order == reports
        bot.check_alive()
    finally:
        await bot.stop()
        await admin.close()
        await alice.close()
