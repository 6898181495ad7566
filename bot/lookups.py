"""What building a handler context reads, loaded for a whole batch of events in a few queries.

Every event needs its sender (account and person), the stored message it refers to, its chat's
binding and station, and the sender's roles. Asked one event at a time that is four queries an
event; `EventLookups.load` asks once per batch (grouped by platform and chat) and serves the
rest from memory. A single event is a batch of one: there is one way to build a context.

The lookups live in one session and one transaction. After a rollback they are stale and must be
loaded again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Incoming, UserRef
from handlers.router import is_plain_message
from storage import items as items_repo
from storage import messages as messages_repo
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import Account, ChatBinding, Message, Person, RoleAssignment, Station

MessageKey = tuple[str, str, str]  # platform, chat id, platform message id
RECENT_INTAKE = timedelta(minutes=1)  # how far back a sender's items are counted (the flood limit)


class EventLookups:
    def __init__(self) -> None:
        self._senders: dict[tuple[str, str], tuple[Account, Person]] = {}
        self._messages: dict[MessageKey, Message] = {}
        self._chats: dict[tuple[str, str], tuple[ChatBinding | None, Station | None]] = {}
        self._roles: dict[int, list[RoleAssignment]] = {}
        self._recent_items: dict[int, list[tuple[int, datetime]]] = {}  # person -> (station, created)

    @classmethod
    async def load(
        cls, session: AsyncSession, events: Sequence[Incoming], now: datetime | None = None
    ) -> EventLookups:
        """Everything the events need; with `now`, also the items their senders raised lately."""
        lookups = cls()
        users: dict[str, set[str]] = defaultdict(set)
        chats: dict[str, set[str]] = defaultdict(set)
        message_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        for event in events:
            users[event.sender.platform].add(event.sender.user_id)
            chats[event.platform].add(event.chat_id)
            if event.message_id is not None:
                message_ids[(event.platform, event.chat_id)].add(event.message_id)
        for platform, user_ids in users.items():
            found = await people_repo.accounts_with_persons(session=session, platform=platform, user_ids=user_ids)
            for user_id, pair in found.items():
                lookups._senders[(platform, user_id)] = pair
        for platform, chat_ids in chats.items():
            bound = await stations_repo.bindings_with_stations(session=session, platform=platform, chat_ids=chat_ids)
            for chat_id in chat_ids:
                binding, station = bound.get(chat_id, (None, None))
                lookups._chats[(platform, chat_id)] = (binding, station)
        for (platform, chat_id), ids in message_ids.items():
            stored = await messages_repo.messages_by_ids(
                session=session, platform=platform, chat_id=chat_id, message_ids=ids
            )
            for message_id, message in stored.items():
                lookups._messages[(platform, chat_id, message_id)] = message
        person_ids = {person.id for _, person in lookups._senders.values() if person.id is not None}
        lookups._roles = await people_repo.roles_of_many(session=session, person_ids=person_ids)
        if now is not None and any(is_plain_message(event) for event in events):
            lookups._recent_items = await items_repo.recent_by_reporters(
                session=session, reporter_ids=person_ids, since=now - RECENT_INTAKE
            )
        return lookups

    # --- `IntakeCounter`: a person's recent items, those of this batch included -----------------
    def count_since(self, station_id: int, person_id: int, since: datetime) -> int:
        return sum(1 for station, at in self._recent_items.get(person_id, ()) if station == station_id and at >= since)

    def add(self, station_id: int, person_id: int, at: datetime) -> None:
        self._recent_items.setdefault(person_id, []).append((station_id, at))

    async def sender(self, session: AsyncSession, user: UserRef, now: datetime) -> tuple[Account, Person]:
        """The sender's account and person, made on first sight; names and last-seen refreshed."""
        known = self._senders.get((user.platform, user.user_id))
        if known is None:
            known = await people_repo.ensure_person_account(
                session=session, platform=user.platform, user_id=user.user_id,
                display_name=user.display_name, username=user.username, now=now,
            )
            self._senders[(user.platform, user.user_id)] = known
            return known
        account, person = known
        await people_repo.ensure_account(
            session=session, platform=user.platform, user_id=user.user_id, display_name=user.display_name,
            username=user.username, now=now, known=account,
        )
        return account, person

    def message(self, platform: str, chat_id: str, message_id: str) -> Message | None:
        return self._messages.get((platform, chat_id, message_id))

    def remember(self, message: Message) -> None:
        """A message recorded in this batch: a later event about it (an edit) must find it."""
        self._messages[(message.platform, message.chat_id, message.message_id)] = message

    def chat(self, platform: str, chat_id: str) -> tuple[ChatBinding | None, Station | None]:
        return self._chats.get((platform, chat_id), (None, None))

    async def roles(self, session: AsyncSession, person_id: int) -> list[RoleAssignment]:
        roles = self._roles.get(person_id)
        if roles is None:  # someone first seen in this batch
            roles = self._roles[person_id] = await people_repo.roles_of(session=session, person_id=person_id)
        return roles
