"""`liaison-bot console --demo`: a demo station a newcomer can try at once.

The seed speaks real commands through the App as the console admin, so it obeys the same rules
as a liaison typing them, and it runs only the steps whose result is missing, so a second
`--demo` on the same database changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.console import PLATFORM, Console, Say
from bot.settings import Settings
from storage import kv
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import ChatPurpose, Outbox, RoleName, Station
from storage.rows import id_of

STATION = "demo"
STATION_NAME = "示范代表联络站"
RESIDENTS_CHAT = "lianxi"
STAFF_CHAT = "gongzuo"
DEPUTIES = (("li", "county"), ("wang", "township"))
LIAISON = "zhang"
RECEPTION_MARK = "console-demo:reception"
RECEPTION_TIME = "09:00-11:30"
RECEPTION_PLACE = "联络站接待室"

EXAMPLES = (
    f"alice@{RESIDENTS_CHAT}: #建议 小区东门的路灯坏了，晚上很黑",
    f"{LIAISON}@{STAFF_CHAT}: /assign 1 li",
    f"{LIAISON}@{STAFF_CHAT}: /help",
    "li@dm: /whoami",
    f"admin@{STAFF_CHAT}: /deputies",
    f"{LIAISON}@{STAFF_CHAT}: /receptions",
    "li@dm: /leave 1 出差",
    "~ +3d",
)


def examples(console: Console) -> list[str]:
    """Lines worth trying on the demo station."""
    return list(EXAMPLES)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class DemoError(Exception):
    """The demo cannot be seeded (no console admin to seed as)."""


def _seed_actor(console: Console) -> str:
    admins = console.app.config.admins
    if f"{PLATFORM}:admin" in admins:
        return "admin"
    for entry in sorted(admins):
        platform, _sep, user = entry.partition(":")
        if platform == PLATFORM:
            return user
    raise DemoError("--demo needs a console admin: add console:admin to LIAISON_ADMINS / 需要一个 console 管理员")


async def _command(console: Console, user: str, chat: str, text: str) -> bool:
    """Say a command; True when the bot did not answer it with an error."""
    chat_id = f"dm:{user}" if chat == "dm" else chat
    number = await console.say(Say(user, chat_id, text))
    async with console.app.sessions() as session:
        result = await session.exec(
            select(Outbox).where(
                col(Outbox.key).startswith(f"reply:{PLATFORM}:{chat_id}:{number}:"), Outbox.purpose == "error"
            )
        )
        return result.first() is None


async def _has_role(console: Console, user: str, station_id: int, role: RoleName) -> bool:
    async with console.app.sessions() as session:
        account = await people_repo.get_account(session=session, platform=PLATFORM, user_id=user)
        if account is None:
            return False
        role_row = await people_repo.get_role(
            session=session, person_id=account.person_id, station_id=station_id, role=role
        )
        return role_row is not None and role_row.active


async def seed_demo(console: Console, settings: Settings) -> SeedReport:
    """Create what is missing of the demo station, then tell the user what exists and what to try."""
    seed = _Seed(console, _seed_actor(console))
    station = await seed.station()
    if station is not None:
        await seed.chats(id_of(station))
        await seed.people(id_of(station))
        await seed.reception(station)
    _print_report(console, seed.report)
    return seed.report


class _Seed:
    """The demo's steps, each skipped when its result already exists, as `actor` typing commands."""

    def __init__(self, console: Console, actor: str) -> None:
        self.console = console
        self.app = console.app
        self.actor = actor
        self.report = SeedReport()

    async def step(self, what: str, chat: str, text: str) -> bool:
        done = await _command(self.console, self.actor, chat, text)
        (self.report.created if done else self.report.failed).append(what)
        return done

    async def station(self) -> Station | None:
        async with self.app.sessions() as session:
            station = await stations_repo.get_station_by_code(session=session, code=STATION)
        if station is not None:
            self.report.existing.append(f"station {STATION}")
            return station
        await self.step(f"station {STATION}", "dm", f"/station add {STATION} {STATION_NAME}")
        async with self.app.sessions() as session:
            return await stations_repo.get_station_by_code(session=session, code=STATION)

    async def chats(self, station_id: int) -> None:
        for chat, purpose in ((RESIDENTS_CHAT, ChatPurpose.RESIDENTS), (STAFF_CHAT, ChatPurpose.STAFF)):
            async with self.app.sessions() as session:
                binding = await stations_repo.get_binding(session=session, platform=PLATFORM, chat_id=chat)
            what = f"{purpose} chat {chat}"
            if binding is not None and binding.active and binding.station_id == station_id and binding.purpose == purpose:
                self.report.existing.append(what)
            else:
                await self.step(what, chat, f"/bind {STATION} {purpose}")

    async def people(self, station_id: int) -> None:
        wanted = [(user, RoleName.DEPUTY, f"/deputy add {user} {level}") for user, level in DEPUTIES]
        wanted.append((LIAISON, RoleName.LIAISON, f"/liaison add {LIAISON}"))
        for user, role, command in wanted:
            what = f"{role} {user}"
            if await _has_role(self.console, user, station_id, role):
                self.report.existing.append(what)
            else:
                await self.step(what, STAFF_CHAT, command)

    async def reception(self, station: Station) -> None:
        """A reception a week ahead with both deputies on duty, so reminders have someone to go to."""
        async with self.app.sessions() as session:
            seeded = await kv.get_value(session=session, key=RECEPTION_MARK)
        if seeded:
            self.report.existing.append(f"reception {seeded}")
            return
        day = (self.app.clock.now().astimezone(ZoneInfo(station.timezone)) + timedelta(days=7)).date().isoformat()
        what = f"reception {day} {RECEPTION_TIME}"
        if not await self.step(what, STAFF_CHAT, f"/reception add {day} {RECEPTION_TIME} {RECEPTION_PLACE}"):
            return
        await self.step("duty roster", STAFF_CHAT, "/duty auto")
        async with self.app.sessions() as session:
            await kv.set_value(session=session, key=RECEPTION_MARK, value=f"{day} {RECEPTION_TIME}",
                               now=self.app.clock.now())
            await session.commit()


def _print_report(console: Console, report: SeedReport) -> None:
    """Plain mode: a short summary on stdout; --json: one JSON object on stderr, so stdout stays bot output."""
    if console.json_mode:
        payload = {"demo": {"station": STATION, "created": report.created, "existing": report.existing,
                            "failed": report.failed, "try": examples(console)}}
        print(json.dumps(payload, ensure_ascii=False), file=console.err, flush=True)
        return
    lines = [f"Demo station `{STATION}` ({STATION_NAME}) / 示范联络站已就绪:"]
    if report.created:
        lines.append("  created / 新建: " + ", ".join(report.created))
    if report.existing:
        lines.append("  already there / 已存在: " + ", ".join(report.existing))
    if report.failed:
        lines.append("  FAILED / 失败: " + ", ".join(report.failed))
    lines.append(f"  residents chat / 居民群: {RESIDENTS_CHAT}   staff chat / 工作群: {STAFF_CHAT}")
    lines.append("  deputies / 代表: " + ", ".join(user for user, _level in DEPUTIES)
                 + f"   liaison / 联络员: {LIAISON}   admin / 管理员: admin")
    lines.append("Try / 试试:")
    lines.extend(f"  {example}" for example in examples(console))
    print("\n".join(lines), file=console.out, flush=True)
