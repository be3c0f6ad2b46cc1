"""Schema migrations with aerich.

The migration files live in ``registry/migrations/models/``. Aerich writes SQL for one dialect; ours are made by
``scripts/makemigration.py`` for SQLite and PostgreSQL at once and pick the right SQL by the connection's dialect,
so one set of committed files serves the embedded default and the scale target alike.
"""

from __future__ import annotations

from pathlib import Path

from aerich import Command

from linpiao.db import tortoise_config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "registry" / "migrations"


async def migrate(database_url: str) -> list[str]:
    """Apply every migration the database has not seen yet; returns the files applied."""
    async with Command(
        tortoise_config=tortoise_config(database_url), app="models", location=str(MIGRATIONS_DIR)
    ) as command:
        await command.init()
        return await command.upgrade(run_in_transaction=True)
