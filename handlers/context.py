"""What a handler gets: the event, the sender and their roles, the db session, the clock, a way to speak.

Handlers never reach a platform: `reply` and `notify_*` write outbox rows, and `answer_press` is
the one direct call (a press answer is ephemeral and must come within seconds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.clock import Clock
from handlers.events import EventKind, Incoming
from handlers.i18n import Translator, _, translator
from handlers.permissions import Audience, station_audiences
from handlers.transport import Attachment, Button, Platforms
from storage.models import Account, ChatBinding, ChatPurpose, Message, Person, RoleAssignment, RoleName, Station

PressAnswer = Callable[[Incoming, str], Awaitable[None]]


class IntakeCounter(Protocol):
    """How many items a person raised in a station lately, counting those of this very batch."""

    def count_since(self, station_id: int, person_id: int, since: datetime) -> int: ...

    def add(self, station_id: int, person_id: int, at: datetime) -> None: ...


class CommandError(Exception):
    """A refusal or a usage error; its (already translated) text goes back to the user, nothing changes.

    Handlers build it with `ctx.error(msgid, **values)` or `ctx.usage_error(msgid, **values)`; only a
    text composed of several translated parts is passed to `CommandError(text)` directly."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass
class CoreConfig:
    """The settings handlers need, decoupled from pydantic-settings."""

    admins: frozenset[str] = frozenset()
    language: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    reminder_hour: int = 9


@dataclass
class Context:
    incoming: Incoming
    session: AsyncSession
    clock: Clock
    config: CoreConfig
    account: Account
    person: Person
    roles: list[RoleAssignment]
    is_admin: bool
    platforms: Platforms
    binding: ChatBinding | None = None
    station: Station | None = None
    message: Message | None = None
    fresh_message: bool = False  # the message was first recorded by this event (not an edit or a replay)
    command: str | None = None
    args: list[str] = field(default_factory=list)
    raw_args: str = ""
    usage: str | None = None  # msgid of the running command's syntax
    answer_press: PressAnswer | None = None
    recent_intake: IntakeCounter | None = None  # for the per-person acknowledgement limit
    _replies: int = 0

    # --- time and language -------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def zone(self, station: Station | None = None) -> ZoneInfo:
        station = station or self.station
        return ZoneInfo(station.timezone if station else self.config.timezone)

    def language_for(self, station: Station | None = None, person: Person | None = None) -> str:
        station = station or self.station
        if station and station.language:
            return station.language
        if person and person.language:
            return person.language
        return self.config.language

    @property
    def tr(self) -> Translator:
        return translator(self.language_for(person=self.person))

    def error(self, msgid: str, /, **values: object) -> CommandError:
        """A refusal in the sender's language: `raise ctx.error(_("…{x}…"), x=…)`."""
        return CommandError(self.tr(msgid, **values))

    def usage_error(self, msgid: str | None = None, /, **values: object) -> CommandError:
        """'<what was wrong> / Usage: <syntax>' for the running command: `raise ctx.usage_error(_("…{x}…"), x=…)`;
        without a msgid, 'wrong arguments / Usage: <syntax>'."""
        usage = self.tr(self.usage or "")
        if msgid:
            problem = self.tr(msgid, **values)
            return CommandError(self.tr(_("{problem}\n用法：{usage}"), problem=problem, usage=usage))
        return CommandError(self.tr(_("参数不对。用法：{usage}"), usage=usage))

    # --- roles --------------------------------------------------------------------------------
    def station_roles(self, station_id: int | None = None) -> set[str]:
        station_id = station_id if station_id is not None else (self.station.id if self.station else None)
        return {role.role for role in self.roles if role.station_id == station_id and station_id is not None}

    def audiences(self, station_id: int | None = None) -> set[Audience]:
        return station_audiences(is_admin=self.is_admin, station_roles=self.station_roles(station_id))

    def is_staff(self, station_id: int | None = None) -> bool:
        roles = self.station_roles(station_id)
        return self.is_admin or RoleName.HEAD in roles or RoleName.LIAISON in roles

    @property
    def in_residents_chat(self) -> bool:
        return self.binding is not None and self.binding.active and self.binding.purpose == ChatPurpose.RESIDENTS

    @property
    def in_private_place(self) -> bool:
        """A direct chat or the station's staff chat: the places that may see residents' personal data."""
        if self.incoming.is_private:
            return True
        return self.binding is not None and self.binding.active and self.binding.purpose == ChatPurpose.STAFF

    def rest(self, skip: int) -> str:
        """The argument text after the first `skip` words, spaces inside kept."""
        parts = self.raw_args.split(maxsplit=skip)
        return parts[skip].strip() if len(parts) > skip else ""

    # --- speaking -----------------------------------------------------------------------------
    async def reply(
        self, text: str, *, buttons: Sequence[Button] = (), item_id: int | None = None, purpose: str = "reply",
        attachment: Attachment | None = None,
    ) -> None:
        """Answer in the chat the event came from, as a reply to the triggering message (with a
        file, `text` being its caption)."""
        self._replies += 1
        incoming = self.incoming
        # Two presses on one bot message are two events: the press id tells them apart.
        # Without a message id (a membership change) the platform's own time of the event stays
        # the same when the event is delivered again, so a redelivery is answered once.
        happened = incoming.timestamp or self.now()
        anchor = (
            (incoming.press_id if incoming.kind is EventKind.BUTTON and incoming.press_id else None)
            or incoming.message_id
            or f"t{int(happened.timestamp() * 1000)}"
        )
        key = f"reply:{incoming.platform}:{incoming.chat_id}:{anchor}:{incoming.kind}:{self._replies}"
        await outbox.to_chat(
            session=self.session,
            key=key,
            purpose=purpose,
            platform=incoming.platform,
            chat_id=incoming.chat_id,
            reply_to=incoming.message_id,
            thread_id=incoming.thread_id,
            text=text,
            buttons=buttons,
            now=self.now(),
            station_id=self.station.id if self.station else None,
            item_id=item_id,
            follow_moves=False,
            private=self.in_private_place,
            attachment=attachment,
        )

    async def answer(self, text: str) -> None:
        """Answer a button press privately where the platform can, else as a reply."""
        if self.answer_press is not None:
            await self.answer_press(self.incoming, text)
        else:
            await self.reply(text)
