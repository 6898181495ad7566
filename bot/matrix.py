"""The Matrix adapter: matrix-nio sync events become `Incoming`, `Outgoing` become Matrix events.

Thin on purpose: what a message means is decided in `handlers/`; this module only knows Matrix.
What it owns is Matrix mechanics:

- the sync position (`next_batch`) is stored after each processed batch, so a restart neither
  loses nor replays; gaps (`limited` timelines after downtime) are paged back with `/messages`;
- the first sync (a request sent without `since`) only sets the position: a room's history is not
  news. A room the bot joins later is news from the bot's invite on: whatever was posted between
  the invite and the join (a slow join, the bot down) is paged in and handled;
- every invite is answered: it is stored, then joined or declined by policy, and a failed join
  (429, network) is tried again, honouring `retry_after`, across restarts;
- nio's own endless 429 retry is off (``max_limit_exceeded=0``): a rate limit becomes
  `RetryLater(retry_after)` and the outbox decides when to try again, with the outbox row's
  transaction id, so a retried send never posts twice;
- buttons are reactions the bot seeds under its own message; a resident's reaction (or a text
  reply naming the button) is a press;
- end-to-end encryption (matrix-nio on vodozemac, a crypto store on disk): encrypted events are
  decrypted before they reach the same intake as plain ones; one that cannot be decrypted yet is
  kept, its key requested, retried when keys arrive, and reported to the staff when it stays
  unreadable; everything sent to an encrypted room is encrypted for its members' devices, trusted
  on first use or, with `verified-only`, only for devices an admin verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from cachetools import LRUCache
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DeleteDevicesAuthResponse,
    DirectRoomsErrorResponse,
    DirectRoomsResponse,
    EncryptionError,
    ErrorResponse,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    OlmUnverifiedDeviceError,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.api import Api
from nio.event_builders import EnableEncryptionBuilder
from nio.store import SqliteStore

from bot.intake import Backoff, Outcome, StopSignal
from handlers import membership
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.router import is_plain_message
from handlers.set_aside import SetAside
from handlers.transport import Attachment, FileKind, Outgoing, RetryLater, Sent, Undeliverable
from storage import kv
from storage import messages as messages_repo
from storage import people as people_repo
from storage.models import Account

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "matrix"
HTML_FORMAT = "org.matrix.custom.html"
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError, ConnectionError)
MAX_PAGES = 100  # `/messages` pages of 100 events looked back for a gap or an invite
INVITE_RETRY_CAP = 3600.0  # seconds between tries of a join that keeps failing
MEGOLM = "m.megolm.v1.aes-sha2"
TRUST_POLICIES = ("tofu", "verified-only")
UNREADABLE_KEPT = timedelta(days=7)  # how long an undecryptable event waits for its key at most


class MatrixLoginError(RuntimeError):
    """The homeserver refused the configured credentials; the message says which setting to check."""


class StoppedMidBatch(Exception):
    """`stop()` came while a batch was being handled: its position must not be stored."""


class SyncFailed(RuntimeError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """A large timeline per sync so catching up rarely needs paging; no presence, typing or receipts."""
    return {
        "presence": {"not_types": ["*"]},
        "room": {
            "timeline": {"limit": timeline_limit},
            "ephemeral": {"not_types": ["*"]},
            "state": {"lazy_load_members": True},
        },
    }


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted ``> <@user> original`` block older clients put before a reply's text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith(">"):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        return "\n".join(lines[index + 1 :])
    return body


def text_to_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def relations(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """(reply_to, thread_id) of a message; a thread message's fallback reply is not a real reply."""
    relates = content.get("m.relates_to") or {}
    if not isinstance(relates, dict):
        return None, None
    reply_to = (relates.get("m.in_reply_to") or {}).get("event_id")
    thread_id = None
    if relates.get("rel_type") == "m.thread":
        thread_id = relates.get("event_id")
        if relates.get("is_falling_back"):
            reply_to = None
    return reply_to, thread_id


@dataclass
class PendingInvite:
    """An invite (or a room upgrade to follow) not answered yet; kept in the database until it is."""

    room_id: str
    inviter: str
    direct: bool = False
    upgrade: bool = False  # the replacement of a bound room: joined without asking the policy
    attempts: int = 0
    next_attempt: str = ""  # ISO time, aware UTC
    last_error: str = ""

    def due(self, now: datetime) -> bool:
        return not self.next_attempt or datetime.fromisoformat(self.next_attempt) <= now


@dataclass
class Unreadable:
    """An encrypted event whose room key has not arrived yet; kept in the database until it does."""

    room_id: str
    event: dict[str, Any]
    first_seen: str  # ISO time, aware UTC
    reported: bool = False


def own_membership(event: dict[str, Any], user_id: str) -> str | None:
    """The membership an event gives `user_id`, or None when it is not that user's member event."""
    if event.get("type") != "m.room.member" or event.get("state_key") != user_id:
        return None
    return (event.get("content") or {}).get("membership")


def previous_membership(event: dict[str, Any]) -> str | None:
    return ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")


class MatrixTransport:
    """One bot account on one homeserver: the sync loop feeding `app.handle`, and the `Transport`."""

    platform = PLATFORM

    def __init__(
        self,
        app: App,
        *,
        homeserver: str,
        user: str,
        password: str | None = None,
        access_token: str | None = None,
        device_name: str = "liaison-bot",
        timeline_limit: int = 100,
        sync_timeout_ms: int = 30_000,
        request_timeout: float = 60.0,
        max_inline_wait: float = 6.0,
        store_path: str | Path = "./data/matrix-store/",
        trust: str = "tofu",
        report_unreadable_after: float = 600.0,
    ) -> None:
        if not (password or access_token):
            raise MatrixLoginError("LIAISON_MATRIX_PASSWORD or LIAISON_MATRIX_ACCESS_TOKEN is required")
        if trust not in TRUST_POLICIES:
            raise MatrixLoginError(f"LIAISON_MATRIX_TRUST must be one of {', '.join(TRUST_POLICIES)}, not {trust!r}")
        self.app = app
        self.homeserver = homeserver.rstrip("/")
        self.password = password
        self.access_token = access_token
        self.device_name = device_name
        self.timeline_limit = timeline_limit
        self.sync_timeout_ms = sync_timeout_ms
        config = AsyncClientConfig(
            max_limit_exceeded=0,  # 429s come back to us: the outbox owns retries
            max_timeouts=0,
            request_timeout=request_timeout,
            encryption_enabled=True,
            store=SqliteStore,  # keys, sessions and device trust in one file per device
            store_sync_tokens=False,  # the sync position is ours, in the database
        )
        self.configured_user = user
        self.store_path = Path(store_path)
        self.trust = trust
        self.report_unreadable_after = timedelta(seconds=report_unreadable_after)
        self.client = AsyncClient(self.homeserver, user, store_path=str(self.store_path), config=config)
        self.next_batch: str | None = None
        self.direct: dict[str, list[str]] = {}  # m.direct: user id -> room ids
        self.batches = 0
        # Bounded memories of this run: events handled (overlapping pages, a repeated batch),
        # presses (to answer under the pressed message), buttons just sent (before the outbox logs them).
        self._seen: LRUCache[str, bool] = LRUCache(maxsize=20_000)
        self._presses: LRUCache[str, tuple[str, str]] = LRUCache(maxsize=1000)  # press id -> (sender, bot msg)
        self._sent_buttons: LRUCache[str, dict[str, str]] = LRUCache(maxsize=1000)  # event id -> label -> data
        self.invites: dict[str, PendingInvite] = {}  # room id -> invite not answered yet (stored)
        self.batched_events = 0  # messages handled in runs (App.handle_batch), for tests and the bench
        self._alone: set[str] = set()  # events of the batch in hand that went through the guard alone
        self.unreadable: dict[str, Unreadable] = {}  # event id -> encrypted event without its key yet
        self._dm_lock = asyncio.Lock()
        self._crypto_lock = asyncio.Lock()  # one key query/claim/share at a time (nio keeps no lock of its own)
        self._stop = StopSignal()
        self._synced = asyncio.Event()  # set after each applied sync (rooms just created become known)
        self._synced_rooms: set[str] = set()  # rooms whose state a sync of this run has brought
        self._invitees: dict[str, str] = {}  # direct room just created -> the person invited to it
        self._limited_until = 0.0  # monotonic time before which the homeserver asked us not to send
        self.max_inline_wait = max_inline_wait
        self.rate_limited = 0  # M_LIMIT_EXCEEDED answers seen (for tests and the bench)
        self.failed_batches = 0  # sync batches whose processing failed and was repeated (for tests)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._full_state_next = True

    @classmethod
    def from_settings(cls, app: App, settings: Settings) -> MatrixTransport:
        assert settings.matrix_homeserver and settings.matrix_user
        return cls(
            app,
            homeserver=settings.matrix_homeserver,
            user=settings.matrix_user,
            password=settings.matrix_password,
            access_token=settings.matrix_access_token,
            device_name=settings.matrix_device_name,
            store_path=settings.matrix_store_path,
            trust=settings.matrix_trust,
        )

    # --- identity and state -------------------------------------------------------------------
    @property
    def user_id(self) -> str:
        return self.client.user_id

    def _kv_key(self, name: str) -> str:
        # Keyed by the configured account (known before login), so a restart finds its device.
        return f"matrix:{self.configured_user}:{name}"

    async def _kv_get(self, name: str) -> str | None:
        async with self.app.sessions() as session:
            return await kv.get_value(session=session, key=self._kv_key(name))

    async def _kv_set(self, name: str, value: str) -> None:
        async with self.app.sessions() as session:
            await kv.set_value(session=session, key=self._kv_key(name), value=value, now=self.app.clock.now())
            await session.commit()

    async def login(self) -> None:
        """Log in reusing the stored device id (so restarts don't pile up devices, and the device's
        keys in the crypto store stay valid) and remember it. A device whose crypto store is gone
        cannot be used again (its published keys are lost): the bot logs in as a new device and
        deletes the old one, so nobody keeps encrypting for it."""
        self.store_path.mkdir(parents=True, exist_ok=True)
        device_id = await self._kv_get("device_id")
        if device_id and not self._store_file(device_id) and not self.access_token:
            log.warning(
                "matrix: the crypto store of device %s is missing from %s; logging in as a new device "
                "(messages encrypted for the old one cannot be read and are reported)", device_id, self.store_path,
            )
            lost_device, device_id = device_id, None
        else:
            lost_device = None
        if self.access_token:
            self.client.user_id = self.configured_user
            self.client.access_token = self.access_token  # just enough to ask who we are
            who = await self.client.whoami()
            if not isinstance(who, WhoamiResponse):
                raise MatrixLoginError(f"LIAISON_MATRIX_ACCESS_TOKEN was refused by {self.homeserver}: {who}")
            self.client.restore_login(who.user_id, who.device_id or device_id or "", self.access_token)
        else:
            assert self.password is not None
            self.client.device_id = device_id or ""  # nio sends it, so the homeserver reuses the device
            resp = await self.client.login(self.password, device_name=self.device_name)
            if not isinstance(resp, LoginResponse):
                raise MatrixLoginError(
                    f"LIAISON_MATRIX_USER/LIAISON_MATRIX_PASSWORD were refused by {self.homeserver}: {resp}"
                )
        if self.client.device_id and self.client.device_id != device_id:
            await self._kv_set("device_id", self.client.device_id)
        if lost_device:
            await self._delete_device(lost_device)
        log.info(
            "matrix: logged in as %s (device %s, key %s)",
            self.client.user_id, self.client.device_id, self.client.olm.account.identity_keys["ed25519"]
            if self.client.olm else "-",
        )
        self._reconcile_trust()
        await self._crypto_upkeep()

    def _reconcile_trust(self) -> None:
        """Undo what the other policy left in the store: devices blacklisted under `verified-only`
        get keys again under trust on first use; devices merely seen (ignored) under trust on first
        use get none under `verified-only` until an admin verifies them."""
        for device in list(self.client.device_store):
            if self.trust == "tofu" and device.blacklisted:
                self.client.unblacklist_device(device)
            elif self.trust == "verified-only" and device.ignored:
                self.client.unignore_device(device)

    def _store_file(self, device_id: str) -> Path | None:
        """The crypto store nio keeps for a device (named `<user>_<device>.db`), if it exists."""
        return next(iter(self.store_path.glob(f"*_{device_id}.db")), None)

    async def _delete_device(self, device_id: str) -> None:
        """Remove a device whose keys are lost (user-interactive auth with the bot's password)."""
        first = await self.client.delete_devices([device_id])
        if isinstance(first, DeleteDevicesAuthResponse):
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.client.user_id},
                "password": self.password or "",
                "session": first.session,
            }
            first = await self.client.delete_devices([device_id], auth)
        if isinstance(first, ErrorResponse):
            log.warning("matrix: could not delete the old device %s: %s", device_id, first)
        else:
            log.info("matrix: deleted the old device %s", device_id)

    async def start(self) -> None:
        """Log in and load the stored sync position, pending invites and direct rooms; idempotent
        (the sync loop and the outbox may both be first)."""
        async with self._start_lock:
            if self._started:
                return
            await self.login()
            await self._forget_foreign_usernames()
            self.next_batch = await self._kv_get("next_batch")
            await self._load_invites()
            await self._load_unreadable()
            await self._load_direct()
            self._started = True

    async def _forget_foreign_usernames(self) -> None:
        """Accounts of other homeservers stored before they stopped getting a username (see
        `_user`) lose it, so a bare name names only people of the bot's own server."""
        async with self.app.sessions() as session:
            cleared = await people_repo.forget_usernames_elsewhere(
                session=session, platform=PLATFORM, own_server=self.user_id.partition(":")[2]
            )
            await session.commit()
        if cleared:
            log.info("matrix: %d accounts of other homeservers no longer answer to a bare name", cleared)

    async def _load_direct(self) -> None:
        resp = await self.client.list_direct_rooms()
        if isinstance(resp, DirectRoomsResponse):
            self.direct = {user: list(rooms) for user, rooms in resp.rooms.items()}
        elif isinstance(resp, DirectRoomsErrorResponse) and resp.status_code != "M_NOT_FOUND":
            log.warning("matrix: could not load m.direct: %s", resp)

    def _direct_rooms(self) -> set[str]:
        return {room for rooms in self.direct.values() for room in rooms}

    async def close(self) -> None:
        self._stop.set()
        await self.client.close()

    def stop(self) -> None:
        self._stop.set()

    # --- the sync loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Sync until `stop()`; transient failures back off, a rate limit waits as long as it says.

        On stop the long-poll request is abandoned; a batch being handled stops between events and
        its position is not stored, so the rest comes again after the restart (events already
        handled are recognised by their id). Pending invites are answered after each batch; the
        long poll is cut short when one falls due.
        """
        backoff = Backoff(first=1.0, maximum=60.0)
        while not self._started and not self._stop.is_set():
            try:
                await self.start()
            except NETWORK_ERRORS as error:  # homeserver unreachable: keep trying, refused logins raise
                delay = backoff.next()
                log.warning("matrix: cannot reach %s (%r); retrying in %.0fs", self.homeserver, error, delay)
                await self._stop.sleep(delay)
        backoff.reset()
        while not self._stop.is_set():
            try:
                request = asyncio.ensure_future(self.fetch(self._poll_timeout_ms()))
                stopping = asyncio.ensure_future(self._stop.wait())
                done, _pending = await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if request not in done:
                    request.cancel()
                    break
                await self.apply(request.result())
                await self.answer_invites()
                await self._crypto_upkeep()
                await self.retry_unreadable()
                backoff.reset()
            except StoppedMidBatch:
                break  # the batch's position is not stored: the rest comes again after the restart
            except SyncFailed as failure:
                delay = failure.retry_after if failure.retry_after is not None else backoff.next()
                log.warning("matrix: sync failed (%s); retrying in %.1fs", failure, delay)
                await self._stop.sleep(delay)
            except NETWORK_ERRORS as error:
                delay = backoff.next()
                log.warning("matrix: sync network error (%r); retrying in %.1fs", error, delay)
                await self._stop.sleep(delay)
            except Exception:  # the database failing under a batch: its position is not stored, so it comes again
                self.failed_batches += 1
                delay = backoff.next()
                log.exception("matrix: applying a sync batch failed; it is fetched again in %.1fs", delay)
                await self._stop.sleep(delay)

    def _poll_timeout_ms(self) -> int:
        """The long poll's timeout: the configured one, or less when a pending invite falls due sooner."""
        timeout = self.sync_timeout_ms
        now = self.app.clock.now()
        for invite in self.invites.values():
            if not invite.next_attempt:
                return 0
            wait = (datetime.fromisoformat(invite.next_attempt) - now).total_seconds() * 1000
            timeout = min(timeout, max(0, int(wait)))
        return timeout

    async def fetch(self, timeout_ms: int = 0) -> SyncResponse:
        """One sync request from the stored position (full state once per run, to rebuild room state).

        nio sends its own last `next_batch` when `since` is None, even when that batch was never
        applied; it is reset to ours, so a request without `since` is really a first sync.
        """
        await self.start()
        initial = self.next_batch is None
        self.client.next_batch = self.next_batch  # type: ignore[assignment]
        self.client.loaded_sync_token = None  # type: ignore[assignment]
        resp = await self.client.sync(
            timeout=timeout_ms,
            since=self.next_batch,
            full_state=True if (self._full_state_next and not initial) else None,
            sync_filter=sync_filter(self.timeline_limit),
        )
        if not isinstance(resp, SyncResponse):
            retry = resp.retry_after_ms / 1000 if isinstance(resp, ErrorResponse) and resp.retry_after_ms else None
            raise SyncFailed(str(resp), retry)
        return resp

    async def apply(self, resp: SyncResponse) -> None:
        """Process every event of a batch, then store its position (so a crash replays, never skips)."""
        await self._process(resp, since=self.next_batch)
        self._synced_rooms.update(resp.rooms.join, resp.rooms.leave)
        await self._kv_set("next_batch", resp.next_batch)
        self.next_batch = resp.next_batch
        self._full_state_next = False
        self.batches += 1
        self._synced.set()

    async def _process(self, resp: SyncResponse, *, since: str | None) -> None:
        initial = since is None
        for event in resp.account_data_events:
            if getattr(event, "type", None) == "m.direct":
                # Merged, not replaced: a sync written before our own update of m.direct must not undo it.
                content = getattr(event, "content", None) or {}
                for user, rooms in content.items():
                    known = self.direct.setdefault(user, [])
                    known.extend(room for room in rooms if room not in known)
        for room_id, invite in resp.rooms.invite.items():
            # nio strips `content` from stripped-state sources; rebuild what we read from its fields.
            stripped = [
                {
                    "type": getattr(ev, "source", {}).get("type"),
                    "sender": getattr(ev, "sender", None),
                    "state_key": getattr(ev, "state_key", None),
                    "content": getattr(ev, "content", None) or {},
                }
                for ev in invite.invite_state
            ]
            await self._note_invite(room_id, stripped)
        for room_id in (*resp.rooms.join, *resp.rooms.leave):
            if room_id in self.invites and (room_id in resp.rooms.join or not self.invites[room_id].upgrade):
                state = "joined" if room_id in resp.rooms.join else "left (withdrawn, or declined elsewhere)"
                log.info("matrix: the invite to %s is settled: the room is %s", room_id, state)
                await self._forget_invite(room_id)
        if initial and (resp.rooms.join or resp.rooms.leave):
            log.info(
                "matrix: first sync (no since token): %d rooms' earlier history is not replayed",
                len(resp.rooms.join) + len(resp.rooms.leave),
            )
        for section in (resp.rooms.join, resp.rooms.leave):
            for room_id, info in section.items():
                if initial:
                    continue
                timeline = [ev.source for ev in info.timeline.events]
                older = await self._older_events(
                    room_id, timeline, info.timeline.prev_batch, since, limited=info.timeline.limited
                )
                await self._on_events(room_id, self._news(room_id, older + timeline))

    # --- what is news in a room ---------------------------------------------------------------
    def _fresh_join(self, events: list[dict[str, Any]]) -> int | None:
        """Index of the bot's last join into the room (not a profile change), if among `events`."""
        for index in range(len(events) - 1, -1, -1):
            event = events[index]
            if own_membership(event, self.user_id) == "join" and previous_membership(event) != "join":
                return index
        return None

    def _invite_missing(self, events: list[dict[str, Any]]) -> bool:
        """The bot joined on an invite that is older than `events`: paging back must find it."""
        join = self._fresh_join(events)
        if join is None or previous_membership(events[join]) != "invite":
            return False
        return not any(own_membership(event, self.user_id) is not None for event in events[:join])

    def _news(self, room_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What the bot handles of a room's events: everything, unless it joined in between; then
        what followed its invite (its join included, which is `BOT_ADDED`)."""
        join = self._fresh_join(events)
        if join is None:
            return events
        if previous_membership(events[join]) == "invite":
            for index in range(join - 1, -1, -1):
                membership = own_membership(events[index], self.user_id)
                if membership == "invite":
                    return events[index + 1 :]
                if membership is not None:
                    break
            log.warning(
                "matrix: the invite before joining %s was not found within %d pages; "
                "handling the room from the join on",
                room_id, MAX_PAGES,
            )
        else:
            log.info("matrix: joined %s without an invite: its earlier history is not replayed", room_id)
        return events[join:]

    async def _older_events(
        self, room_id: str, timeline: list[dict[str, Any]], prev_batch: str | None, since: str | None, *, limited: bool
    ) -> list[dict[str, Any]]:
        """What the sync left out before `timeline`, oldest first: a `limited` timeline's gap back to
        the last position, and for a room just joined, everything back to the bot's invite (which
        may be older than the last position: a slow or refused join, the bot down)."""
        if not prev_batch:
            return []
        older: list[dict[str, Any]] = []
        # A page may repeat the timeline's own events (a room joined over federation, whose
        # `prev_batch` Synapse places after the join): each event once, or the join would be seen
        # twice and the first copy taken for where the search for the invite ends.
        ids: set[str] = {str(event.get("event_id")) for event in timeline}
        token: str | None = prev_batch
        resume = prev_batch  # where the unbounded search for an invite goes on from

        async def page(end: str | None) -> None:
            nonlocal token, resume
            assert token is not None
            resume = token
            chunk, token = await self._page(room_id, token, end=end)
            fresh = [event for event in chunk if event.get("event_id") not in ids]
            ids.update(str(event.get("event_id")) for event in fresh)
            older[:0] = fresh

        if limited and since:  # the gap back to the last position
            for _page in range(MAX_PAGES):
                await page(end=since)
                if token is None or self._invite_missing(older + timeline):
                    break
        if self._invite_missing(older + timeline):  # past the last position, back to the invite
            token = token or resume
            for _page in range(MAX_PAGES):
                await page(end=None)
                if token is None or not self._invite_missing(older + timeline):
                    break
        if older:
            log.info("matrix: paged in %d events of %s that the sync left out", len(older), room_id)
        return older

    async def _page(self, room_id: str, token: str, *, end: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `/messages` backwards from `token`: its events oldest first, and the token to
        go on from (None at the end)."""
        resp = await self.client.room_messages(
            room_id, start=token, end=end, direction=MessageDirection.back, limit=100
        )
        if not isinstance(resp, RoomMessagesResponse):
            retry = resp.retry_after_ms / 1000 if isinstance(resp, ErrorResponse) and resp.retry_after_ms else None
            raise SyncFailed(f"paging {room_id}: {resp}", retry)
        events = [event.source for event in reversed(resp.chunk)]
        more = bool(resp.chunk) and bool(resp.end) and resp.end != token
        return events, resp.end if more else None

    async def _on_events(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """A room's new events in order, through the core's guard (`EventGuard.feed`): each run of
        plain messages in one transaction, anything else alone; an outage pauses, an event that keeps
        failing by itself is set aside. Stopping first leaves the batch unstored (it comes again)."""
        fresh = [event for event in events if event.get("event_id") and event["event_id"] not in self._seen]
        pairs = [(event, self._plain_message(room_id, event)) for event in fresh]
        handled = await self.app.guard.feed(
            pairs, one=lambda event: self._guarded(room_id, event), done=self._done, stop=self._stop,
            where=f" in {room_id}",
        )
        if not handled:
            raise StoppedMidBatch(room_id)

    async def _guarded(self, room_id: str, event: dict[str, Any]) -> Outcome:
        self._alone.add(event["event_id"])
        return await self.app.guard.run(
            lambda: self._dispatch(room_id, event), describe=lambda: self._set_aside_record(room_id, event),
            stop=self._stop,
        )

    def _done(self, event: dict[str, Any]) -> None:
        event_id = event["event_id"]
        self._seen[event_id] = True
        if event_id in self._alone:
            self._alone.discard(event_id)
        else:
            self.batched_events += 1

    @staticmethod
    def _set_aside_record(room_id: str, event: dict[str, Any]) -> SetAside:
        content = event.get("content") or {}
        sender = event.get("sender")
        return SetAside(
            platform=PLATFORM,
            event_id=str(event.get("event_id")),
            chat_id=room_id,
            message_id=str(event.get("event_id")) if event.get("type") == "m.room.message" else None,
            sender=f"{PLATFORM}:{sender}" if sender else None,
            text=str(content.get("body", "")) if isinstance(content, dict) else "",
            payload=json.dumps(event, ensure_ascii=False),
        )

    def _plain_message(self, room_id: str, event: dict[str, Any]) -> Incoming | None:
        """The event as a new plain message (no command, edit, reply or notice), else None."""
        event_id = event.get("event_id")
        if event.get("type") != "m.room.message" or event.get("sender") == self.user_id:
            return None
        if not event_id or event_id in self._seen:
            return None
        content = event.get("content") or {}
        relates = content.get("m.relates_to") or {}
        if content.get("msgtype") == "m.notice" or (isinstance(relates, dict) and relates.get("rel_type") == "m.replace"):
            return None
        reply_to, thread_id = relations(content)
        if reply_to:
            return None  # a reply may name a button (the fallback for reactions): it goes alone
        incoming = self._message_incoming(room_id, event, content, str(content.get("body", "")), None, thread_id)
        return incoming if is_plain_message(incoming) else None

    async def _dispatch(self, room_id: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        sender = event.get("sender", "")
        content = event.get("content") or {}
        if kind == "m.room.member" and event.get("state_key") == self.user_id:
            await self._on_own_membership(room_id, event, content)
            return
        if sender == self.user_id:
            return
        if kind == "m.room.message":
            await self._on_message(room_id, event, content)
        elif kind == "m.reaction":
            await self._on_reaction(room_id, event, content)
        elif kind == "m.room.member":
            await self._on_member(room_id, event, content)
        elif kind == "m.room.tombstone":
            await self._on_tombstone(room_id, event, content)
        elif kind == "m.room.encrypted":  # nio could not decrypt it (decrypted events arrive as their own type)
            await self._keep_unreadable(room_id, event)

    # --- event conversion ---------------------------------------------------------------------
    def _user(self, room_id: str, user_id: str) -> UserRef:
        room = self.client.rooms.get(room_id)
        name = None
        if room is not None:
            member = room.users.get(user_id)
            name = member.display_name if member is not None else None
        # The localpart doubles as a username, so `/liaison add zhang` works like on Telegram, for
        # accounts of the bot's own homeserver only: anyone may register `zhang` on another server.
        localpart, _sep, server = user_id.removeprefix("@").partition(":")
        own = server == self.user_id.partition(":")[2]
        return UserRef(PLATFORM, user_id, display_name=name or None, username=(localpart if own else None) or None)

    def _incoming(self, room_id: str, event: dict[str, Any], kind: EventKind, **fields: Any) -> Incoming:
        room = self.client.rooms.get(room_id)
        ts = event.get("origin_server_ts")
        return Incoming(
            kind=kind,
            platform=PLATFORM,
            chat_id=room_id,
            chat_type=ChatType.PRIVATE if room_id in self._direct_rooms() else ChatType.GROUP,
            sender=self._user(room_id, event.get("sender", "")),
            chat_title=room.display_name if room is not None else None,
            timestamp=datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int | float) else None,
            **fields,
        )

    async def _handle(self, incoming: Incoming) -> None:
        await self.app.handle(incoming)

    async def _on_message(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        if content.get("msgtype") == "m.notice":
            return  # notices are other bots talking; answering them makes loops
        relates = content.get("m.relates_to") or {}
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            new = content.get("m.new_content") or {}
            text = str(new.get("body", ""))
            await self._handle(
                self._incoming(room_id, event, EventKind.EDIT, message_id=relates.get("event_id"), text=text)
            )
            return
        reply_to, thread_id = relations(content)
        text = str(content.get("body", ""))
        if reply_to:
            text = strip_reply_fallback(text)
        if reply_to:
            data = await self._button_data(room_id, reply_to, text.strip())
            if data is not None:  # a text reply naming a button: the fallback for reactions
                await self._press(room_id, event, target=reply_to, data=data, label=text.strip())
                return
        await self._handle(self._message_incoming(room_id, event, content, text, reply_to, thread_id))

    def _message_incoming(
        self,
        room_id: str,
        event: dict[str, Any],
        content: dict[str, Any],
        text: str,
        reply_to: str | None,
        thread_id: str | None,
    ) -> Incoming:
        mentioned = (content.get("m.mentions") or {}).get("user_ids") or []
        mentions = [self._user(room_id, uid) for uid in mentioned if isinstance(uid, str) and uid != self.user_id]
        return self._incoming(
            room_id,
            event,
            EventKind.MESSAGE,
            message_id=event["event_id"],
            text=text,
            reply_to=reply_to,
            thread_id=thread_id,
            mentions=mentions,
            mentions_bot=self.user_id in mentioned or self.user_id in text,
        )

    async def _on_reaction(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") != "m.annotation" or not relates.get("event_id"):
            return
        target, key = relates["event_id"], str(relates.get("key", ""))
        data = await self._button_data(room_id, target, key)
        if data is None:
            return  # a reaction that is not a button press (a thumbs-up on a chat message)
        await self._press(room_id, event, target=target, data=data, label=key)

    async def _button_data(self, room_id: str, message_id: str, label: str) -> str | None:
        """A button's data: from what this process just sent (the outbox may not have logged it yet),
        else from the message log."""
        recent = self._sent_buttons.get(message_id)
        if recent is not None:
            return recent.get(label)
        return await self.app.button_data_for(platform=PLATFORM, chat_id=room_id, message_id=message_id, label=label)

    async def _press(self, room_id: str, event: dict[str, Any], *, target: str, data: str, label: str) -> None:
        press_id = event["event_id"]
        self._presses[press_id] = (event.get("sender", ""), target)
        await self._handle(
            self._incoming(
                room_id,
                event,
                EventKind.BUTTON,
                message_id=target,
                button_data=data,
                button_label=label,
                press_id=press_id,
            )
        )

    async def _on_own_membership(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        """The bot's own join into a group it was invited to is `BOT_ADDED` (from the inviter: the
        greeting, once per join event; rooms it created or followed an upgrade to are not);
        being kicked or banned is `BOT_REMOVED`."""
        membership = content.get("membership")
        sender = event.get("sender", "")
        if membership in ("leave", "ban") and sender != self.user_id:
            await self._handle(self._incoming(room_id, event, EventKind.BOT_REMOVED))
        elif membership == "join" and previous_membership(event) == "invite" and room_id not in self._direct_rooms():
            incoming = self._incoming(room_id, event, EventKind.BOT_ADDED)
            inviter = (event.get("unsigned") or {}).get("prev_sender")
            if isinstance(inviter, str) and inviter != self.user_id:
                incoming.sender = self._user(room_id, inviter)
            await self._handle(incoming)

    async def _on_member(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        membership = content.get("membership")
        previous = (event.get("unsigned") or {}).get("prev_content", {}).get("membership")
        member = event.get("state_key", "")
        if membership == "join" and previous != "join":
            kind = EventKind.MEMBER_JOINED
        elif membership in ("leave", "ban") and previous == "join":
            kind = EventKind.MEMBER_LEFT
        else:
            return
        incoming = self._incoming(room_id, event, kind, message_id=event.get("event_id"))
        incoming.sender = self._user(room_id, member)
        await self._handle(incoming)

    async def _on_tombstone(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        new_room = content.get("replacement_room")
        if not new_room:
            return
        await self._handle(
            self._incoming(
                room_id, event, EventKind.CHAT_MIGRATED, message_id=event.get("event_id"), new_chat_id=new_room
            )
        )
        # The replacement is joined like an accepted invite (and tried again the same way).
        if new_room not in self.invites:
            await self._keep_invite(PendingInvite(room_id=new_room, inviter=event.get("sender", ""), upgrade=True))

    # --- invites ------------------------------------------------------------------------------
    def _invite_key(self, room_id: str) -> str:
        return self._kv_key(f"invite:{room_id}")

    async def _load_invites(self) -> None:
        async with self.app.sessions() as session:
            stored = await kv.values_with_prefix(session=session, prefix=self._invite_key(""))
        self.invites = {}
        for value in stored.values():
            invite = PendingInvite(**json.loads(value))
            self.invites[invite.room_id] = invite
        if self.invites:
            log.info("matrix: %d invites from before the restart are still to answer", len(self.invites))

    async def _keep_invite(self, invite: PendingInvite) -> None:
        await self._kv_set(f"invite:{invite.room_id}", json.dumps(asdict(invite)))
        self.invites[invite.room_id] = invite

    async def _forget_invite(self, room_id: str) -> None:
        async with self.app.sessions() as session:
            await kv.delete_value(session=session, key=self._invite_key(room_id))
            await session.commit()
        self.invites.pop(room_id, None)

    async def _note_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> None:
        """Store an invite seen in a sync (before the sync's position is), to be answered after it.
        An invite already stored keeps its schedule: a sync repeating it must not hurry a retry."""
        if room_id in self.invites and not self.invites[room_id].upgrade:
            return
        own = next((ev for ev in invite_state if own_membership(ev, self.user_id) == "invite"), None)
        if own is None:
            return
        inviter = str(own.get("sender", ""))
        direct = bool((own.get("content") or {}).get("is_direct"))
        log.info("matrix: invited to %s by %s%s", room_id, inviter, " (direct chat)" if direct else "")
        await self._keep_invite(PendingInvite(room_id=room_id, inviter=inviter, direct=direct))

    async def answer_invites(self) -> None:
        """Join or decline every pending invite that is due. A refusal keeps it pending: a rate
        limit for as long as `retry_after` says (and holds back the others as long), anything else
        with a growing pause; it stays stored until answered, so a restart goes on with it."""
        for room_id in list(self.invites):
            invite = self.invites.get(room_id)
            if invite is None or not invite.due(self.app.clock.now()) or self._stop.is_set():
                continue
            retry_after = await self._answer(invite)
            if retry_after is not None:  # the homeserver limits joins per account: the rest wait too
                hold = (self.app.clock.now() + timedelta(seconds=retry_after)).isoformat()
                for other in self.invites.values():
                    if other is not invite and other.due(self.app.clock.now()):
                        other.next_attempt = hold
                        await self._keep_invite(other)

    async def _answer(self, invite: PendingInvite) -> float | None:
        """One try at an invite; the homeserver's `retry_after` (seconds) when it rate-limited us."""
        join = invite.upgrade or await self.may_invite(invite.inviter, direct=invite.direct)
        try:
            resp = await (self.client.join(invite.room_id) if join else self.client.room_leave(invite.room_id))
        except NETWORK_ERRORS as error:
            await self._retry_invite(invite, f"network: {error!r}", None)
            return None
        if isinstance(resp, JoinResponse | RoomLeaveResponse):
            await self._forget_invite(invite.room_id)
            if join and invite.direct:
                await self._mark_direct(invite.inviter, invite.room_id)
            if invite.upgrade:
                log.info("matrix: joined %s, the replacement of an upgraded room", invite.room_id)
            elif join:
                log.info("matrix: joined %s, invited by %s", invite.room_id, invite.inviter)
            else:
                log.info("matrix: declined %s: %s, who invited the bot, is not staff", invite.room_id, invite.inviter)
            return None
        retry_after = None
        if isinstance(resp, ErrorResponse) and resp.status_code == "M_LIMIT_EXCEEDED":
            retry_after = (resp.retry_after_ms or 1000) / 1000
        await self._retry_invite(invite, str(resp), retry_after)
        return retry_after

    async def _retry_invite(self, invite: PendingInvite, error: str, retry_after: float | None) -> None:
        invite.attempts += 1
        wait = retry_after if retry_after is not None else min(INVITE_RETRY_CAP, 2.0**invite.attempts)
        invite.next_attempt = (self.app.clock.now() + timedelta(seconds=wait)).isoformat()
        invite.last_error = error[:500]
        await self._keep_invite(invite)
        log.warning(
            "matrix: answering the invite to %s (from %s) failed, try %d: %s; trying again in %.1fs",
            invite.room_id, invite.inviter, invite.attempts, error, wait,
        )

    async def may_invite(self, user_id: str, *, direct: bool) -> bool:
        async with self.app.sessions() as session:
            return await membership.may_add_bot(
                session=session, config=self.app.config, platform=PLATFORM, user_id=user_id, direct=direct
            )

    # --- end-to-end encryption ---------------------------------------------------------------
    async def _crypto_upkeep(self) -> None:
        """What nio's `sync_forever` does between syncs: publish the device's keys, learn the
        members' devices, open Olm sessions where needed, send queued to-device messages (room keys,
        key requests), and apply the admins' verifications."""
        client = self.client
        if client.olm is None:
            return
        async with self._crypto_lock:
            await self._crypto_steps()
        await self._apply_verifications()

    async def _crypto_steps(self) -> None:
        client = self.client
        if client.should_upload_keys:
            self._log_refusal(await client.keys_upload(), "uploading the device keys")
        if client.should_query_keys:
            self._log_refusal(await client.keys_query(), "querying the members' devices")
        if client.should_claim_keys:
            self._log_refusal(await client.keys_claim(client.get_users_for_key_claiming()), "claiming one-time keys")
        await client.send_to_device_messages()

    @staticmethod
    def _log_refusal(resp: object, what: str) -> None:
        if isinstance(resp, ErrorResponse):
            log.warning("matrix: %s failed: %s", what, resp)

    def _verification_key(self, user_id: str, device_id: str) -> str:
        return self._kv_key(f"verify:{user_id}|{device_id}")

    async def _apply_verifications(self) -> None:
        """Devices an admin verified (`liaison-bot matrix verify`, stored as a request with the
        device's fingerprint): marked verified once the device is known and its key matches."""
        async with self.app.sessions() as session:
            requests = await kv.values_with_prefix(session=session, prefix=self._kv_key("verify:"))
        for key, fingerprint in requests.items():
            user_id, _sep, device_id = key.rsplit("verify:", 1)[1].partition("|")
            device = self.client.device_store.active_user_devices(user_id)
            found = next((d for d in device if d.id == device_id), None)
            if found is None:
                self.client.olm.users_for_key_query.add(user_id)  # type: ignore[union-attr]
                continue
            if found.ed25519.replace(" ", "") != fingerprint.replace(" ", ""):
                log.warning(
                    "matrix: not verifying %s's device %s: its key %s is not the fingerprint given (%s)",
                    user_id, device_id, found.ed25519, fingerprint,
                )
            else:
                self.client.verify_device(found)
                log.info("matrix: %s's device %s verified by an admin", user_id, device_id)
            async with self.app.sessions() as session:
                await kv.delete_value(session=session, key=key)
                await session.commit()

    def _unreadable_key(self, event_id: str) -> str:
        return self._kv_key(f"undecrypted:{event_id}")

    async def _load_unreadable(self) -> None:
        async with self.app.sessions() as session:
            stored = await kv.values_with_prefix(session=session, prefix=self._unreadable_key(""))
        self.unreadable = {}
        for value in stored.values():
            record = Unreadable(**json.loads(value))
            self.unreadable[str(record.event.get("event_id"))] = record

    async def _keep_unreadable(self, room_id: str, event: dict[str, Any]) -> None:
        """An event nio could not decrypt: stored (so a restart keeps it), its key requested from
        the sender's devices and ours, tried again whenever keys arrive (`retry_unreadable`)."""
        event_id = str(event["event_id"])
        if event_id in self.unreadable:
            return
        megolm = self._megolm(room_id, event)
        if megolm is None:
            log.warning("matrix: skipping %s in %s: encrypted with %s, which the bot does not read",
                        event_id, room_id, (event.get("content") or {}).get("algorithm"))
            return
        record = Unreadable(room_id=room_id, event=event, first_seen=self.app.clock.now().isoformat())
        await self._kv_set(f"undecrypted:{event_id}", json.dumps(asdict(record)))
        self.unreadable[event_id] = record
        try:
            await self.client.request_room_key(megolm)
        except LocalProtocolError:
            pass  # this session's key is already asked for
        log.info(
            "matrix: cannot decrypt %s from %s in %s yet (no key for session %s): kept, key requested",
            event_id, event.get("sender"), room_id, megolm.session_id,
        )

    @staticmethod
    def _megolm(room_id: str, event: dict[str, Any]) -> MegolmEvent | None:
        if (event.get("content") or {}).get("algorithm") != MEGOLM:
            return None
        parsed = MegolmEvent.from_dict(event)
        if not isinstance(parsed, MegolmEvent):
            return None
        parsed.room_id = room_id
        return parsed

    async def retry_unreadable(self) -> None:
        """Decrypt what was kept, now that keys may have arrived, and hand it to the intake; tell
        the staff once about a message still unreadable after `report_unreadable_after`."""
        now = self.app.clock.now()
        for event_id, record in list(self.unreadable.items()):
            megolm = self._megolm(record.room_id, record.event)
            decrypted = None
            if megolm is not None and self.client.olm is not None:
                try:
                    decrypted = self.client.decrypt_event(megolm)
                except EncryptionError:
                    decrypted = None
            if decrypted is not None and getattr(decrypted, "source", {}).get("type") not in (None, "m.room.encrypted"):
                log.info("matrix: decrypted %s in %s now that its key arrived", event_id, record.room_id)
                self._seen.pop(event_id, None)  # it was seen as an encrypted event, not yet as what it says
                await self._on_events(record.room_id, [decrypted.source])
                await self._forget_unreadable(event_id)
                continue
            age = now - datetime.fromisoformat(record.first_seen)
            if not record.reported and age >= self.report_unreadable_after:
                await self._report_unreadable(record)
            if age >= UNREADABLE_KEPT:
                log.warning("matrix: giving up on %s in %s: no key arrived in %s", event_id, record.room_id, age)
                await self._forget_unreadable(event_id)

    async def _report_unreadable(self, record: Unreadable) -> None:
        room = self.client.rooms.get(record.room_id)
        ts = record.event.get("origin_server_ts")
        sent_at = datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int | float) else self.app.clock.now()
        async with self.app.sessions() as session:
            await membership.report_unreadable_message(
                session=session, config=self.app.config, platform=PLATFORM, chat_id=record.room_id,
                chat_title=room.display_name if room is not None else record.room_id,
                sender=str(record.event.get("sender", "")), sent_at=sent_at,
                message_id=str(record.event.get("event_id")), now=self.app.clock.now(),
            )
            await session.commit()
        self.app.outbox.wake.set()
        record.reported = True
        await self._kv_set(f"undecrypted:{record.event.get('event_id')}", json.dumps(asdict(record)))
        log.warning("matrix: %s in %s is still unreadable: the staff were told", record.event.get("event_id"),
                    record.room_id)

    async def _forget_unreadable(self, event_id: str) -> None:
        async with self.app.sessions() as session:
            await kv.delete_value(session=session, key=self._unreadable_key(event_id))
            await session.commit()
        self.unreadable.pop(event_id, None)

    # --- direct rooms -------------------------------------------------------------------------
    async def _mark_direct(self, user_id: str, room_id: str) -> None:
        rooms = self.direct.setdefault(user_id, [])
        if room_id in rooms:
            return
        rooms.append(room_id)
        path = Api._build_path(["user", self.user_id, "account_data", "m.direct"])
        resp = await self.client.send(
            "PUT", path, json.dumps(self.direct), headers={"Authorization": f"Bearer {self.client.access_token}"}
        )
        if resp.status >= 300:
            log.warning("matrix: could not update m.direct (%s): %s", resp.status, await resp.text())

    async def _usable_dm(self, user_id: str) -> str | None:
        """The newest m.direct room with this user that both of us are still in (or invited to)."""
        for room_id in reversed(self.direct.get(user_id, [])):
            room = self.client.rooms.get(room_id)
            if room is not None and self.user_id in room.users:
                if user_id in room.users or user_id in room.invited_users:
                    return room_id
                continue
            # Not synced yet (just created, or before the first sync after a restart): ask the server.
            resp = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
            if isinstance(resp, RoomGetStateEventResponse) and resp.content.get("membership") in ("join", "invite"):
                return room_id
        return None

    async def dm_room(self, user_id: str) -> str:
        """The direct room with a user: an existing one from m.direct, else a new one marked there."""
        async with self._dm_lock:
            existing = await self._usable_dm(user_id)
            if existing:
                return existing
            resp = await self.client.room_create(
                is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
                initial_state=[EnableEncryptionBuilder().as_dict()],  # as Element creates direct chats
            )
            if not isinstance(resp, RoomCreateResponse):
                self._raise_for(resp, dm=True)
            self._invitees[resp.room_id] = user_id
            await self._mark_direct(user_id, resp.room_id)
            return resp.room_id

    # --- Transport ----------------------------------------------------------------------------
    async def send(self, message: Outgoing) -> Sent:
        """Post one `m.notice` (HTML and plain), as a reply/in the thread when asked, with its buttons
        seeded as reactions. The outbox's transaction id makes a retry return the same event."""
        await self.start()
        try:
            if message.chat_id:
                room_id = message.chat_id
            elif message.dm_user_id:
                room_id = await self.dm_room(message.dm_user_id)
            else:
                raise Undeliverable("no chat and no person to send to", code="no_target")
            txn = message.txn_id or uuid.uuid4().hex
            mentions = set(message.mentions)
            if message.reply_to:
                # The spec asks a reply to mention the replied-to sender: the resident gets notified.
                replied_sender = await self._sender_of(room_id, message.reply_to)
                if replied_sender and replied_sender != self.user_id:
                    mentions.add(replied_sender)
            content = self.content(message, mentions=mentions)
            if message.attachment is not None:
                content = await self._with_file(room_id, content, message.attachment)
            resp = await self._put(room_id, "m.room.message", content, txn)
            if not isinstance(resp, RoomSendResponse):
                self._raise_for(resp, dm=message.dm_user_id is not None)
            if message.buttons:
                self._sent_buttons[resp.event_id] = {button.label: button.data for button in message.buttons}
            for index, button in enumerate(message.buttons):
                reaction = {
                    "m.relates_to": {"rel_type": "m.annotation", "event_id": resp.event_id, "key": button.label}
                }
                seeded = await self._put(room_id, "m.reaction", reaction, f"{txn}-b{index}")
                if not isinstance(seeded, RoomSendResponse):
                    self._raise_for(seeded, dm=False)
        except NETWORK_ERRORS as error:
            raise RetryLater(f"network: {error!r}") from error
        return Sent(message_id=resp.event_id, chat_id=room_id)

    async def _put(self, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> object:
        """Send one event (encrypted in an encrypted room), honouring M_LIMIT_EXCEEDED's ``retry_after_ms``.

        A short wait (up to `max_inline_wait`) is taken here, in order and without burning an outbox
        attempt, and the retry reuses the transaction id, so it cannot post twice; a longer one is
        handed back to the outbox as `RetryLater(retry_after)`.
        """
        await self._until_synced(room_id)
        for _try in range(5):
            wait = self._limited_until - time.monotonic()
            if wait > self.max_inline_wait:
                raise RetryLater(f"M_LIMIT_EXCEEDED: waiting {wait:.1f}s", retry_after=wait)
            if wait > 0:
                await asyncio.sleep(wait)
            resp = await self._room_send(room_id, event_type, content, txn)
            if not (isinstance(resp, ErrorResponse) and resp.status_code == "M_LIMIT_EXCEEDED"):
                return resp
            self.rate_limited += 1
            retry = (resp.retry_after_ms or 1000) / 1000
            self._limited_until = time.monotonic() + retry
            log.info("matrix: rate limited in %s, retry after %.2fs", room_id, retry)
        raise RetryLater("M_LIMIT_EXCEEDED repeatedly", retry_after=max(0.0, self._limited_until - time.monotonic()))

    async def _until_synced(self, room_id: str) -> None:
        """nio encrypts only what it knows to be an encrypted room, for the members it knows: a room
        no sync of this run has brought yet (just created or joined, or before the first sync after
        a restart) waits for the next sync, briefly, else the outbox retries. Never sent in clear."""
        deadline = time.monotonic() + self.max_inline_wait
        while room_id not in self._synced_rooms or not self._invitee_known(room_id):
            if time.monotonic() > deadline:
                await self._check_membership(room_id)
                raise RetryLater(f"{room_id} not synced yet", retry_after=1.0)
            self._synced.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), timeout=max(0.0, deadline - time.monotonic()))

    async def _check_membership(self, room_id: str) -> None:
        """A room no sync brings: the homeserver says whether the bot is in it at all."""
        resp = await self.client.room_get_state_event(room_id, "m.room.member", self.user_id)
        if isinstance(resp, ErrorResponse) and resp.status_code in ("M_FORBIDDEN", "M_NOT_FOUND"):
            raise Undeliverable(f"the bot is not in {room_id}: {resp}", code="forbidden")
        if isinstance(resp, RoomGetStateEventResponse) and resp.content.get("membership") != "join":
            raise Undeliverable(f"the bot is not in {room_id} ({resp.content.get('membership')})", code="forbidden")

    def _invitee_known(self, room_id: str) -> bool:
        """A direct room the bot created is known with its invitee: a sync may bring the new room
        before the invite, and a room key shared then would leave the invitee out."""
        invitee = self._invitees.get(room_id)
        room = self.client.rooms.get(room_id)
        if invitee is None:
            return True
        if room is None or invitee not in room.users:
            return False
        del self._invitees[room_id]
        return True

    async def _room_send(self, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> object:
        """`room_send` under the trust policy: on first use every member's device gets the room key;
        with `verified-only` a device no admin verified is blacklisted and gets none."""
        for _device in range(100):
            try:
                async with self._crypto_lock:  # never beside the sync loop's key queries and claims
                    room = self.client.rooms.get(room_id)
                    if room is not None and room.encrypted:
                        if not room.members_synced:
                            self._log_refusal(await self.client.joined_members(room_id), "loading the members")
                        await self._crypto_steps()  # know every member's devices before sharing the key
                    return await self.client.room_send(
                        room_id, event_type, content, tx_id=txn, ignore_unverified_devices=self.trust == "tofu"
                    )
            except OlmUnverifiedDeviceError as refusal:
                device = refusal.device
                self.client.blacklist_device(device)
                log.info(
                    "matrix: verified-only: no room keys for %s's unverified device %s (key %s)",
                    device.user_id, device.id, device.ed25519,
                )
        raise RetryLater(f"too many unverified devices in {room_id}")

    async def _sender_of(self, room_id: str, event_id: str) -> str | None:
        """Who sent an event: from the message log, else from the homeserver."""
        async with self.app.sessions() as session:
            logged = await messages_repo.get_message(
                session=session, platform=PLATFORM, chat_id=room_id, message_id=event_id
            )
            if logged is not None and logged.sender_account_id is not None:
                account = await session.get(Account, logged.sender_account_id)
                if account is not None:
                    return account.user_id
        resp = await self.client.room_get_event(room_id, event_id)
        if isinstance(resp, RoomGetEventResponse):
            return resp.event.sender
        return None

    def content(self, message: Outgoing, mentions: Iterable[str] = ()) -> dict[str, Any]:
        body = message.text
        formatted = message.html or text_to_html(message.text)
        if message.buttons:
            labels = " ".join(f"[{button.label}]" for button in message.buttons)
            body = f"{body}\n\n{labels}"
            formatted = f"{formatted}<br><br>{html.escape(labels)}"
        content: dict[str, Any] = {
            "msgtype": "m.notice",
            "body": body,
            "format": HTML_FORMAT,
            "formatted_body": formatted,
            "m.mentions": {"user_ids": sorted(set(message.mentions) | set(mentions))},
        }
        if message.thread_id:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": message.thread_id,
                "is_falling_back": not message.reply_to or message.reply_to == message.thread_id,
                "m.in_reply_to": {"event_id": message.reply_to or message.thread_id},
            }
        elif message.reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
        return content

    async def _with_file(self, room_id: str, content: dict[str, Any], attachment: Attachment) -> dict[str, Any]:
        """Upload the file to the media repository and make the message an `m.file` (a ledger) or
        `m.image` (a chart) event; its text stays the body, which with `filename` is the caption.
        In an encrypted room the file is encrypted too (the key travels in the encrypted event)."""
        await self._until_synced(room_id)
        room = self.client.rooms.get(room_id)
        encrypted = room is not None and room.encrypted
        resp, keys = await self.client.upload(
            io.BytesIO(attachment.data), content_type=attachment.mime, filename=attachment.filename,
            filesize=len(attachment.data), encrypt=encrypted,
        )
        if not isinstance(resp, UploadResponse):
            self._raise_for(resp, dm=False)
        msgtype = "m.image" if attachment.kind is FileKind.PHOTO else "m.file"
        located: dict[str, Any] = (
            {"file": {**(keys or {}), "url": resp.content_uri, "mimetype": attachment.mime}}
            if encrypted else {"url": resp.content_uri}
        )
        return {**content, "msgtype": msgtype, "filename": attachment.filename, **located,
                "info": {"mimetype": attachment.mime, "size": len(attachment.data)}}

    def _raise_for(self, resp: object, *, dm: bool) -> None:
        """Translate a homeserver refusal into the outbox's vocabulary."""
        if not isinstance(resp, ErrorResponse):
            raise RetryLater(f"unexpected answer: {resp!r}")
        code = resp.status_code or ""
        if code == "M_LIMIT_EXCEEDED":
            retry = resp.retry_after_ms / 1000 if resp.retry_after_ms else None
            raise RetryLater(str(resp), retry_after=retry)
        if code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_ROOM", "M_INVALID_PARAM", "M_BAD_JSON"):
            raise Undeliverable(str(resp), code="dm_failed" if dm else code.removeprefix("M_").lower())
        raise RetryLater(str(resp))

    def held_chats(self) -> frozenset[str]:
        """Synapse limits a sender, not a room: its 429s pause the whole platform (see the outbox)."""
        return frozenset()

    def is_held(self, chat_id: str) -> bool:
        return False

    def bot_names(self) -> frozenset[str]:
        """Its Matrix id and the id's localpart (`!bind@lianxi-bot`)."""
        user_id = self.client.user_id
        return frozenset({user_id, user_id[1:].split(":", 1)[0]}) if user_id else frozenset()

    def dm_invite_links(self) -> None:
        """None: a Matrix user opens a direct chat from the bot's profile."""
        return None

    async def answer_press(self, chat_id: str, press_id: str | None, text: str) -> None:
        """Matrix has no private answers: reply in the room under the pressed message, mentioning the presser."""
        sender, target = self._presses.get(press_id or "", ("", ""))
        message = Outgoing(text=text, chat_id=chat_id, reply_to=target or None, mentions=[sender] if sender else [])
        try:
            resp = await self._put(chat_id, "m.room.message", self.content(message), uuid.uuid4().hex)
        except (RetryLater, *NETWORK_ERRORS) as error:
            log.warning("matrix: answering a press in %s failed: %r", chat_id, error)
            return
        if not isinstance(resp, RoomSendResponse):
            log.warning("matrix: answering a press in %s failed: %s", chat_id, resp)


async def serve(app: App, settings: Settings, stop: asyncio.Event) -> None:
    """`liaison-bot run` entry point: the Matrix side of the bot until `stop` is set."""
    transport = MatrixTransport.from_settings(app, settings)
    app.add_transport(transport)
    stopper = asyncio.create_task(stop.wait(), name="matrix-stop")
    stopper.add_done_callback(lambda _task: transport.stop())
    try:
        await transport.run()
    finally:
        stopper.cancel()
        await transport.client.close()
