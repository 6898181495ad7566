"""How every adapter feeds the core: one implementation of each mechanism, for every platform.

- `plain_runs` cuts a platform's batch of events (a getUpdates answer, a room's sync) into runs
  of plain messages, which `App.handle_batch` handles in one transaction each, and the other
  events, which run alone in between (a /bind or a role change must be seen by what follows).
- `Backoff` and `StopSignal`: growing pauses after failures, and a pause that ends at once when
  the adapter is asked to stop.
- `EventGuard` processes an event until it is committed. While the database is unreachable (an
  outage) it waits and tries again without limit, so intake pauses and nothing is lost. A failure
  that comes from the event itself (its content trips a bug) gets `RetryPolicy.attempts` tries;
  then the event is *set aside*: stored whole, logged with its id, the staff told once, and
  intake goes on with the next event instead of stalling every station behind it.
- `EventGuard.feed` puts these together for a batch: runs together, a failed run one event at a
  time, each event guarded, and the adapter told which events are done (to confirm them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import exc as sa_exc

from handlers import set_aside
from handlers.events import Incoming
from handlers.router import is_plain_message

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")


# --- runs of plain messages ----------------------------------------------------------------------
@dataclass
class Segment(Generic[T]):
    """Consecutive plain messages (`events` filled: one transaction), or one other event alone."""

    sources: list[T]
    events: list[Incoming] = field(default_factory=list)

    @property
    def is_run(self) -> bool:
        return bool(self.events)


def plain_runs(pairs: Iterable[tuple[T, Incoming | None]]) -> list[Segment[T]]:
    """Cut (platform event, its plain message or None) pairs into segments, order kept."""
    segments: list[Segment[T]] = []
    run: Segment[T] | None = None
    for source, plain in pairs:
        if plain is None:
            segments.append(Segment([source]))
            run = None
            continue
        if run is None:
            run = Segment([], [])
            segments.append(run)
        run.sources.append(source)
        run.events.append(plain)
    return segments


def incoming_runs(events: Iterable[Incoming]) -> list[Segment[Incoming]]:
    """`plain_runs` for core events themselves."""
    return plain_runs((event, event if is_plain_message(event) else None) for event in events)


# --- pauses --------------------------------------------------------------------------------------
class StopSignal:
    """An adapter's "stop now"; `sleep` is a pause that ends early when it is set."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    async def sleep(self, seconds: float) -> bool:
        """Pause for `seconds`; False when stopped first (the caller should give up)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        return not self._event.is_set()


@dataclass
class Backoff:
    """Pauses that double from `first` up to `maximum`; `reset` after a success."""

    first: float = 1.0
    maximum: float = 60.0
    failures: int = 0

    def next(self) -> float:
        delay = min(self.maximum, self.first * 2**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing event is retried: `attempts` tries when the event itself is at fault."""

    attempts: int = 3
    first_delay: float = 0.2
    max_delay: float = 30.0

    def backoff(self) -> Backoff:
        return Backoff(first=self.first_delay, maximum=self.max_delay)


# --- guarding one event --------------------------------------------------------------------------
class Outcome(StrEnum):
    DONE = "done"  # committed
    SET_ASIDE = "set_aside"  # failed by its own content too often: stored, staff told
    STOPPED = "stopped"  # the adapter stopped first: not confirmed, the platform delivers it again
    DEFERRED = "deferred"  # an outage, and the caller asked not to wait it out (a webhook: answer 503)


OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # locked, disconnected, the server going away
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no connection from the pool in time
    TimeoutError,
    ConnectionError,
)


def describe_error(error: BaseException) -> str:
    """The exception's type and message and where it was raised, for the set-aside record."""
    lines = traceback.format_exception(error)
    return "".join(lines[-12:])[-4000:]


class EventGuard:
    """Processes events for an adapter: until committed, through outages, never stalled by one."""

    def __init__(self, app: App, policy: RetryPolicy) -> None:
        self.app = app
        self.policy = policy
        self.set_aside_count = 0

    async def is_outage(self, error: BaseException) -> bool:
        """Whether the failure says nothing about the event: the database is unreachable or busy."""
        if isinstance(error, OUTAGE_ERRORS):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        return not await self.app.database_reachable()

    async def run(
        self,
        work: Callable[[], Awaitable[None]],
        *,
        describe: Callable[[], set_aside.SetAside],
        stop: StopSignal,
        wait_out_outages: bool = True,
    ) -> Outcome:
        """Run `work` (one event's processing, committing) until it succeeds.

        An outage is waited out (with a growing pause) as long as it lasts, unless
        `wait_out_outages` is False; a failure of the event's own gets `policy.attempts` tries,
        then the event is set aside (`describe` says what to keep of it)."""
        backoff = self.policy.backoff()
        own_failures = 0
        while True:
            try:
                await work()
                return Outcome.DONE
            except Exception as error:
                outage = await self.is_outage(error)
                if not outage:
                    own_failures += 1
                    if own_failures >= self.policy.attempts and await self._set_aside(describe(), error, own_failures):
                        return Outcome.SET_ASIDE
                elif not wait_out_outages:
                    log.warning("database unavailable (%r); the event is left for the platform to deliver again",
                                error)
                    return Outcome.DEFERRED
                if stop.is_set():
                    return Outcome.STOPPED
                delay = backoff.next()
                if outage:
                    log.warning("database unavailable (%r); intake pauses, trying again in %.1fs", error, delay)
                else:
                    log.warning("event failed (%r), try %d of %d; again in %.1fs", error, own_failures,
                                self.policy.attempts, delay)
                if not await stop.sleep(delay):
                    return Outcome.STOPPED

    async def _set_aside(self, record: set_aside.SetAside, error: BaseException, attempts: int) -> bool:
        """Store the event and tell the staff; False if even that failed (then it is tried again)."""
        log.error("setting aside %s event %s after %d failures: %s", record.platform, record.event_id, attempts,
                  describe_error(error))
        try:
            await self.app.set_aside_event(record, error=describe_error(error), attempts=attempts)
        except Exception:
            log.exception("could not set aside %s event %s; it will be tried again", record.platform, record.event_id)
            return False
        self.set_aside_count += 1
        return True

    async def handle(self, incoming: Incoming, *, stop: StopSignal | None = None) -> Outcome:
        """One core event, guarded (the console's and the tests' way in)."""
        return await self.run(
            lambda: self.app.handle(incoming),
            describe=lambda: set_aside.SetAside.of(incoming),
            stop=stop or StopSignal(),
        )

    # --- a platform's batch ----------------------------------------------------------------------
    async def feed(
        self,
        pairs: Sequence[tuple[T, Incoming | None]],
        *,
        one: Callable[[T], Awaitable[Outcome]],
        done: Callable[[T], None],
        stop: StopSignal,
        where: str = "",
    ) -> bool:
        """Process a platform batch in order: each run of plain messages in one transaction, any
        other event alone through `one` (which guards it, usually with `run`). If a run fails, its events go through
        `one` one by one; those the run did commit are recognised there as redelivered. `done`
        is called for every event once it is committed (or set aside), in order, so the adapter
        may confirm it. False when stopped first: the rest stays unconfirmed."""
        for segment in plain_runs(pairs):
            if stop.is_set():
                return False
            if len(segment.events) > 1 and await self._run_together(segment.events, where):
                for source in segment.sources:
                    done(source)
                continue
            for source in segment.sources:
                if stop.is_set() or await one(source) not in (Outcome.DONE, Outcome.SET_ASIDE):
                    return False
                done(source)
        return True

    async def _run_together(self, events: list[Incoming], where: str) -> bool:
        try:
            await self.app.handle_batch(events)
        except Exception as error:
            log.warning("a batch of %d messages%s failed (%r); taking them one by one", len(events), where, error)
            return False
        return True
