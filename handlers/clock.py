"""The injected clock: real time in production, a movable one for the console and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""
        ...


@runtime_checkable
class MovableClock(Protocol):
    """A clock the console may move forward (`~ +3d`); never backwards."""

    def now(self) -> datetime: ...

    def set(self, moment: datetime) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Moves only when told; `set` refuses to go backwards so 'everything due runs once' holds."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        moment = moment.astimezone(UTC)
        if moment > self._now:
            self._now = moment


class ShiftedClock:
    """Real time, moved by an offset that `set` can only increase: the console on real time
    (`liaison-bot run` with no platform), where `~ +3d` works as the greeting says."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        now = self.now()
        if moment > now:
            self._offset += moment - now
