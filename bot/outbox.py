"""The outbox dispatcher: drains due rows through the platform transports, with retries.

A row is marked sent only after the platform accepted it. Temporary failures back off
(honouring the platform's retry-after); permanent ones mark the row dead and let the
handlers' delivery hook tell a human. On PostgreSQL rows are claimed with SKIP LOCKED, so
several processes may drain one database; on SQLite one process does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.clock import Clock
from handlers.transport import (
    Attachment,
    Button,
    ChatMoved,
    FileKind,
    Outgoing,
    RetryLater,
    Transport,
    TransportError,
    Undeliverable,
)
from storage import outbox as outbox_repo
from storage import stations as stations_repo
from storage.db import is_sqlite
from storage.models import Account, Outbox, OutboxState

log = logging.getLogger(__name__)

DeadHook = Callable[[AsyncSession, Outbox, str], Awaitable[None]]

BACKOFF_SECONDS = (5, 15, 60, 300, 900, 1800, 3600)
BATCH = 20  # rows read per query; each send is committed on its own
HELD_RECHECK_SECONDS = 1.0  # how often chats held by their flood limit are looked at again


def raise_if_cancelled() -> None:
    """Honour a cancellation that was swallowed on its way: through a send (seen with httpx, PTB's
    default HTTP client, and kept for any transport's library), or by Python 3.11's
    `asyncio.wait_for`, which returns normally when what it waits for finishes as the cancel
    arrives. The task comes back as if nothing happened, still marked as cancelling; without this,
    a cancelled dispatcher would go on (and wait forever for a drain lock its canceller holds)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def backoff(attempts: int, delays: Sequence[float] = BACKOFF_SECONDS) -> timedelta:
    """The pause after the `attempts`-th failed try: the schedule's entry, its last one after that."""
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


class OutboxDispatcher:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        transports: dict[str, Transport],
        database_url: str,
        max_attempts: int = 8,
        on_dead: DeadHook | None = None,
        retry_delays: Sequence[float] = BACKOFF_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.retry_delays = retry_delays
        self.clock = clock
        self.transports = transports
        self.max_attempts = max_attempts
        self.on_dead = on_dead
        self._lock_rows = not is_sqlite(database_url)
        self._drain_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self._stopping = False
        # Flood control pauses a whole platform (its later rows would only hit the same limit, and
        # must not overtake the held one); other platforms keep going.
        self._paused_until: dict[str, datetime] = {}

    def backoff(self, attempts: int) -> timedelta:
        return backoff(attempts, self.retry_delays)

    def stop(self) -> None:
        """Ask `run_forever` to end after the send in hand, its outcome committed. Cancelling
        instead can cut a send off after the platform took it but before it was recorded, and the
        message would go out again after a restart; the rows not yet tried stay pending."""
        self._stopping = True
        self.wake.set()

    def _open_platforms(self) -> list[str]:
        now = self.clock.now()
        return [name for name in self.transports if self._paused_until.get(name, now) <= now]

    def _held_chats(self) -> dict[str, frozenset[str]]:
        return {name: transport.held_chats() for name, transport in self.transports.items()}

    async def drain(self, *, limit: int = 1000) -> int:
        """Send every row due now (in due order); returns how many rows were attempted.

        Rows are read in batches of `BATCH` (one query), and each send's outcome is committed
        before the next send leaves: a crash repeats at most the one message in flight (Telegram
        has no idempotency key; Matrix's transaction id makes even that one harmless). A commit
        is one short write of SQLite's lock, so intake interleaves with delivery.

        With row locks (PostgreSQL, where several processes may drain one database) a batch is
        claimed FOR UPDATE SKIP LOCKED; each commit releases the claim, so each later row of the
        batch is claimed again just before its send, and a row another process took meanwhile is
        left to it. On SQLite one process drains.

        A chat whose flood limit is spent (`Transport.held_chats`) is passed over: its rows stay
        pending, in order, for a later drain, and every other chat's rows go meanwhile.
        """
        attempted = 0
        async with self._drain_lock:
            while attempted < limit and not self._stopping:
                async with self.sessions() as session:
                    rows = await outbox_repo.due_rows(
                        session=session, now=self.clock.now(), platforms=self._open_platforms(),
                        limit=BATCH, lock=self._lock_rows, held=self._held_chats(),
                    )
                    if not rows:
                        await session.commit()
                        return attempted
                    try:
                        attempted += await self._send_batch(session, rows)
                    except BaseException:
                        await self._record_before_leaving(session)
                        raise
                    await session.commit()
                    if len(rows) < BATCH or self._stopping:
                        return attempted  # a short batch was everything due (or not locked elsewhere)
        return attempted

    async def _send_batch(self, session: AsyncSession, rows: list[Outbox]) -> int:
        """Send a batch's rows in order, each outcome committed before the next send; returns
        how many were attempted."""
        passed_over: set[tuple[str, str | None]] = set()
        unsent = list(rows)
        attempted = 0
        claimed = True  # by the batch's query, until the first commit
        while unsent and not self._stopping:
            row = unsent.pop(0)
            if not self._may_send_now(row, passed_over):
                continue
            if not claimed and not await outbox_repo.claim(session=session, row=row, now=self.clock.now()):
                passed_over.add((row.platform, row.chat_id))  # another process took it: its chat waits
                continue
            with session.no_autoflush:  # nothing is written while the platform is being called
                await self._deliver(session, row)
            attempted += 1
            raise_if_cancelled()
            await session.commit()  # recorded before the next send leaves
            claimed = not self._lock_rows  # a commit releases row locks: each later row is claimed again
        return attempted

    def _may_send_now(self, row: Outbox, passed_over: set[tuple[str, str | None]]) -> bool:
        """Not if its platform was paused by flood control within this batch, or its chat is held
        (then its later rows are passed over too: a chat's messages keep their order)."""
        if row.platform not in self._open_platforms():
            return False
        chat = (row.platform, row.chat_id)
        if chat in passed_over or (row.chat_id is not None and self.transports[row.platform].is_held(row.chat_id)):
            passed_over.add(chat)
            return False
        return True

    async def _record_before_leaving(self, session: AsyncSession) -> None:
        """Commit what was sent before a batch was interrupted (cancelled at shutdown, or a bug),
        so it is not sent again; the interruption itself must not be masked by a failed commit."""
        try:
            await session.commit()
        except Exception:
            log.exception("could not record an interrupted batch of sends; they may be sent again")

    async def _deliver(self, session: AsyncSession, row: Outbox) -> None:
        """One attempt at one row: sent and recorded, or the failure decides when to try again."""
        transport = self.transports[row.platform]
        message = await self._outgoing(session, row)
        now = self.clock.now()
        attempts = row.attempts + 1
        try:
            sent = await transport.send(message)
        except Exception as error:
            row.attempts = attempts
            await self._on_failure(session, row, error, now)
        else:
            if message.attachment is not None:
                await outbox_repo.drop_file_data(session=session, row=row)
            await outbox_repo.record_sent(
                session=session, row=row, attempts=attempts, chat_id=sent.chat_id, message_id=sent.message_id, now=now
            )
        if row.state == OutboxState.PENDING and row.attempts >= self.max_attempts:
            await self._die(session, row, row.last_error or "too many attempts", "exhausted")

    async def _on_failure(self, session: AsyncSession, row: Outbox, error: Exception, now: datetime) -> None:
        """A moved chat follows its chat, flood control pauses the platform, a permanent refusal
        kills the row (a human is told); anything else is tried again after a backoff."""
        if isinstance(error, ChatMoved):
            if row.chat_id is not None:
                await stations_repo.move_chat(
                    session=session, platform=row.platform, old_chat_id=row.chat_id,
                    new_chat_id=error.new_chat_id, now=now,
                )
                row.chat_id = error.new_chat_id
                row.reply_to = row.thread_id = None  # the replied-to message stayed in the old chat
            row.attempts -= 1  # not the message's fault
            row.next_attempt_at = now
            row.last_error = str(error)
        elif isinstance(error, RetryLater) and error.retry_after:
            # Flood control is the platform's pace, not the message's fault: no attempt is spent.
            row.attempts -= 1
            until = now + timedelta(seconds=error.retry_after)
            self._paused_until[row.platform] = until
            self._retry_at(row, str(error), until)
        elif isinstance(error, Undeliverable):
            await self._die(session, row, str(error), error.code)
        elif isinstance(error, TransportError):
            self._retry_at(row, str(error), now + self.backoff(row.attempts))
        else:  # a bug or an unknown library error: keep the row, log loudly
            log.error("outbox row %s (%s) failed unexpectedly", row.id, row.key, exc_info=error)
            self._retry_at(row, f"{type(error).__name__}: {error}", now + self.backoff(row.attempts))

    def _retry_at(self, row: Outbox, error: str, when: datetime) -> None:
        row.last_error = error
        row.next_attempt_at = when
        log.warning("outbox row %s (%s) will retry at %s: %s", row.id, row.key, when, error)

    async def _die(self, session: AsyncSession, row: Outbox, error: str, code: str) -> None:
        row.state = OutboxState.DEAD
        row.last_error = f"{code}: {error}"
        log.error("outbox row %s (%s) is dead: %s", row.id, row.key, row.last_error)
        if self.on_dead is not None:
            await self.on_dead(session, row, code)

    async def _outgoing(self, session: AsyncSession, row: Outbox) -> Outgoing:
        dm_user_id = None
        if row.account_id is not None:
            account = await session.get(Account, row.account_id)
            dm_user_id = account.user_id if account else None
        return Outgoing(
            text=row.text,
            chat_id=row.chat_id,
            dm_user_id=dm_user_id,
            reply_to=row.reply_to,
            thread_id=row.thread_id,
            html=row.html,
            buttons=[Button.from_json(raw) for raw in row.buttons],
            mentions=list(row.mentions),
            txn_id=row.txn_id,
            purpose=row.purpose,
            attachment=await self._attachment(session, row),
        )

    @staticmethod
    async def _attachment(session: AsyncSession, row: Outbox) -> Attachment | None:
        stored = await outbox_repo.file_of(session=session, row=row)
        if stored is None or stored.data is None:
            return None
        return Attachment(kind=FileKind(stored.kind), filename=stored.filename, mime=stored.mime, data=stored.data)

    async def run_forever(self, idle_seconds: float = 5.0) -> None:
        """Drain whenever woken (a handler committed rows) or when the next row falls due, until `stop`."""
        try:
            await self._run(idle_seconds)
        finally:
            self._stopping = False  # `drain` works again, e.g. for a last delivery by hand

    async def _run(self, idle_seconds: float) -> None:
        while not self._stopping:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox drain failed; retrying")
            raise_if_cancelled()
            if self._stopping:
                return
            timeout = idle_seconds
            held = self._held_chats()
            async with self.sessions() as session:
                next_due = await outbox_repo.next_due_at(session=session, held=held)
            if next_due is not None:
                timeout = max(0.05, min(idle_seconds, (next_due - self.clock.now()).total_seconds()))
            if any(held.values()):
                timeout = min(timeout, HELD_RECHECK_SECONDS)  # a held chat may post again soon
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
            raise_if_cancelled()  # a wake-up coinciding with the cancel makes wait_for swallow it
            self.wake.clear()
