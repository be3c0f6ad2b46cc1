"""A per-client sliding window for failed look-ups, so codes cannot be guessed by trying many.

In memory and per process: with several workers each keeps its own window, which still bounds guessing to
``limit × workers`` tries per window — far below what 100-bit codes would need.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """Counts failures per key over the last ``window`` seconds; ``blocked`` once ``limit`` is reached."""

    def __init__(
        self,
        limit: int = 20,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def blocked(self, key: str) -> bool:
        return len(self._recent(key, self.clock())) >= self.limit

    def retry_after(self, key: str) -> int:
        hits = self._recent(key, self.clock())
        if len(hits) < self.limit:
            return 0
        return max(1, int(hits[0] + self.window - self.clock()) + 1)

    def record_failure(self, key: str) -> None:
        now = self.clock()
        if key not in self._hits and len(self._hits) >= self.max_keys:
            self._prune(now)
        self._recent(key, now)
        self._hits.setdefault(key, deque()).append(now)

    def _prune(self, now: float) -> None:
        for key in list(self._hits):
            self._recent(key, now)
        while len(self._hits) >= self.max_keys:  # still full of active keys: forget the oldest
            del self._hits[next(iter(self._hits))]
