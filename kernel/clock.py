"""The city clock (银川时间): the one home of "now", "today" and local-day bounds.

Business dates are Beijing dates (Asia/Shanghai, UTC+8 all year): a batch issued at 00:30 on 1 January belongs
to the new year, a quota valid until 30 November sells until midnight in Yinchuan, "sold today" starts at local
midnight. Every instant the code keeps or compares is an aware UTC datetime, and every local bound is converted to
UTC here *before* it reaches a query: SQLite compares datetimes as text, so a ``+08:00`` bound against rows stored
as ``+00:00`` would be eight hours off.

The clock is injectable: production reads the system clock; tests install a :class:`FixedClock` with
:func:`use` (or move the whole process with ``time-machine``, which the system clock follows).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and for replaying a day."""

    def __init__(self, moment: datetime) -> None:
        self._moment = _aware(moment)

    def now(self) -> datetime:
        return self._moment

    def set(self, moment: datetime) -> None:
        self._moment = _aware(moment)

    def advance(self, delta: timedelta) -> None:
        self._moment += delta


_clock: Clock = SystemClock()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on the city clock")
    return moment.astimezone(UTC)


def install(new: Clock) -> Clock:
    """Make ``new`` the clock of the process; return the one it replaces."""
    global _clock
    previous, _clock = _clock, new
    return previous


@contextmanager
def use(new: Clock) -> Iterator[Clock]:
    """Run a block on another clock (tests: ``with clock.use(FixedClock(...))``)."""
    previous = install(new)
    try:
        yield new
    finally:
        install(previous)


def now() -> datetime:
    """The current instant as an aware UTC datetime (what the database stores and queries compare)."""
    return _aware(_clock.now())


def local_now() -> datetime:
    """The current instant in Yinchuan."""
    return now().astimezone(CITY_TZ)


def today() -> date:
    """Today's date in Yinchuan: the business date."""
    return local_now().date()


def local(moment: datetime) -> datetime:
    """An aware instant shown in Yinchuan time."""
    return _aware(moment).astimezone(CITY_TZ)


def local_date(moment: datetime) -> date:
    """The Yinchuan date of an aware instant."""
    return local(moment).date()


def day_start(day: date) -> datetime:
    """The first instant of a Yinchuan date, as UTC (a lower bound for queries: ``created_at >= day_start(d)``)."""
    return datetime.combine(day, time.min, CITY_TZ).astimezone(UTC)


def day_end(day: date) -> datetime:
    """The first instant after a Yinchuan date, as UTC (an exclusive upper bound: ``created_at < day_end(d)``)."""
    return day_start(day + timedelta(days=1))


def today_start() -> datetime:
    """The first instant of today in Yinchuan, as UTC."""
    return day_start(today())


def week_start(day: date) -> datetime:
    """The first instant of the Yinchuan week (Monday) containing ``day``, as UTC."""
    return day_start(day - timedelta(days=day.weekday()))


def utc(moment: datetime) -> datetime:
    """Any aware bound converted to UTC before it reaches a query."""
    return _aware(moment)
