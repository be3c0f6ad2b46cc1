"""The committed migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from aerich import Command
from aerich.utils import decompress_dict, get_models_describe
from tortoise import Tortoise, connections

from linpiao.db import tortoise_config
from linpiao.migrations import MIGRATIONS_DIR, migrate
from registry import counters, register, residence
from registry import holders as holder_service
from registry.errors import ResidenceNotConfirmed
from registry.models import Holder, HolderKind, ResidenceEvidence, TicketKind
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


def _canonical(state: dict) -> str:
    """The state as JSON (the stored one went through JSON, so its tuples came back as lists), each model's list
    of fields in name order: Tortoise lists a model's one-to-one key columns in set order, which changes with
    the interpreter's hash seed, and the order of columns is nothing a migration changes."""
    models = {
        name: {
            key: sorted(value, key=lambda f: f["name"]) if key.endswith("fields") and isinstance(value, list) else value
            for key, value in model.items()
        }
        for name, model in state.items()
    }
    return json.dumps(models, sort_keys=True, default=str)


async def test_models_match_the_last_migration(db):
    described = get_models_describe("models")
    assert _canonical(_last_migration_state()) == _canonical(described), (
        "models changed: write a migration (scripts/makemigration.py)"
    )


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


@asynccontextmanager
async def _scratch_database(tmp_path: Path) -> AsyncIterator[str]:
    """On SQLite a fresh file; on PostgreSQL (LINPIAO_TEST_DATABASE_URL) a scratch database beside the test one."""
    if not PG_URL:
        yield f"sqlite://{tmp_path / 'migrated.db'}"
        return
    import asyncpg

    parts = urlsplit(PG_URL)
    scratch = parts.path.lstrip("/") + "_migrations"
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        yield urlunsplit(parts._replace(path=f"/{scratch}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_on_the_suites_database(tmp_path):
    async with _scratch_database(tmp_path) as url:
        await _migrate_and_use(url)


async def _in_own_process(coro: Coroutine[Any, Any, T]) -> T:
    """Run in a thread and event loop of its own *without* this task's Tortoise context (``asyncio.to_thread``
    would copy it), as ``linpiao migrate`` runs in its own process."""
    return await asyncio.get_running_loop().run_in_executor(None, asyncio.run, coro)


async def _migrate_to(url: str, tmp_path: Path, number: int) -> None:
    """Apply the migrations up to ``number`` only, as a database made by an earlier release."""
    location = tmp_path / f"upto{number}"
    (location / "models").mkdir(parents=True)
    files = sorted(p for p in (MIGRATIONS_DIR / "models").glob("*.py") if int(p.name.split("_")[0]) <= number)
    for file in files:
        shutil.copy(file, location / "models" / file.name)

    async def run() -> list[str]:
        async with Command(tortoise_config=tortoise_config(url), app="models", location=str(location)) as command:
            await command.init()
            return await command.upgrade(run_in_transaction=True)

    assert await _in_own_process(run()) == [file.name for file in files]


async def _migrate_to_the_initial_schema(url: str, tmp_path: Path) -> None:
    """Apply only the initial migration, as a database made before residence was recorded."""
    await _migrate_to(url, tmp_path, 0)


T = TypeVar("T")

# (name, kind, identifier, region code as the old rule read it) of holders registered before residence was recorded
OLD_HOLDERS = [
    ("兴庆区村民", "individual", "640104200301010011", "640104"),
    ("灵武市村民", "individual", "640181200301010022", "640181"),
    ("市国有林场", "state_unit", "12640100MB0000003X", "640100"),  # city-level code: district unknown
    ("灵武老户", "individual", "642125197501010051", "642125"),  # old Lingwu code: outside under the old rule
    ("区属企业", "enterprise", "916400000000000779", "640000"),  # registered with the autonomous region
    ("上海人", "individual", "310101198001010033", "310101"),
]


async def test_the_residence_migration_infers_the_old_rule_and_flags_it_for_the_clerk(tmp_path):
    async with _scratch_database(tmp_path) as url:
        await _migrate_to_the_initial_schema(url, tmp_path)
        await Tortoise.init(config=tortoise_config(url))
        try:
            conn = connections.get("default")
            for name, kind, code, region in OLD_HOLDERS:
                await conn.execute_script(
                    'INSERT INTO "holder" (kind, name, id_number, region_code, contact, created_at) '
                    f"VALUES ('{kind}', '{name}', '{code}', '{region}', '', CURRENT_TIMESTAMP)"
                )
        finally:
            await Tortoise.close_connections()
        applied = await _in_own_process(migrate(url))
        assert applied[0].endswith("_residence.py")  # then every later one (and procrastinate's schema on PostgreSQL)
        await Tortoise.init(config=tortoise_config(url))
        try:
            holders = {h.name: h for h in await Holder.all()}
            seen = {
                name: (
                    h.residence_district,
                    h.residence_evidence,
                    h.residence_confirmed,
                    residence.needs_confirmation(h),
                )
                for name, h in holders.items()
            }
            inferred = ResidenceEvidence.INFERRED_FROM_ID
            assert seen == {
                "兴庆区村民": ("640104", inferred, False, True),
                "灵武市村民": ("640181", inferred, False, True),
                "市国有林场": ("", inferred, False, True),
                "灵武老户": ("", ResidenceEvidence.NONE, False, False),
                "区属企业": ("", ResidenceEvidence.NONE, False, False),
                "上海人": ("", ResidenceEvidence.NONE, False, False),
            }
            unchecked = [h for h in holders.values() if h.residence_checked_at is None]
            assert len(unchecked) == len(holders) and {h.residence_checked_by_id for h in unchecked} == {None}  # type: ignore[attr-defined]
            flagged = await holder_service.search_holders(to_confirm=True)
            assert [h.name for h in flagged] == sorted(["兴庆区村民", "灵武市村民", "市国有林场"])
            # an inference is not a check: nobody receives land tickets until a clerk records the residence
            for holder in holders.values():
                with pytest.raises(ResidenceNotConfirmed):
                    residence.check_may_receive(holder, TicketKind.COLLECTIVE)
        finally:
            await Tortoise.close_connections()


async def test_the_counters_migration_counts_what_an_older_database_holds(tmp_path):
    """A database of the first wave holds sold and reserved units but no counters: migrating fills them."""
    async with _scratch_database(tmp_path) as url:
        await _migrate_to(url, tmp_path, 1)
        await Tortoise.init(config=tortoise_config(url))
        try:
            conn = connections.get("default")
            for name in ("碳汇收储", "王五"):
                await conn.execute_script(
                    'INSERT INTO "holder" (kind, name, region_code, contact, created_at, residence_district, '
                    "residence_evidence, residence_confirmed) "
                    f"VALUES ('individual', '{name}', '640104', '', CURRENT_TIMESTAMP, '', 'none', false)"
                )
            await conn.execute_script(
                'INSERT INTO "batch" (kind, serial_prefix, total_units, district_code, price_fen, g_co2e_per_unit, '
                "issuing_authority, is_open, issued_at) "
                "VALUES ('carbon', 'YC-TH-OLD', 10, '640100', 100, 10000, '银川市林草局', true, CURRENT_TIMESTAMP)"
            )
            await conn.execute_script(  # the issue entry names the issuer (its hash is not what is tested here)
                'INSERT INTO "register_entry" (seq, kind, quantity, ranges, purpose, details, actor, created_at, '
                "prev_hash, hash, batch_id, to_holder_id) VALUES (1, 'issue', 10, '[[1, 10]]', '', '{}', 'system', "
                "CURRENT_TIMESTAMP, '', 'h1', 1, 1)"
            )
            # the pool holds 6 and has 2 reserved for an unpaid order; the buyer retired 2
            for first, last, state, holder in ((1, 6, "held", 1), (7, 8, "reserved", 1), (9, 10, "retired", 2)):
                await conn.execute_script(
                    'INSERT INTO "holding" (first_no, last_no, state, purpose, batch_id, holder_id) '
                    f"VALUES ({first}, {last}, '{state}', '', 1, {holder})"
                )
        finally:
            await Tortoise.close_connections()
        applied = await _in_own_process(migrate(url))
        assert any(name.endswith("_wave2.py") for name in applied)
        await Tortoise.init(config=tortoise_config(url))
        try:
            stock = await counters.stock_of(1)
            assert (stock.held, stock.reserved, stock.retired) == (6, 2, 2)
            assert (stock.issuer_held, stock.issuer_reserved, stock.retired_to_others) == (6, 2, 2)
            assert await counters.stored() == await counters.recount()
        finally:
            await Tortoise.close_connections()


async def test_the_wave3_migration_seals_the_id_numbers_an_older_database_holds(tmp_path):
    """A database of the second wave holds people's ID numbers in plain text: migrating encrypts them, fills the
    blind index and the last four, and leaves no whole number in any row (registry/sealing.py)."""
    person, body, rostered = "640121198001010011", "916400000000000779", "640104199002020023"
    async with _scratch_database(tmp_path) as url:
        await _migrate_to(url, tmp_path, 2)
        await Tortoise.init(config=tortoise_config(url))
        try:
            conn = connections.get("default")
            for name, kind, number, region in (
                ("旧户", "individual", person, "640121"),
                ("旧企", "enterprise", body, "640000"),
            ):
                await conn.execute_script(
                    'INSERT INTO "holder" (kind, name, id_number, region_code, contact, created_at, '
                    "residence_district, residence_evidence, residence_confirmed) "
                    f"VALUES ('{kind}', '{name}', '{number}', '{region}', '', CURRENT_TIMESTAMP, '', 'none', false)"
                )
            await conn.execute_script(
                'INSERT INTO "planting_roster" (token, organisation_name, credit_code, contact, year, uploads, '
                "created_at, updated_at) VALUES ('t', '某局', '11640100MB0000001X', '王', 2026, 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
            await conn.execute_script(
                'INSERT INTO "planting_roster_member" (submission_id, upload_no, line_no, name, id_number, '
                "id_given_masked, staff_no, problems, payable, owes_duty, duty_basis, status) "
                f"VALUES (1, 1, 2, '乙', '{rostered}', '', '', '[]', true, true, 'id_number', 'pending')"
            )
        finally:
            await Tortoise.close_connections()
        applied = await _in_own_process(migrate(url))
        assert any(name.endswith("_wave3.py") for name in applied)
        await Tortoise.init(config=tortoise_config(url))
        try:
            conn = connections.get("default")
            raw = repr(await conn.execute_query_dict('SELECT * FROM "holder"'))
            raw += repr(await conn.execute_query_dict('SELECT * FROM "planting_roster_member"'))
            assert person not in raw and person[:17] not in raw and rostered not in raw and body in raw
            found = await holder_service.holder_by_identifier(person)
            assert found is not None and found.name == "旧户" and found.id_masked == "6401**********0011"
            assert found.id_last4 == "0011" and found.region_code == "640121"
            assert (await holder_service.holder_by_identifier(body)).name == "旧企"  # type: ignore[union-attr]
        finally:
            await Tortoise.close_connections()


async def test_the_wave3_migration_flags_the_shop_buyers_an_older_database_holds(tmp_path):
    """Before wave 3 the holders list told the shop's buyers apart by reading every order on each request; the
    migration flags them once (an order's buyer holding no tickets), so the list reads an indexed column."""
    async with _scratch_database(tmp_path) as url:
        await _migrate_to(url, tmp_path, 2)
        await Tortoise.init(config=tortoise_config(url))
        try:
            conn = connections.get("default")
            # 1: a shop buyer; 2: a buyer a clerk later gave land tickets to; 3: a village that never bought
            for name in ("网购甲", "网购后受让", "某村"):
                await conn.execute_script(
                    'INSERT INTO "holder" (kind, name, region_code, contact, created_at, residence_district, '
                    "residence_evidence, residence_confirmed) "
                    f"VALUES ('individual', '{name}', '', '', CURRENT_TIMESTAMP, '', 'none', false)"
                )
            await conn.execute_script(
                'INSERT INTO "batch" (kind, serial_prefix, total_units, district_code, price_fen, g_co2e_per_unit, '
                "issuing_authority, is_open, issued_at) "
                "VALUES ('carbon', 'YC-TH-OLD', 10, '640100', 100, 10000, '银川市林草局', true, CURRENT_TIMESTAMP)"
            )
            for buyer in (1, 2):
                await conn.execute_script(
                    'INSERT INTO "order" (token, quantity, amount_fen, purpose, purpose_note, certificate_name, '
                    "contact, status, provider, details, expires_at, created_at, batch_id, buyer_id) "
                    f"VALUES ('t{buyer}', 1, 100, 'travel', '', 'x', '', 'fulfilled', 'demo', '{{}}', "
                    f"CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, {buyer})"
                )
            for first, state, holder in ((1, "retired", 1), (2, "retired", 2), (3, "held", 2), (4, "held", 3)):
                await conn.execute_script(
                    'INSERT INTO "holding" (first_no, last_no, state, purpose, batch_id, holder_id) '
                    f"VALUES ({first}, {first}, '{state}', '', 1, {holder})"
                )
        finally:
            await Tortoise.close_connections()
        await _in_own_process(migrate(url))
        await Tortoise.init(config=tortoise_config(url))
        try:
            flagged = await Holder.filter(shop_buyer=True).values_list("name", flat=True)
            assert list(flagged) == ["网购甲"]
            hidden = {h.name for h in await holder_service.search_holders(shop_buyers=holder_service.ShopBuyers.HIDE)}
            assert hidden == {"网购后受让", "某村"}
        finally:
            await Tortoise.close_connections()
