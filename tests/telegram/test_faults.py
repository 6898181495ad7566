"""Faults the Bot API really produces, on 10% of the calls: 429 with retry_after, 500, and calls
that time out, before or after Telegram did the work. Nothing a resident sent is lost, every
acknowledgement arrives, and one arrives twice only after a timeout whose send had gone through."""

from __future__ import annotations

from collections import Counter

from sqlmodel import select

from storage.models import Item, Outbox, OutboxState
from tests.fault_scenarios import an_hour_down
from tests.peers.fake_telegram import JSON, FakeTelegram
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner

GROUPS = 4
PER_GROUP = 10  # a group may get 20 bot messages a minute: the acks stay under it
DIRECT = 20
READ_TIMEOUT = 0.4  # the bot's wait for an answer; a hanging call hangs longer


async def test_ten_percent_faults_lose_nothing_and_repeat_only_what_went_through(
    fake_tg: FakeTelegram, db_url: str, world: World
) -> None:
    admins = frozenset({f"telegram:{world.admin['id']}"})
    bot = await TelegramBotRunner(fake_tg, db_url, admins=admins, read_timeout=READ_TIMEOUT).start()
    try:
        assert bot.app is not None
        bot.app.outbox.retry_delays = (0.05, 0.1, 0.2, 0.4)
        groups = [fake_tg.group(f"幸福社区居民{n}群", members=[world.alice, world.bob], admins=[world.admin])
                  for n in range(GROUPS)]
        await bot.reply_to(fake_tg.text(world.admin_dm, world.admin, "/station add lx 幸福社区联络站"))
        for group in groups:
            await bot.reply_to(fake_tg.text(group, world.admin, "/bind lx"))
        residents = [fake_tg.user(f"居民{n}") for n in range(DIRECT)]

        plan = fake_tg.inject_faults(0.10, hang=READ_TIMEOUT * 2, retry_after=1, seed=12)
        posted: list[JSON] = []
        for n in range(PER_GROUP):
            for g, group in enumerate(groups):
                posted.append(fake_tg.text(group, world.alice if n % 2 else world.bob, f"#建议 {g}号群第{n}件事"))
        for n, resident in enumerate(residents):
            posted.append(fake_tg.text(fake_tg.private(resident), resident, f"#求助 私信第{n}件事"))

        for update in posted:
            await bot.reply_to(update, within=120)
        await bot.outbox_idle(within=60)
        fake_tg.stop_faults()

        # nothing lost: one item per message, and every outbox row sent
        async with bot.app.sessions() as session:
            items = (await session.exec(select(Item))).all()
            rows = (await session.exec(select(Outbox))).all()
        assert sorted(item.text for item in items) == sorted(
            u["message"]["text"].removeprefix("#建议 ").removeprefix("#求助 ") for u in posted
        )
        assert {row.state for row in rows} == {OutboxState.SENT}

        # every ack arrived; a second copy only where a send timed out after going through
        def ack_key(message: JSON) -> tuple[int, int]:
            return message["chat"]["id"], message["reply_to_message"]["message_id"]

        acks = Counter(ack_key(m) for m in fake_tg.sent() if m["text"].startswith("已受理"))
        assert set(acks) == {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in posted}
        went_through = Counter(
            (int(fault.call.params["chat_id"]), fault.call.result["reply_to_message"]["message_id"])
            for fault in plan.injected
            if fault.method == "sendMessage" and fault.kind == "timeout-done"
            and fault.call.result["text"].startswith("已受理")
        )
        for key, copies in acks.items():
            assert copies - 1 <= went_through[key], (key, copies, went_through[key])
        kinds = Counter(fault.kind for fault in plan.injected)
        assert set(kinds) == {"429", "500", "timeout-lost", "timeout-done"}, kinds
        calls = len([c for c in fake_tg.calls if c.at >= plan.injected[0].call.at])
        assert 0.05 < len(plan.injected) / calls < 0.2, (len(plan.injected), calls)
    finally:
        await bot.stop()


async def test_an_hour_down_everything_due_goes_out_in_due_order_under_the_limits(
    fake_tg: FakeTelegram, db_url: str
) -> None:
    """The clock moves an hour while the bot is down: the reminders and residents' notices of
    08:00, the summary of a reception that ended at 08:45 and the acks of what residents posted
    meanwhile all go out after the restart, each chat's in due order, within Telegram's limits."""
    report = await an_hour_down(fake_tg, db_url, stations=3, posts_per_group=4)
    assert report.purposes == {
        "reception_remind3": 6, "reception_notice3": 3, "reception_summary": 3, "ack": 12,
    }, report.purposes
    assert report.out_of_order == []
    assert report.most_in_a_group_minute <= 20 and report.most_in_a_second <= 30
