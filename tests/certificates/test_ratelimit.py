"""The sliding window of failed look-ups."""

from __future__ import annotations

from certificates.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_limit_and_forgets_after_window() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert not limiter.blocked("a")
        limiter.record_failure("a")
        clock.now += 1
    assert limiter.blocked("a")
    assert not limiter.blocked("b")
    assert 0 < limiter.retry_after("a") <= 60
    clock.now += 58  # the first failure (t=1000) leaves the window at t=1060
    assert not limiter.blocked("a")
    assert limiter.retry_after("a") == 0


def test_memory_is_bounded() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=3, window=60, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.record_failure(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._hits) <= 100
