"""kill -9 during intake on Matrix: the bot runs as its own process (`liaison-bot run`), is killed
with SIGKILL and started again while residents keep posting tagged messages. Shared by the scaled
test (`test_crash.py`) and the full run in `bench/matrix_bench.py --crash`.

What must hold: every message is one item (none lost, none twice) and every message gets exactly
one ack in the room — an ack sent just before a kill and sent again after the restart carries the
outbox row's transaction id, so Synapse returns the first event instead of posting a second.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.matrix.conftest import new_user, register_bot
from tests.matrix.residents import Event, Resident
from tests.matrix.test_station_flow import reply_to
from tests.peers.bot_process import BotProcess
from tests.peers.synapse import SynapseServer


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
    bot = BotProcess(
        None, db_url, workdir=workdir, admins=f"matrix:{admin.user_id}", matrix_homeserver=server.url,
        matrix_user=user_id, matrix_password=password, matrix_store_path=str(workdir / "matrix-store"),
    )
    people: list[Resident] = [admin, *residents]
    try:
        await bot.start()
        room = await admin.create_room(invite=[user_id, *(r.user_id for r in residents)], name="濂溪居民群")
        for resident in residents:
            await resident.wait_for_invite(room)
            await resident.join(room)
        # the flood limit off: two residents' bursts are acknowledged message by message
        for text in ("!station add lianxi 濂溪社区联络站", "!bind lianxi", "!station set lianxi flood 0"):
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
            await bot.kill()
            await bot.start()
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
        if bot.process is not None:
            await bot.stop()
        for person in people:
            await person.close()
