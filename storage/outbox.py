"""The outbox: rows first, delivery second. A unique key per (purpose, target) makes sends once-only."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.messages import LOG_OUTGOING, outgoing_values
from storage.models import Outbox, OutboxFile, OutboxState


async def get_by_key(*, session: AsyncSession, key: str) -> Outbox | None:
    result = await session.exec(select(Outbox).where(Outbox.key == key))
    return result.first()


async def enqueue(*, session: AsyncSession, row: Outbox, file: OutboxFile | None = None) -> tuple[Outbox, bool]:
    """Insert the row unless its key exists; returns (row, created). Never sends anything.

    One `INSERT … ON CONFLICT (key) DO NOTHING RETURNING id` round trip: a reminder tick writes
    thousands of rows, and two processes racing on one key cannot both insert it. A file is
    stored only when its row is new (an existing key keeps the file it was sent with).
    """
    if not row.txn_id:
        row.txn_id = uuid.uuid4().hex
    row.next_attempt_at = row.due_at
    if file is not None:
        existing = await get_by_key(session=session, key=row.key)
        if existing is not None:
            return existing, False
        session.add(file)
        await session.flush()
        row.attachment_id = file.id
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Outbox)
        .values(**row.model_dump(exclude={"id"}))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Outbox.id))
    )
    new_id = (await session.exec(statement)).scalar_one_or_none()
    if new_id is None:
        existing = await get_by_key(session=session, key=row.key)
        assert existing is not None
        return existing, False
    row.id = new_id
    return row, True


def stage(*, session: AsyncSession, row: Outbox) -> Outbox:
    """Add a row whose key cannot exist yet (it names something made in this transaction); written
    at the next flush with everything else, instead of one INSERT round trip of its own."""
    if not row.txn_id:
        row.txn_id = uuid.uuid4().hex
    row.next_attempt_at = row.due_at
    session.add(row)
    return row


HeldChats = Mapping[str, Collection[str]]  # platform -> chat ids its flood limits hold right now


def _not_held(held: HeldChats) -> list[ColumnElement[bool]]:
    """Conditions leaving out the rows of held chats (their turn comes when the chat may post);
    direct messages (no chat id yet) are never held here."""
    return [
        or_(
            col(Outbox.platform) != platform,
            col(Outbox.chat_id).is_(None),
            col(Outbox.chat_id).not_in(list(chats)),
        )
        for platform, chats in held.items()
        if chats
    ]


DUE_ORDER = (col(Outbox.due_at), col(Outbox.id))  # original order, even after a retry
# Built once, with parameters: the dispatcher asks after every batch (see storage.people).
DUE_ROWS = (
    select(Outbox)
    .where(
        Outbox.state == OutboxState.PENDING,
        col(Outbox.next_attempt_at) <= bindparam("now"),
        col(Outbox.platform).in_(bindparam("platforms", expanding=True)),
    )
    .order_by(*DUE_ORDER)
    .limit(bindparam("limit"))
)
DUE_ROWS_CLAIMED = DUE_ROWS.with_for_update(skip_locked=True)


async def due_rows(
    *,
    session: AsyncSession,
    now: datetime,
    platforms: Sequence[str],
    limit: int = 50,
    lock: bool = False,
    held: HeldChats | None = None,
) -> list[Outbox]:
    """Pending rows whose time has come, oldest first, for the platforms this process can reach
    and not for the chats in `held`.

    With `lock` (PostgreSQL) the rows are claimed FOR UPDATE SKIP LOCKED: another process
    draining the same database skips them until this transaction ends.
    """
    query = DUE_ROWS_CLAIMED if lock else DUE_ROWS
    extra = _not_held(held or {})
    if extra:  # a chat at its flood limit: rare enough to build the statement for
        query = query.where(*extra)
    result = await session.exec(query, params={"now": now, "platforms": list(platforms), "limit": limit})
    return list(result.all())


# Built once, with parameters: asked before every send of a batch on PostgreSQL.
CLAIM_ONE = (
    select(Outbox)
    .where(col(Outbox.id) == bindparam("row_id"), Outbox.state == OutboxState.PENDING,
           col(Outbox.next_attempt_at) <= bindparam("now"))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)


async def claim(*, session: AsyncSession, row: Outbox, now: datetime) -> bool:
    """Claim one row of a batch again after a commit released the batch (PostgreSQL), just before
    its send: False when another process took it meanwhile (locked, or no longer pending). The
    row is refreshed as it is now."""
    result = await session.exec(CLAIM_ONE, params={"row_id": row.id, "now": now})
    return result.first() is not None


async def next_due_at(*, session: AsyncSession, held: HeldChats | None = None) -> datetime | None:
    """When the next row not held by a chat's flood limit falls due (None: nothing pending)."""
    result = await session.exec(
        select(Outbox.next_attempt_at)
        .where(Outbox.state == OutboxState.PENDING, *_not_held(held or {}))
        .order_by(col(Outbox.next_attempt_at))
        .limit(1)
    )
    return result.first()


async def rows_for_item(*, session: AsyncSession, item_id: int) -> list[Outbox]:
    result = await session.exec(select(Outbox).where(Outbox.item_id == item_id).order_by(col(Outbox.id)))
    return list(result.all())



OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
# Built once: a statement made per call spends longer on its cache key than SQLite on the write.
MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(state=OutboxState.SENT, attempts=bindparam("attempts"), sent_at=bindparam("sent_at"),
            sent_message_id=bindparam("sent_message_id"), last_error=None)
)


async def record_sent(
    *, session: AsyncSession, row: Outbox, attempts: int, chat_id: str, message_id: str, now: datetime
) -> None:
    """Mark a row sent and log the message it became (in `chat_id`, as `message_id`), as two plain
    statements in one step.

    The dispatcher commits this after every send, before the next one leaves, so it runs for every
    message the bot sends: the ORM's unit of work (change tracking, flush ordering) cost more than
    the writes themselves. The row object is updated as if loaded so, leaving nothing to flush.
    """
    marked = {"row_id": row.id, "attempts": attempts, "sent_at": now, "sent_message_id": message_id}
    logged = outgoing_values(
        platform=row.platform, chat_id=chat_id, message_id=message_id, text=row.text, reply_to=row.reply_to,
        buttons=row.buttons, item_id=row.item_id, outbox_id=row.id, now=now,
    )

    def write(sync_session: Session) -> None:
        connection = sync_session.connection()
        if connection.dialect.name == "postgresql":
            # The commit that follows need not wait for the WAL to reach the disk: it is visible
            # at once and outlives the bot's own crash; only PostgreSQL's crash within a fraction
            # of a second could undo it, and then the message is sent again (never lost).
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        connection.execute(MARK_SENT, marked)
        connection.execute(LOG_OUTGOING, logged)

    await session.run_sync(write)
    for name, value in (("state", OutboxState.SENT), ("attempts", attempts), ("sent_at", now),
                        ("sent_message_id", message_id), ("last_error", None)):
        set_committed_value(row, name, value)


async def file_of(*, session: AsyncSession, row: Outbox) -> OutboxFile | None:
    """The file a row sends, with its bytes; None for a plain message (or once the bytes are gone)."""
    if row.attachment_id is None:
        return None
    stored = await session.get(OutboxFile, row.attachment_id)
    return stored if stored is not None and stored.data is not None else None


async def drop_file_data(*, session: AsyncSession, row: Outbox) -> None:
    """Forget a sent file's bytes (its name and size stay): the platform has it now."""
    if row.attachment_id is None:
        return
    stored = await session.get(OutboxFile, row.attachment_id)
    if stored is not None:
        stored.data = None
        session.add(stored)
