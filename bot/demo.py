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
from storage.models import ChatPurpose, Outbox, RoleName
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
    "~ +3d",
)
RECEPTION_EXAMPLES = (f"{LIAISON}@{STAFF_CHAT}: /receptions", "li@dm: /leave 1 出差")


def examples(console: Console) -> list[str]:
    """Lines worth trying, including the receptions feature's when it is there."""
    lines = list(EXAMPLES)
    if "reception" in console.app.router.commands:
        commands = console.app.router.commands
        lines[-1:-1] = [line for line in RECEPTION_EXAMPLES if line.split(": /")[1].split()[0] in commands]
    return lines


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
    report = SeedReport()
    actor = _seed_actor(console)
    app = console.app

    async def step(what: str, chat: str, text: str) -> None:
        (report.created if await _command(console, actor, chat, text) else report.failed).append(what)

    async with app.sessions() as session:
        station = await stations_repo.get_station_by_code(session=session, code=STATION)
    if station is None:
        await step(f"station {STATION}", "dm", f"/station add {STATION} {STATION_NAME}")
        async with app.sessions() as session:
            station = await stations_repo.get_station_by_code(session=session, code=STATION)
        if station is None:
            _print_report(console, report)
            return report
    else:
        report.existing.append(f"station {STATION}")
    station_id = id_of(station)

    for chat, purpose in ((RESIDENTS_CHAT, ChatPurpose.RESIDENTS), (STAFF_CHAT, ChatPurpose.STAFF)):
        async with app.sessions() as session:
            binding = await stations_repo.get_binding(session=session, platform=PLATFORM, chat_id=chat)
        what = f"{purpose} chat {chat}"
        if binding is not None and binding.active and binding.station_id == station_id and binding.purpose == purpose:
            report.existing.append(what)
        else:
            await step(what, chat, f"/bind {STATION} {purpose}")

    for user, level in DEPUTIES:
        what = f"deputy {user}"
        if await _has_role(console, user, station_id, RoleName.DEPUTY):
            report.existing.append(what)
        else:
            await step(what, STAFF_CHAT, f"/deputy add {user} {level}")
    what = f"liaison {LIAISON}"
    if await _has_role(console, LIAISON, station_id, RoleName.LIAISON):
        report.existing.append(what)
    else:
        await step(what, STAFF_CHAT, f"/liaison add {LIAISON}")

    if "reception" in app.router.commands:
        async with app.sessions() as session:
            seeded = await kv.get_value(session=session, key=RECEPTION_MARK)
        if seeded:
            report.existing.append(f"reception {seeded}")
        else:
            day = (app.clock.now().astimezone(ZoneInfo(station.timezone)) + timedelta(days=7)).date().isoformat()
            what = f"reception {day} {RECEPTION_TIME}"
            if await _command(
                console, actor, STAFF_CHAT, f"/reception add {day} {RECEPTION_TIME} {RECEPTION_PLACE}"
            ):
                report.created.append(what)
                if "duty" in app.router.commands:  # put the two deputies on duty, so reminders have someone to go to
                    await step("duty roster", STAFF_CHAT, "/duty auto")
                async with app.sessions() as session:
                    await kv.set_value(session=session, key=RECEPTION_MARK, value=f"{day} {RECEPTION_TIME}",
                                       now=app.clock.now())
                    await session.commit()
            else:
                report.failed.append(what)
    _print_report(console, report)
    return report


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
