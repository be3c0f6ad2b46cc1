"""Schema migrations with aerich.

The migration files live in ``registry/migrations/models/``. Aerich writes SQL for one dialect; ours are made by
``scripts/makemigration.py`` for SQLite and PostgreSQL at once and pick the right SQL by the connection's dialect,
so one set of committed files serves the embedded default and the scale target alike.

A migration's data step is SQL common to both dialects (its ``DATA``). Where the data is computed by the domain's
own code instead, :data:`AFTER` names the function that fills its tables; it runs in the same command once every
pending migration has applied (the domain's code reads the latest schema): the counters that the second wave
added are counted from the holdings and the register entries already there. Should it fail, the migrations stay
applied and ``linpiao rebuild-counters`` does the same again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aerich import Command

from linpiao.db import tortoise_config
from linpiao.jobqueue import apply_schema, uses_procrastinate
from registry.blocks import cut_open_quotas
from registry.chain import start_batch_chains
from registry.counters import rebuild_counters
from registry.sealing import seal_plaintext_ids

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "registry" / "migrations"


async def _wave3() -> None:
    await seal_plaintext_ids()
    await start_batch_chains()  # one hash chain per batch, each starting from the single chain's tip


# migration name (the file's last part) -> what fills the tables it adds, run once in the command that applies it
AFTER: dict[str, Callable[[], Awaitable[object]]] = {
    "wave2": rebuild_counters,
    "wave3": _wave3,
    "blocks": cut_open_quotas,  # open carbon quotas sold in stock blocks from now on (registry.blocks)
}


def _name(applied: str) -> str:
    return applied.removesuffix(".py").split("_", 2)[-1]


async def migrate(database_url: str) -> list[str]:
    """Apply every migration the database has not seen yet; returns the files applied."""
    async with Command(
        tortoise_config=tortoise_config(database_url), app="models", location=str(MIGRATIONS_DIR)
    ) as command:
        await command.init()
        applied = await command.upgrade(run_in_transaction=True)
        for migration in applied:  # Tortoise is initialised on the migrated database while the command is open
            if (step := AFTER.get(_name(migration))) is not None:
                await step()
    if uses_procrastinate(database_url) and await apply_schema(database_url):
        applied = [*applied, "procrastinate schema"]  # the job queue's own tables (linpiao/jobqueue.py)
    return list(applied)
