"""Every command, fuzzed and tried by every role in every kind of chat.

- Hypothesis throws arguments at every command (numbers of every size, Unicode digits, dates,
  mentions, long and odd strings) from every role and chat: no exception ever escapes the core,
  and a refused command changes no row (a dump of every table before and after, the message
  itself and the refusal aside).
- The permission table generates command × role × chat kind: whoever the table does not allow is
  refused and changes nothing (a resident never runs a staff command; a deputy or liaison of
  station B never touches station A); and every command does change something for a role the
  table allows, so the refusals are no accident of bad arguments.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from bot.app import App
from handlers.clock import ManualClock
from handlers.context import CoreConfig
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.features import all_features
from handlers.permissions import PERMISSIONS, Audience
from handlers.router import SETUP_COMMANDS, Router
from storage.models import SetAsideEvent
from tests.conftest import START
from tests.harness import PLATFORM, ChatDriver, FakeTransport, rows

VOLATILE_COLUMNS = {("account", "last_seen_at")}  # touched by every message, refused or not

# Who is who: each role is held in one station only. Station A is `lianxi`, station B `other`.
ROLES = {
    "resident": ("alice", None),
    "deputy A": ("li", "A"),
    "liaison A": ("zhang", "A"),
    "head A": ("wanghead", "A"),
    "deputy B": ("zhao", "B"),
    "liaison B": ("qian", "B"),
    "admin": ("admin", None),
}
CHATS = {  # chat kind -> (chat id, the station it is bound to)
    "residents A": ("lianxi", "A"),
    "staff A": ("gongzuo", "A"),
    "residents B": ("other", "B"),
    "unbound group": ("stranger", None),
    "private": ("dm:{user}", None),
}


async def build_world(chat: ChatDriver) -> None:
    """Two stations, their chats, people in every role; station A's item #1 assigned to li and
    #2 resolved, #3 new, station B's #1 assigned to zhao; in A a reception with li on duty and one without."""
    script = [
        ("admin", "dm:admin", "/station add lianxi 濂溪社区联络站"),
        ("admin", "dm:admin", "/station add other 东门社区联络站"),
        ("admin", "lianxi", "/bind lianxi"),
        ("admin", "gongzuo", "/bind lianxi staff"),
        ("admin", "other", "/bind other"),
        ("admin", "other-staff", "/bind other staff"),
        ("admin", "gongzuo", "/head set wanghead"),
        ("admin", "gongzuo", "/liaison add zhang"),
        ("admin", "gongzuo", "/deputy add li county"),
        ("admin", "other-staff", "/liaison add qian"),
        ("admin", "other-staff", "/deputy add zhao county"),
        ("alice", "lianxi", "#建议 小区东门路灯坏了"),
        ("admin", "gongzuo", "/assign 1 li 5"),
        ("bob", "lianxi", "#建议 楼道堆满杂物"),
        ("admin", "gongzuo", "/assign 2 li 5"),
        ("li", "dm:li", "/close 2 已清理"),
        ("bob", "other", "#建议 垃圾桶满了"),
        ("admin", "other-staff", "/assign 1 zhao 5"),
        ("admin", "gongzuo", "/reception add 2026-12-15 09:00-11:30 社区服务中心"),
        ("admin", "gongzuo", "/duty 2026-12-15 li"),
        ("admin", "gongzuo", "/reception add 2026-12-22 09:00-11:30 社区服务中心"),
        ("alice", "lianxi", "#建议 东门的路灯晚上不亮"),  # A's #3: a duplicate of #1 to /merge
        ("alice", "dm:alice", "/mute 3"),  # ... whose notices alice muted (to /unmute)
    ]
    for user, where, text in script:
        await chat.say(user, where, text)
    for user in ("li", "zhang", "wanghead", "zhao", "qian", "alice", "bob", "stranger-1"):
        await chat.say(user, f"dm:{user}", "/whoami")  # every account exists before the dumps


class ChangeLog:
    """Every row inserted, updated or deleted (and committed), recorded by triggers on every table
    of the test database: what changed, without dumping the tables for every command."""

    def __init__(self, database_url: str) -> None:
        self.connection = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
        self.connection.execute("CREATE TABLE IF NOT EXISTS change_log (tbl TEXT, op TEXT, row_id INTEGER)")
        for table in SQLModel.metadata.sorted_tables:
            watched = ", ".join(c.name for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS)
            for op, row, when in (("insert", "NEW", "INSERT"), ("update", "NEW", f"UPDATE OF {watched}"),
                                  ("delete", "OLD", "DELETE")):
                self.connection.execute(
                    f"CREATE TRIGGER IF NOT EXISTS log_{table.name}_{op} AFTER {when} ON {table.name} "
                    f"BEGIN INSERT INTO change_log VALUES ('{table.name}', '{op}', {row}.rowid); END"
                )
        self.clear()

    def clear(self) -> None:
        self.connection.execute("DELETE FROM change_log")

    def read(self) -> list[tuple[str, str, int]]:
        return [tuple(row) for row in self.connection.execute("SELECT tbl, op, row_id FROM change_log")]

    def is_refusal(self, outbox_id: int, message_id: str) -> bool:
        found = self.connection.execute(
            "SELECT purpose, reply_to FROM outbox WHERE id = ?", (outbox_id,)
        ).fetchone()
        return found is not None and found[0] == "error" and found[1] == message_id

    def close(self) -> None:
        self.connection.close()


def refused_without_a_trace(log: ChangeLog, changes: list[tuple[str, str, int]], message_id: str) -> bool:
    """Only the incoming message was recorded and the refusal queued; nothing else changed."""
    messages = [change for change in changes if change[:2] == ("message", "insert")]
    refusals = [change for change in changes if change[:2] == ("outbox", "insert")]
    if len(messages) > 1 or len(messages) + len(refusals) != len(changes):
        return False
    return bool(refusals) and all(log.is_refusal(row_id, message_id) for _table, _op, row_id in refusals)


async def run_command(
    app: App, log: ChangeLog, user: str, chat_id: str, text: str, message_id: str
) -> tuple[list[tuple[str, str, int]], bool]:
    """Handle one command; (the rows it changed, whether it was refused). What it queued is not
    sent: delivery is the outbox's business, tested elsewhere."""
    log.clear()
    await app.handle(Incoming(
        kind=EventKind.MESSAGE, platform=PLATFORM, chat_id=chat_id,
        chat_type=ChatType.PRIVATE if chat_id.startswith("dm:") else ChatType.GROUP,
        sender=UserRef(PLATFORM, user, display_name=user), message_id=message_id, text=text,
    ))
    changes = log.read()
    refused = any(
        change[:2] == ("outbox", "insert") and log.is_refusal(change[2], message_id) for change in changes
    )
    return changes, refused


# --- hypothesis -----------------------------------------------------------------------------------
MEANINGFUL = [
    "1", "2", "#1", "＃１", "lianxi", "other", "li", "@li", "zhang", "alice", "zhao", "all", "open", "overdue",
    "mine", "add", "remove", "set", "list", "staff", "residents", "county", "全国", "timezone", "name",
    "language", "Asia/Shanghai", "en", "zh_TW", "2026-12-15", "12-15", "12月15日", "今天", "明天",
    "09:00-11:30", "9:00~11:00", "every", "monthly", "15", "每月15日", "weekly", "wed", "cancel", "move", "rules",
    "stop", "R1", "holidays", "skip", "keep", "report", "off", "deputies", "auto", "2026-12", "12月", "2026",
    "+li", "-li", "5", "10天", "路灯坏了", "已修好",
]
HOSTILE = [
    "0", "-1", "9223372036854775808", "9" * 5000, "²", "٣", "１２", "0000-01-01", "9999-12-31", "0000",
    "9999-12", "2026-02-30", "25:61-26:00", "a" * 300, "Asia/" + "x" * 200, "../../etc/passwd", "\u202e",
    "😀", "#", "＃", "@", "R", "R9223372036854775808", "FREQ=SECONDLY", "FREQ=MONTHLY;BYMONTHDAY=99",
    "DTSTART:19000101", "%s", "{name}", "'; DROP TABLE item; --", "\n", "　",
]
TOKENS = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
)
COMMANDS = sorted(PERMISSIONS)
SENDERS = [user for user, _station in ROLES.values()] + ["bob", "stranger-1"]
CHAT_IDS = ["lianxi", "gongzuo", "other", "stranger", "dm:{user}"]


@settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(COMMANDS),
    prefix=st.sampled_from(["/", "!"]),
    args=st.lists(TOKENS, max_size=6),
    sender=st.sampled_from(SENDERS),
    chat_id=st.sampled_from(CHAT_IDS),
)
async def test_fuzzed_commands_never_escape_and_refusals_change_nothing(
    app: App, chat: ChatDriver, command: str, prefix: str, args: list[str], sender: str, chat_id: str
) -> None:
    if not hasattr(app, "fuzz_log"):
        await build_world(chat)
        app.fuzz_log = ChangeLog(app.database_url)  # type: ignore[attr-defined]
        app.fuzz_ids = iter(range(1, 10**9))  # type: ignore[attr-defined]
    log: ChangeLog = app.fuzz_log  # type: ignore[attr-defined]
    where = chat_id.format(user=sender)
    message_id = f"fuzz{next(app.fuzz_ids)}"  # type: ignore[attr-defined]
    text = f"{prefix}{command} {' '.join(args)}".strip()
    changes, refused = await run_command(app, log, sender, where, text, message_id)  # raises if anything escapes
    if refused:
        assert refused_without_a_trace(log, changes, message_id), (text, sender, where, changes)
    assert await rows(app, SetAsideEvent) == []


# --- the permission table -------------------------------------------------------------------------
SAMPLE_ARGS = {  # arguments that make each command do something for a role that may run it
    "start": "", "help": "", "whoami": "", "my": "", "use": "lianxi",
    "station": "add newsite 新建联络站", "stations": "", "bind": "lianxi", "unbind": "", "deputy": "add bob county",
    "deputies": "", "liaison": "add bob", "head": "set bob", "tags": "add 呼声", "language": "en", "items": "all",
    "item": "1", "assign": "1 li 5", "progress": "1 已联系街道", "close": "1 已更换灯泡", "reject": "1 属于个人信访事项",
    "reopen": "2 居民仍不满意", "merge": "3 1", "notify": "on", "mute": "1", "unmute": "3", "stats": "", "publish": "", "reception": "add 2026-12-20 09:00-11:00 社区服务中心",
    "receptions": "", "duty": "2026-12-22 li", "confirm": "", "leave": "2026-12-15 家中有事", "checkin": "",
    "attendance": "", "export": "",
    "unit": "add 水务所", "units": "", "tag": "1 其他", "categories": "add 养老服务", "route": "1 county",
    "visit": "刘大爷 13712345678 小区门口积水",
    "extend": "1 5 需等街道回复", "holidays": "2027",
    "holiday": "add 2027-02-06..2027-02-12 春节", "workday": "add 2027-02-20 春节调休",
}
# They answer without writing rows of their own (or refuse for want of data: /checkin before the
# day, /publish with nothing handled yet).
READ_ONLY = {"start", "help", "whoami", "my", "use", "stations", "deputies", "items", "item", "stats", "receptions",
             "attendance", "checkin", "export", "publish", "units", "holidays"}


def test_sample_arguments_cover_every_command() -> None:
    assert set(SAMPLE_ARGS) == set(PERMISSIONS)


def target_station(command: str, role_station: str | None, chat_station: str | None, private: bool) -> str | None:
    """The station a command acts on: the one it names (/bind CODE), the chat's, or in a private
    chat the one the sender works for."""
    if command == "bind":
        return "A"
    if command in ("mute", "unmute") and private and role_station is None:
        return "A"  # in a DM, /mute finds the sender's own item (alice's are station A's)
    if private:
        return role_station
    return chat_station


def audiences(role: str, station: str | None) -> set[Audience]:
    _user, role_station = ROLES[role]
    found = {Audience.ANYONE}
    if role == "admin":
        found.add(Audience.ADMIN)
    if station is not None and station == role_station:
        found.add({"deputy": Audience.DEPUTY, "liaison": Audience.LIAISON, "head": Audience.HEAD}[role.split()[0]])
    return found


# (command, role) pairs the item relation allows on item #1 of the station the command acts on.
ITEM_RELATIONS = {
    ("item", "resident"): "A",  # alice reported station A's item #1 (and #3)
    ("mute", "resident"): "A", ("unmute", "resident"): "A",
    ("item", "deputy A"): "A", ("progress", "deputy A"): "A", ("close", "deputy A"): "A",  # li: its assignee
    ("item", "deputy B"): "B", ("progress", "deputy B"): "B", ("close", "deputy B"): "B",  # zhao: B's item #1
    ("extend", "deputy A"): "A", ("extend", "deputy B"): "B",  # the assignee asks for more time
}


def permitted(command: str, role: str, chat_kind: str) -> bool:
    """What the table allows: one of the role's audiences in the target station is listed for the
    command, or the role is the reporter or assignee of that station's item #1."""
    _user, role_station = ROLES[role]
    _chat, chat_station = CHATS[chat_kind]
    station = target_station(command, role_station, chat_station, chat_kind == "private")
    if PERMISSIONS[command] & audiences(role, station):
        return True
    return station is not None and ITEM_RELATIONS.get((command, role)) == station


def forbidden_cases() -> Iterator[tuple[str, str, str]]:
    for command in sorted(PERMISSIONS):
        for role in ROLES:
            for chat_kind in CHATS:
                if not permitted(command, role, chat_kind):
                    yield command, role, chat_kind


@pytest.fixture
async def world_db(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the world built once, copied for each use."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copy(template_db, path)
    app = App(database_url=f"sqlite+aiosqlite:///{path}", clock=ManualClock(START),
              config=CoreConfig(admins=frozenset({f"{PLATFORM}:admin"})))
    transport = FakeTransport()
    app.add_transport(transport)
    await build_world(ChatDriver(app, transport))
    await app.close()
    return path


async def fresh_app(world_db: Path, tmp_path: Path, name: str) -> App:
    path = tmp_path / f"{name}.db"
    shutil.copy(world_db, path)
    app = App(database_url=f"sqlite+aiosqlite:///{path}", clock=ManualClock(START),
              config=CoreConfig(admins=frozenset({f"{PLATFORM}:admin"})))
    # numbered past the ids the world's own transport gave its messages
    app.add_transport(FakeTransport(_ids=itertools.count(900_000)))
    return app


async def test_no_role_runs_what_the_permission_table_forbids(world_db: Path, tmp_path: Path) -> None:
    app = await fresh_app(world_db, tmp_path, "forbidden")
    log = ChangeLog(app.database_url)
    escalations = []
    cases = list(forbidden_cases())
    try:
        for n, (command, role, chat_kind) in enumerate(cases):
            user, _station = ROLES[role]
            chat_id = CHATS[chat_kind][0].format(user=user)
            text = f"/{command} {SAMPLE_ARGS[command]}".strip()
            changes, refused = await run_command(app, log, user, chat_id, text, f"perm{n}")
            if refused:
                escalated = not refused_without_a_trace(log, changes, f"perm{n}")
            else:  # not answered: only where residents were already told today how to bind the group
                escalated = chat_kind != "unbound group" or changes != [("message", "insert", changes[0][2])]
            if escalated:
                escalations.append((command, role, chat_kind, changes))
    finally:
        log.close()
        await app.close()
    assert len(cases) > 300
    assert escalations == []


@pytest.mark.parametrize("command", sorted(set(PERMISSIONS) - READ_ONLY))
async def test_every_command_does_something_for_a_role_the_table_allows(
    world_db: Path, tmp_path: Path, command: str
) -> None:
    """So the refusals above are the permission table's, not bad sample arguments'."""
    role, chat_kind = next(
        (role, chat_kind) for role in ("admin", "head A", "liaison A", "deputy A", "resident")
        for chat_kind in ("staff A", "private", "residents A")
        if permitted(command, role, chat_kind)
    )
    app = await fresh_app(world_db, tmp_path, command)
    log = ChangeLog(app.database_url)
    try:
        user, _station = ROLES[role]
        chat_id = CHATS[chat_kind][0].format(user=user)
        text = f"/{command} {SAMPLE_ARGS[command]}".strip()
        changes, refused = await run_command(app, log, user, chat_id, text, "ok1")
    finally:
        log.close()
        await app.close()
    assert not refused, (command, role, chat_kind)
    assert {table for table, _op, _id in changes} - {"message", "outbox"}, (command, role, chat_kind, changes)


async def test_an_unbound_group_is_told_how_to_bind_once_a_day_and_shown_no_data(
    app: App, chat: ChatDriver, transport: FakeTransport, clock: ManualClock
) -> None:
    await build_world(chat)
    private_only = {name for name, command in Router(all_features()).commands.items() if command.scope == "private"}
    queries = sorted(set(PERMISSIONS) - SETUP_COMMANDS - private_only)  # those say "send it privately"
    answers = [await chat.say("alice", "stranger", f"/{name} {SAMPLE_ARGS[name]}".strip()) for name in queries]
    assert [d.text for d in answers[0]] == [
        "这个群还没有绑定联络站，机器人在这里不办理事项，也不提供查询。反映问题请到本社区的居民群发送「#建议 内容」，或私信机器人。"
    ]
    assert [(q, [d.text for d in r]) for q, r in zip(queries[1:], answers[1:], strict=True) if r] == [], "once a day"
    [staff] = await chat.say("zhang", "stranger", "/items")
    assert staff.text == "这个群还没有绑定联络站。请先发送 /bind <站点代码>。"
    [admin] = await chat.say("admin", "stranger", "/my")
    assert admin.text == staff.text, "staff are told every time"
    clock.set(clock.now() + timedelta(days=1))
    [next_day] = await chat.say("alice", "stranger", "/my")
    assert next_day.text.startswith("这个群还没有绑定联络站，机器人在这里不办理事项")
    stranger_texts = "\n".join(d.text for d in transport.sent if d.chat == "stranger")
    assert "路灯" not in stranger_texts and "alice" not in stranger_texts
