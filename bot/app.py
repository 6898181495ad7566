"""The running bot: one database, one clock, the router, the transports, the outbox and the ticks.

Adapters feed events through `guard` (`bot/intake.py`: runs of plain messages, bounded retries,
outages waited out); `handle(incoming)` opens one session per event, records the message
(idempotently), builds the handler context, dispatches, commits, and wakes the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.intake import EventGuard, RetryPolicy, incoming_runs
from bot.lookups import EventLookups
from bot.outbox import OutboxDispatcher
from handlers import delivery, set_aside
from handlers.clock import Clock, MovableClock
from handlers.context import CommandError, Context, CoreConfig
from handlers.events import EventKind, Incoming
from handlers.features import all_features
from handlers.router import Router
from handlers.transport import Platforms, Transport
from schedules import DueJob
from schedules.jobs import all_jobs
from storage import messages as messages_repo
from storage import outbox as outbox_repo
from storage.db import create_engine, session_factory
from storage.models import Account, Message, Outbox, RoleName
from storage.rows import id_of

log = logging.getLogger(__name__)


class App:
    def __init__(
        self,
        *,
        database_url: str,
        clock: Clock,
        config: CoreConfig,
        engine: AsyncEngine | None = None,
        max_attempts: int = 8,
        jobs: Sequence[DueJob] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.database_url = database_url
        self.engine = engine or create_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.clock = clock
        self.config = config
        self.router = Router(all_features())
        self.jobs: list[DueJob] = list(jobs if jobs is not None else all_jobs())
        self.transports: dict[str, Transport] = {}
        self.platforms = Platforms(self.transports)  # what handlers may ask of the transports
        # Every adapter processes its events through this guard (bounded retries, set aside, outages).
        self.guard = EventGuard(self, retry_policy or RetryPolicy())
        self.caught_up = asyncio.Event()  # set once a starting bot wrote what fell due while it was down
        self.outbox = OutboxDispatcher(
            sessions=self.sessions,
            clock=clock,
            transports=self.transports,
            database_url=database_url,
            max_attempts=max_attempts,
            on_dead=self._on_dead,
        )

    def add_transport(self, transport: Transport) -> None:
        self.transports[transport.platform] = transport

    async def close(self) -> None:
        await self.engine.dispose()

    # --- incoming -------------------------------------------------------------------------------
    async def handle(self, incoming: Incoming) -> None:
        """Process one platform event end to end; a redelivered message does nothing."""
        async with self.sessions() as session:
            ctx = await self._context(session, incoming, await EventLookups.load(session, [incoming], self.clock.now()))
            if ctx is None:
                await session.rollback()
                return
            try:
                await self.router.dispatch(ctx)
            except CommandError as refusal:
                # Nothing the handler did may stay; the message itself is still recorded (and so
                # recognised if redelivered), together with the answer.
                await session.rollback()
                ctx = await self._context(session, incoming, await EventLookups.load(session, [incoming], self.clock.now()))
                if ctx is None:
                    return
                await self.router.refuse(ctx, refusal)
            await session.commit()
        self.outbox.wake.set()

    async def handle_batch(self, events: Sequence[Incoming]) -> None:
        """Process events in their order, as `handle` would, but plain messages in one transaction.

        A busy group's messages arrive in batches (one getUpdates answer, one sync): storing them,
        making their items and queueing their acks together costs a few statements and one commit
        instead of a dozen statements and a commit each. Commands, edits, presses and chat events
        can change what later events see (a /bind, a role), so each of them runs alone, between
        the runs of plain messages (`bot.intake.plain_runs`). If anything in a run is refused, the
        run is rolled back and its events are handled one by one, so a refusal still changes
        nothing but its own event.
        """
        for segment in incoming_runs(events):
            if len(segment.sources) > 1:
                await self._handle_run(segment.events)
            else:
                await self.handle(segment.sources[0])

    async def _handle_run(self, events: Sequence[Incoming]) -> None:
        try:
            async with self.sessions() as session:
                lookups = await EventLookups.load(session, events, self.clock.now())
                for event in events:
                    ctx = await self._context(session, event, lookups)
                    if ctx is not None:
                        await self.router.dispatch(ctx)
                await session.commit()
        except CommandError:
            for event in events:
                await self.handle(event)
            return
        self.outbox.wake.set()

    async def _context(self, session: AsyncSession, incoming: Incoming, lookups: EventLookups) -> Context | None:
        """The handler context of an event, its message recorded; None for a redelivery (nothing to do)."""
        now = self.clock.now()
        account, person = await lookups.sender(session, incoming.sender, now)
        if incoming.kind is EventKind.EDIT and incoming.message_id is not None and (
            lookups.message(incoming.platform, incoming.chat_id, incoming.message_id) is None
        ):
            # An edit of a message we never saw (sent while the bot was away): nothing may be lost,
            # so it is taken as the new message it now is.
            incoming = replace(incoming, kind=EventKind.MESSAGE)
        message, fresh = None, False
        if incoming.kind is EventKind.MESSAGE and incoming.message_id is not None:
            if lookups.message(incoming.platform, incoming.chat_id, incoming.message_id) is not None:
                log.info("ignoring redelivered message %s in %s", incoming.message_id, incoming.chat_id)
                return None
            message, fresh = self._record_message(session, incoming, account, lookups, now), True
        elif incoming.kind in (EventKind.EDIT, EventKind.BUTTON) and incoming.message_id is not None:
            message = lookups.message(incoming.platform, incoming.chat_id, incoming.message_id)
            if incoming.kind is EventKind.EDIT and message is not None and message.text == incoming.text:
                return None  # a redelivered edit
        binding, bound_station = lookups.chat(incoming.platform, incoming.chat_id)
        roles = await lookups.roles(session, id_of(person))
        if binding is not None and binding.active:
            station = bound_station
        elif incoming.is_private:
            station = await delivery.station_for_private_chat(session=session, person_id=id_of(person), roles=roles)
        else:
            station = None
        is_admin = account_key(account) in self.config.admins or any(
            role.role == RoleName.ADMIN and role.station_id is None for role in roles
        )
        return Context(
            incoming=incoming, session=session, clock=self.clock, config=self.config, account=account,
            person=person, roles=roles, is_admin=is_admin, platforms=self.platforms, binding=binding,
            station=station, message=message, fresh_message=fresh, answer_press=self._answer_press,
            recent_intake=lookups,
        )

    @staticmethod
    def _record_message(
        session: AsyncSession, incoming: Incoming, account: Account, lookups: EventLookups, now: datetime
    ) -> Message:
        """Store a new incoming message (intake is idempotent on its platform id)."""
        message = messages_repo.add_incoming(
            session=session, platform=incoming.platform, chat_id=incoming.chat_id,
            message_id=incoming.message_id or "", sender_account_id=account.id, text=incoming.text,
            reply_to=incoming.reply_to, thread_id=incoming.thread_id, now=now,
        )
        lookups.remember(message)
        return message

    async def _answer_press(self, incoming: Incoming, text: str) -> None:
        transport = self.transports.get(incoming.platform)
        if transport is not None:
            await transport.answer_press(incoming.chat_id, incoming.press_id, text)

    async def button_data_for(self, *, platform: str, chat_id: str, message_id: str, label: str) -> str | None:
        """Map a button label under a bot message to its data (console presses, Matrix reactions)."""
        async with self.sessions() as session:
            message = await messages_repo.get_message(
                session=session, platform=platform, chat_id=chat_id, message_id=message_id
            )
        if message is None:
            return None
        for button in message.buttons:
            if button.get("label") == label:
                return button.get("data")
        return None

    # --- guarded intake -------------------------------------------------------------------------
    async def database_reachable(self) -> bool:
        """Whether the database answers at all: tells an outage from a failure of one event."""
        try:
            async with self.sessions() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        except Exception:
            return False
        return True

    async def set_aside_event(self, event: set_aside.SetAside, *, error: str, attempts: int) -> None:
        """Keep an event that failed by its own content, and tell the staff (once per event)."""
        async with self.sessions() as session:
            await set_aside.record(
                session=session, event=event, error=error, attempts=attempts, now=self.clock.now(), config=self.config
            )
            await session.commit()
        self.outbox.wake.set()

    # --- outgoing and time ----------------------------------------------------------------------
    async def _on_dead(self, session: AsyncSession, row: Outbox, code: str) -> None:
        await delivery.on_undeliverable(
            session=session, row=row, code=code, now=self.clock.now(), config=self.config, platforms=self.platforms
        )

    async def tick(self) -> None:
        """Run every schedule at the clock's now, then deliver what fell due."""
        await self.catch_up()
        await self.outbox.drain()

    async def deliver_after_catching_up(self, idle_seconds: float = 5.0) -> None:
        """The outbox of a starting bot: what fell due while it was down is written first, so it
        goes out in due order ahead of what intake answers meanwhile; then delivery runs."""
        await self.catch_up()
        self.caught_up.set()
        await self.outbox.run_forever(idle_seconds=idle_seconds)

    async def catch_up(self) -> None:
        """Run every schedule at the clock's now (writing outbox rows, sending nothing)."""
        now = self.clock.now()
        for job in self.jobs:
            async with self.sessions() as session:
                try:
                    await job.run_due(session=session, now=now, config=self.config)
                    await session.commit()
                except Exception:
                    log.exception("schedule %s failed at %s", job.name, now)
                    await session.rollback()

    async def settle(self) -> None:
        """Deliver everything due now, including what schedules produce (the console calls this)."""
        await self.tick()
        while await self.outbox.drain():
            pass

    async def next_due(self) -> datetime | None:
        now = self.clock.now()
        moments: list[datetime] = []
        async with self.sessions() as session:
            for job in self.jobs:
                moment = await job.next_due(session=session, now=now, config=self.config)
                if moment is not None:
                    moments.append(moment)
            pending = await outbox_repo.next_due_at(session=session)
            if pending is not None:
                moments.append(pending)
        future = [moment for moment in moments if moment > now]
        return min(future) if future else None

    async def advance_to(self, target: datetime) -> None:
        """Move a manual clock to `target`, stopping at every due moment on the way, in order."""
        clock = self.clock
        if not isinstance(clock, MovableClock):
            raise TypeError("only a movable clock (ManualClock, ShiftedClock) can be moved")
        await self.settle()
        while (moment := await self.next_due()) is not None and moment <= target:
            clock.set(moment)
            await self.settle()
        clock.set(target)
        await self.settle()


def account_key(account: Account) -> str:
    return f"{account.platform}:{account.user_id}"

