"""The features the bot is made of, in dispatch order (also the order of /help and the menus)."""

from __future__ import annotations

from handlers import (
    attendance,
    categories,
    exports,
    extensions,
    holidays,
    items,
    merge,
    notify_prefs,
    people,
    private_reports,
    receptions,
    reports,
    routing,
    stations,
    stats,
    units,
    visits,
)
from handlers.help import help_feature
from handlers.permissions import PERMISSIONS, Audience
from handlers.router import ChatScope, Command, Feature


def all_features() -> list[Feature]:
    return [
        stations.FEATURE, people.FEATURE, help_feature(all_commands), private_reports.FEATURE, items.FEATURE,
        merge.FEATURE, notify_prefs.FEATURE, units.FEATURE, routing.FEATURE, visits.FEATURE, categories.FEATURE,
        receptions.FEATURE, attendance.FEATURE, stats.FEATURE, reports.FEATURE, exports.FEATURE,
        extensions.FEATURE, holidays.FEATURE,
    ]


def all_commands() -> list[Command]:
    return [command for feature in all_features() for command in feature.commands]


def menu_commands(*, private: bool | None, staff: bool) -> list[Command]:
    """The commands a platform menu should offer: in private chats, in groups, or both (None);
    to everyone (what residents may run) or to staff (everything)."""
    everyone = {Audience.ANYONE, Audience.REPORTER}
    wrong_scope = set()
    if private is not False:
        wrong_scope.add(ChatScope.GROUP)
    if private is not True:
        wrong_scope.add(ChatScope.PRIVATE)
    return [
        command
        for command in all_commands()
        if command.scope not in wrong_scope and (staff or PERMISSIONS[command.name] & everyone)
    ]
