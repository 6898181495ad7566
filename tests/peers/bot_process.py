"""The production bot (`liaison-bot run`) in a process of its own, against the fake Bot API (or,
without one, against whatever its `LIAISON_*` settings name: the Matrix crash test's Synapse).

Started with the settings an operator would give it (`LIAISON_*` in the environment), and
stopped either as an operator does (SIGTERM) or as a crash does (SIGKILL: no commit, no
goodbye, a send possibly in flight). Used by the crash tests and `bench/faults_bench.py`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.peers.fake_telegram import FakeTelegram

START_SECONDS = 60.0
STOP_SECONDS = 30.0


class BotProcess:
    """One `liaison-bot run` at a time on one database; `restart` after a kill is a new process."""

    def __init__(
        self,
        fake: FakeTelegram | None,
        db_url: str,
        *,
        workdir: Path,
        admins: str = "",
        **settings: str,
    ) -> None:
        """`workdir` is the process's working directory (no liaison.toml there) and holds its log."""
        self.fake = fake
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LIAISON_") and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        if fake is not None:
            self.env.update(LIAISON_TELEGRAM_TOKEN=fake.token, LIAISON_TELEGRAM_BASE_URL=fake.base_url)
        self.env.update(
            LIAISON_DATABASE_URL=db_url,
            LIAISON_ADMINS=admins,
            LIAISON_LOG_LEVEL="WARNING",
            **{f"LIAISON_{key.upper()}": value for key, value in settings.items()},
        )
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0

    async def start(self) -> BotProcess:
        """Start the bot and, on the fake Bot API, wait until it polls (its first getUpdates after
        this start); elsewhere the caller waits for what it expects."""
        assert self.process is None, "already running"
        polls_before = len(self.fake.calls_of("getUpdates")) if self.fake is not None else 0
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", cwd=self.workdir, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )
        self.starts += 1
        fake = self.fake
        if fake is not None:
            await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) > polls_before, START_SECONDS)
        return self

    def check_alive(self) -> None:
        """Fail at once, with the end of its log, if the process has exited."""
        if self.process is None or self.process.returncode is not None:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
            raise AssertionError(f"the bot is not running:\n{tail}")

    async def kill(self) -> None:
        """kill -9: the process ends wherever it is."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None
        self.kills += 1

    async def stop(self) -> int:
        """SIGTERM, as an operator stops it; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            status = await self.process.wait()
        self.process = None
        return status

    async def restart(self) -> BotProcess:
        if self.process is not None:
            await self.kill()
        return await self.start()
