"""The message log: every message seen or sent, keyed by its platform id."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Account, ChatBinding, ChatPurpose, Direction, Message
from storage.rows import new_row


async def get_message(*, session: AsyncSession, platform: str, chat_id: str, message_id: str) -> Message | None:
    result = await session.exec(
        select(Message).where(
            Message.platform == platform, Message.chat_id == chat_id, Message.message_id == message_id
        )
    )
    return result.first()


# Built once, with parameters (a statement of the per-event path: see storage.people).
MESSAGES_BY_IDS = select(Message).where(
    col(Message.platform) == bindparam("platform"), col(Message.chat_id) == bindparam("chat_id"),
    col(Message.message_id).in_(bindparam("message_ids", expanding=True)),
)


async def messages_by_ids(
    *, session: AsyncSession, platform: str, chat_id: str, message_ids: Collection[str]
) -> dict[str, Message]:
    """The stored messages among `message_ids` of one chat, in one query."""
    if not message_ids:
        return {}
    result = await session.exec(
        MESSAGES_BY_IDS, params={"platform": platform, "chat_id": chat_id, "message_ids": list(message_ids)}
    )
    return {message.message_id: message for message in result.all()}


def add_incoming(
    *,
    session: AsyncSession,
    platform: str,
    chat_id: str,
    message_id: str,
    sender_account_id: int | None,
    text: str,
    reply_to: str | None,
    thread_id: str | None,
    now: datetime,
) -> Message:
    """Stage a message seen for the first time (the caller checked it is new); written at the next flush,
    so a batch of messages costs one flush, not one each."""
    row = new_row(
        Message,
        platform=platform,
        chat_id=chat_id,
        message_id=message_id,
        direction=Direction.IN,
        sender_account_id=sender_account_id,
        text=text,
        reply_to=reply_to,
        thread_id=thread_id,
        created_at=now,
    )
    session.add(row)
    return row


# Built once: a statement made per call spends longer on its cache key than SQLite on the write.
LOG_OUTGOING = Message.__table__.insert()  # type: ignore[attr-defined]


def outgoing_values(
    *,
    platform: str,
    chat_id: str,
    message_id: str,
    text: str,
    reply_to: str | None,
    buttons: list[dict[str, str]],
    item_id: int | None,
    outbox_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The parameters of `LOG_OUTGOING` for a message the bot sent."""
    return {"platform": platform, "chat_id": chat_id, "message_id": message_id, "direction": Direction.OUT,
            "text": text, "reply_to": reply_to, "buttons": buttons, "item_id": item_id, "outbox_id": outbox_id,
            "created_at": now}


async def record_outgoing(
    *,
    session: AsyncSession,
    platform: str,
    chat_id: str,
    message_id: str,
    text: str,
    reply_to: str | None,
    buttons: list[dict[str, str]],
    item_id: int | None,
    outbox_id: int | None,
    now: datetime,
) -> None:
    """Log a message the bot sent, at once (the outbox logs its sends with `outbox.record_sent`)."""
    connection = await session.connection()
    await connection.execute(LOG_OUTGOING, outgoing_values(
        platform=platform, chat_id=chat_id, message_id=message_id, text=text, reply_to=reply_to, buttons=buttons,
        item_id=item_id, outbox_id=outbox_id, now=now,
    ))


async def count_messages(*, session: AsyncSession, platform: str) -> int:
    result = await session.exec(select(func.count()).select_from(Message).where(Message.platform == platform))
    return int(result.one())



async def stations_posted_in(*, session: AsyncSession, person_id: int) -> list[int]:
    """The stations whose residents chats (bound and active) a person has written in: where they
    live, as far as the bot can tell."""
    result = await session.exec(
        select(ChatBinding.station_id).distinct()
        .join(Message, and_(col(Message.platform) == col(ChatBinding.platform),
                            col(Message.chat_id) == col(ChatBinding.chat_id)))
        .join(Account, col(Account.id) == col(Message.sender_account_id))
        .where(Account.person_id == person_id, col(ChatBinding.active), ChatBinding.purpose == ChatPurpose.RESIDENTS)
        .order_by(col(ChatBinding.station_id))
    )
    return list(result.all())
