"""A fake transport and a chat driver for handler tests: real App, real database, no platform."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from bot.app import App
from handlers.events import ChatType, EventKind, Incoming, UserRef
from handlers.transport import Outgoing, Sent, TransportError

PLATFORM = "fake"


@dataclass
class Delivered:
    id: str
    chat: str  # chat id, or "dm:<user>" for a direct message
    text: str
    reply_to: str | None
    buttons: list[str]
    outgoing: Outgoing


@dataclass
class FakeTransport:
    """Records everything sent; `fail_next` queues errors to raise on the next sends."""

    platform: str = PLATFORM
    sent: list[Delivered] = field(default_factory=list)
    answers: list[tuple[str, str]] = field(default_factory=list)
    fail_next: list[TransportError] = field(default_factory=list)
    held: set[str] = field(default_factory=set)  # chats a test declares at their flood limit
    names: set[str] = field(default_factory=set)  # the bot's own names (`/cmd@name`); none: any name
    _ids: itertools.count = field(default_factory=lambda: itertools.count(10_000))

    async def send(self, message: Outgoing) -> Sent:
        if self.fail_next:
            raise self.fail_next.pop(0)
        chat = message.chat_id if message.chat_id is not None else f"dm:{message.dm_user_id}"
        message_id = str(next(self._ids))
        self.sent.append(
            Delivered(message_id, chat, message.text, message.reply_to, [b.label for b in message.buttons], message)
        )
        return Sent(message_id=message_id, chat_id=chat)

    async def answer_press(self, chat_id: str, press_id: str | None, text: str) -> None:
        self.answers.append((chat_id, text))

    def held_chats(self) -> frozenset[str]:
        return frozenset(self.held)

    def is_held(self, chat_id: str) -> bool:
        return chat_id in self.held

    def bot_names(self) -> frozenset[str]:
        return frozenset(self.names)

    def dm_invite_links(self) -> None:
        return None


class ChatDriver:
    """Speak as users in chats: each call handles the event, delivers what falls due, returns what was sent."""

    def __init__(self, app: App, transport: FakeTransport) -> None:
        self.app = app
        self.transport = transport
        self._message_ids = itertools.count(1)

    def _incoming(self, user: str, chat: str, **kwargs: object) -> Incoming:
        private = chat.startswith("dm:")
        return Incoming(
            platform=PLATFORM,
            chat_id=chat,
            chat_type=ChatType.PRIVATE if private else ChatType.GROUP,
            sender=UserRef(PLATFORM, user, display_name=user),
            **kwargs,  # type: ignore[arg-type]
        )

    async def _run(self, incoming: Incoming) -> list[Delivered]:
        before = len(self.transport.sent)
        await self.app.handle(incoming)
        await self.app.settle()
        return self.transport.sent[before:]

    async def say(
        self, user: str, chat: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> list[Delivered]:
        incoming = self._incoming(
            user, chat, kind=EventKind.MESSAGE, message_id=message_id or f"m{next(self._message_ids)}",
            text=text, reply_to=reply_to,
        )
        self.last_message_id = incoming.message_id
        return await self._run(incoming)

    async def edit(self, user: str, chat: str, message_id: str, text: str) -> list[Delivered]:
        return await self._run(self._incoming(user, chat, kind=EventKind.EDIT, message_id=message_id, text=text))

    async def press(self, user: str, chat: str, message_id: str, label: str) -> list[Delivered]:
        data = await self.app.button_data_for(platform=PLATFORM, chat_id=chat, message_id=message_id, label=label)
        return await self._run(
            self._incoming(
                user, chat, kind=EventKind.BUTTON, message_id=message_id, button_data=data, button_label=label
            )
        )

    async def press_data(self, user: str, chat: str, message_id: str, data: str) -> list[Delivered]:
        return await self._run(
            self._incoming(user, chat, kind=EventKind.BUTTON, message_id=message_id, button_data=data)
        )

    async def advance(self, moment: datetime) -> list[Delivered]:
        before = len(self.transport.sent)
        await self.app.advance_to(moment)
        return self.transport.sent[before:]


async def set_up_station(
    chat: ChatDriver,
    *,
    code: str = "lianxi",
    name: str = "濂溪社区联络站",
    residents: str | None = "lianxi",
    staff: str | None = "gongzuo",
    head: str | None = None,
    liaisons: Sequence[str] = (),
    deputies: Sequence[str] = (),
    introduce: Sequence[str] | None = None,
) -> ChatDriver:
    """A station set up as an admin does it, through the commands: `/station add`, the residents
    chat and the staff chat bound (None: not bound), the head, the liaisons and the deputies named
    ("li county": with a congress level). Then each of `introduce` (default: every person named)
    writes to the bot once, so it knows them and can write to them directly."""
    await chat.say("admin", "dm:admin", f"/station add {code} {name}")
    if residents is not None:
        await chat.say("admin", residents, f"/bind {code}")
    if staff is not None:
        await chat.say("admin", staff, f"/bind {code} staff")
    where = staff or residents
    if where is None:
        await chat.say("admin", "dm:admin", f"/use {code}")
        where = "dm:admin"
    roles = ([f"/head set {head}"] if head else []) + [f"/liaison add {user}" for user in liaisons]
    for command in [*roles, *(f"/deputy add {deputy}" for deputy in deputies)]:
        await chat.say("admin", where, command)
    people = [*([head] if head else []), *liaisons, *(deputy.split()[0] for deputy in deputies)]
    for user in people if introduce is None else introduce:
        await chat.say(user, f"dm:{user}", "/start")
    return chat


async def rows(app: App, model: type, *where: object) -> list:
    """Every row of a table (optionally filtered), in id order: what tests compare before and after."""
    async with app.sessions() as session:
        query = select(model)
        for clause in where:
            query = query.where(clause)
        if hasattr(model, "id"):
            query = query.order_by(col(model.id))
        return list((await session.exec(query)).all())
