"""Platform-neutral incoming events. Adapters in `bot/` build these; handlers only ever see these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    MESSAGE = "message"  # a new message (plain text, tagged text, or a command)
    EDIT = "edit"  # an existing message's text changed
    BUTTON = "button"  # a button pressed (Telegram callback, Matrix reaction, console !press)
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    BOT_ADDED = "bot_added"  # the bot was added to (or joined) a group chat
    BOT_REMOVED = "bot_removed"  # the bot was removed, kicked or banned from the chat
    CHAT_MIGRATED = "chat_migrated"  # the chat got a new id (Telegram supergroup, Matrix room upgrade)


class ChatType(StrEnum):
    GROUP = "group"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A platform identity as the adapter saw it; `user_id` is the stable platform id."""

    platform: str
    user_id: str
    display_name: str | None = None
    username: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(slots=True)
class Incoming:
    """One thing that happened in a chat, in the core's vocabulary.

    `message_id` is the platform's id of the message (for a button press: of the message that
    carries the button). `command`/`args` are filled by the core's parser, not by adapters.
    """

    kind: EventKind
    platform: str
    chat_id: str
    chat_type: ChatType
    sender: UserRef
    message_id: str | None = None
    text: str = ""
    reply_to: str | None = None
    thread_id: str | None = None
    button_data: str | None = None
    button_label: str | None = None
    press_id: str | None = None  # the platform's handle to answer a press privately
    mentions: list[UserRef] = field(default_factory=list)
    mentions_bot: bool = False
    addressed_to_other_bot: bool = False
    new_chat_id: str | None = None  # for CHAT_MIGRATED
    chat_title: str | None = None
    timestamp: datetime | None = None
    # Facts the adapter knows about the platform that a handler may need to explain itself
    # (e.g. Telegram privacy mode); never used to branch business rules by platform name.
    platform_notes: dict[str, str] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        return self.chat_type is ChatType.PRIVATE
