"""The test databases are built the way production builds its own: by ``linpiao migrate``, not by
``Tortoise.generate_schemas()``. A migration that leaves out a column, an index or a guard then fails the suite,
not the first deployment.

Migrating takes seconds, so it runs once per session and database kind: on SQLite into a template file that every
test copies (:func:`sqlite_database`), on PostgreSQL into the test database, which is then emptied between tests
(:func:`reset_postgres`). ``linpiao migrate`` runs in a child process, exactly as an operator runs it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tortoise import connections

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str) -> None:
    """``linpiao migrate`` on ``database_url``, in a child process; its output is shown when it fails."""
    env = {**os.environ, "LINPIAO_DATABASE_URL": database_url, "LINPIAO_ENV": "development"}
    done = subprocess.run(
        [sys.executable, "-m", "linpiao.cli", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"linpiao migrate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


class SqliteTemplate:
    """One migrated SQLite file per session; each test gets a copy of it."""

    def __init__(self) -> None:
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def copy_to(self, target: Path) -> None:
        if self._folder is None:
            folder = tempfile.TemporaryDirectory(prefix="linpiao-schema-")
            atexit.register(folder.cleanup)
            migrate(f"sqlite://{Path(folder.name) / 'migrated.db'}")
            self._folder = folder
        shutil.copyfile(Path(self._folder.name) / "migrated.db", target)


class PostgresSchema:
    """The PostgreSQL test database, migrated from an empty schema once per session and emptied between tests."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._ready = False

    async def reset(self) -> None:
        conn = connections.get("default")
        if not self._ready:
            await conn.execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            migrate(self.database_url)
            self._ready = True
        rows = await conn.execute_query_dict(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public') AND tablename <> 'aerich'"
        )
        tables = ", ".join(f'"{row["schemaname"]}"."{row["tablename"]}"' for row in rows)
        await conn.execute_script(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


SQLITE = SqliteTemplate()
POSTGRES = PostgresSchema(os.environ.get("LINPIAO_TEST_DATABASE_URL", ""))
