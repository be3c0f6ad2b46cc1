"""The committed migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from urllib.parse import urlsplit, urlunsplit

from aerich.utils import decompress_dict, get_models_describe
from tortoise import Tortoise

from linpiao.db import tortoise_config
from linpiao.migrations import MIGRATIONS_DIR, migrate
from registry import register
from registry.models import Holder, HolderKind, TicketKind
from registry.quotas import open_quota
from tests.conftest import PG_URL


def _last_migration_state() -> dict:
    files = sorted((MIGRATIONS_DIR / "models").glob("*.py"), key=lambda p: int(p.name.split("_")[0]))
    assert files, "no migration is committed"
    spec = importlib.util.spec_from_file_location("last_migration", files[-1])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return decompress_dict(module.MODELS_STATE)


async def test_models_match_the_last_migration(db):
    described = get_models_describe("models")
    # compare as JSON: the stored state went through JSON, so its tuples came back as lists
    assert json.dumps(_last_migration_state(), sort_keys=True, default=str) == json.dumps(
        described, sort_keys=True, default=str
    ), "models changed: write a migration (scripts/makemigration.py)"


async def _migrate_and_use(url: str) -> None:
    # each run in its own thread and event loop, as `linpiao migrate` runs in its own process
    assert await asyncio.to_thread(asyncio.run, migrate(url))  # fresh database: every migration applies
    assert await asyncio.to_thread(asyncio.run, migrate(url)) == []  # and a second run has nothing to do
    await Tortoise.init(config=tortoise_config(url))
    try:
        batch = await open_quota(units=10)
        buyer = await Holder.create(kind=HolderKind.INDIVIDUAL, name="王五", region_code="310101")
        pool = await Holder.get(id_number__not_isnull=True)
        await register.transfer_units(batch=batch, from_holder=pool, to_holder=buyer, quantity=3)
        assert batch.kind is TicketKind.CARBON
    finally:
        await Tortoise.close_connections()


async def test_migrations_apply_on_the_suites_database(tmp_path):
    """On SQLite a fresh file; on PostgreSQL (LINPIAO_TEST_DATABASE_URL) a scratch database beside the test one."""
    if not PG_URL:
        await _migrate_and_use(f"sqlite://{tmp_path / 'migrated.db'}")
        return
    import asyncpg

    parts = urlsplit(PG_URL)
    scratch = parts.path.lstrip("/") + "_migrations"
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await _migrate_and_use(urlunsplit(parts._replace(path=f"/{scratch}")))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()
