"""kill -9 during intake on Matrix: the bot runs as its own process (`liaison-bot run`), is killed
with SIGKILL and started again while residents keep posting tagged messages. Shared by the scaled
test (`test_crash.py`) and the full run in `bench/matrix_bench.py --crash`.

What must hold: every message is one item (none lost, none twice) and every message gets exactly
one ack in the room — an ack sent just before a kill and sent again after the restart carries the
outbox row's transaction id, so Synapse returns the first event instead of posting a second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from tests.matrix.conftest import new_user, register_bot
from tests.matrix.residents import Event, Resident
from tests.matrix.test_station_flow import reply_to
from tests.peers.synapse import SynapseServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashFigures:
    messages: int
    kills: int
    items: int
    lost: int  # messages without an item
    duplicated: int  # items beyond one per message
    unacknowledged: int  # messages without an ack in the room
    resent: int  # acks beyond one per message
    seconds: float


class BotProcess:
    """`python -m bot run` on Matrix, as a station would start it; killed with SIGKILL, started again."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._close_log()

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def bot_env(
    server: SynapseServer, db_url: str, user_id: str, password: str, admin_id: str, store: Path
) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIAISON_")}
    env.update(
        LIAISON_DATABASE_URL=db_url,
        LIAISON_MATRIX_HOMESERVER=server.url,
        LIAISON_MATRIX_USER=user_id,
        LIAISON_MATRIX_PASSWORD=password,
        LIAISON_ADMINS=f"matrix:{admin_id}",
        LIAISON_LOG_LEVEL="INFO",
        LIAISON_MATRIX_STORE_PATH=str(store),
    )
    return env


def _pending_outbox(db_url: str) -> int:
    database = make_url(db_url).database
    assert database
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])


def _item_texts(db_url: str) -> list[str]:
    database = make_url(db_url).database
    assert database
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT text FROM item")]


async def crash_run(
    server: SynapseServer, db_url: str, workdir: Path, *, messages: int, kills: int, pace: float = 0.02
) -> CrashFigures:
    """Post `messages` tagged reports from two residents while the bot is killed `kills` times,
    each kill once a share of the acks has come back (so it lands in the middle of intake)."""
    admin = await new_user(server, "admin", unlimited=True)
    residents = [await new_user(server, name, unlimited=True) for name in ("alice", "bob")]
    user_id, password = register_bot(server)
    bot = BotProcess(bot_env(server, db_url, user_id, password, admin.user_id, workdir / "matrix-store"), workdir / "bot.log")
    people: list[Resident] = [admin, *residents]
    try:
        bot.start()
        room = await admin.create_room(invite=[user_id, *(r.user_id for r in residents)], name="濂溪居民群")
        for resident in residents:
            await resident.wait_for_invite(room)
            await resident.join(room)
        for text in ("!station add lianxi 濂溪社区联络站", "!bind lianxi"):
            sent = await admin.say(room, text)
            await admin.wait_for(reply_to(user_id, sent), room, within=60, what=f"the answer to {text}")

        reports: list[str] = []
        report_set: set[str] = set()

        def is_ack(ev: Event) -> bool:
            relates = ev.get("content", {}).get("m.relates_to") or {}
            return ev.get("sender") == user_id and (relates.get("m.in_reply_to") or {}).get("event_id") in report_set

        async def post() -> None:
            for n in range(messages):
                event_id = await residents[n % 2].say(room, f"#建议 第{n}件事")
                reports.append(event_id)
                report_set.add(event_id)
                await asyncio.sleep(pace)

        started = time.perf_counter()
        poster = asyncio.create_task(post())
        for kill in range(kills):
            threshold = (kill + 1) * messages // (kills + 1)
            await admin.wait_for(is_ack, room, count=threshold, within=120, what=f"{threshold} acks before kill {kill}")
            bot.check_alive()
            bot.kill()
            bot.start()
        await poster
        await admin.wait_for(is_ack, room, count=messages, within=300, what="an ack per message")
        seconds = time.perf_counter() - started
        # Nothing left to send (a re-sent ack would go out now), then count what the room holds.
        for _wait in range(600):
            if not _pending_outbox(db_url):
                break
            await asyncio.sleep(0.1)
        await admin.sync()
        bot.check_alive()
        acks = Counter(ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] for ev in admin.find(room, is_ack))
        texts = Counter(_item_texts(db_url))
        wanted = {f"第{n}件事" for n in range(messages)}
        return CrashFigures(
            messages=messages,
            kills=kills,
            items=sum(texts.values()),
            lost=len(wanted - set(texts)),
            duplicated=sum(count - 1 for count in texts.values()),
            unacknowledged=sum(1 for report in reports if not acks[report]),
            resent=sum(count - 1 for count in acks.values()),
            seconds=seconds,
        )
    finally:
        bot.stop()
        for person in people:
            await person.close()
