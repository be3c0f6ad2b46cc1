"""Rate limits (kernel/ratelimit.py): a moving window per key, in this process's memory by default and in Redis
when ``LINPIAO_REDIS_URL`` is set, where every app server counts into the same window."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import time_machine

from kernel.ratelimit import RateLimits
from kernel.settings import Settings, SettingsError, load_settings
from tests.services import drop_prefix, fresh_prefix, needs_redis


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    url = needs_redis()
    prefix = fresh_prefix()
    yield url, prefix
    drop_prefix(prefix)


async def test_a_window_blocks_after_its_limit_per_key_and_forgets_after_its_length() -> None:
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        window = RateLimits().window("verify", 3, 60)
        for _ in range(3):
            assert not await window.blocked("203.0.113.9")
            await window.record("203.0.113.9")
            traveller.shift(1)
        assert await window.blocked("203.0.113.9")
        assert not await window.blocked("198.51.100.7")  # another client is not affected
        assert 0 < await window.retry_after("203.0.113.9") <= 60
        assert await window.retry_after("198.51.100.7") == 0
        traveller.shift(58)  # the first failure (t=0) leaves the window at t=60
        assert not await window.blocked("203.0.113.9")
        assert await window.retry_after("203.0.113.9") == 0


async def test_take_lets_one_event_per_window_through() -> None:
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        queries = RateLimits().window("provider-query", 1, 10)
        assert await queries.take("order-1")
        assert not await queries.take("order-1")
        assert await queries.take("order-2")
        traveller.shift(11)
        assert await queries.take("order-1")


async def test_windows_of_different_rules_count_apart() -> None:
    limits = RateLimits()
    verify, queries = limits.window("verify", 1, 600), limits.window("provider-query", 1, 600)
    await verify.record("k")
    assert await verify.blocked("k")
    assert not await queries.blocked("k")


async def test_two_servers_on_one_redis_share_the_count(redis_prefix: tuple[str, str]) -> None:
    """What server A counts, server B sees: together they allow the limit, not the limit per server."""
    url, prefix = redis_prefix
    server_a = RateLimits(url, prefix=prefix).window("verify", 4, 600)
    server_b = RateLimits(url, prefix=prefix).window("verify", 4, 600)
    assert server_a.limits.shared
    for window in (server_a, server_b, server_a, server_b):
        assert not await window.blocked("203.0.113.9")
        await window.record("203.0.113.9")
    assert await server_a.blocked("203.0.113.9") and await server_b.blocked("203.0.113.9")
    assert 0 < await server_b.retry_after("203.0.113.9") <= 600
    assert not await server_b.blocked("198.51.100.7")
    # another deployment on the same Redis (another prefix) counts on its own
    other = RateLimits(url, prefix=prefix + "-other").window("verify", 4, 600)
    assert not await other.blocked("203.0.113.9")
    drop_prefix(prefix + "-other")


async def test_without_redis_a_window_lets_requests_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Redis down must not stop every honest look-up: the window is open and the error is logged."""
    window = RateLimits("redis://127.0.0.1:1/0").window("verify", 1, 600)
    assert not await window.limits.check()
    with caplog.at_level(logging.ERROR, logger="linpiao.ratelimit"):
        assert await window.take("k")
        assert not await window.blocked("k")
        assert await window.retry_after("k") == 0
    assert "storage unavailable" in caplog.text


def test_the_redis_url_comes_from_the_environment() -> None:
    settings = load_settings(
        {"LINPIAO_REDIS_URL": "redis://cache.internal:6379/2", "LINPIAO_REDIS_PREFIX": "linpiao-prod"},
        env_file="/nonexistent",
    )
    assert settings.redis_url == "redis://cache.internal:6379/2" and settings.redis_prefix == "linpiao-prod"
    defaults = load_settings({}, env_file="/nonexistent")
    assert defaults.redis_url == "" and defaults.redis_prefix == "linpiao"
    assert not RateLimits(defaults.redis_url).shared
    with pytest.raises(SettingsError, match="LINPIAO_REDIS_URL"):
        Settings(redis_url="http://cache.internal:6379").check()
