"""SQLModel tables: the one source of truth for bindings, people, items, receptions and the outbox.

Every table is defined here, on one metadata, so nothing imports back into this module; the
repository functions live beside it (`storage/items.py`, `storage/receptions.py`, …), and how a
row is built and its id read is in `storage/rows.py`.

Every datetime is stored as UTC and handed back timezone-aware (see `UTCDateTime`), because
SQLite keeps no offset and "three days ahead" must be computed in each station's own zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import relationship
from sqlmodel import Field, Relationship, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; refuses naive input so a local time never sneaks in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def empty_list() -> list[Any]:
    """`default_factory=list` costs ~0.2 ms per row: pydantic inspects the factory's signature on
    every construction, and a builtin's signature is parsed from text. A plain function is cheap."""
    return []


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


class StationLevel(StrEnum):
    HOME = "home"  # 代表之家 (county)
    STATION = "station"  # 代表联络站 (township / street)
    ROOM = "room"  # 联络室 (village / community)
    PROFESSIONAL = "professional"  # 专业代表工作站


class ChatPurpose(StrEnum):
    RESIDENTS = "residents"
    STAFF = "staff"


class RoleName(StrEnum):
    ADMIN = "admin"
    HEAD = "head"
    LIAISON = "liaison"
    DEPUTY = "deputy"
    UNIT_CONTACT = "unit_contact"  # the contact person of a handling unit (承办单位联系人): no deputy


class CongressLevel(StrEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"


class ItemStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REOPENED = "reopened"
    CLOSED = "closed"
    MERGED = "merged"  # a duplicate: handled as one with the item it was merged into (its reporter a supporter)


OPEN_STATUSES = (ItemStatus.NEW, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.REOPENED)


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


DEFAULT_TAGS = ["建议", "意见", "求助", "反映", "投诉", "suggestion", "issue", "help"]
# The categories (类别) an item is filed under when a station has not set its own list.
DEFAULT_CATEGORIES = ["交通出行", "环境卫生", "物业管理", "社会保障", "教育医疗", "城乡建设", "治安安全", "其他"]


class Station(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    level: str = Field(default=StationLevel.STATION, max_length=20)
    specialty: str | None = Field(default=None, max_length=100)
    parent_id: int | None = Field(default=None, foreign_key="station.id")
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    language: str | None = Field(default=None, max_length=10)
    tags: list[str] = Field(default_factory=lambda: list(DEFAULT_TAGS), sa_column=Column(JSON, nullable=False))
    next_item_number: int = Field(default=1)
    # Items a person's tagged messages make in a minute that are acknowledged one by one; the rest
    # of that minute's are acknowledged together in one reply (0: every one alone).
    acks_per_minute: int = Field(default=5)
    # The station's categories (None: DEFAULT_CATEGORIES) and where individual petition cases are
    # referred to (the county's 信访 office: address, hours), for /route petition.
    categories: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    petition_office: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()


class ChatBinding(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "chat_id", name="uq_binding_chat"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    chat_id: str = Field(max_length=255)
    station_id: int = Field(foreign_key="station.id", index=True)
    purpose: str = Field(default=ChatPurpose.RESIDENTS, max_length=20)
    active: bool = Field(default=True)
    title: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    display_name: str = Field(max_length=200)
    language: str | None = Field(default=None, max_length=10)
    created_at: datetime = _ts()


class Account(SQLModel, table=True):
    """One platform identity (`telegram:123456`, `matrix:@li:example.org`, `console:li`) of a person."""

    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_account_identity"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str = Field(max_length=20)
    user_id: str = Field(max_length=255)
    username: str | None = Field(default=None, max_length=255, index=True)
    display_name: str | None = Field(default=None, max_length=200)
    dm_chat_id: str | None = Field(default=None, max_length=255)
    dm_blocked: bool = Field(default=False)
    last_seen_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class RoleAssignment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("person_id", "station_id", "role", name="uq_role"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    station_id: int | None = Field(default=None, foreign_key="station.id", index=True)
    role: str = Field(max_length=20)
    congress_level: str | None = Field(default=None, max_length=20)
    active: bool = Field(default=True)
    created_at: datetime = _ts()


class Message(SQLModel, table=True):
    """Every message seen or sent, keyed by the platform's own id, so replies and redelivery work."""

    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id", name="uq_message_platform_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    chat_id: str = Field(max_length=255)
    message_id: str = Field(max_length=255)
    direction: str = Field(default=Direction.IN, max_length=3)
    sender_account_id: int | None = Field(default=None, foreign_key="account.id")
    text: str = Field(default="", sa_type=Text)
    reply_to: str | None = Field(default=None, max_length=255)
    thread_id: str | None = Field(default=None, max_length=255)
    buttons: list[dict[str, str]] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    # Plain ids, not foreign keys: item and outbox already point at messages, and a cycle of
    # foreign keys would make table creation order ambiguous.
    item_id: int | None = Field(default=None, index=True)
    outbox_id: int | None = Field(default=None)
    created_at: datetime = _ts()
    edited_at: datetime | None = _ts(nullable=True)


class Item(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("station_id", "number", name="uq_item_number"),
        # The figures (storage/reports.py): items received in a period, a station's open items, and
        # the items changed since a period ended.
        Index("ix_item_station_created", "station_id", "created_at"),
        Index("ix_item_station_status", "station_id", "status", "updated_at", "due_at"),
        Index("ix_item_updated_at", "updated_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    number: int
    status: str = Field(default=ItemStatus.NEW, max_length=20, index=True)
    tag: str = Field(max_length=50)
    text: str = Field(sa_type=Text)
    reporter_id: int = Field(foreign_key="person.id", index=True)
    source_message_id: int | None = Field(default=None, foreign_key="message.id")
    source_message: Message | None = Relationship(
        sa_relationship=relationship("Message", foreign_keys="[Item.source_message_id]", lazy="raise")
    )
    assignee_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    due_at: datetime | None = _ts(nullable=True)
    # When the deadline in force was set: chasing steps whose moment came before it are not sent.
    due_set_at: datetime | None = _ts(nullable=True)
    result: str | None = Field(default=None, sa_type=Text)
    rating: str | None = Field(default=None, max_length=30)
    reopen_count: int = Field(default=0)
    # Plain ids (an ALTER TABLE adds them on SQLite too): the handling unit (承办单位) beside or
    # instead of the assignee (then the 督办 deputy), the category (类别), and where the matter was
    # routed (township / county / city / petition: handlers.routing).
    unit_id: int | None = Field(default=None, index=True)
    category: str | None = Field(default=None, max_length=50)
    route: str | None = Field(default=None, max_length=20)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    # Raised in a direct message: never shown in any group, every update goes to the reporter privately.
    private: bool = Field(default=False)
    # A duplicate merged into another item (status merged): the item it is handled with. A plain
    # id, not a foreign key (as Message.item_id): an ALTER TABLE adds it on SQLite as well.
    merged_into_id: int | None = Field(default=None)
    muted: bool = Field(default=False)  # the reporter asked for no more updates on it (/mute)


class ItemEvent(SQLModel, table=True):
    """Append-only history of an item: who did what, when, from which status to which."""

    # The figures: a station's events of a kind in a period (resolved, rejected, rated), and an
    # item's events in order.
    __table_args__ = (
        Index("ix_itemevent_station_kind_at", "station_id", "kind", "at"),
        Index("ix_itemevent_item_at", "item_id", "at", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    item: Item | None = Relationship(sa_relationship=relationship("Item", lazy="raise"))
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = _ts()
    kind: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    note: str | None = Field(default=None, sa_type=Text)
    # The item's station, repeated so a station's events of a month are one index range (the
    # figures); a plain id (the item's foreign key already holds), so adding it needs no table rebuild.
    station_id: int | None = Field(default=None)
    # The item's deadline right after the event, so figures of a past month judge "on time" by the
    # deadline in force then, not by one set later.
    due_at: datetime | None = _ts(nullable=True)


class HandlingUnit(SQLModel, table=True):
    """A department a station hands matters to (街道城管科, 供电所): not a person, never on a roster;
    its contact person (a platform account), when it has one, gets its assignments by DM."""

    __tablename__ = "handling_unit"
    __table_args__ = (UniqueConstraint("station_id", "name", name="uq_unit_name"),)
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    name: str = Field(max_length=100)
    contact_id: int | None = Field(default=None, foreign_key="person.id")
    active: bool = Field(default=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Visitor(SQLModel, table=True):
    """Who brought an item in person, by phone or by letter (接待选民登记): name and phone stay here,
    in private places only; the item's reporter is a person without accounts named like them."""

    __table_args__ = (UniqueConstraint("item_id", name="uq_visitor_item"),)
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    reception_id: int | None = Field(default=None, foreign_key="reception.id", index=True)
    channel: str = Field(default="visit", max_length=10)  # visit (接待) | phone (来电) | letter (来信)
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=50)
    recorded_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts()


class FigureDelta(SQLModel, table=True):
    """A station's item figures kept per month as events happen: a change of `count` to `figure`
    in `month` (and `other`: see storage/figure_deltas.py, which keeps and reads them)."""

    __tablename__ = "figure_delta"
    station_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    figure: str = Field(primary_key=True, max_length=20)
    month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    other: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    count: int


class OutboxFile(SQLModel, table=True):
    """The file an outbox row sends (a ledger, a chart). Its bytes are dropped once the platform
    took the message, so sent exports don't pile up in the database; name and size stay."""

    __tablename__ = "outbox_file"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)  # handlers.transport.FileKind
    filename: str = Field(max_length=255)
    mime: str = Field(max_length=100)
    size: int
    data: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = _ts()


class Outbox(SQLModel, table=True):
    """Every bot-initiated message, written before it is sent; the unique key makes it once-only."""

    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    purpose: str = Field(max_length=50)
    platform: str = Field(max_length=20)
    chat_id: str | None = Field(default=None, max_length=255)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    account_id: int | None = Field(default=None, foreign_key="account.id")
    reply_to: str | None = Field(default=None, max_length=255)
    thread_id: str | None = Field(default=None, max_length=255)
    text: str = Field(sa_type=Text)
    html: str | None = Field(default=None, sa_type=Text)
    buttons: list[dict[str, str]] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    mentions: list[str] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    station_id: int | None = Field(default=None, foreign_key="station.id")
    item_id: int | None = Field(default=None, foreign_key="item.id")
    item: Item | None = Relationship(sa_relationship=relationship("Item", lazy="raise"))
    # A plain id, not a foreign key (as Message.item_id): an ALTER TABLE adds it on SQLite as well.
    attachment_id: int | None = Field(default=None)
    due_at: datetime = _ts()
    state: str = Field(default=OutboxState.PENDING, max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _ts()
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_message_id: str | None = Field(default=None, max_length=255)
    txn_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)


class SetAsideEvent(SQLModel, table=True):
    """An incoming event that failed by its own content too often: kept whole (nothing a user sent
    is lost), so intake goes on and a person can look at it; one row per platform event."""

    __table_args__ = (UniqueConstraint("platform", "event_id", name="uq_set_aside_event"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    event_id: str = Field(max_length=255)
    chat_id: str | None = Field(default=None, max_length=255)
    message_id: str | None = Field(default=None, max_length=255)
    sender: str | None = Field(default=None, max_length=255)  # platform:user id
    sender_name: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", sa_type=Text)
    payload: str = Field(default="", sa_type=Text)  # the platform's own serialisation of the event
    error: str = Field(default="", sa_type=Text)
    attempts: int = Field(default=0)
    created_at: datetime = _ts()


class KvState(SQLModel, table=True):
    """Small durable state of the adapters (sync tokens, device ids, counters)."""

    key: str = Field(primary_key=True, max_length=255)
    value: str = Field(sa_type=Text)
    updated_at: datetime = _ts()


# --- reception days (接待日): rules, concrete receptions, duties, per-station settings ---------------
DEFAULT_PER_RECEPTION = 2  # deputies on duty per reception


class HolidayPolicy(StrEnum):
    MOVE = "move"  # to the next working day
    SKIP = "skip"
    KEEP = "keep"


class ReceptionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    PRESENT = "present"  # on duty and signed in
    WALK_IN = "walk_in"  # not on duty, signed in anyway
    LEAVE = "leave"
    ABSENT = "absent"


class ReceptionSettings(SQLModel, table=True):
    """Per-station reception settings; a station without a row uses the defaults."""

    __tablename__ = "reception_settings"
    station_id: int = Field(primary_key=True, foreign_key="station.id")
    holiday_policy: str = Field(default=HolidayPolicy.MOVE, max_length=10)
    report_day: int = Field(default=1)  # day of month of the attendance report; 0 = off
    last_report_month: str | None = Field(default=None, max_length=7)  # "2026-11": already reported
    per_reception: int = Field(default=DEFAULT_PER_RECEPTION)
    updated_at: datetime = _ts()


class ReceptionRule(SQLModel, table=True):
    __tablename__ = "reception_rule"
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    rrule: str = Field(max_length=255)  # without DTSTART; anchored at `starts_on`
    text: str = Field(max_length=255)  # as the user wrote it, for listing
    starts_on: date
    start_time: time
    end_time: time
    place: str | None = Field(default=None, max_length=200)
    topic: str | None = Field(default=None, max_length=500)
    holiday_policy: str | None = Field(default=None, max_length=10)  # None: the station's setting
    active: bool = Field(default=True)
    materialized_through: date | None = Field(default=None)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts()


class Reception(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("rule_id", "rule_date", name="uq_reception_rule_date"),
        Index("ix_reception_status_start", "status", "starts_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    rule_id: int | None = Field(default=None, foreign_key="reception_rule.id")
    rule_date: date | None = Field(default=None)  # the rule's own date, before a holiday move
    local_date: date
    start_time: time
    end_time: time
    timezone: str = Field(max_length=64)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    place: str | None = Field(default=None, max_length=200)
    topic: str | None = Field(default=None, max_length=500)
    status: str = Field(default=ReceptionStatus.SCHEDULED, max_length=10)
    holiday_moved_from: date | None = Field(default=None)
    # Bumped by a move; reminder keys of a later revision differ, so the new date is reminded again.
    revision: int = Field(default=0)
    revised_at: datetime = _ts()
    # The revision for which each reminder stage was handled (-1: not yet).
    done7: int = Field(default=-1)
    done3: int = Field(default=-1)
    notice3: int = Field(default=-1)
    done1: int = Field(default=-1)
    liaisons_told: bool = Field(default=False)
    residents_told: bool = Field(default=False)
    closed_at: datetime | None = _ts(nullable=True)  # absences marked
    cancelled_at: datetime | None = _ts(nullable=True)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Duty(SQLModel, table=True):
    """One deputy at one reception: on the roster, on leave, confirmed, signed in, or a walk-in."""

    __table_args__ = (UniqueConstraint("reception_id", "person_id", name="uq_duty_person"),)
    id: int | None = Field(default=None, primary_key=True)
    reception_id: int = Field(foreign_key="reception.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    on_duty: bool = Field(default=True)
    told: bool = Field(default=False)  # got a direct message about this reception
    confirmed_at: datetime | None = _ts(nullable=True)
    leave_at: datetime | None = _ts(nullable=True)
    leave_reason: str | None = Field(default=None, max_length=500)
    leave_count: int = Field(default=0)
    checked_in_at: datetime | None = _ts(nullable=True)
    outcome: str | None = Field(default=None, max_length=10)
    assigned_at: datetime = _ts()


# --- duplicates and supporters, residents' notifications ------------------------------------------
class Supporter(SQLModel, table=True):
    """A resident who raised the same matter as an item (附议): the reporter of a duplicate merged
    into it, or someone who answered its acknowledgement with "+1" / "同问". One row per person
    and item; the result goes to them as it goes to the reporter."""

    __tablename__ = "supporter"
    __table_args__ = (UniqueConstraint("item_id", "person_id", name="uq_supporter_person"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    # Their own message (the duplicate's report, or the "+1" reply): the result is a reply to it.
    source_message_id: int | None = Field(default=None, foreign_key="message.id")
    merged_item_id: int | None = Field(default=None, foreign_key="item.id")  # the duplicate merged in
    rating: str | None = Field(default=None, max_length=30)  # their rating of the latest result
    rated_round: int | None = Field(default=None)
    muted: bool = Field(default=False)
    created_at: datetime = _ts()


class ResidentNotify(SQLModel, table=True):
    """A station's choice of direct messages to residents when their item is assigned or overdue
    (/notify); a station without a row: on for private reports, off for group items."""

    __tablename__ = "resident_notify"
    station_id: int = Field(primary_key=True, foreign_key="station.id")
    group_items: bool = Field(default=False)
    private_items: bool = Field(default=True)
    updated_at: datetime = _ts()


# --- deadlines (办理时限): the national holiday table, per-tag defaults, extension requests --------------
class DayKind(StrEnum):
    HOLIDAY = "holiday"  # a statutory holiday (法定节假日), no work even on a weekday
    WORKDAY = "workday"  # a make-up working day (调休上班), work even on a weekend


class CalendarOverride(SQLModel, table=True):
    """A span of days the admins entered from the State Council's schedule: national, so no
    station. It wins over chinese_calendar, and a year with a holiday entered counts as known."""

    __tablename__ = "calendar_override"
    id: int | None = Field(default=None, primary_key=True)
    first_day: date = Field(index=True)
    last_day: date = Field(index=True)
    kind: str = Field(max_length=10)  # DayKind
    name: str = Field(max_length=50)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts()


class TagDeadline(SQLModel, table=True):
    """A station's default number of working days for items of one tag (/tags days 求助 5)."""

    __tablename__ = "tag_deadline"
    station_id: int = Field(primary_key=True, foreign_key="station.id")
    tag: str = Field(primary_key=True, max_length=50)
    days: int


class ExtensionRequest(SQLModel, table=True):
    """An assignee's request for more time (/extend), until a staff member decides on it."""

    __tablename__ = "extension_request"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    station_id: int = Field(foreign_key="station.id")
    requested_by: int = Field(foreign_key="person.id")
    days: int
    reason: str = Field(sa_type=Text)
    due_at: datetime | None = _ts(nullable=True)  # the deadline the request was made against
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = _ts(nullable=True)
    approved: bool | None = Field(default=None)
    created_at: datetime = _ts()
