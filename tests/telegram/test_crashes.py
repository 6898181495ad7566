"""kill -9, scaled down: the production bot (`liaison-bot run`) in its own process, against the
fake Bot API, killed while residents post and while a reminder wave goes out, restarted at once.
Full-size runs: `python -m bench.faults_bench` (figures in the README)."""

from __future__ import annotations

from pathlib import Path

from tests.fault_scenarios import intake_under_kills, reminder_wave_under_kills
from tests.peers.fake_telegram import FakeTelegram


async def test_kill_9_during_intake_loses_nothing_and_repeats_at_most_one_ack_per_kill(
    fake_tg: FakeTelegram, db_url: str, tmp_path: Path
) -> None:
    report = await intake_under_kills(fake_tg, db_url, tmp_path, groups=3, per_group=12, kills=3)
    assert report.kills == 3
    assert report.items == report.distinct_items == report.expected == 36, "one item per message, none twice"
    assert report.delivered == report.expected, "every message acknowledged"
    assert report.pending_rows == 0
    assert all(repeats <= 1 for repeats in report.repeats_per_kill), report.repeats_per_kill
    assert report.repeated == sum(report.repeats_per_kill)


async def test_kill_9_during_a_reminder_wave_misses_none_and_repeats_at_most_one_per_kill(
    fake_tg: FakeTelegram, db_url: str, tmp_path: Path
) -> None:
    report = await reminder_wave_under_kills(fake_tg, db_url, tmp_path, stations=20, per_station=3, kills=2)
    assert report.kills == 2
    assert report.expected == report.items == 120
    assert report.delivered == report.expected, "no reminder missed"
    assert report.pending_rows == 0
    assert all(repeats <= 1 for repeats in report.repeats_per_kill), report.repeats_per_kill
