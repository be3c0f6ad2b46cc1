"""The outside services some tests need besides the database: Redis (``LINPIAO_TEST_REDIS_URL``, by default the
one CI runs on 127.0.0.1:6379). Tests that need it skip, saying why, when it does not answer."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

REDIS_URL = os.environ.get("LINPIAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_answers(url: str = REDIS_URL) -> str:
    """'' when Redis answers at ``url``, else why not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"Redis does not answer at {url} ({exc}): start one or set LINPIAO_TEST_REDIS_URL (CI runs one)"
    return ""


def needs_redis() -> str:
    """The Redis URL, or skip the test with the reason."""
    why = redis_answers()
    if why:
        pytest.skip(why)
    return REDIS_URL


def fresh_prefix() -> str:
    """A key prefix no other test (nor another run sharing the Redis) uses."""
    return f"linpiao-test-{uuid.uuid4().hex[:12]}"


def drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key a test wrote under ``prefix``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
