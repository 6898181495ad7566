"""The Telegram adapter, on python-telegram-bot 22: updates in as `Incoming`, `Transport` out.

Thin on purpose: it translates Telegram's vocabulary (updates, chat ids, entities, errors) into
the core's and back; every rule lives in `handlers/`. What it does own is Telegram's delivery
semantics:

- an update is confirmed to Telegram (the getUpdates offset moves, or the webhook answers 2xx)
  only after the core committed it, so a crash means redelivery, which the core recognises;
- flood control goes through PTB's `AIORateLimiter`, its overall bucket sized so that no second
  sees more than 30 messages (`Bucket`); a 429 that outlives its retries becomes
  `RetryLater(retry_after)`, so the outbox row stays pending until Telegram accepts it; a group
  whose 20 messages a minute are spent is reported as held (`held_chats`), so the outbox sends
  other chats' rows instead of waiting in the limiter;
- Telegram errors become the core's transport errors (403 on a DM -> `dm_blocked`, a migrated
  group -> `ChatMoved`, a kicked bot -> `bot_removed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from aiolimiter import AsyncLimiter
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType as TgChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackContext, ExtBot, TypeHandler

from bot.intake import Backoff, Outcome, StopSignal
from bot.telegram_request import AiohttpRequest, proxy_from_environment
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.router import is_plain_message, parse_command
from handlers.set_aside import SetAside
from handlers.transport import (
    Attachment,
    Button,
    ChatMoved,
    FileKind,
    Outgoing,
    RetryLater,
    Sent,
    TransportError,
    Undeliverable,
)

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "telegram"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What the bot listens to; chat_member (other people's membership) needs admin rights and is not used.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MAX_TEXT = 4096  # Telegram's limit, in UTF-16 code units
MAX_ALERT = 200  # answerCallbackQuery text limit
MAX_CAPTION = 1024  # a document's or photo's caption, in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
GROUP_TIME_PERIOD = 60  # seconds: Telegram allows a group `group_max_rate` bot messages per minute
MAX_PACED_GROUPS = 512  # group buckets kept before the idle ones are forgotten (as PTB's limiter does)
NO_LINK_PREVIEW = LinkPreviewOptions(is_disabled=True)  # residents' links are not previewed in answers
# Command menus: which commands appear where. Presentation only; who may run what is the core's table.
MENU_LANGUAGES = {"zh": "zh_CN", "en": "en"}  # Telegram language_code -> catalog
COMMANDS_KV_KEY = "telegram:commands:{bot_id}"


@dataclass
class TelegramOptions:
    """How to reach Telegram and how hard to push it; built from `Settings` in production."""

    token: str
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str | None = None
    poll_timeout: float = 25.0  # long-polling timeout; tests use ~1 s against the fake server
    overall_max_rate: float = 30.0  # messages per second, all chats together (Telegram's limit)
    group_max_rate: float = 20.0  # messages per minute per group (Telegram's limit)
    max_retries: int = 2  # 429 retries inside one send before the outbox takes over
    read_timeout: float = 15.0  # seconds to wait for a Bot API answer (long polling adds its own)
    default_language: str = "zh_CN"  # command menu for users whose language has no menu
    publish_commands: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramOptions:
        if not settings.telegram_token:
            raise ValueError("LIAISON_TELEGRAM_TOKEN is not set")
        return cls(
            token=settings.telegram_token,
            base_url=settings.telegram_base_url,
            webhook_url=settings.telegram_webhook_url,
            webhook_listen=settings.telegram_webhook_listen,
            webhook_port=settings.telegram_webhook_port,
            webhook_secret=settings.telegram_webhook_secret,
            default_language=settings.language,
        )


def file_url_for(base_url: str) -> str:
    """The file endpoint next to a Bot API base URL (self-hosted servers serve both)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("/bot")] + "/file/bot"
    return base_url.rstrip("/") + "/file/bot"


@dataclass(frozen=True)
class Bucket:
    """A leaky bucket (aiolimiter's `AsyncLimiter(capacity, time_period)`) that never lets more
    than `limit` messages through in any `period`.

    A bucket of capacity c leaking r a second lets at most c + r·period pass in any window of
    `period`, so `AsyncLimiter(limit, period)` (what Telegram's figures suggest) allows twice the
    limit: a full burst, then the limit again as it drains; measured after an hour down, 60
    messages left in one second. Here a quarter of the limit may go at once and the rest is paced.
    Used for the 30 a second; a group keeps PTB's bucket of 20 a minute, whose burst Telegram
    accepts (a batch of acks after a busy minute), and a 429 is honoured either way.
    """

    capacity: float
    time_period: float

    @classmethod
    def within(cls, limit: float, period: float) -> Bucket:
        if not limit:
            return cls(0, 0)  # no limit (the benchmarks)
        capacity = max(1.0, float(int(limit // 4)))
        return cls(capacity, capacity * period / max(limit - capacity, 1.0))


class LiaisonBot(ExtBot):  # type: ignore[type-arg]
    """PTB's bot with a sendMessage that reads of Telegram's answer only what the outbox keeps.

    `send_message` turns the answer (the sent message, the message it replies to inside it) into
    a `Message` object: a tenth of the bot's CPU when every message is acknowledged. The request
    itself goes the way `send_message` sends it (`Bot._post`, which `ExtBot` also builds on:
    defaults, serialisation, `AIORateLimiter`, errors mapped to `TelegramError`).
    """

    async def send_message_ids(
        self,
        *,
        chat_id: int,
        text: str,
        reply_parameters: ReplyParameters | None,
        reply_markup: InlineKeyboardMarkup | None,
        message_thread_id: int | None,
        link_preview_options: LinkPreviewOptions,
    ) -> tuple[int, int]:
        """Send a text message; returns its message id and its chat's id."""
        result = await self._post(
            "sendMessage",
            {"chat_id": chat_id, "text": text, "reply_parameters": reply_parameters, "reply_markup": reply_markup,
             "message_thread_id": message_thread_id, "link_preview_options": link_preview_options},
        )
        return int(result["message_id"]), int(result["chat"]["id"])


def build_application(options: TelegramOptions) -> Application:  # type: ignore[type-arg]
    """A PTB Application with our rate limiter and no Updater: polling is ours (see `_poll_loop`)."""
    overall = Bucket.within(options.overall_max_rate, 1)
    limiter = AIORateLimiter(
        overall_max_rate=overall.capacity,
        overall_time_period=overall.time_period,
        group_max_rate=options.group_max_rate,
        group_time_period=GROUP_TIME_PERIOD,
        max_retries=options.max_retries,
    )
    proxy = proxy_from_environment(options.base_url)
    bot = LiaisonBot(
        token=options.token,
        base_url=options.base_url,
        base_file_url=file_url_for(options.base_url),
        rate_limiter=limiter,
        request=AiohttpRequest(
            connect_timeout=10, read_timeout=options.read_timeout, write_timeout=15, pool_timeout=10, proxy=proxy
        ),
        # Long polling holds a connection of its own (`_poll_loop` sets its read timeout per call).
        get_updates_request=AiohttpRequest(
            connection_pool_size=1, connect_timeout=10, read_timeout=10, write_timeout=15, pool_timeout=10, proxy=proxy,
        ),
    )
    return ApplicationBuilder().bot(bot).updater(None).build()


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut text into pieces Telegram accepts, at line breaks where possible."""

    def units(s: str) -> int:
        return len(s.encode("utf-16-le")) // 2

    if units(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while units(line) > limit:  # a single overlong line: hard cut
            cut = limit
            while units(line[:cut]) > limit:
                cut -= 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if units(current + line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()] or [text[:limit]]


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Inline buttons: short labels share a row (ratings), long ones get a row each."""
    if not buttons:
        return None
    for button in buttons:
        if not 1 <= len(button.data.encode()) <= MAX_CALLBACK_DATA:
            raise Undeliverable(f"button data {button.data!r} does not fit Telegram's 64 bytes", code="bad_button")
    cells = [InlineKeyboardButton(b.label, callback_data=b.data) for b in buttons]
    if len(buttons) <= 4 and all(len(b.label) <= 8 for b in buttons):
        return InlineKeyboardMarkup([cells])
    return InlineKeyboardMarkup([[cell] for cell in cells])


def retry_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for. PTB 22 keeps it as a timedelta in `_retry_after` (as its own
    AIORateLimiter reads it); the public attribute is an int or a timedelta depending on PTB_TIMEDELTA."""
    return exc._retry_after.total_seconds()


def transport_error(exc: TelegramError) -> TransportError:
    """Telegram's error, in the outbox's vocabulary (what to do next, not what happened)."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, RetryAfter):
        return RetryLater(text, retry_after=retry_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return ChatMoved(text, new_chat_id=str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        if "initiate conversation" in lowered or "blocked by the user" in lowered:
            return Undeliverable(text, code="dm_blocked")
        if "deactivated" in lowered:
            return Undeliverable(text, code="user_deactivated")
        if "kicked" in lowered or "not a member" in lowered:
            return Undeliverable(text, code="bot_removed")
        return Undeliverable(text, code="forbidden")
    if isinstance(exc, BadRequest):
        if "chat not found" in lowered:
            return Undeliverable(text, code="chat_not_found")
        if "not enough rights" in lowered or "have no rights" in lowered:
            return Undeliverable(text, code="no_rights")
        return Undeliverable(text, code="bad_request")
    if isinstance(exc, (TimedOut, NetworkError, Conflict)):
        return RetryLater(text)
    if isinstance(exc, InvalidToken):
        return RetryLater(f"invalid bot token: {text}")
    return TransportError(text)


def quiet_token_logging() -> None:
    """Bot API URLs contain the token. The bot's own requests go through aiohttp, which logs no
    URLs, but PTB still imports httpx, which logs every request URL at INFO if anything uses it."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


@dataclass
class _Entities:
    """What a message's entities say: the people it mentions, and whether it is a command."""

    mentions: list[UserRef] = field(default_factory=list)
    mentions_bot: bool = False
    addressed_to_other_bot: bool = False
    is_command: bool = False


class TelegramTransport:
    """The bot on Telegram: polls (or serves a webhook), feeds the core, and delivers its outbox."""

    platform = PLATFORM

    def __init__(
        self,
        app: App,
        options: TelegramOptions,
        application: Application | None = None,  # type: ignore[type-arg]
    ) -> None:
        self.app = app
        self.options = options
        self.application = application or build_application(options)
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.can_read_all_group_messages = True
        self._bot_is_admin: dict[int, bool] = {}
        self._failed: dict[int, BaseException] = {}
        self._answered: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        self._poll_call: asyncio.Task[Any] | None = None
        self._offset: int | None = None
        self._stop = StopSignal()
        self._webhook_runner: web.AppRunner | None = None
        self._webhook_secret: str | None = None
        self._webhook_lock = asyncio.Lock()
        self.processed_updates = 0
        # The group limit as `AIORateLimiter` keeps it (the same leaky bucket, fed by the same
        # sends), kept here too because PTB's only waits: these tell the outbox who is held.
        self._group_pace: dict[str, AsyncLimiter] = {}

    @classmethod
    def from_settings(cls, app: App, settings: Settings) -> TelegramTransport:
        return cls(app, TelegramOptions.from_settings(settings))

    @property
    def bot(self) -> Any:
        return self.application.bot

    @property
    def me(self) -> User:
        return self.bot.bot

    @property
    def username(self) -> str:
        return self.me.username or ""

    def deep_link(self, code: str) -> str:
        """`https://t.me/<bot>?start=<code>`: opens the private chat and sends `/start <code>`."""
        return f"https://t.me/{self.username}?start={code}"

    def bot_names(self) -> frozenset[str]:
        """`/cmd@<bot>` and `@<bot>` mentions name this bot."""
        return frozenset({self.username})

    def dm_invite_links(self) -> Callable[[str], str]:
        return self.deep_link

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Log in (getMe), register with the core, publish commands, then poll or serve the webhook."""
        quiet_token_logging()
        await self.application.initialize()
        self.can_read_all_group_messages = bool(self.me.can_read_all_group_messages)
        self.app.add_transport(self)
        if not self.can_read_all_group_messages:
            log.warning(
                "Telegram privacy mode is on for @%s: in groups where it is not an admin it sees only "
                "commands and replies. Turn it off with BotFather (/setprivacy -> Disable).",
                self.username,
            )
        if self.options.publish_commands:
            try:
                await self.publish_commands()
            except Exception:
                log.exception("could not publish the command menus; the bot works without them")
        self._stop.clear()
        if self.options.webhook_url:
            await self._start_webhook()
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll_loop(), name="telegram-poll")
        log.info("Telegram: @%s is up (%s)", self.username, "webhook" if self.options.webhook_url else "polling")

    async def stop(self) -> None:
        """Finish the update in hand, confirm what was processed, and shut PTB down."""
        self._stop.set()
        if self._poll_call is not None:
            self._poll_call.cancel()
        failure: BaseException | None = None
        if self._poller is not None:
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # polling died (e.g. a revoked token): still shut down, then report
                failure = exc
            self._poller = None
            if self._offset is not None and failure is None:
                with contextlib.suppress(TelegramError):  # confirm, so a clean restart redelivers nothing
                    await self.bot.get_updates(offset=self._offset, timeout=0, allowed_updates=ALLOWED_UPDATES)
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()  # the webhook stays set: Telegram queues until we return
            self._webhook_runner = None
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        if failure is not None:
            raise failure

    async def run(self, stop: asyncio.Event) -> None:
        """Start, wait until `stop` is set (or polling dies), then stop."""
        await self.start()
        try:
            waiters = [asyncio.create_task(stop.wait())]
            if self._poller is not None:
                waiters.append(self._poller)  # type: ignore[arg-type]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.stop()

    # --- command menus --------------------------------------------------------------------------
    def command_menus(self) -> list[tuple[BotCommandScope, str | None, list[BotCommand]]]:
        """The menus to publish: (scope, language_code, commands), read from the core's tables."""
        from handlers.features import menu_commands
        from handlers.i18n import translator

        # Telegram's menu scopes, and which of the core's menus each shows (the default scope covers
        # any chat, so only what fits both kinds; administrators get every group command).
        scopes: list[tuple[BotCommandScope, list[Any]]] = [
            (BotCommandScopeDefault(), menu_commands(private=None, staff=False)),
            (BotCommandScopeAllPrivateChats(), menu_commands(private=True, staff=True)),
            (BotCommandScopeAllGroupChats(), menu_commands(private=False, staff=False)),
            (BotCommandScopeAllChatAdministrators(), menu_commands(private=False, staff=True)),
        ]
        out: list[tuple[BotCommandScope, str | None, list[BotCommand]]] = []
        for scope, commands in scopes:
            for code, language in [(None, self.options.default_language), *MENU_LANGUAGES.items()]:
                tr = translator(language)
                out.append((scope, code, [BotCommand(c.name, tr(c.summary)[:256]) for c in commands]))
        return out

    async def publish_commands(self) -> bool:
        """setMyCommands for every scope and language, skipped when nothing changed since last time."""
        from storage import kv

        menus = self.command_menus()
        digest = hashlib.sha256(
            json.dumps([(s.to_dict(), lang, [c.to_dict() for c in cmds]) for s, lang, cmds in menus]).encode()
        ).hexdigest()
        key = COMMANDS_KV_KEY.format(bot_id=self.me.id)
        async with self.app.sessions() as session:
            if await kv.get_value(session=session, key=key) == digest:
                return False
        for scope, language, commands in menus:
            await self.bot.set_my_commands(commands, scope=scope, language_code=language)
        async with self.app.sessions() as session:
            await kv.set_value(session=session, key=key, value=digest, now=self.app.clock.now())
            await session.commit()
        return True

    # --- polling --------------------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        """Long-poll; process each batch fully before asking with the next offset (= confirming it)."""
        backoff = Backoff(first=1.0, maximum=30.0)
        while not self._stop.is_set():
            self._poll_call = asyncio.create_task(
                self.bot.get_updates(
                    offset=self._offset,
                    timeout=self.options.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=self.options.poll_timeout + 10,
                )
            )
            try:
                updates = await self._poll_call
            except asyncio.CancelledError:
                if self._stop.is_set():
                    return
                raise
            except TimedOut:
                continue
            except InvalidToken:
                log.critical("Telegram rejected the bot token; check LIAISON_TELEGRAM_TOKEN")
                raise
            except RetryAfter as exc:
                await self._stop.sleep(retry_seconds(exc))
                continue
            except TelegramError as exc:  # network trouble, or a Conflict with another instance/webhook
                delay = backoff.next()
                log.warning("getUpdates failed (%s); retrying in %.1fs", exc, delay)
                await self._stop.sleep(delay)
                continue
            finally:
                self._poll_call = None
            backoff.reset()
            if not await self._process_updates(updates):
                return  # the rest stays unconfirmed: Telegram delivers it again after the restart

    async def _process_updates(self, updates: Sequence[Update]) -> bool:
        """One getUpdates answer, in order, through the core's guard (`EventGuard.feed`): each run
        of plain messages in one transaction, anything else alone. The offset moves past an update
        once it is committed (or set aside); False when stopping first."""
        pairs = [(update, await self._plain_message(update)) for update in updates]
        return await self.app.guard.feed(
            pairs, one=self._process_reliably, done=self._confirm, stop=self._stop, where=" of Telegram updates"
        )

    def _confirm(self, update: Update) -> None:
        """Committed: the next getUpdates confirms it to Telegram."""
        self.processed_updates += 1
        self._offset = update.update_id + 1

    async def _plain_message(self, update: Update) -> Incoming | None:
        message = update.message
        if message is None or parse_command(message.text or message.caption or "") is not None:
            return None  # a command goes through `process` alone; no need to convert it twice
        events = await self._from_message(message, EventKind.MESSAGE)
        return events[0] if len(events) == 1 and is_plain_message(events[0]) else None

    async def _process_reliably(self, update: Update, *, wait_out_outages: bool = True) -> Outcome:
        """Process one update until committed (the core's guard: outages waited out, a poisonous
        update set aside after a few tries); STOPPED when stopping first."""
        return await self.app.guard.run(
            lambda: self.process(update), describe=lambda: self._set_aside_record(update), stop=self._stop,
            wait_out_outages=wait_out_outages,
        )

    def _set_aside_record(self, update: Update) -> SetAside:
        message = update.effective_message
        user = update.effective_user
        chat = update.effective_chat
        is_message = update.message is not None or update.edited_message is not None
        return SetAside(
            platform=PLATFORM,
            event_id=str(update.update_id),
            chat_id=str(chat.id) if chat is not None else None,
            message_id=str(message.message_id) if is_message and message is not None else None,
            sender=f"{PLATFORM}:{user.id}" if user is not None else None,
            sender_name=user.full_name if user is not None else None,
            text=(message.text or message.caption or "") if message is not None else "",
            payload=update.to_json(),
        )

    # --- webhook --------------------------------------------------------------------------------
    async def _start_webhook(self) -> None:
        url = self.options.webhook_url
        assert url
        path = urlsplit(url).path or "/"
        # Without a configured secret a fresh one per start still keeps strangers out: we set the webhook now.
        self._webhook_secret = self.options.webhook_secret or secrets.token_urlsafe(32)
        server = web.Application(client_max_size=4 * 1024 * 1024)
        server.router.add_post(path, self._on_webhook)
        self._webhook_runner = web.AppRunner(server, access_log=None)
        await self._webhook_runner.setup()
        site = web.TCPSite(self._webhook_runner, self.options.webhook_listen, self.options.webhook_port)
        await site.start()
        await self.bot.set_webhook(
            url,
            secret_token=self._webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=1,  # one at a time: updates of a chat stay in order
            drop_pending_updates=False,
        )
        log.info("Telegram webhook listening on %s:%s%s", self.options.webhook_listen, self.options.webhook_port, path)

    @property
    def webhook_port(self) -> int | None:
        """The bound port (useful when configured as 0)."""
        if self._webhook_runner is None:
            return None
        for site in self._webhook_runner.sites:
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                return int(server.sockets[0].getsockname()[1])
        return None

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """Answer 200 only after the update is committed; any other answer makes Telegram redeliver."""
        given = request.headers.get(SECRET_HEADER, "")
        if not self._webhook_secret or not hmac.compare_digest(given.encode(), self._webhook_secret.encode()):
            return web.Response(status=403, text="bad secret")
        try:
            update = Update.de_json(await request.json(), self.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        async with self._webhook_lock:
            outcome = await self._process_reliably(update, wait_out_outages=False)
        if outcome is Outcome.DEFERRED or outcome is Outcome.STOPPED:
            return web.Response(status=503, text="try again")  # Telegram delivers it again later
        self.processed_updates += 1
        return web.Response(status=200, text="ok")

    # --- updates -> core ------------------------------------------------------------------------
    async def process(self, update: Update) -> None:
        """Feed one update through PTB's Application into the core; raises if the core failed."""
        await self.application.process_update(update)
        error = self._failed.pop(update.update_id, None)
        if error is not None:
            raise error

    async def _on_update(self, update: Update, context: CallbackContext) -> None:  # type: ignore[type-arg]
        for incoming in await self.to_incoming(update):
            await self.app.handle(incoming)
        query = update.callback_query
        if query is not None and query.id not in self._answered:
            await self._answer(query.id, None)  # every press needs an answer, or the client spins
        if query is not None:
            self._answered.discard(query.id)

    async def _on_error(self, update: object, context: CallbackContext) -> None:  # type: ignore[type-arg]
        if isinstance(update, Update) and context.error is not None:
            self._failed[update.update_id] = context.error

    def _user_ref(self, user: User) -> UserRef:
        return UserRef(PLATFORM, str(user.id), display_name=user.full_name, username=user.username)

    @staticmethod
    def _chat_type(chat_type: str) -> ChatType:
        return ChatType.PRIVATE if chat_type == TgChatType.PRIVATE else ChatType.GROUP

    async def to_incoming(self, update: Update) -> list[Incoming]:
        """The core events one update stands for (none for what the bot does not care about)."""
        if update.message is not None:
            return await self._from_message(update.message, EventKind.MESSAGE)
        if update.edited_message is not None:
            return await self._from_message(update.edited_message, EventKind.EDIT)
        if update.callback_query is not None:
            return self._from_callback(update)
        if update.my_chat_member is not None:
            return self._from_my_chat_member(update)
        return []

    async def _from_message(self, message: Message, kind: EventKind) -> list[Incoming]:
        chat = message.chat
        user = message.from_user
        if user is None or user.id == self.me.id:
            return []
        base: dict[str, Any] = {
            "platform": PLATFORM,
            "chat_type": self._chat_type(chat.type),
            "sender": self._user_ref(user),
            "chat_title": chat.title,
            "timestamp": message.edit_date or message.date,
        }
        membership = self._membership_events(message, base)
        if membership is not None:
            return membership
        if user.is_bot or message.sender_chat is not None:
            # other bots, channel posts and anonymous admins: no person to act for
            return []
        text = message.text or message.caption or ""
        if not text:
            return []
        entities = self._read_entities(message)
        reply = message.reply_to_message
        if reply is not None and message.is_topic_message and reply.forum_topic_created is not None:
            reply = None  # in forum topics every message "replies" to the topic's first message
        notes: dict[str, str] = {}
        if entities.is_command and chat.type != TgChatType.PRIVATE and not entities.addressed_to_other_bot:
            notes["privacy_mode"] = "on" if await self._privacy_blocks(chat.id) else "off"
        return [
            Incoming(
                kind=kind,
                chat_id=str(chat.id),
                message_id=str(message.message_id),
                text=text,
                reply_to=str(reply.message_id) if reply is not None else None,
                thread_id=str(message.message_thread_id) if message.is_topic_message else None,
                mentions=entities.mentions,
                mentions_bot=entities.mentions_bot,
                addressed_to_other_bot=entities.addressed_to_other_bot,
                platform_notes=notes,
                **base,
            )
        ]

    def _membership_events(self, message: Message, base: dict[str, Any]) -> list[Incoming] | None:
        """A service message about the chat (a supergroup upgrade, members joining or leaving) as
        its events; None for an ordinary message."""
        chat_id = str(message.chat.id)
        if message.migrate_to_chat_id:
            return [Incoming(kind=EventKind.CHAT_MIGRATED, chat_id=chat_id,
                             new_chat_id=str(message.migrate_to_chat_id), **base)]
        if message.migrate_from_chat_id:
            return [Incoming(kind=EventKind.CHAT_MIGRATED, chat_id=str(message.migrate_from_chat_id),
                             new_chat_id=chat_id, **base)]
        if message.new_chat_members:
            return [
                Incoming(kind=EventKind.MEMBER_JOINED, chat_id=chat_id, **{**base, "sender": self._user_ref(member)})
                for member in message.new_chat_members
                if member.id != self.me.id
            ]
        if message.left_chat_member:
            member = message.left_chat_member
            if member.id == self.me.id:  # my_chat_member says it too; one event is enough
                return []
            return [Incoming(kind=EventKind.MEMBER_LEFT, chat_id=chat_id, **{**base, "sender": self._user_ref(member)})]
        return None

    def _read_entities(self, message: Message) -> _Entities:
        """Who the message mentions, and whether it is a command and for which bot."""
        found = _Entities()
        entities = message.parse_entities() if message.text else message.parse_caption_entities()
        for entity, value in entities.items():
            if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
                if entity.user.id == self.me.id:
                    found.mentions_bot = True
                else:
                    found.mentions.append(self._user_ref(entity.user))
            elif entity.type == MessageEntity.MENTION and value[1:].lower() == self.username.lower():
                found.mentions_bot = True
            elif entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
                found.is_command = True
                _name, _at, addressee = value.partition("@")
                found.addressed_to_other_bot = bool(addressee) and addressee.lower() != self.username.lower()
        return found

    async def _privacy_blocks(self, chat_id: int) -> bool:
        """Whether privacy mode hides plain messages here: it is on and the bot is no admin of the chat."""
        if self.can_read_all_group_messages:
            return False
        admin = self._bot_is_admin.get(chat_id)
        if admin is None:
            try:
                member = await self.bot.get_chat_member(chat_id, self.me.id)
                admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
            except TelegramError:
                return True  # unknown: the warning is harmless, a silent deaf bot is not
            self._bot_is_admin[chat_id] = admin
        return not admin

    def _from_callback(self, update: Update) -> list[Incoming]:
        query = update.callback_query
        assert query is not None
        message = query.message
        if message is None or query.data is None:  # inline-mode or game buttons: not ours
            return []
        label = None
        markup = getattr(message, "reply_markup", None)
        if markup is not None:
            for row in markup.inline_keyboard:
                for button in row:
                    if button.callback_data == query.data:
                        label = button.text
        chat = message.chat
        return [
            Incoming(
                kind=EventKind.BUTTON,
                platform=PLATFORM,
                chat_id=str(chat.id),
                chat_type=self._chat_type(chat.type),
                sender=self._user_ref(query.from_user),
                message_id=str(message.message_id),
                button_data=query.data,
                button_label=label,
                press_id=query.id,
                chat_title=chat.title,
            )
        ]

    def _from_my_chat_member(self, update: Update) -> list[Incoming]:
        change = update.my_chat_member
        assert change is not None
        chat = change.chat
        self._bot_is_admin.pop(chat.id, None)  # promoted or demoted: ask again next time
        status = change.new_chat_member.status
        gone = (ChatMember.LEFT, ChatMember.BANNED)
        if status not in gone:
            if change.old_chat_member.status not in gone or chat.type == chat.PRIVATE:
                return []  # a promotion or demotion, or a user (un)blocking the bot in private
            kind = EventKind.BOT_ADDED
        else:
            kind = EventKind.BOT_REMOVED
        return [
            Incoming(
                kind=kind,
                platform=PLATFORM,
                chat_id=str(chat.id),
                chat_type=self._chat_type(chat.type),
                sender=self._user_ref(change.from_user),
                chat_title=chat.title,
                timestamp=change.date,
            )
        ]

    # --- core -> Telegram (Transport) -----------------------------------------------------------
    async def send(self, message: Outgoing) -> Sent:
        target = message.chat_id if message.chat_id is not None else message.dm_user_id
        if target is None or not target.lstrip("-").isdigit():
            raise Undeliverable(f"not a Telegram chat: {target!r}", code="bad_target")
        markup = keyboard(message.buttons)
        reply = None
        if message.reply_to and message.reply_to.isdigit():
            # a reply target that is gone (deleted, or left behind by a migration) must not block delivery
            reply = ReplyParameters(message_id=int(message.reply_to), allow_sending_without_reply=True)
        thread = int(message.thread_id) if message.thread_id and message.thread_id.isdigit() else None
        attachment = message.attachment
        caption = None
        if attachment is not None and split_text(message.text, MAX_CAPTION) == [message.text]:
            caption = message.text  # short enough to go with the file; else the text goes first
        pieces = split_text(message.text) if caption is None and message.text.strip() else []
        pace = self._pace(target)
        sent = None
        try:
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1 and attachment is None
                if pace is not None:
                    await pace.acquire()  # at once unless the outbox sent while the group was held
                sent = await self.bot.send_message_ids(
                    chat_id=int(target),
                    text=piece,
                    reply_parameters=reply if index == 0 else None,
                    reply_markup=markup if last else None,
                    message_thread_id=thread,
                    link_preview_options=NO_LINK_PREVIEW,
                )
            if attachment is not None:
                if pace is not None:
                    await pace.acquire()
                posted = await self._send_file(int(target), attachment, caption=caption,
                                               reply=reply if not pieces else None, markup=markup, thread=thread)
                sent = posted.message_id, posted.chat.id
        except TelegramError as exc:
            raise transport_error(exc) from exc
        assert sent is not None
        return Sent(message_id=str(sent[0]), chat_id=str(sent[1]))

    async def _send_file(
        self, chat_id: int, attachment: Attachment, *, caption: str | None, reply: ReplyParameters | None,
        markup: InlineKeyboardMarkup | None, thread: int | None,
    ) -> Message:
        """sendPhoto for a chart, sendDocument for a ledger: a multipart upload of the bytes."""
        upload = InputFile(attachment.data, filename=attachment.filename)
        if attachment.kind is FileKind.PHOTO:
            return await self.bot.send_photo(chat_id=chat_id, photo=upload, caption=caption, reply_parameters=reply,
                                             reply_markup=markup, message_thread_id=thread)
        return await self.bot.send_document(chat_id=chat_id, document=upload, caption=caption, reply_parameters=reply,
                                            reply_markup=markup, message_thread_id=thread)

    def _pace(self, chat_id: str) -> AsyncLimiter | None:
        """The group's bucket (Telegram limits groups, whose ids are negative); None for a user."""
        if not chat_id.startswith("-") or not self.options.group_max_rate:
            return None
        pace = self._group_pace.get(chat_id)
        if pace is None:
            if len(self._group_pace) > MAX_PACED_GROUPS:  # forget the groups whose bucket is empty again
                self._group_pace = {
                    chat: limiter
                    for chat, limiter in self._group_pace.items()
                    if not limiter.has_capacity(limiter.max_rate)
                }
            pace = self._group_pace[chat_id] = AsyncLimiter(self.options.group_max_rate, GROUP_TIME_PERIOD)
        return pace

    def held_chats(self) -> frozenset[str]:
        return frozenset(chat for chat, pace in self._group_pace.items() if not pace.has_capacity())

    def is_held(self, chat_id: str) -> bool:
        pace = self._group_pace.get(chat_id)
        return pace is not None and not pace.has_capacity()

    async def answer_press(self, chat_id: str, press_id: str | None, text: str) -> None:
        if press_id:
            await self._answer(press_id, text)

    async def _answer(self, press_id: str, text: str | None) -> None:
        self._answered.add(press_id)
        if text and len(text) > MAX_ALERT:
            text = text[: MAX_ALERT - 1] + "…"
        try:
            await self.bot.answer_callback_query(press_id, text=text or None, show_alert=bool(text))
        except BadRequest as exc:  # too old (e.g. a press redelivered after a restart): nothing to answer
            log.info("callback %s not answered: %s", press_id, exc)
        except TelegramError as exc:
            log.warning("callback %s not answered: %s", press_id, exc)


async def serve(app: App, settings: Settings, stop: asyncio.Event) -> None:
    """`liaison-bot run` entry point: the Telegram side of the bot until `stop` is set."""
    await TelegramTransport.from_settings(app, settings).run(stop)
