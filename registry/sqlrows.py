"""Hand-written reads for the few hot paths (the quota on sale, an order's reserved ranges), returning ORM models.

The ORM spends more time building a query with joins (``select_related``) than the database spends answering it;
on the checkout path that is most of an order's cost. These reads are written once, in SQL both SQLite and
PostgreSQL accept, and their rows become model instances exactly as the ORM's own executor makes them
(``Model._init_from_db``, Tortoise 1.1.x): the instances behave as if the ORM had loaded them (saving one updates
it). Every value is a parameter; column lists come from the models' own metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


def connection() -> BaseDBAsyncClient:
    return connections.get("default")


def is_postgres(conn: BaseDBAsyncClient | None = None) -> bool:
    return (conn or connection()).capabilities.dialect == "postgres"


def numbered(sql: str, conn: BaseDBAsyncClient | None = None) -> str:
    """``?`` placeholders as the connection's driver wants them (``$1``… on PostgreSQL)."""
    if not is_postgres(conn):
        return sql
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def columns(model: type[Model], alias: str) -> str:
    """``"alias"."col" AS "alias__col"`` for every column of ``model`` (call it once the ORM is initialised: only
    then are foreign-key columns among them)."""
    return ", ".join(f'"{alias}"."{col}" AS "{alias}__{col}"' for col in sorted(model._meta.db_fields))


def instance(model: type[Model], row: dict[str, Any], alias: str) -> Any:
    """The ``model`` instance of the ``alias__…`` columns of ``row``."""
    prefix = f"{alias}__"
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    return model._init_from_db(**values)


async def rows(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    conn = connection()
    return [dict(row) for row in await conn.execute_query_dict(numbered(sql, conn), list(params))]


def attach(target: Model, relation: str, related: Model) -> None:
    """Make ``related`` what ``target.<relation>`` returns (as the ORM's ``select_related`` does)."""
    object.__setattr__(target, f"_{relation}", related)


async def with_related(
    model: type[Model], relation: str, related: type[Model], where: str, params: Sequence[Any], order: str
) -> list[Any]:
    """Rows of ``model`` (alias ``m``) each with its ``relation`` (alias ``r``, joined on ``m.<relation>_id``)
    loaded. ``where`` and ``order`` are the caller's own SQL text, over those aliases; values are parameters."""
    sql = (
        f"SELECT {columns(model, 'm')}, {columns(related, 'r')} "  # noqa: S608
        f'FROM "{model._meta.db_table}" "m" JOIN "{related._meta.db_table}" "r" ON "r"."id" = "m"."{relation}_id" '
        f"WHERE {where} ORDER BY {order}"
    )
    found = []
    for row in await rows(sql, params):
        item = instance(model, row, "m")
        attach(item, relation, instance(related, row, "r"))
        found.append(item)
    return found


async def select(
    model: type[Model], where: str, params: Sequence[Any], *, order: str = "", limit: int | None = None
) -> list[Any]:
    """Rows of ``model`` (alias ``m``) as instances; ``where`` and ``order`` are the caller's own SQL text over
    that alias, every value a parameter."""
    sql = f'SELECT {columns(model, "m")} FROM "{model._meta.db_table}" "m" WHERE {where}'  # noqa: S608
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [instance(model, row, "m") for row in await rows(sql, params)]


async def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run one writing statement; returns the rows it changed."""
    conn = connection()
    changed, _result = await conn.execute_query(numbered(sql, conn), list(params))
    return int(changed)
