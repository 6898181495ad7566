"""Turns an `Incoming` into a call of the right feature handler.

Feature modules each export a `Feature` (their commands and hooks); the router composes them,
parses commands (`/cmd`, `/cmd@bot`, and `!cmd` for Matrix clients that swallow `/`), checks
the permission table, and turns a `CommandError` into a localized answer that changes nothing.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from handlers import outbox
from handlers.context import CommandError, Context
from handlers.events import EventKind, Incoming
from handlers.i18n import _
from handlers.permissions import PERMISSIONS, may_run
from storage.models import RoleName
from storage.stations import get_station_by_code

log = logging.getLogger(__name__)

Handler = Callable[[Context], Awaitable[None]]
# Hooks return True when they consumed the event, so later features don't see it.
Hook = Callable[[Context], Awaitable[bool]]

COMMAND_RE = re.compile(r"^[/!]([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_.:\-]+))?(?=\s|$)")


class ChatScope(StrEnum):
    """Where a command makes sense: anywhere, only in a group, or only in a private chat."""

    ANY = "any"
    GROUP = "group"
    PRIVATE = "private"


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    usage: str  # msgid: the syntax shown in /help and in usage errors
    summary: str  # msgid: one line for /help
    # Index of the argument that names the station the command acts on (e.g. /bind CODE); the
    # permission check then uses the sender's roles in that station instead of the chat's.
    station_arg: int | None = None
    scope: ChatScope = ChatScope.ANY


@dataclass(frozen=True)
class Feature:
    name: str
    commands: Sequence[Command] = ()
    on_message: Hook | None = None  # plain messages (no command)
    on_edit: Hook | None = None
    on_button: dict[str, Handler] = field(default_factory=dict)  # button data prefix -> handler
    on_chat_event: Hook | None = None  # joined / left / removed / migrated


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    addressee: str | None
    raw_args: str


def parse_command(text: str) -> ParsedCommand | None:
    """`/cmd args`, `/cmd@bot args`, `!cmd args`; typed with a Chinese keyboard too (`／help`,
    `！help`, fullwidth letters): the command word is read in its NFKC form."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    head, *rest = words
    match = COMMAND_RE.match(unicodedata.normalize("NFKC", head))
    if match is None:
        return None
    return ParsedCommand(name=match.group(1).lower(), addressee=match.group(2), raw_args=rest[0].strip() if rest else "")


def is_plain_message(event: Incoming) -> bool:
    """A new message that is no command: what a residents group sends all day, and what may be
    handled in batches (it changes nothing that a later event of the batch reads first)."""
    return event.kind is EventKind.MESSAGE and event.message_id is not None and parse_command(event.text) is None


# In a group no station is bound to, only what sets one up runs: the group is a place of unknown
# members, so everything else is answered with how to bind, never with data.
SETUP_COMMANDS = frozenset({"bind", "station", "help", "start"})


async def explain_unbound(ctx: Context) -> None:
    """Staff are told how to bind, every time (as a refusal). Anyone else is told once a day per
    group where to go instead, so a bot sitting in someone's unrelated group is not noisy."""
    if ctx.is_admin or any(role.role in (RoleName.HEAD, RoleName.LIAISON) for role in ctx.roles):
        raise ctx.error(_("这个群还没有绑定联络站。请先发送 /bind <站点代码>。"))
    incoming = ctx.incoming
    day = ctx.now().astimezone(ctx.zone()).date().isoformat()
    _row, created = await outbox.to_chat(
        session=ctx.session, key=f"unbound:{incoming.platform}:{incoming.chat_id}:{day}", purpose="error",
        platform=incoming.platform, chat_id=incoming.chat_id, reply_to=incoming.message_id,
        thread_id=incoming.thread_id, now=ctx.now(), follow_moves=False,
        text=ctx.tr(_(
            "这个群还没有绑定联络站，机器人在这里不办理事项，也不提供查询。"
            "反映问题请到本社区的居民群发送「#建议 内容」，或私信机器人。"
        )),
    )
    if not created:
        log.info("/%s in unbound chat %s not answered: told how to bind there today", ctx.command, incoming.chat_id)


class Router:
    def __init__(self, features: Sequence[Feature]) -> None:
        self.features = list(features)
        self.commands: dict[str, Command] = {}
        self.buttons: dict[str, Handler] = {}
        for feature in self.features:
            for command in feature.commands:
                if command.name in self.commands:
                    raise ValueError(f"command /{command.name} registered twice")
                if command.name not in PERMISSIONS:
                    raise ValueError(f"command /{command.name} has no entry in the permission table")
                self.commands[command.name] = command
            for prefix, handler in feature.on_button.items():
                if prefix in self.buttons:
                    raise ValueError(f"button prefix {prefix!r} registered twice")
                self.buttons[prefix] = handler

    def addresses_us(self, ctx: Context, addressee: str) -> bool:
        """`/cmd@thisbot` names this bot: one of the names the adapter registered (on a platform
        that registers none, such as the console, any name is this bot)."""
        names = {name.lower().lstrip("@") for name in ctx.platforms.bot_names(ctx.incoming.platform)}
        return not names or addressee.lower().lstrip("@") in names

    def is_addressed_to_us(self, ctx: Context, addressee: str | None) -> bool:
        return addressee is None or self.addresses_us(ctx, addressee)

    async def refuse(self, ctx: Context, refusal: CommandError) -> None:
        """Answer a refusal: privately for a button press, else as a reply."""
        if ctx.incoming.kind is EventKind.BUTTON:
            await ctx.answer(refusal.text)
        else:
            await ctx.reply(refusal.text, purpose="error")

    async def dispatch(self, ctx: Context) -> None:
        """Run the event through the features. A `CommandError` propagates: the caller rolls the
        transaction back (so the refusal changes nothing) and then calls `refuse`."""
        kind = ctx.incoming.kind
        if kind is EventKind.BUTTON:
            await self._dispatch_button(ctx)
            return
        if kind in (EventKind.MESSAGE, EventKind.EDIT):
            parsed = parse_command(ctx.incoming.text)
            if parsed is not None and kind is EventKind.MESSAGE:
                if ctx.incoming.addressed_to_other_bot or not self.is_addressed_to_us(ctx, parsed.addressee):
                    return
                await self._dispatch_command(ctx, parsed)
                return
            hook_name = "on_message" if kind is EventKind.MESSAGE else "on_edit"
            for feature in self.features:
                hook = getattr(feature, hook_name)
                if hook is not None and await hook(ctx):
                    return
            return
        for feature in self.features:
            if feature.on_chat_event is not None and await feature.on_chat_event(ctx):
                return

    async def _dispatch_command(self, ctx: Context, parsed: ParsedCommand) -> None:
        command = self.commands.get(parsed.name)
        if command is None:
            # A bare unknown command in a group may belong to another bot; one addressed to this
            # bot (`/cmd@thisbot`), or sent in a DM, is answered with the hint.
            if ctx.incoming.is_private or (parsed.addressee is not None and self.addresses_us(ctx, parsed.addressee)):
                raise ctx.error(_("不认识的命令 /{name}。发送 /help 查看可用命令。"), name=parsed.name)
            return
        ctx.command = command.name
        ctx.usage = command.usage
        if command.scope is ChatScope.GROUP and ctx.incoming.is_private:
            raise ctx.error(_("/{name} 要在群里发送，私聊中不能使用。"), name=command.name)
        if command.scope is ChatScope.PRIVATE and not ctx.incoming.is_private:
            raise ctx.error(_("/{name} 请私聊机器人发送。"), name=command.name)
        ctx.raw_args = parsed.raw_args
        ctx.args = parsed.raw_args.split()
        if command.station_arg is not None and len(ctx.args) > command.station_arg:
            named = await get_station_by_code(session=ctx.session, code=ctx.args[command.station_arg])
            if named is None:
                raise ctx.error(_("没有代码为 {code} 的联络站。"), code=ctx.args[command.station_arg])
            ctx.station = named
        if ctx.station is None and not ctx.incoming.is_private and command.name not in SETUP_COMMANDS:
            await explain_unbound(ctx)
            return
        if not may_run(command.name, ctx.audiences()):
            raise ctx.error(_("抱歉，您没有权限使用 /{name}。发送 /help 查看您可用的命令。"), name=command.name)
        await command.handler(ctx)

    async def _dispatch_button(self, ctx: Context) -> None:
        data = ctx.incoming.button_data or ""
        prefix = data.split(":", 1)[0]
        handler = self.buttons.get(prefix)
        if handler is None:
            raise ctx.error(_("这个按钮已失效。"))
        await handler(ctx)
