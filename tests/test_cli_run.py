"""`liaison-bot run` with a platform configured: Telegram (the loopback fake Bot API) instead of the console."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.settings import load_settings
from tests.peers.fake_telegram import FakeTelegram
from tests.transcripts.runner import clean_environment


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(monkeypatch, tmp_path)


async def test_run_serves_telegram_when_configured(db_url: str) -> None:
    async with FakeTelegram() as fake:
        admin = fake.user("Admin", username="ops")
        settings = load_settings(
            database_url=db_url, telegram_token=fake.token, telegram_base_url=fake.base_url,
            admins=[f"telegram:{admin['id']}"], tick_seconds=1,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(cli.serve_all(settings, stop=stop))
        chat = fake.private(admin)
        fake.text(chat, admin, "/whoami")
        [answer, *_rest] = await fake.wait_for(lambda: fake.sent(chat["id"]), within=30)
        assert "您是管理员" in answer["text"]
        assert not running.done(), "the console must not run when Telegram is configured"
        stop.set()
        assert await asyncio.wait_for(running, timeout=60) == 0
