"""A fake Telegram Bot API server for tests, on 127.0.0.1 only.

It speaks the wire format python-telegram-bot 22.x really uses (``POST {base}/bot<token>/<method>``
with form-encoded or multipart fields, nested values as JSON strings; answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...,
"parameters": ...}``) and keeps enough state (chats, members, messages, the update queue) that the
bot under test meets Telegram's real behaviour: privacy mode, supergroup migration, users who never
pressed Start, a bot kicked from its group, flood control.

Tests drive it through the factories (``user``, ``group``, ``text``, ``callback`` ...) which build
realistic update JSON and push it into the queue the bot polls (or POST it to the bot's webhook),
and through failure injection (``fail_next``) for what state alone cannot produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

JSON = dict[str, Any]

FORBIDDEN_NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"
FORBIDDEN_BLOCKED = "Forbidden: bot was blocked by the user"
FORBIDDEN_KICKED_GROUP = "Forbidden: bot was kicked from the group chat"
FORBIDDEN_KICKED_SUPERGROUP = "Forbidden: bot was kicked from the supergroup chat"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
CHAT_NOT_FOUND = "Bad Request: chat not found"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
# update types Telegram leaves out unless asked for explicitly in allowed_updates
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_ENTITY_RE = re.compile(r"(?<!\S)(/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?|#\w+)")


class ApiError(Exception):
    """An error answer of the Bot API; raised inside method handlers."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        out: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def retry_after(seconds: int = 1) -> ApiError:
    """Telegram's flood-control answer."""
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def forbidden(description: str = FORBIDDEN_NOT_STARTED) -> ApiError:
    return ApiError(403, description)


def migrated(to_chat_id: int) -> ApiError:
    return ApiError(400, MIGRATED, {"migrate_to_chat_id": to_chat_id})


@dataclass
class Failure:
    """``times`` upcoming calls of ``method`` (for ``chat_id`` if given) answer ``error``."""

    method: str
    error: ApiError
    times: int = 1
    chat_id: int | None = None


FAULT_KINDS = ("429", "500", "timeout-lost", "timeout-done")


@dataclass
class InjectedFault:
    """A fault the server chose for one call: 429 with ``retry_after``, 500, or a call that hangs
    past the client's read timeout, either before doing anything (``timeout-lost``) or after doing
    it (``timeout-done``: the message exists, but the client never hears so)."""

    method: str
    kind: str
    call: Call


@dataclass
class FaultPlan:
    """Random faults on a share of the calls (seeded, so a failing run can be replayed)."""

    rate: float
    methods: frozenset[str] | None  # lower-case method names; None: every method
    hang: float  # seconds a timed-out call hangs: longer than the client's read timeout
    retry_after: int
    rng: random.Random
    injected: list[InjectedFault] = field(default_factory=list)

    def draw(self, method: str) -> str | None:
        if self.methods is not None and method.lower() not in self.methods:
            return None
        if self.rng.random() >= self.rate:
            return None
        return self.rng.choice(FAULT_KINDS)


@dataclass
class Call:
    """One request the bot made, with its decoded parameters and what was answered."""

    method: str
    params: JSON
    at: float
    ok: bool = True
    error_code: int | None = None
    result: Any = None


@dataclass
class _Chat:
    data: JSON
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    migrated_to: int | None = None
    bot_status: str = "member"


def utf16_len(text: str) -> int:
    """Telegram counts entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def auto_entities(text: str) -> list[JSON]:
    """The bot_command and hashtag entities Telegram would attach to ``text``."""
    out = []
    for match in _ENTITY_RE.finditer(text):
        token = match.group(1)
        kind = "bot_command" if token.startswith("/") else "hashtag"
        out.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start(1)]),
                "length": utf16_len(token),
            }
        )
    return out


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FakeTelegram:
    """The fake Bot API: one bot, its chats and users, its update queue, and a call log."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token_fake",
        username: str = "liaison_test_bot",
        first_name: str = "Liaison Bot",
        can_read_all_group_messages: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.can_read_all_group_messages = can_read_all_group_messages
        self.clock = clock
        self.port: int | None = None
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.faults: FaultPlan | None = None  # random faults (`inject_faults`)
        self.answers: list[JSON] = []  # answerCallbackQuery parameters, in order
        self.files: list[JSON] = []  # files the bot uploaded (sendDocument, sendPhoto): filename, content_type, data
        self.commands: dict[tuple[str, str], list[JSON]] = {}  # (scope key, language) -> commands
        self.webhook: JSON | None = None
        self.confirmed_offset = 0  # every update below this id was confirmed by getUpdates
        self._updates: list[JSON] = []
        self.last_update: JSON | None = None  # the update pushed last (e.g. by a multi-update factory)
        self._update_ids = itertools.count(1000)
        self._user_ids = itertools.count(5001)
        self._group_ids = itertools.count(1)
        self._chats: dict[int, _Chat] = {}
        self._started: set[int] = set()  # users who pressed Start in their private chat with the bot
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, JSON]] = {}
        self._next_message_id: dict[int, int] = {}
        self._callback_ids = itertools.count(77_000_000)
        self._open_queries: set[str] = set()
        self._changed = asyncio.Condition()
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_session: ClientSession | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "leaveChat": self._leave_chat,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
        }

    # ------------------------------------------------------------------ server lifecycle

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url`` (PTB appends the token)."""
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._webhook_session:
            await self._webhook_session.close()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ request plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        name = request.match_info["method"]
        handler = next((h for m, h in self._methods.items() if m.lower() == name.lower()), None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        params = await self._read_params(request)
        call = Call(method=name, params=params, at=time.monotonic())
        self.calls.append(call)
        await self._notify()
        fault = self.faults.draw(name) if self.faults is not None else None
        if fault is not None:
            assert self.faults is not None
            self.faults.injected.append(InjectedFault(name, fault, call))
        try:
            if fault == "429":
                raise retry_after(self.faults.retry_after)  # type: ignore[union-attr]
            if fault == "500":
                raise ApiError(500, "Internal Server Error")
            if fault == "timeout-lost":
                await asyncio.sleep(self.faults.hang)  # type: ignore[union-attr]
                raise ApiError(504, "Gateway Timeout")  # nobody is listening any more
            self._inject_failure(name, params)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            call.ok, call.error_code = False, exc.code
            await self._notify()
            return web.json_response(exc.body(), status=exc.code)
        call.result = result
        await self._notify()
        if fault == "timeout-done":
            await asyncio.sleep(self.faults.hang)  # type: ignore[union-attr]
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _read_params(request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body or {})
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                params[key] = {"filename": value.filename, "size": len(data), "data": data,
                               "content_type": value.content_type}
            else:
                params[key] = value
        return params

    def _inject_failure(self, method: str, params: JSON) -> None:
        chat_id = _maybe_int(params.get("chat_id"))
        for failure in self.failures:
            if failure.method.lower() != method.lower() or failure.times <= 0:
                continue
            if failure.chat_id is not None and failure.chat_id != chat_id:
                continue
            failure.times -= 1
            raise failure.error

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ test-facing helpers

    def inject_faults(
        self,
        rate: float,
        *,
        methods: Iterable[str] | None = None,
        hang: float = 1.0,
        retry_after: int = 1,
        seed: int = 0,
    ) -> FaultPlan:
        """From now on answer a share ``rate`` of the calls (of ``methods``, default all) with a
        random fault: 429 (``retry_after``), 500, or hanging ``hang`` seconds before or after
        doing the work. ``stop_faults`` ends it; the plan records every fault injected."""
        self.faults = FaultPlan(
            rate=rate, methods=frozenset(m.lower() for m in methods) if methods is not None else None, hang=hang,
            retry_after=retry_after, rng=random.Random(seed),
        )
        return self.faults

    def stop_faults(self) -> None:
        self.faults = None

    def fail_next(self, method: str, error: ApiError, *, times: int = 1, chat_id: int | None = None) -> Failure:
        """Make the next ``times`` calls of ``method`` (to ``chat_id`` if given) answer ``error``."""
        failure = Failure(method=method, error=error, times=times, chat_id=chat_id)
        self.failures.append(failure)
        return failure

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent successfully (to ``chat_id`` if given), in order."""
        out = []
        for call in self.calls_of("sendMessage"):
            if call.result is None:
                continue  # failed, or still being answered (calls are recorded as they arrive)
            if call.ok and (chat_id is None or call.result["chat"]["id"] == chat_id):
                out.append(self.message(call.result["chat"]["id"], call.result["message_id"]))
        return out

    def message(self, chat_id: int, message_id: int) -> JSON:
        """The current state of a stored message (edits applied)."""
        return self._messages[chat_id][message_id]

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates pushed but not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    async def wait_for(self, predicate: Callable[[], Any], within: float = 30.0) -> Any:
        """Wait until ``predicate()`` is truthy, re-checking on every request; fail after ``within`` s."""

        async def until() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(until(), within)
        except TimeoutError:
            raise AssertionError(f"condition not met within {within}s; calls: {self.summary()}") from None

    def summary(self) -> str:
        return ", ".join(f"{c.method}{'' if c.ok else f'!{c.error_code}'}" for c in self.calls[-30:])

    # ------------------------------------------------------------------ factories: users and chats

    def user(
        self,
        first_name: str = "Alice",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "zh-hans",
        user_id: int | None = None,
    ) -> JSON:
        data: JSON = {"id": user_id or next(self._user_ids), "is_bot": False, "first_name": first_name}
        if last_name:
            data["last_name"] = last_name
        if username:
            data["username"] = username
        if language_code:
            data["language_code"] = language_code
        return data

    def group(self, title: str = "居民群", *, members: Iterable[JSON] = (), admins: Iterable[JSON] = ()) -> JSON:
        """A basic group (negative id) that the bot is a member of."""
        chat = {"id": -(4_000_000_000 + next(self._group_ids)), "type": "group", "title": title}
        return self._add_chat(chat, members, admins)

    def supergroup(
        self,
        title: str = "居民群",
        *,
        members: Iterable[JSON] = (),
        admins: Iterable[JSON] = (),
        chat_id: int | None = None,
        is_forum: bool = False,
    ) -> JSON:
        chat = {"id": chat_id or -(1_000_000_000_000 + next(self._group_ids)), "type": "supergroup", "title": title}
        if is_forum:
            chat["is_forum"] = True
        return self._add_chat(chat, members, admins)

    def private(self, user: JSON, *, started: bool = True) -> JSON:
        """The private chat of ``user`` with the bot; ``started`` means the user pressed Start."""
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if user.get("username"):
            chat["username"] = user["username"]
        if user["id"] not in self._chats:
            self._add_chat(chat, [user], [])
        if started:
            self._started.add(user["id"])
        return chat

    def start_private(self, user: JSON) -> JSON:
        """The user opens the bot's chat and presses Start (or follows a t.me deep link)."""
        return self.private(user, started=True)

    def block(self, user: JSON) -> None:
        self._blocked.add(user["id"])

    def add_member(self, chat: JSON, user: JSON, status: str = "member") -> None:
        self._chats[chat["id"]].members[user["id"]] = status

    def set_bot_status(self, chat: JSON, status: str) -> None:
        """``member``, ``administrator``, ``left`` or ``kicked``: what the bot is in ``chat``."""
        self._chats[chat["id"]].bot_status = status

    def _add_chat(self, chat: JSON, members: Iterable[JSON], admins: Iterable[JSON]) -> JSON:
        state = _Chat(data=chat)
        for user in members:
            state.members[user["id"]] = "member"
        for user in admins:
            state.members[user["id"]] = "administrator"
        if chat["type"] != "private" and "creator" not in state.members.values():
            for uid, status in state.members.items():
                if status == "administrator":
                    state.members[uid] = "creator"
                    break
        self._chats[chat["id"]] = state
        self._messages.setdefault(chat["id"], {})
        return chat

    def _next_id(self, chat_id: int) -> int:
        value = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = value + 1
        return value

    def _store(self, message: JSON) -> JSON:
        self._messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message
        return message

    # ------------------------------------------------------------------ factories: updates

    def push(self, kind: str, payload: JSON) -> JSON:
        """Queue an update of ``kind`` (``message``, ``callback_query`` ...) and return it."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self._updates.append(update)
        self.last_update = update
        asyncio.get_running_loop().create_task(self._notify())
        return update

    def redeliver(self, update: JSON) -> JSON:
        """Put an already delivered update back at the head of the queue (as after a lost confirm)."""
        self._updates.insert(0, update)
        self.confirmed_offset = min(self.confirmed_offset, update["update_id"])
        asyncio.get_running_loop().create_task(self._notify())
        return update

    def _user_message(
        self,
        chat: JSON,
        user: JSON,
        *,
        reply_to: JSON | None = None,
        extra: JSON | None = None,
    ) -> JSON:
        message: JSON = {
            "message_id": self._next_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(self.clock()),
        }
        if reply_to is not None:
            message["reply_to_message"] = _without_reply(reply_to)
        message.update(extra or {})
        return self._store(message)

    def text(
        self,
        chat: JSON,
        user: JSON,
        text: str,
        *,
        reply_to: JSON | None = None,
        entities: list[JSON] | None = None,
        mentions: dict[str, JSON] | None = None,
        sender_chat: JSON | None = None,
        topic: JSON | None = None,
    ) -> JSON:
        """A text message (with the entities Telegram would attach); returns the update.

        ``mentions`` maps a piece of the text to the user it names, as a ``text_mention`` entity
        (what clients send when one picks a member who has no username). ``topic`` (from
        `topic()`) posts into a forum topic, where Telegram makes every message that is no real
        reply "reply" to the topic's first message.
        """
        extra: JSON = {"text": text}
        if topic is not None:
            extra.update(message_thread_id=topic["message_id"], is_topic_message=True)
            reply_to = reply_to or topic
        ents = auto_entities(text) if entities is None else entities
        for piece, named in (mentions or {}).items():
            start = text.index(piece)
            ents.append(
                {"type": "text_mention", "offset": utf16_len(text[:start]), "length": utf16_len(piece), "user": named}
            )
        ents.sort(key=lambda e: e["offset"])
        if sender_chat is not None:  # an anonymous admin or a channel: `from` is a placeholder bot
            extra["sender_chat"] = sender_chat
            user = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        if ents:
            extra["entities"] = ents
        return self.push("message", self._user_message(chat, user, reply_to=reply_to, extra=extra))

    def topic(self, chat: JSON, user: JSON, name: str) -> JSON:
        """Open a topic in a forum supergroup; returns its first (service) message, the thread's id."""
        assert chat.get("is_forum"), "topics exist only in forum supergroups"
        message = self._user_message(chat, user, extra={"forum_topic_created": {"name": name, "icon_color": 7322096}})
        message.update(message_thread_id=message["message_id"], is_topic_message=True)
        self._store(message)
        self.push("message", message)
        return message

    def photo(self, chat: JSON, user: JSON, caption: str | None = None, *, reply_to: JSON | None = None) -> JSON:
        """A photo message, optionally captioned; returns the update."""
        uid = next(self._callback_ids)
        sizes = [
            {
                "file_id": f"AgAC-{uid}-{w}",
                "file_unique_id": f"AQAD{uid}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 60,
            }
            for w in (90, 320, 1280)
        ]
        extra: JSON = {"photo": sizes}
        if caption:
            extra["caption"] = caption
            if ents := auto_entities(caption):
                extra["caption_entities"] = ents
        return self.push("message", self._user_message(chat, user, reply_to=reply_to, extra=extra))

    def document(self, chat: JSON, user: JSON, caption: str | None = None, *, file_name: str = "照片.pdf") -> JSON:
        uid = next(self._callback_ids)
        extra: JSON = {
            "document": {
                "file_id": f"BQAC-{uid}",
                "file_unique_id": f"AgAD{uid}",
                "file_name": file_name,
                "mime_type": "application/pdf",
                "file_size": 48_213,
            },
        }
        if caption:
            extra["caption"] = caption
            if ents := auto_entities(caption):
                extra["caption_entities"] = ents
        return self.push("message", self._user_message(chat, user, extra=extra))

    def edit(self, update_or_message: JSON, new_text: str) -> JSON:
        """The ``edited_message`` update Telegram sends when a user edits their text or caption."""
        original = update_or_message.get("message", update_or_message)
        message = dict(self.message(original["chat"]["id"], original["message_id"]))
        key = "caption" if "caption" in message or "photo" in message or "document" in message else "text"
        message[key] = new_text
        message[f"{key}_entities" if key == "caption" else "entities"] = auto_entities(new_text)
        message["edit_date"] = int(self.clock())
        self._store(message)
        return self.push("edited_message", message)

    def callback(self, user: JSON, message: JSON, data: str) -> JSON:
        """A press of an inline button carrying ``data`` under the bot's ``message``."""
        query_id = str(next(self._callback_ids))
        self._open_queries.add(query_id)
        current = self.message(message["chat"]["id"], message["message_id"])
        payload = {
            "id": query_id,
            "from": user,
            "message": current,
            "chat_instance": str(abs(message["chat"]["id"]) * 7 + 3),
            "data": data,
        }
        return self.push("callback_query", payload)

    def bot_removed(self, chat: JSON, by: JSON, *, kicked: bool = True) -> JSON:
        """The ``my_chat_member`` update when an admin removes the bot; later sends get 403."""
        state = self._chats[chat["id"]]
        old = state.bot_status
        state.bot_status = "kicked" if kicked else "left"
        new_member: JSON = {"status": state.bot_status, "user": self.bot_user}
        if kicked:
            new_member["until_date"] = 0
        payload = {
            "chat": chat,
            "from": by,
            "date": int(self.clock()),
            "old_chat_member": {"status": old, "user": self.bot_user},
            "new_chat_member": new_member,
        }
        return self.push("my_chat_member", payload)

    def bot_added(self, chat: JSON, by: JSON) -> JSON:
        state = self._chats[chat["id"]]
        old = state.bot_status
        state.bot_status = "member"
        old_member: JSON = {"status": old, "user": self.bot_user}
        if old == "kicked":
            old_member["until_date"] = 0  # Telegram always sends it with a ban, and PTB requires it
        payload = {
            "chat": chat,
            "from": by,
            "date": int(self.clock()),
            "old_chat_member": old_member,
            "new_chat_member": {"status": "member", "user": self.bot_user},
        }
        return self.push("my_chat_member", payload)

    def migrate(self, group: JSON, by: JSON, *, to_chat_id: int | None = None) -> JSON:
        """Upgrade a basic group to a supergroup, as Telegram does it.

        Telegram sends two service messages: ``migrate_to_chat_id`` in the old group and
        ``migrate_from_chat_id`` in the new supergroup; from then on, sends to the old id fail
        with 400 and ``migrate_to_chat_id``. Returns the new supergroup chat.
        """
        old = self._chats[group["id"]]
        new_chat = self.supergroup(group["title"], chat_id=to_chat_id)
        self._chats[new_chat["id"]].members = dict(old.members)
        self._chats[new_chat["id"]].bot_status = old.bot_status
        old.migrated_to = new_chat["id"]
        self.push("message", self._user_message(group, by, extra={"migrate_to_chat_id": new_chat["id"]}))
        self.push(
            "message",
            self._user_message(new_chat, by, extra={"migrate_from_chat_id": group["id"]}),
        )
        return new_chat

    # ------------------------------------------------------------------ Bot API methods

    def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                "to delete the webhook first",
            )
        offset = _maybe_int(params.get("offset")) or 0
        limit = max(1, min(100, _maybe_int(params.get("limit")) or 100))
        timeout = max(0.0, float(params.get("timeout") or 0))
        allowed = _json_field(params, "allowed_updates")
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        self._poll_generation += 1
        generation = self._poll_generation
        await self._notify()  # wakes an older poll so that it ends with 409

        def ready() -> list[JSON]:
            out = [u for u in self._updates if _allowed(u, allowed)]
            return out[:limit]

        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not ready():
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot "
                        "instance is running",
                    )
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        return ready()

    def _chat_for_send(self, params: JSON) -> _Chat:
        raw = params.get("chat_id")
        chat_id = _maybe_int(raw)
        state = self._chats.get(chat_id) if chat_id is not None else None
        if state is None and isinstance(raw, str) and raw.startswith("@"):
            state = next((c for c in self._chats.values() if c.data.get("username") == raw[1:]), None)
        if state is None:
            if chat_id is not None and chat_id > 0:
                raise forbidden(FORBIDDEN_NOT_STARTED)
            raise ApiError(400, CHAT_NOT_FOUND)
        chat = state.data
        if state.migrated_to is not None:
            raise migrated(state.migrated_to)
        if chat["type"] == "private":
            if chat["id"] in self._blocked:
                raise forbidden(FORBIDDEN_BLOCKED)
            if chat["id"] not in self._started:
                raise forbidden(FORBIDDEN_NOT_STARTED)
        elif state.bot_status in ("left", "kicked"):
            raise forbidden(FORBIDDEN_KICKED_SUPERGROUP if chat["type"] == "supergroup" else FORBIDDEN_KICKED_GROUP)
        return state

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _send_message(self, params: JSON) -> JSON:
        state = self._chat_for_send(params)
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSON = {"text": text}
        entities = _json_field(params, "entities")
        if entities:
            content["entities"] = entities
        return self._post(state, params, content)

    def _uploaded(self, params: JSON, field: str) -> JSON:
        """The multipart file part named ``field``, as the bot uploaded it (a file_id or URL is refused:
        this bot only ever uploads what it made)."""
        upload = params.get(field)
        if not isinstance(upload, dict) or "data" not in upload:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        if not upload["data"]:
            raise ApiError(400, "Bad Request: file must be non-empty")
        return upload

    def _caption(self, params: JSON, content: JSON) -> JSON:
        caption = params.get("caption")
        if caption:
            if utf16_len(caption) > 1024:
                raise ApiError(400, "Bad Request: message caption is too long")
            content["caption"] = caption
        return content

    def _send_document(self, params: JSON) -> JSON:
        state = self._chat_for_send(params)
        upload = self._uploaded(params, "document")
        document = {
            "file_id": f"BQAC-out-{len(self.files)}", "file_unique_id": f"AgADout{len(self.files)}",
            "file_name": upload["filename"], "mime_type": upload["content_type"], "file_size": len(upload["data"]),
        }
        self.files.append(upload)
        return self._post(state, params, self._caption(params, {"document": document}))

    def _send_photo(self, params: JSON) -> JSON:
        state = self._chat_for_send(params)
        upload = self._uploaded(params, "photo")
        if len(upload["data"]) > 10 * 1024 * 1024:
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        photo = [{"file_id": f"AgAC-out-{len(self.files)}", "file_unique_id": f"AQADout{len(self.files)}",
                  "width": 1280, "height": 960, "file_size": len(upload["data"])}]
        self.files.append(upload)
        return self._post(state, params, self._caption(params, {"photo": photo}))

    def _post(self, state: _Chat, params: JSON, content: JSON) -> JSON:
        """Store a message the bot sends (text, document or photo) with its reply, thread and buttons."""
        markup = _json_field(params, "reply_markup")
        self._check_markup(markup)
        chat = state.data
        reply = _json_field(params, "reply_parameters") or {}
        reply_id = _maybe_int(reply.get("message_id")) or _maybe_int(params.get("reply_to_message_id"))
        allow_missing = bool(reply.get("allow_sending_without_reply")) or params.get("allow_sending_without_reply") in (
            "true",
            True,
        )
        message: JSON = {
            "message_id": self._next_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(self.clock()),
            **content,
        }
        thread = _maybe_int(params.get("message_thread_id"))
        if thread is not None and chat.get("is_forum"):
            root = self._messages.get(chat["id"], {}).get(thread)
            if root is None or "forum_topic_created" not in root:
                self._next_message_id[chat["id"]] -= 1
                raise ApiError(400, "Bad Request: message thread not found")
            message.update(message_thread_id=thread, is_topic_message=True)
        if reply_id:
            target_chat = _maybe_int(reply.get("chat_id")) or chat["id"]
            original = self._messages.get(target_chat, {}).get(reply_id)
            if original is None and not allow_missing:
                self._next_message_id[chat["id"]] -= 1
                raise ApiError(400, "Bad Request: message to be replied not found")
            if original is not None:
                message["reply_to_message"] = _without_reply(original)
        if markup and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        return self._store(message)

    def _stored_for_edit(self, params: JSON) -> JSON:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = _maybe_int(params.get("chat_id"))
        message_id = _maybe_int(params.get("message_id"))
        message = self._messages.get(chat_id or 0, {}).get(message_id or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _edit_message_text(self, params: JSON) -> JSON:
        message = self._stored_for_edit(params)
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = _json_field(params, "reply_markup")
        self._check_markup(markup)
        new_markup = markup if markup and markup.get("inline_keyboard") else None
        if message.get("text") == text and message.get("reply_markup") == new_markup:
            raise ApiError(400, NOT_MODIFIED)
        updated = {**message, "text": text, "edit_date": int(self.clock())}
        updated.pop("reply_markup", None)
        if new_markup:
            updated["reply_markup"] = new_markup
        return self._store(updated)

    def _edit_message_reply_markup(self, params: JSON) -> JSON:
        message = self._stored_for_edit(params)
        markup = _json_field(params, "reply_markup")
        self._check_markup(markup)
        new_markup = markup if markup and markup.get("inline_keyboard") else None
        if message.get("reply_markup") == new_markup:
            raise ApiError(400, NOT_MODIFIED)
        updated = {**message, "edit_date": int(self.clock())}
        updated.pop("reply_markup", None)
        if new_markup:
            updated["reply_markup"] = new_markup
        return self._store(updated)

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        self._open_queries.discard(query_id)
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": params.get("show_alert") in ("true", True),
                "url": params.get("url"),
            }
        )
        return True

    @staticmethod
    def _scope_key(params: JSON) -> str:
        scope = _json_field(params, "scope") or {"type": "default"}
        key = scope["type"]
        if "chat_id" in scope:
            key += f":{scope['chat_id']}"
        if "user_id" in scope:
            key += f":{scope['user_id']}"
        return key

    def _set_my_commands(self, params: JSON) -> bool:
        commands = _json_field(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for cmd in commands:
            if not _COMMAND_RE.match(cmd.get("command", "")):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(cmd.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        language = params.get("language_code") or ""
        self.commands[(self._scope_key(params), language)] = commands
        return True

    def _delete_my_commands(self, params: JSON) -> bool:
        self.commands.pop((self._scope_key(params), params.get("language_code") or ""), None)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.commands.get((self._scope_key(params), params.get("language_code") or ""), [])

    def _known_chat(self, params: JSON) -> _Chat:
        state = self._chats.get(_maybe_int(params.get("chat_id")) or 0)
        if state is None:
            raise ApiError(400, CHAT_NOT_FOUND)
        return state

    def _get_chat(self, params: JSON) -> JSON:
        state = self._known_chat(params)
        return {
            **state.data,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member(self, state: _Chat, user_id: int) -> JSON:
        if user_id == self.bot_id:
            status = state.bot_status
            user = self.bot_user
        else:
            status = state.members.get(user_id, "left")
            user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        member: JSON = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_pin_messages": True,
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _get_chat_member(self, params: JSON) -> JSON:
        state = self._known_chat(params)
        user_id = _maybe_int(params.get("user_id"))
        if user_id is None:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return self._member(state, user_id)

    def _get_chat_administrators(self, params: JSON) -> list[JSON]:
        state = self._known_chat(params)
        admins = [self._member(state, uid) for uid, s in state.members.items() if s in ("creator", "administrator")]
        if state.bot_status == "administrator":
            admins.append(self._member(state, self.bot_id))
        return admins

    def _set_webhook(self, params: JSON) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params)
        if not _is_loopback_url(url):
            raise ApiError(400, "Bad Request: the fake server only delivers webhooks to loopback URLs")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates") in ("true", True):
            self._updates.clear()
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": _json_field(params, "allowed_updates")}
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhooks())
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") in ("true", True):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        return {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _leave_chat(self, params: JSON) -> bool:
        self._known_chat(params).bot_status = "left"
        return True

    def _delete_message(self, params: JSON) -> bool:
        chat_id = _maybe_int(params.get("chat_id")) or 0
        if self._messages.get(chat_id, {}).pop(_maybe_int(params.get("message_id")) or 0, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _send_chat_action(self, params: JSON) -> bool:
        self._chat_for_send(params)
        return True

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook one at a time; an update leaves the queue on a 2xx."""
        self._webhook_session = self._webhook_session or ClientSession(timeout=ClientTimeout(total=10))
        while self.webhook:
            async with self._changed:
                while self.webhook and not self._updates:
                    await self._changed.wait()
            hook = self.webhook
            if not hook:
                return
            update = self._updates[0]
            if not _allowed(update, hook["allowed_updates"]):
                self._updates.pop(0)
                continue
            headers = {"Content-Type": "application/json"}
            if hook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            try:
                async with self._webhook_session.post(hook["url"], data=json.dumps(update), headers=headers) as r:
                    status = r.status
            except (OSError, TimeoutError):
                status = 0
            self.webhook_deliveries.append((update["update_id"], status))
            if 200 <= status < 300 and self._updates and self._updates[0] is update:
                self._updates.pop(0)
                self.confirmed_offset = max(self.confirmed_offset, update["update_id"] + 1)
            elif not 200 <= status < 300:
                await asyncio.sleep(0.05)  # Telegram backs off between redeliveries, too
            await self._notify()


def _maybe_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def _json_field(params: JSON, name: str) -> Any:
    """Nested parameters arrive JSON-encoded in form fields (and decoded in JSON bodies)."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return value


def _allowed(update: JSON, allowed: list[str] | None) -> bool:
    kind = next(k for k in update if k != "update_id")
    if allowed:
        return kind in allowed
    return kind not in _OPT_IN_UPDATES


def _without_reply(message: JSON) -> JSON:
    """Telegram nests reply_to_message one level deep only."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}
