"""The small protocol every platform adapter implements, and the errors it may raise.

Only the outbox dispatcher calls `send`; handlers write outbox rows (see `handlers.outbox`) and
learn what else they need of a platform through `Platforms`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "data": self.data}

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> Button:
        return cls(label=raw["label"], data=raw["data"])


class FileKind(StrEnum):
    DOCUMENT = "document"  # a ledger: Telegram sendDocument, Matrix m.file, a file on the console
    PHOTO = "photo"  # a chart: Telegram sendPhoto, Matrix m.image


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message; the message's text is its caption."""

    kind: FileKind
    filename: str
    mime: str
    data: bytes


@dataclass(slots=True)
class Outgoing:
    """One message to deliver: to a chat (`chat_id`) or to a person directly (`dm_user_id`)."""

    text: str
    chat_id: str | None = None
    dm_user_id: str | None = None
    reply_to: str | None = None
    thread_id: str | None = None
    html: str | None = None
    buttons: list[Button] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)  # platform user ids to mention intentionally
    txn_id: str | None = None  # idempotency key for platforms that accept one (Matrix)
    purpose: str = ""
    attachment: Attachment | None = None  # a file to send, `text` as its caption


@dataclass(frozen=True, slots=True)
class Sent:
    """What the platform accepted: its message id and the chat it landed in (a DM resolves one)."""

    message_id: str
    chat_id: str


class TransportError(Exception):
    """Base of delivery failures; the outbox decides what to do from the subclass."""


class RetryLater(TransportError):
    """Temporary: flood control or a network hiccup. `retry_after` seconds, when the platform said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Undeliverable(TransportError):
    """Permanent for this target: blocked DM, chat gone, bot removed. `code` names the cause."""

    def __init__(self, reason: str, code: str = "undeliverable") -> None:
        super().__init__(reason)
        self.code = code


class ChatMoved(TransportError):
    """The chat has a new id (Telegram supergroup upgrade); resend there."""

    def __init__(self, reason: str, new_chat_id: str) -> None:
        super().__init__(reason)
        self.new_chat_id = new_chat_id


@runtime_checkable
class Transport(Protocol):
    platform: str

    async def send(self, message: Outgoing) -> Sent:
        """Deliver one message; raise a `TransportError` subclass when it was not accepted."""
        ...

    async def answer_press(self, chat_id: str, press_id: str | None, text: str) -> None:
        """Answer a button press privately (Telegram's callback alert); may be a no-op."""
        ...

    def held_chats(self) -> frozenset[str]:
        """Chats whose flood limit is spent right now (Telegram: 20 messages a minute in a group).

        The outbox leaves their rows pending, in order, and sends other chats' meanwhile, so a
        busy group never keeps a deputy's reminder waiting. Empty where limits are per sender."""
        ...

    def is_held(self, chat_id: str) -> bool:
        """Whether `held_chats()` would name this chat, asked before each send of a batch."""
        ...

    def bot_names(self) -> frozenset[str]:
        """The names this bot answers to here (`/cmd@name`, `@name` mentions), known once logged
        in; empty where every name is this bot (the console)."""
        ...

    def dm_invite_links(self) -> Callable[[str], str] | None:
        """What makes a link that opens a private chat with the bot and sends `/start <code>`
        (Telegram's deep link), given the code; None where the platform has no such links."""
        ...


class Platforms:
    """What handlers may learn from the platforms the bot runs on, read from their transports:
    the bot's own names and how to invite someone to a private chat. Sending is not among it:
    only the outbox dispatcher sends."""

    def __init__(self, transports: Mapping[str, Transport]) -> None:
        self._transports = transports

    def bot_names(self, platform: str) -> frozenset[str]:
        transport = self._transports.get(platform)
        return transport.bot_names() if transport is not None else frozenset()

    def dm_invite_links(self, platform: str) -> Callable[[str], str] | None:
        transport = self._transports.get(platform)
        return transport.dm_invite_links() if transport is not None else None
