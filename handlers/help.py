"""/help: the commands this sender may run here, read from the permission table, in the station's language."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from handlers.context import Context
from handlers.i18n import _
from handlers.permissions import may_run
from handlers.router import SETUP_COMMANDS, ChatScope, Command, Feature


def help_feature(commands: Callable[[], Sequence[Command]]) -> Feature:
    """/help lists `commands()`: the registry is handed in by whoever composes the features
    (`handlers.features`), so this module needs no import of it."""

    async def help_command(ctx: Context) -> None:
        audiences = ctx.audiences()
        lines = [ctx.tr(_("您可以使用的命令："))]
        wrong_scope = ChatScope.GROUP if ctx.incoming.is_private else ChatScope.PRIVATE
        unbound = ctx.station is None and not ctx.incoming.is_private  # only what sets a station up runs here
        for command in commands():
            if unbound and command.name not in SETUP_COMMANDS:
                continue
            if command.scope is not wrong_scope and may_run(command.name, audiences):
                lines.append(f"{ctx.tr(command.usage)} — {ctx.tr(command.summary)}")
        if unbound and not ctx.is_admin:
            lines.append(ctx.tr(_("这个群还没有绑定联络站。")))
        lines.append(ctx.tr(_("居民在居民群发送「#建议 内容」即可提出意见建议；不想公开的，私信机器人发送，只有工作人员能看到。")))
        await ctx.reply("\n".join(lines))

    return Feature(name="help", commands=[Command("help", help_command, _("/help"), _("查看可用命令"))])
