"""Writing outbox rows: the only way a handler or a schedule makes the bot say something.

Rows are written in the caller's transaction, so a message exists exactly when the change
that caused it was committed; the dispatcher in `bot/outbox.py` delivers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Incoming
from handlers.masking import mask_text
from handlers.transport import Attachment, Button
from storage import messages as messages_repo
from storage import outbox as outbox_repo
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import Account, ChatPurpose, Direction, Item, Message, Outbox, OutboxFile, OutboxState, RoleName
from storage.rows import id_of, new_row


async def to_chat(
    *,
    session: AsyncSession,
    key: str,
    purpose: str,
    platform: str,
    chat_id: str,
    text: str,
    now: datetime,
    due_at: datetime | None = None,
    reply_to: str | None = None,
    thread_id: str | None = None,
    buttons: Sequence[Button] = (),
    mentions: Sequence[str] = (),
    station_id: int | None = None,
    item_id: int | None = None,
    item: Item | None = None,
    follow_moves: bool = True,
    new_key: bool = False,
    private: bool | None = None,
    attachment: Attachment | None = None,
) -> tuple[Outbox, bool]:
    """A message into a chat. `follow_moves=False` when answering in the chat an event just came
    from: it cannot have moved, so the lookup is spared. `item` instead of `item_id` for an item
    staged in this transaction; `new_key` when the key names something made in this transaction
    (so it cannot exist yet) and the row may simply be staged with it. An `attachment` (a register,
    a chart) is sent with `text` as its caption.

    The personal data rule lives here: unless the chat is private (a direct chat, or a bound
    staff chat), personal data in `text` is masked (`handlers.masking`). `private=None` looks the
    chat up; callers that know (an answer in the chat the event came from) say so."""
    if private is None:
        private = await is_staff_chat(session=session, platform=platform, chat_id=chat_id)
    text = for_audience(text, private=private)
    current = (
        await stations_repo.current_chat_id(session=session, platform=platform, chat_id=chat_id)
        if follow_moves
        else chat_id
    )
    if current != chat_id:
        # The chat moved (supergroup / room upgrade): a reply can't point into the old chat.
        chat_id, reply_to, thread_id = current, None, None
    row = new_row(
        Outbox,
        key=key,
        purpose=purpose,
        platform=platform,
        chat_id=chat_id,
        reply_to=reply_to,
        thread_id=thread_id,
        text=text,
        buttons=[button.to_json() for button in buttons],
        mentions=list(mentions),
        station_id=station_id,
        item_id=item_id,
        due_at=due_at or now,
        created_at=now,
        txn_id="",
    )
    if new_key:
        assert attachment is None, "a file is stored with its row (new_key=False)"
        row.item = item
        return outbox_repo.stage(session=session, row=row), True
    assert item is None, "a staged item needs a staged row (new_key=True)"
    return await outbox_repo.enqueue(session=session, row=row, file=_stored(attachment, now))


def _stored(attachment: Attachment | None, now: datetime) -> OutboxFile | None:
    if attachment is None:
        return None
    return new_row(OutboxFile, kind=attachment.kind.value, filename=attachment.filename, mime=attachment.mime,
                   size=len(attachment.data), data=attachment.data, created_at=now)


def for_audience(text: str, *, private: bool) -> str:
    """The personal data rule: a text for anywhere but a private place is masked."""
    return text if private else mask_text(text)


async def revise_pending(*, session: AsyncSession, key: str, text: str, private: bool) -> bool:
    """Change what a message not sent yet will say (a pointer that turned out wrong); False when
    it went out already (or never existed)."""
    row = await outbox_repo.get_by_key(session=session, key=key)
    if row is None or row.state != OutboxState.PENDING:
        return False
    row.text = for_audience(text, private=private)
    session.add(row)
    return True


async def is_staff_chat(*, session: AsyncSession, platform: str, chat_id: str) -> bool:
    """Whether a chat is bound, and active, as a station's staff chat: the only group that may see
    residents' personal data. Anything else a group posts to is public."""
    binding = await stations_repo.get_binding(session=session, platform=platform, chat_id=chat_id)
    return binding is not None and binding.active and binding.purpose == ChatPurpose.STAFF


async def preferred_account(*, session: AsyncSession, person_id: int) -> Account | None:
    """The account a direct message goes to: the one the person used last, unblocked first."""
    accounts = await people_repo.accounts_of(session=session, person_id=person_id)
    usable = [account for account in accounts if not account.dm_blocked]
    return (usable or accounts or [None])[0]


async def to_person(
    *,
    session: AsyncSession,
    key: str,
    purpose: str,
    person_id: int,
    text: str,
    now: datetime,
    due_at: datetime | None = None,
    buttons: Sequence[Button] = (),
    station_id: int | None = None,
    item_id: int | None = None,
    attachment: Attachment | None = None,
    account: Account | None = None,
) -> tuple[Outbox | None, bool]:
    """A direct message (with a file, when given; to `account`, else to the account the person used
    last); (None, False) when the person has no platform account at all."""
    account = account or await preferred_account(session=session, person_id=person_id)
    if account is None:
        return None, False
    row = new_row(
        Outbox,
        key=key,
        purpose=purpose,
        platform=account.platform,
        person_id=person_id,
        account_id=account.id,
        text=text,
        buttons=[button.to_json() for button in buttons],
        station_id=station_id,
        item_id=item_id,
        due_at=due_at or now,
        created_at=now,
        txn_id="",
    )
    return await outbox_repo.enqueue(session=session, row=row, file=_stored(attachment, now))


async def admin_people(*, session: AsyncSession, admins: Iterable[str], now: datetime) -> list[int]:
    """Who the admins are: the accounts the settings name (`LIAISON_ADMINS`, made on first use)
    and the people holding the admin role."""
    ids: list[int] = []
    for entry in sorted(admins):
        platform, _sep, user_id = entry.partition(":")
        account = await people_repo.ensure_account(
            session=session, platform=platform, user_id=user_id, display_name=None, now=now, touch=False
        )
        ids.append(account.person_id)
    ids.extend(await people_repo.admin_ids(session=session))
    return list(dict.fromkeys(ids))


async def to_admins(
    *, session: AsyncSession, admins: Iterable[str], key: str, purpose: str, text: str, now: datetime,
    station_id: int | None = None, item_id: int | None = None,
) -> None:
    """A direct message to every admin, each row keyed `{key}:{person id}`: the last resort when a
    station has nobody to tell (or a chat has no station)."""
    for person_id in await admin_people(session=session, admins=admins, now=now):
        await to_person(session=session, key=f"{key}:{person_id}", purpose=purpose, person_id=person_id, text=text,
                        now=now, station_id=station_id, item_id=item_id)


async def to_staff(
    *, session: AsyncSession, station_id: int, key: str, purpose: str, text: str, now: datetime,
    item_id: int | None = None, told: Iterable[int] = (), buttons: Sequence[Button] = (),
) -> str:
    """A note for a station's staff: into its staff chats (rows keyed `{key}:chat:{binding}`); with
    none bound, to its liaisons and head directly (`{key}:person:{id}`, skipping `told`), so it is
    never lost. Returns where it went: "chat", "people", or "" when the station has neither."""
    staff_chats = await stations_repo.bindings_of(session=session, station_id=station_id, purpose=ChatPurpose.STAFF)
    for binding in staff_chats:
        await to_chat(session=session, key=f"{key}:chat:{binding.id}", purpose=purpose, platform=binding.platform,
                      chat_id=binding.chat_id, text=text, now=now, station_id=station_id, item_id=item_id,
                      private=True, buttons=buttons)
    if staff_chats:
        return "chat"
    done = set(told)
    reached = False
    for role in (RoleName.LIAISON, RoleName.HEAD):
        for person in await people_repo.people_with_role(session=session, station_id=station_id, role=role):
            person_id = id_of(person)
            if person_id in done:
                continue
            done.add(person_id)
            reached = True
            await to_person(session=session, key=f"{key}:person:{person_id}", purpose=purpose, person_id=person_id,
                            text=text, now=now, station_id=station_id, item_id=item_id, buttons=buttons)
    return "people" if reached else ""


async def replied_post(session: AsyncSession, incoming: Incoming) -> tuple[Message, Outbox] | None:
    """The bot's own message an incoming reply answers, with the outbox row it was sent from
    (its purpose says what the reply can mean); None for anything else."""
    if not incoming.reply_to:
        return None
    target = await messages_repo.get_message(
        session=session, platform=incoming.platform, chat_id=incoming.chat_id, message_id=incoming.reply_to
    )
    if target is None or target.direction != Direction.OUT or target.outbox_id is None:
        return None
    post = await session.get(Outbox, target.outbox_id)
    return None if post is None else (target, post)
