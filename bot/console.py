"""The console transport: the bot in a terminal, and the scripted test contract (README: The console).

Every message in a console chat, incoming or outgoing, gets a chat-local number so a script can
reply to it (`bob@lianxi^12: …`) and press its buttons (`bob@lianxi!press 15 满意`). Numbers
continue across restarts on one database: the next number of a chat is computed from the message
log at start, then counted in memory.

Bot output goes to `out`, one message per line (plain text, or one JSON object with `--json`).
Console diagnostics (a malformed line, an unknown message to press, a failed handler) go to `err`
and never stop a script: plain text, or with `--json` a JSON object with an `"error"` key, so both
streams stay machine-readable. The exit status is 1 when any line of a script failed, else 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App
from handlers.clock import ManualClock, MovableClock, SystemClock
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.i18n import _, translator
from handlers.transport import Attachment, Outgoing, RetryLater, Sent
from storage import kv
from storage import messages as messages_repo
from storage.db import create_engine, session_factory
from storage.models import Message

log = logging.getLogger(__name__)

PLATFORM = "console"
DM_PREFIX = "dm:"
EXPORTS_DIR = Path("exports")  # where files the bot sends (ledgers, charts) are written, under the working directory

_NAME = r"[\w.\-]+"
SAY_RE = re.compile(rf"^(?P<user>{_NAME})@(?P<chat>{_NAME}(?::{_NAME})?)(?:\^(?P<reply>\d+))?:(?P<text>.*)$", re.S)
PRESS_RE = re.compile(rf"^(?P<user>{_NAME})@(?P<chat>{_NAME}(?::{_NAME})?)!press(?:\s+(?P<id>\S+))?(?:\s+(?P<label>.+))?$")
AS_RE = re.compile(rf"^/as\s+(?P<user>{_NAME})(?:@(?P<chat>{_NAME}(?::{_NAME})?))?\s*$")
OFFSET_RE = re.compile(r"^\+\s*((?:\d+\s*[wdhms]\s*)+)$")
OFFSET_PART_RE = re.compile(r"(\d+)\s*([wdhms])")
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class LineError(Exception):
    """A console line the console could not act on; the text says what was expected."""


# --- parsed lines -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Say:
    user: str
    chat: str  # "lianxi" or "dm:alice"
    text: str
    reply_to: int | None = None


@dataclass(frozen=True)
class Press:
    user: str
    chat: str
    message_id: int
    label: str


@dataclass(frozen=True)
class SetClock:
    moment: datetime


@dataclass(frozen=True)
class AdvanceClock:
    delta: timedelta


@dataclass(frozen=True)
class SwitchSpeaker:
    user: str
    chat: str | None


Action = Say | Press | SetClock | AdvanceClock | SwitchSpeaker | None


def chat_for(user: str, chat: str) -> str:
    """`dm` (or `dm:<self>`) is the sender's private chat with the bot, stored as `dm:<user>`."""
    if chat == "dm":
        return DM_PREFIX + user
    if chat.startswith(DM_PREFIX):
        if chat[len(DM_PREFIX):] != user:
            raise LineError(
                f"{user} cannot write in {chat}: a DM is between the bot and one user; write {user}@dm "
                f"/ 私聊只属于一个用户，请写 {user}@dm"
            )
        return chat
    if ":" in chat:
        raise LineError(f"bad chat name {chat!r}: use a group name like lianxi, or dm / 群名不对")
    return chat


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """`2026-12-01 09:00`, `2026-12-01`, or ISO 8601 with an offset; no offset means `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LineError(
            f"bad time {text.strip()!r}: expected e.g. `~ 2026-12-01 09:00`, `~ +3d`, `~ +2h`, `~ +30m` "
            "/ 时间格式不对"
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def parse_line(line: str, *, zone: ZoneInfo, speaker: str | None = None, default_chat: str = "dm") -> Action:
    """One input line to an action; None for blanks and comments; LineError when malformed."""
    stripped = line.strip()
    if not stripped or stripped == "#" or stripped.startswith(("# ", "#\t")):
        return None  # a comment; `#建议 …` (no space) is a message from the current speaker
    if stripped.startswith("~"):
        rest = stripped[1:].strip()
        offset = OFFSET_RE.match(rest)
        if offset:
            delta = timedelta()
            for amount, unit in OFFSET_PART_RE.findall(offset.group(1)):
                delta += timedelta(**{UNITS[unit]: int(amount)})
            return AdvanceClock(delta)
        if not rest:
            raise LineError("`~` needs a time: `~ 2026-12-01 09:00` or `~ +3d` / `~` 后面要写时间")
        return SetClock(parse_moment(rest, zone))
    switch = AS_RE.match(stripped)
    if switch:
        return SwitchSpeaker(switch.group("user"), switch.group("chat"))
    if stripped.startswith("/as"):
        raise LineError("usage: /as NAME[@CHAT] / 用法：/as 用户名[@群名]")
    press = PRESS_RE.match(stripped)
    if press:
        user = press.group("user")
        message_id, label = press.group("id"), (press.group("label") or "").strip()
        if message_id is None or not message_id.isdigit() or not label:
            raise LineError(
                f"usage: {user}@CHAT!press MESSAGE_ID LABEL, e.g. {user}@lianxi!press 15 满意 "
                "/ 用法：用户@群!press 消息编号 按钮文字"
            )
        return Press(user, chat_for(user, press.group("chat")), int(message_id), label)
    say = SAY_RE.match(stripped)
    if say:
        user = say.group("user")
        text = say.group("text").strip()
        if not text:
            raise LineError(f"empty message after {user}@{say.group('chat')}: / 消息内容为空")
        reply = say.group("reply")
        return Say(user, chat_for(user, say.group("chat")), text, int(reply) if reply else None)
    if speaker is not None:
        return Say(speaker, chat_for(speaker, default_chat), stripped)
    if stripped.startswith(("#", "＃")):
        raise LineError(
            "a line starting with # and no space is a message, but no speaker is set: write `user@chat: #建议 …`, "
            "switch with `/as user@chat`, or make it a comment with `# ` / 以 # 开头且不带空格的行是一条消息，"
            "请写成 用户@群: #建议 …，或用 /as 指定说话人；注释请写成「# 」开头"
        )
    raise LineError(
        "expected `user@chat: text`, `user@dm: text`, `user@chat^ID: text`, `user@chat!press ID LABEL`, "
        "`~ TIME`, `~ +3d` or `# comment` / 无法识别这一行，格式应为 用户@群: 内容"
    )


# --- output -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """One message as the console shows it; `sender` is None for the bot."""

    id: int
    chat: str
    text: str
    reply_to: int | str | None = None
    buttons: list[str] = field(default_factory=list)
    sender: str | None = None
    file: str | None = None  # where a file the bot sent was written (a ledger, a chart)

    def to_json(self) -> str:
        shown: dict[str, object] = {
            "id": self.id, "chat": self.chat, "reply_to": self.reply_to, "text": self.text, "buttons": self.buttons,
        }
        if self.file is not None:
            shown["file"] = self.file
        return json.dumps(shown, ensure_ascii=False)

    def to_plain(self) -> str:
        """`[15] lianxi ↩12 | text  [满意] [不满意]`; an incoming line shows `<alice>`; more lines indented."""
        head = f"[{self.id}] {self.chat}"
        if self.reply_to is not None:
            head += f" ↩{self.reply_to}"
        head += f" <{self.sender}>" if self.sender else " |"
        first, *more = self.text.split("\n") or [""]
        line = f"{head} {first}"
        pad = " " * (len(head) + 1)
        lines = [line, *(pad + rest for rest in more)]
        if self.buttons:
            lines[-1] += "  " + " ".join(f"[{label}]" for label in self.buttons)
        if self.file is not None:
            lines.append(f"{pad}📎 {self.file}")
        return "\n".join(lines)


def _reply_ref(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


class ConsoleTransport:
    """Implements `Transport` by printing; numbers every message per chat, continuing across restarts."""

    platform = PLATFORM

    def __init__(self, emit: Callable[[Shown], None], exports: Path = EXPORTS_DIR) -> None:
        self.emit = emit
        self.exports = exports
        self._next: dict[str, int] = {}
        self._answers: list[Shown] = []

    async def load_ids(self, app: App) -> None:
        """The next number of each chat: one more than the highest number in the message log."""
        async with app.sessions() as session:
            result = await session.exec(
                select(Message.chat_id, Message.message_id).where(Message.platform == PLATFORM)
            )
            for chat, message_id in result.all():
                if message_id.isdigit():
                    self._next[chat] = max(self._next.get(chat, 1), int(message_id) + 1)

    def next_id(self, chat: str) -> int:
        number = self._next.get(chat, 1)
        self._next[chat] = number + 1
        return number

    async def send(self, message: Outgoing) -> Sent:
        chat = message.chat_id if message.chat_id is not None else DM_PREFIX + str(message.dm_user_id)
        written = await asyncio.to_thread(self._write, message.attachment) if message.attachment else None
        number = self.next_id(chat)
        self.emit(Shown(number, chat, message.text, _reply_ref(message.reply_to), [b.label for b in message.buttons],
                        file=written))
        return Sent(message_id=str(number), chat_id=chat)

    def _write(self, attachment: Attachment) -> str:
        """A file the bot sends lands under ./exports/ (never overwriting an earlier one); its path is shown."""
        self.exports.mkdir(parents=True, exist_ok=True)
        stem, suffix = Path(attachment.filename).stem, Path(attachment.filename).suffix
        target = self.exports / attachment.filename
        for copy in itertools.count(2):
            try:
                with target.open("xb") as out:
                    out.write(attachment.data)
                return str(target)
            except FileExistsError:
                target = self.exports / f"{stem}-{copy}{suffix}"
        raise AssertionError("unreachable")

    def held_chats(self) -> frozenset[str]:
        return frozenset()  # the console has no flood limits

    def is_held(self, chat_id: str) -> bool:
        return False

    def bot_names(self) -> frozenset[str]:
        return frozenset()  # `/cmd@anyname` on the console is this bot

    def dm_invite_links(self) -> None:
        return None

    async def answer_press(self, chat_id: str, press_id: str | None, text: str) -> None:
        """A private answer to a press shows in the presser's DM (`press_id` is the presser's name)."""
        chat = DM_PREFIX + (press_id or "unknown")
        shown = Shown(self.next_id(chat), chat, text)
        self._answers.append(shown)
        with contextlib.suppress(RetryLater):  # an answer is ephemeral: a closed output must not undo the press
            self.emit(shown)

    async def record_answers(self, app: App) -> None:
        """Log press answers after the press's own transaction, so their numbers survive a restart."""
        if not self._answers:
            return
        answers, self._answers = self._answers, []
        async with app.sessions() as session:
            for shown in answers:
                await messages_repo.record_outgoing(
                    session=session, platform=PLATFORM, chat_id=shown.chat, message_id=str(shown.id),
                    text=shown.text, reply_to=None, buttons=[], item_id=None, outbox_id=None,
                    now=app.clock.now(),
                )
            await session.commit()


# --- the read-act-deliver loop -------------------------------------------------------------------
class Console:
    """Reads lines, turns them into events for the App, and delivers everything due after each one."""

    def __init__(
        self,
        app: App,
        *,
        zone: ZoneInfo,
        out: TextIO,
        err: TextIO,
        json_mode: bool = False,
        follow_real_time: bool = False,
        echo_input: bool = True,
    ) -> None:
        self.app = app
        self.zone = zone
        self.out = out
        self.err = err
        self.json_mode = json_mode
        self.follow_real_time = follow_real_time
        self.echo_input = echo_input and not json_mode
        self.transport = ConsoleTransport(self.show)
        self.speaker: str | None = None
        self.default_chat = "dm"
        self.failures = 0
        self.closed = False  # the reader of our output went away: stop reading input
        self.announce_clock = False  # set for a person typing
        app.add_transport(self.transport)

    # output
    def show(self, shown: Shown) -> None:
        """Print one message; a closed output (`| head`) is a temporary failure, so the row stays pending."""
        if self.closed:
            raise RetryLater("console output is closed")
        try:
            print(shown.to_json() if self.json_mode else shown.to_plain(), file=self.out, flush=True)
        except BrokenPipeError:
            self.closed = True
            raise RetryLater("console output is closed") from None

    def error(self, message: str, *, lineno: int | None = None, line: str | None = None) -> None:
        self.failures += 1
        if self.json_mode:
            payload = {"error": message, "line": lineno, "input": line}
            print(json.dumps(payload, ensure_ascii=False), file=self.err, flush=True)
        else:
            where = f"line {lineno}: " if lineno is not None else ""
            print(f"console: {where}{message}", file=self.err, flush=True)

    # lifecycle
    async def start(self) -> None:
        await self.transport.load_ids(self.app)
        await self.deliver()

    async def deliver(self) -> None:
        await self.transport.record_answers(self.app)
        await self.app.settle()

    async def run_lines(self, lines: Iterable[str] | AsyncIterable[str]) -> None:
        """Run a script's lines in order (a list, or an async stream such as stdin)."""
        lineno = 0
        if isinstance(lines, AsyncIterable):
            async for line in lines:
                lineno += 1
                if self.closed:
                    return
                await self.run_line(line.rstrip("\n"), lineno=lineno)
            return
        for line in lines:
            lineno += 1
            if self.closed:
                return
            await self.run_line(line.rstrip("\n"), lineno=lineno)

    async def run_line(self, line: str, *, lineno: int | None = None) -> None:
        """Act on one line; every problem becomes a console error and the next line still runs."""
        try:
            if self.follow_real_time:
                await self._catch_up()
            action = parse_line(line, zone=self.zone, speaker=self.speaker, default_chat=self.default_chat)
            await self.act(action)
        except LineError as problem:
            self.error(str(problem), lineno=lineno, line=line)
        except Exception as unexpected:  # a handler bug must not end a script; say so loudly
            log.exception("console line %s failed", lineno)
            self.error(f"internal error: {type(unexpected).__name__}: {unexpected}", lineno=lineno, line=line)

    async def _catch_up(self) -> None:
        clock = self.app.clock
        real_now = SystemClock().now()
        if isinstance(clock, ManualClock) and real_now > clock.now():
            await self.app.advance_to(real_now)

    async def act(self, action: Action) -> None:
        if action is None:
            return
        if isinstance(action, SwitchSpeaker):
            self.speaker = action.user
            if action.chat is not None:
                self.default_chat = chat_for(action.user, action.chat)
            elif self.default_chat.startswith(DM_PREFIX):
                self.default_chat = "dm"
            return
        if isinstance(action, SetClock | AdvanceClock):
            await self._move_clock(action)
            return
        if isinstance(action, Say):
            self.default_chat = "dm" if action.chat.startswith(DM_PREFIX) else action.chat
            await self.say(action)
            return
        await self.press(action)

    async def _move_clock(self, action: SetClock | AdvanceClock) -> None:
        clock = self.app.clock
        if not isinstance(clock, MovableClock):
            raise LineError("the clock can only be moved on the console / 只有控制台能调整时钟")
        now = clock.now()
        target = action.moment if isinstance(action, SetClock) else now + action.delta
        if target < now:
            shown = now.astimezone(self.zone).isoformat(timespec="minutes")
            raise LineError(f"the clock cannot go back: it is already {shown} / 时钟不能倒退，现在已是 {shown}")
        await self.app.advance_to(target)
        await self.deliver()
        await self.remember_clock()
        if self.announce_clock:  # someone typing sees where the clock is now; a script's output stays the bot's
            shown = self.app.clock.now().astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
            print(f"(now {shown} / 现在是 {shown})", file=self.err if self.json_mode else self.out, flush=True)

    async def remember_clock(self) -> None:
        """Keep the console's time in the database, so a later run can tell it would jump."""
        try:
            await save_console_clock(self.app, self.app.clock.now())
        except Exception:  # never hide why a run ended; the next run only loses its warning
            log.warning("could not record the console's clock in the database", exc_info=True)

    def _incoming(self, kind: EventKind, user: str, chat: str, **fields: object) -> Incoming:
        private = chat.startswith(DM_PREFIX)
        return Incoming(
            kind=kind,
            platform=PLATFORM,
            chat_id=chat,
            chat_type=ChatType.PRIVATE if private else ChatType.GROUP,
            sender=UserRef(PLATFORM, user, display_name=user),
            chat_title=None if private else chat,
            timestamp=self.app.clock.now(),
            **fields,  # type: ignore[arg-type]
        )

    async def _existing(self, chat: str, number: int) -> Message | None:
        async with self.app.sessions() as session:
            return await messages_repo.get_message(
                session=session, platform=PLATFORM, chat_id=chat, message_id=str(number)
            )

    async def say(self, action: Say) -> int:
        """Post a message as a user; returns its chat-local number."""
        if action.reply_to is not None and await self._existing(action.chat, action.reply_to) is None:
            raise LineError(f"there is no message {action.reply_to} in {action.chat} to reply to / {action.chat} 中没有第 {action.reply_to} 条消息")
        number = self.transport.next_id(action.chat)
        reply_to = str(action.reply_to) if action.reply_to is not None else None
        if self.echo_input:
            self.show(Shown(number, action.chat, action.text, action.reply_to, sender=action.user))
        incoming = self._incoming(
            EventKind.MESSAGE, action.user, action.chat, message_id=str(number), text=action.text, reply_to=reply_to
        )
        await self.app.guard.handle(incoming)
        await self.deliver()
        return number

    async def press(self, action: Press) -> None:
        message = await self._existing(action.chat, action.message_id)
        if message is None:
            raise LineError(f"there is no message {action.message_id} in {action.chat} / {action.chat} 中没有第 {action.message_id} 条消息")
        labels = [button.get("label", "") for button in message.buttons]
        if action.label not in labels:
            offered = " ".join(f"[{label}]" for label in labels) if labels else "no buttons / 没有按钮"
            raise LineError(
                f"message {action.message_id} in {action.chat} has no button {action.label!r}; it has {offered} "
                f"/ 第 {action.message_id} 条消息没有「{action.label}」按钮"
            )
        data = await self.app.button_data_for(
            platform=PLATFORM, chat_id=action.chat, message_id=str(action.message_id), label=action.label
        )
        incoming = self._incoming(
            EventKind.BUTTON, action.user, action.chat, message_id=str(action.message_id), button_data=data,
            button_label=action.label, press_id=action.user,
        )
        await self.app.guard.handle(incoming)
        await self.deliver()


# --- reading input -------------------------------------------------------------------------------
async def read_in_thread(read: Callable[[], str]) -> str:
    """Call a blocking reader (input(), stdin.readline) on a daemon thread.

    A daemon thread, not the loop's executor: a read still pending on SIGTERM must not delay exit.
    One read per call, so an interactive prompt appears only after the previous line's output.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def work() -> None:
        try:
            line = read()
        except BaseException as error:  # EOFError, KeyboardInterrupt, a closed stream
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, line, None)

    threading.Thread(target=work, name="console-input", daemon=True).start()
    return await future


async def threaded_lines(read: Callable[[], str]) -> AsyncIterator[str]:
    """Lines from a blocking reader until end of input ("" from readline, or EOFError from input())."""
    while True:
        try:
            line = await read_in_thread(read)
        except (EOFError, OSError, ValueError):
            return
        if not line:
            return
        yield line.rstrip("\n")


def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    stream = stream or sys.stdin
    return threaded_lines(stream.readline)


GREETING = _(
    "欢迎使用人大代表联络站机器人的控制台。\n"
    "每行代表某人在某个聊天里说的一句话：\n"
    "  alice@lianxi: #建议 路灯坏了      alice 在群 lianxi 发言\n"
    "  alice@dm: /my                      alice 私聊机器人\n"
    "  bob@lianxi^12: 满意               bob 回复 lianxi 的第 12 条消息\n"
    "  bob@lianxi!press 15 满意           bob 点击第 15 条消息下的「满意」按钮\n"
    "  ~ 2026-12-01 09:00  /  ~ +3d      调整时钟，到期的提醒会依次发出\n"
    "  /as li@lianxi                      以后不带前缀的行都算 li 在 lianxi 说的\n"
    "现在您是 {user}，在私聊中。发送 /help 查看命令，按 Ctrl-D 或输入 /quit 退出。"
)


async def read_interactive(
    console: Console, *, language: str, prompt_user: str = "admin", note: str | None = None
) -> None:
    """Greet, then read typed lines until end of input; readline gives history and editing when present."""
    try:
        import readline  # noqa: F401  (imported for its side effect on input())
    except ImportError:  # pragma: no cover - platforms without readline
        pass
    console.speaker = console.speaker or prompt_user
    console.announce_clock = True
    # With --json, stdout carries only bot messages; the greeting goes to the terminal on stderr.
    greeting_to = console.err if console.json_mode else console.out
    print(translator(language)(GREETING, user=console.speaker), file=greeting_to, flush=True)
    if note:
        print(note, file=greeting_to, flush=True)

    def prompt_and_read() -> str:
        return input(f"{console.speaker}@{console.default_chat}> ") + "\n"

    async for line in threaded_lines(prompt_and_read):
        if line.strip() in ("/quit", "/exit"):
            break
        await console.run_line(line)
    print(file=console.out, flush=True)


CONSOLE_CLOCK_KEY = "console-clock"
CLOCK_DRIFT_LIMIT = timedelta(days=1)


async def load_console_clock(database_url: str) -> datetime | None:
    """Where the console's clock was when a run on this database last stopped."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            value = await kv.get_value(session=session, key=CONSOLE_CLOCK_KEY)
    finally:
        await engine.dispose()
    return datetime.fromisoformat(value) if value else None


async def save_console_clock(app: App, moment: datetime) -> None:
    async with app.sessions() as session:
        await kv.set_value(session=session, key=CONSOLE_CLOCK_KEY, value=moment.isoformat(), now=moment)
        await session.commit()


def clock_drift(stored: datetime | None, real: datetime) -> timedelta | None:
    """How far the stored console clock is from real time, when that is more than a day."""
    if stored is None or abs(stored - real) <= CLOCK_DRIFT_LIMIT:
        return None
    return stored - real


@dataclass(frozen=True)
class ClockStart:
    """Where a console run's clock starts, whether it follows real time, and what to tell the user."""

    at: datetime
    follow_real_time: bool
    note: str | None = None


def choose_clock_start(
    *, given: datetime | None, stored: datetime | None, real: datetime, interactive: bool, zone: ZoneInfo
) -> ClockStart:
    """`--clock` wins. Without it a run uses real time — unless the database's clock (left by an
    earlier console run) is more than a day away from it: everything in between would fall due at
    once (reminders, absences, reports). A script then refuses to run, saying why; a person typing
    continues where the clock stopped, and is told so."""
    if given is not None:
        return ClockStart(given, False)
    drift = clock_drift(stored, real)
    if drift is None or stored is None:
        return ClockStart(real, interactive)
    shown = stored.astimezone(zone).isoformat(timespec="minutes")
    days = abs(drift).days
    if not interactive:
        direction = "ahead of" if drift > timedelta(0) else "behind"
        raise ClockDrift(
            f"this database's clock was left at {shown} by an earlier console run, {days} days {direction} the real "
            f"time; without --clock this run would use the real time and everything in between would fall due at "
            f"once. Pass --clock {shown} to continue where it stopped, or --clock with the time you mean "
            f"/ 数据库的时钟停在 {shown}，与真实时间相差 {days} 天；不指定 --clock 会按真实时间运行，中间到期的提醒会一次全部发出。"
            f"请加 --clock {shown} 接着上次运行，或用 --clock 指定时间"
        )
    note = (f"(the clock continues where the last run left it: {shown}, {days} days from the real time; "
            f"move it with `~ +1d` or `~ <time>`) / 时钟接着上次运行的 {shown} 继续（与真实时间相差 {days} 天），"
            f"可用 ~ +1d 或 ~ <时间> 调整")
    return ClockStart(stored, False, note)


class ClockDrift(Exception):
    """A script would run on a clock far from the one the database was left at."""
