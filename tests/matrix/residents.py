"""Residents (and liaisons, admins, strangers) as real matrix-nio clients against the test Synapse.

A ``Resident`` keeps every timeline event and invite it has synced, so a test waits for what it
expects (``wait_for``) with a long-polling sync bounded by a deadline, never with a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.api import Api
from nio.store import SqliteStore

Event = dict[str, Any]
MakeUser = Callable[..., Awaitable["Resident"]]
SYNC_FILTER = {"room": {"timeline": {"limit": 1000}}, "presence": {"not_types": ["*"]}}


class MatrixCallFailed(AssertionError):
    """A homeserver call a test relied on did not succeed; the message carries Synapse's answer."""


def _ok(resp: object, kind: type) -> Any:
    if not isinstance(resp, kind):
        raise MatrixCallFailed(f"expected {kind.__name__}, got {resp!r}")
    return resp


@dataclass
class Resident:
    """One logged-in Matrix account that records what it sees."""

    client: AsyncClient
    next_batch: str | None = None
    events: dict[str, list[Event]] = field(default_factory=dict)
    invites: dict[str, list[Event]] = field(default_factory=dict)
    left: set[str] = field(default_factory=set)
    to_device: list[Any] = field(default_factory=list)  # to-device events received (key requests, room keys)

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def close(self) -> None:
        await self.client.close()

    # --- sync and waiting ---

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        """One sync from the last token; records timeline events (as raw JSON) and invites."""
        resp = _ok(
            await self.client.sync(
                timeout=timeout_ms,
                since=self.next_batch,
                full_state=self.next_batch is None,
                sync_filter=SYNC_FILTER,  # a timeline long enough that a busy room seldom comes back `limited`
            ),
            SyncResponse,
        )
        self.next_batch = resp.next_batch
        self.to_device.extend(resp.to_device_events)
        await self.crypto_upkeep()
        for room_id, info in resp.rooms.join.items():
            self.left.discard(room_id)
            timeline = [ev.source for ev in info.timeline.events]
            if info.timeline.limited and info.timeline.prev_batch:
                timeline = await self._gap(room_id, info.timeline.prev_batch, timeline) + timeline
            self.events.setdefault(room_id, []).extend(timeline)
        for room_id, info in resp.rooms.invite.items():
            self.invites[room_id] = [ev.source for ev in info.invite_state]
        for room_id, info in resp.rooms.leave.items():
            self.left.add(room_id)
            self.events.setdefault(room_id, []).extend(ev.source for ev in info.timeline.events)
        return resp

    async def _gap(self, room_id: str, prev_batch: str, timeline: list[Event], pages: int = 10) -> list[Event]:
        """What Element does with a `limited` timeline: page back through `/messages` to the events
        it already has (decrypted where the key is there). A room just joined comes so (its history
        from before the join), and a room shared with another homeserver may too: a federated event
        whose predecessors the server has not got leaves a gap, which Synapse reports as `limited`.
        A page may repeat the timeline's own events (a room joined over federation): each is kept once."""
        recorded = {ev.get("event_id") for ev in self.events.get(room_id, [])}
        skip = recorded | {ev.get("event_id") for ev in timeline}
        earlier: list[Event] = []
        token: str | None = prev_batch
        for _page in range(pages):
            resp = _ok(await self.client.room_messages(room_id, start=token, limit=100), RoomMessagesResponse)
            chunk = [ev.source for ev in resp.chunk]
            earlier = [ev for ev in reversed(chunk) if ev.get("event_id") not in skip] + earlier
            skip |= {ev.get("event_id") for ev in chunk}
            reached = any(ev.get("event_id") in recorded for ev in chunk)  # back where the last sync ended
            if reached or not resp.chunk or not resp.end or resp.end == token:
                break
            token = resp.end
        return earlier

    async def crypto_upkeep(self) -> None:
        """What an encrypting client does between syncs (nio's `sync_forever` does the same)."""
        client = self.client
        if client.olm is None:
            return
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    def find(self, room_id: str | None, pred: Callable[[Event], bool]) -> list[Event]:
        rooms = [room_id] if room_id else list(self.events)
        return [ev for r in rooms for ev in self.events.get(r, []) if pred(ev)]

    async def wait_for(
        self,
        pred: Callable[[Event], bool],
        room_id: str | None = None,
        within: float = 30.0,
        count: int = 1,
        what: str = "event",
    ) -> list[Event]:
        """Sync until ``count`` recorded events match ``pred``; fails with what was seen on timeout."""
        deadline = time.monotonic() + within
        while True:
            found = self.find(room_id, pred)
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [
                    (ev.get("sender"), ev.get("type"), ev.get("content", {}).get("body"))
                    for ev in self.find(room_id, lambda _e: True)
                ][-15:]
                raise AssertionError(f"{self.user_id}: no {what} ({len(found)}/{count}) in {within}s; last seen {seen}")
            await self.sync(timeout_ms=int(min(remaining, 2.0) * 1000))

    async def wait_for_join(self, room_id: str, member: str) -> None:
        """Sync until `member` is seen joining `room_id`."""
        await self.wait_for(
            lambda ev: (
                ev.get("type") == "m.room.member"
                and ev.get("state_key") == member
                and ev["content"].get("membership") == "join"
            ),
            room_id,
            what=f"{member} joining",
        )

    async def wait_for_invite(self, room_id: str | None = None, within: float = 30.0) -> str:
        deadline = time.monotonic() + within
        while True:
            for rid in self.invites:
                if room_id in (None, rid):
                    return rid
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.user_id}: no invite in {within}s")
            await self.sync(timeout_ms=int(min(remaining, 2.0) * 1000))

    # --- actions ---

    async def create_room(self, *, invite: list[str] = (), name: str | None = None, **kwargs: Any) -> str:
        resp = _ok(await self.client.room_create(invite=list(invite), name=name, **kwargs), RoomCreateResponse)
        return resp.room_id

    async def join(self, room_id: str) -> None:
        _ok(await self.client.join(room_id), JoinResponse)
        self.invites.pop(room_id, None)

    async def invite(self, room_id: str, user_id: str) -> None:
        resp = await self.client.room_invite(room_id, user_id)
        if isinstance(resp, ErrorResponse):
            raise MatrixCallFailed(f"invite failed: {resp}")

    async def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        """Send an event; nio encrypts it when the room is encrypted (sharing the room key with
        every member's device, as Element does by default)."""
        await self._know(room_id)
        resp = _ok(
            await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True),
            RoomSendResponse,
        )
        return resp.event_id

    async def _know(self, room_id: str, within: float = 30.0) -> None:
        """An encrypting client sends only into rooms it has synced (it must know they are encrypted).
        A room joined on another homeserver comes in a sync only once its state is complete
        (Synapse's partial-state joins), so this may take a few syncs."""
        deadline = time.monotonic() + within
        while self.client.olm is not None and room_id not in self.client.rooms:
            if time.monotonic() > deadline:
                raise MatrixCallFailed(f"{self.user_id}: {room_id} never came in a sync")
            await self.sync(timeout_ms=500)

    async def send_encrypted(self, room_id: str, content: dict[str, Any], event_type: str) -> str:
        """Encrypt any event type as Element does (nio leaves reactions plain): the relation stays
        in the clear next to the ciphertext, so servers can still aggregate it."""
        await self._know(room_id)
        client = self.client
        room = client.rooms[room_id]
        if not room.members_synced:
            await client.joined_members(room_id)
        if client.should_query_keys:
            await client.keys_query()
        if client.olm is not None and client.olm.should_share_group_session(room_id):
            await client.share_group_session(room_id, ignore_unverified_devices=True)
        _type, payload = client.encrypt(room_id, event_type, dict(content))
        if "m.relates_to" in content:
            payload["m.relates_to"] = content["m.relates_to"]
        method, path, data = Api.room_send(client.access_token, room_id, "m.room.encrypted", payload, uuid4())
        resp = _ok(await client._send(RoomSendResponse, method, path, data, (room_id,)), RoomSendResponse)
        return resp.event_id

    async def say(self, room_id: str, body: str, *, reply_to: str | None = None, thread_root: str | None = None) -> str:
        """Send a plain text message, optionally as a reply and/or inside a thread."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread_root:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, content)

    async def react(self, room_id: str, event_id: str, key: str, *, encrypted: bool = False) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        if encrypted:
            return await self.send_encrypted(room_id, content, "m.reaction")
        return await self.send(room_id, content, "m.reaction")


def make_client(
    homeserver: str,
    user_id: str,
    access_token: str,
    device_id: str = "",
    max_limit_exceeded: int | None = 0,
    store_path: str | None = None,
) -> AsyncClient:
    """An nio client that by default returns 429s instead of retrying forever, so a test never hangs;
    with a `store_path` (and the device id) it encrypts like Element."""
    config = AsyncClientConfig(
        max_limit_exceeded=max_limit_exceeded, max_timeouts=2, request_timeout=30, encryption_enabled=False
    )
    if store_path is not None:
        config = AsyncClientConfig(
            max_limit_exceeded=max_limit_exceeded, max_timeouts=2, request_timeout=30, encryption_enabled=True,
            store=SqliteStore,
        )
    client = AsyncClient(homeserver, user_id, store_path=store_path or "", config=config)
    client.restore_login(user_id, device_id, access_token)
    return client
