"""The ORM's configuration: one app ("models") holding the one model set of :mod:`registry.models`."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise

MODEL_MODULES = [
    "registry.models",
    "registry.counters",
    "registry.staff",
    "registry.sessions",
    "registry.parcels",
    "registry.applications",
    "planting.domain.models",
    "registry.idempotency",
    "registry.trades",
    "registry.dividends",
    "registry.offsets",
    "registry.jobs",
    "registry.retirements",
    "registry.digests",
    "registry.notices",
    "registry.apikeys",
    "registry.county_import",
]


# SQLite serialises writers: let one wait for the write lock (under a burst of checkouts across worker processes)
# instead of failing after the driver's default 5 s.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _with_busy_timeout(url: str) -> str:
    if not url.startswith("sqlite://") or "busy_timeout" in url or url.endswith(":memory:"):
        return url
    return f"{url}{'&' if '?' in url else '?'}busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_busy_timeout(database_url)},
        "apps": {"models": {"models": [*MODEL_MODULES, "aerich.models"], "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(database_url: str, *, global_fallback: bool = True) -> None:
    """Connect the ORM. ``global_fallback`` lets request tasks of a server see the connection."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=global_fallback)


async def close_db() -> None:
    await Tortoise.close_connections()
