"""Who may run which command: one declarative table, read by the router and by /help.

Station roles (head, liaison, deputy) count in the station the command acts on; admin counts
everywhere. ASSIGNEE and REPORTER are relations to one item, so the router lets such a
command through and the handler checks the item with `allowed_on_item`.
"""

from __future__ import annotations

from enum import StrEnum


class Audience(StrEnum):
    ADMIN = "admin"
    HEAD = "head"
    LIAISON = "liaison"
    DEPUTY = "deputy"
    UNIT_CONTACT = "unit_contact"  # the contact person of one of the station's handling units
    ASSIGNEE = "assignee"  # the deputy the item is assigned to, or its handling unit's contact
    REPORTER = "reporter"  # the resident who raised the item
    ANYONE = "anyone"


A = Audience
STAFF = frozenset({A.ADMIN, A.HEAD, A.LIAISON})
ITEM_RELATIONS = frozenset({A.ASSIGNEE, A.REPORTER})

PERMISSIONS: dict[str, frozenset[Audience]] = {
    # everyone
    "start": frozenset({A.ANYONE}),
    "help": frozenset({A.ANYONE}),
    "whoami": frozenset({A.ANYONE}),
    "my": frozenset({A.ANYONE}),
    "use": frozenset({A.ANYONE}),
    # station set-up
    "station": frozenset({A.ADMIN}),
    "stations": STAFF,
    "bind": STAFF,
    "unbind": STAFF,
    "deputy": STAFF,
    "deputies": STAFF | {A.DEPUTY},
    "liaison": frozenset({A.ADMIN, A.HEAD}),
    "head": frozenset({A.ADMIN}),
    "tags": STAFF,
    "language": STAFF,
    # items
    "items": STAFF | {A.DEPUTY, A.UNIT_CONTACT},
    "item": STAFF | {A.ASSIGNEE, A.REPORTER},
    "assign": STAFF,
    "progress": STAFF | {A.ASSIGNEE},
    "close": STAFF | {A.ASSIGNEE},
    "reject": STAFF,
    "reopen": STAFF,
    "extend": STAFF | {A.ASSIGNEE},
    # handling units, routing, visitors, categories
    "unit": STAFF,
    "units": STAFF | {A.DEPUTY},
    "tag": STAFF,
    "categories": STAFF,
    "merge": STAFF,
    "route": STAFF,
    "visit": STAFF | {A.DEPUTY},  # a deputy only on a day they are on duty (checked by the handler)
    "notify": STAFF,
    "mute": frozenset({A.REPORTER}),  # the reporter or a supporter of the item (the handler checks)
    "unmute": frozenset({A.REPORTER}),
    # reports
    "stats": STAFF,
    "publish": STAFF,
    "export": STAFF,
    # reception days
    "reception": STAFF,
    "receptions": STAFF | {A.DEPUTY},
    "duty": STAFF,
    "confirm": frozenset({A.DEPUTY}),
    "leave": frozenset({A.DEPUTY}),
    "checkin": frozenset({A.DEPUTY}),
    "attendance": STAFF,
    # the national holiday table and deadlines
    "holidays": STAFF | {A.DEPUTY},
    "holiday": frozenset({A.ADMIN}),
    "workday": frozenset({A.ADMIN}),
}


def station_audiences(*, is_admin: bool, station_roles: set[str]) -> set[Audience]:
    """The audiences a sender belongs to in one station, before any item is looked at."""
    audiences = {A.ANYONE}
    if is_admin:
        audiences.add(A.ADMIN)
    for role in station_roles:
        if role in (A.HEAD, A.LIAISON, A.DEPUTY, A.UNIT_CONTACT):
            audiences.add(Audience(role))
    return audiences


def may_run(command: str, audiences: set[Audience]) -> bool:
    """Whether the router lets the command through (item relations are checked later)."""
    allowed = PERMISSIONS.get(command)
    if allowed is None:
        return False
    if allowed & audiences:
        return True
    # Anyone may be a reporter; only a deputy or a unit's contact may be an assignee.
    if A.REPORTER in allowed:
        return True
    return A.ASSIGNEE in allowed and bool({A.DEPUTY, A.UNIT_CONTACT} & audiences)


def allowed_on_item(
    command: str, audiences: set[Audience], *, person_id: int, reporter_id: int, assignee_id: int | None,
    unit_contact_id: int | None = None,
) -> bool:
    allowed = PERMISSIONS.get(command, frozenset())
    if allowed & (audiences - ITEM_RELATIONS - {A.UNIT_CONTACT}):
        return True
    if A.ASSIGNEE in allowed and person_id in {assignee_id, unit_contact_id} - {None}:
        return True
    return A.REPORTER in allowed and reporter_id == person_id
