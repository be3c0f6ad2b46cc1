"""Shared fixtures: a fresh database per test (SQLite by default, PostgreSQL when
``LINPIAO_TEST_DATABASE_URL`` is set), the application, and an HTTP client bound to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tortoise import Tortoise, connections

from linpiao.app import create_app
from linpiao.db import tortoise_config
from linpiao.settings import Settings

PG_URL = os.environ.get("LINPIAO_TEST_DATABASE_URL", "")
_pg_schema_ready = False


def is_postgres() -> bool:
    return bool(PG_URL)


async def _reset_postgres() -> None:
    global _pg_schema_ready
    conn = connections.get("default")
    if not _pg_schema_ready:
        await conn.execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await Tortoise.generate_schemas()
        _pg_schema_ready = True
        return
    rows = await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    tables = ", ".join(f'"{row["tablename"]}"' for row in rows)
    await conn.execute_script(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return PG_URL or f"sqlite://{tmp_path / 'test.db'}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """An initialised, empty database; yields its URL (other processes may connect to it)."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    if is_postgres():
        await _reset_postgres()
    else:
        await Tortoise.generate_schemas()
    try:
        yield database_url
    finally:
        await Tortoise.close_connections()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        base_url="http://testserver",
        data_dir=tmp_path / "var",
    )


@pytest.fixture
def app(settings: Settings, db: str):  # type: ignore[no-untyped-def]
    return create_app(settings, manage_db=False)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
