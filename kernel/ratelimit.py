"""Rate limits every app server shares: in Redis when ``LINPIAO_REDIS_URL`` is set, else in this process's memory.

Built on the ``limits`` library's moving window (an exact sliding window: each event is remembered for the
window's length). With Redis, every server and every uvicorn worker counts into the same window, so a client
gets ``limit`` tries per window however many servers answer it; without Redis (one machine, the embedded SQLite
default, the tests) each process keeps its own.

One :class:`RateLimits` per application (:func:`shared`); a :class:`Window` per rule, e.g. the failed look-ups of
certificate codes and case numbers (:mod:`certificates.routes`), or how often the payment page asks a provider
about one order (:mod:`shop.pay`). Everything else shared between servers is in PostgreSQL: staff sessions
(:mod:`registry.sessions`), login throttling (:mod:`registry.staff`), per-client order limits (:mod:`shop.limits`
counts unpaid orders in the order table) and the job queue (:mod:`linpiao.jobqueue`).

When Redis cannot be reached a window lets the request through and logs the error: the limits guard against
guessing and hammering, and a guess still has to find a 100-bit code; refusing every look-up while Redis is down
would stop every honest one.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger("linpiao.ratelimit")

KEY_PREFIX = "linpiao"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def storage_for(redis_url: str, *, prefix: str = KEY_PREFIX) -> Storage:
    """Redis (through redis-py's asyncio client) for ``redis://``, ``rediss://`` or ``unix://`` URLs; memory for
    an empty one."""
    if not redis_url:
        return MemoryStorage()
    if not redis_url.startswith(REDIS_SCHEMES):
        raise ValueError(f"not a Redis URL: {redis_url!r}")
    uri = "async+" + redis_url if not redis_url.startswith("unix://") else "async+redis+" + redis_url
    options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2}
    return RedisStorage(uri, implementation="redispy", key_prefix=prefix, wrap_exceptions=True, **options)


class RateLimits:
    """The application's rate limits, on one storage (Redis or memory)."""

    def __init__(self, redis_url: str = "", *, prefix: str = KEY_PREFIX) -> None:
        self.redis_url = redis_url
        self.storage = storage_for(redis_url, prefix=prefix)
        self.limiter = MovingWindowRateLimiter(self.storage)

    @property
    def shared(self) -> bool:
        """True when the counts live in Redis (every server sees them)."""
        return bool(self.redis_url)

    def window(self, name: str, limit: int, seconds: int) -> Window:
        """At most ``limit`` events per key in any ``seconds``; ``name`` keeps rules apart in the storage."""
        return Window(self, name, limit, seconds)

    async def check(self) -> bool:
        """Whether the storage answers (always for memory)."""
        try:
            return bool(await self.storage.check())
        except StorageError:
            return False


class Window:
    """One rule: ``limit`` events per key over the last ``seconds``. Keys are client addresses, order ids…"""

    def __init__(self, limits: RateLimits, name: str, limit: int, seconds: int) -> None:
        if limit < 1 or seconds < 1:
            raise ValueError("a window needs a limit and a length of at least 1")
        self.limits, self.name, self.limit, self.seconds = limits, name, limit, seconds
        self.item = RateLimitItemPerSecond(limit, seconds, namespace=name)

    async def blocked(self, key: str) -> bool:
        """True once ``key`` has ``limit`` events in the window (the next one would be refused)."""
        try:
            return not await self.limits.limiter.test(self.item, key)
        except StorageError as exc:
            log.error("rate limit %s: storage unavailable, letting the request through: %s", self.name, exc)
            return False

    async def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` may try again (0 when it may now)."""
        try:
            stats = await self.limits.limiter.get_window_stats(self.item, key)
        except StorageError as exc:
            log.error("rate limit %s: storage unavailable: %s", self.name, exc)
            return 0
        if stats.remaining > 0:
            return 0
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def record(self, key: str) -> None:
        """Count one event (a failed look-up) against ``key``; past the limit it is simply not counted again."""
        await self.take(key)

    async def take(self, key: str) -> bool:
        """Count one event if the window has room: True when it had (the caller may go on), False when full."""
        try:
            return await self.limits.limiter.hit(self.item, key)
        except StorageError as exc:
            log.error("rate limit %s: storage unavailable, letting the request through: %s", self.name, exc)
            return True

    async def clear(self, key: str) -> None:
        await self.limits.limiter.clear(self.item, key)


def shared(app: Any) -> RateLimits:
    """The :class:`RateLimits` of a Starlette application, made on first use from its settings (``redis_url``,
    ``redis_prefix``)."""
    state = app.state
    limits = getattr(state, "rate_limits", None)
    if limits is None:
        settings = state.settings
        limits = state.rate_limits = RateLimits(settings.redis_url, prefix=settings.redis_prefix)
    return limits
