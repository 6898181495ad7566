"""Faults the Bot API really produces, on 10% of the calls: 429 with retry_after, 500, and calls
that time out, before or after Telegram did the work. Nothing a resident sent is lost, every
acknowledgement arrives, and one arrives twice only after a timeout whose send had gone through."""

from __future__ import annotations

from tests.fault_scenarios import an_hour_down, faults_on_a_share_of_calls
from tests.peers.fake_telegram import FakeTelegram


async def test_ten_percent_faults_lose_nothing_and_repeat_only_what_went_through(
    fake_tg: FakeTelegram, db_url: str
) -> None:
    report = await faults_on_a_share_of_calls(fake_tg, db_url, groups=4, per_group=10, direct=20, rate=0.10, seed=12)
    assert report.expected == report.items == 60, "one item per message"
    assert report.lost == 0 and report.unsent_rows == 0
    assert report.unexplained == 0, "a second copy only after a timeout whose send went through"
    assert set(report.faults) == {"429", "500", "timeout-lost", "timeout-done"}, report.faults
    assert 0.05 < sum(report.faults.values()) / report.calls < 0.2, (report.faults, report.calls)


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
