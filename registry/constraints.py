"""Rules the database itself enforces, beyond what the ORM declares.

Holding ranges of one batch must never overlap (PEERS.md: a registry once published overlapping serials). The code
never writes an overlap — each split shrinks a range before the new piece is inserted — and the database refuses
one all the same: PostgreSQL with an exclusion constraint over integer ranges, SQLite with triggers that compare
the new range with its one possible neighbour (the range starting last at or before its end), found by index.
These statements are part of the initial migration and of the test schema.
"""

from __future__ import annotations

from tortoise import BaseDBAsyncClient

GUARDS: dict[str, str] = {
    "postgres": """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE "holding" ADD CONSTRAINT "holding_range_valid" CHECK (first_no >= 1 AND first_no <= last_no);
ALTER TABLE "holding" ADD CONSTRAINT "holding_no_overlap"
    EXCLUDE USING gist (batch_id WITH =, int8range(first_no, last_no, '[]') WITH &&);
""",
    "sqlite": """
CREATE TRIGGER IF NOT EXISTS "holding_no_overlap_insert" BEFORE INSERT ON "holding"
WHEN NEW.first_no < 1 OR NEW.first_no > NEW.last_no OR COALESCE((
    SELECT h.last_no >= NEW.first_no FROM "holding" h
    WHERE h.batch_id = NEW.batch_id AND h.first_no <= NEW.last_no ORDER BY h.first_no DESC LIMIT 1), 0)
BEGIN SELECT RAISE(ABORT, 'holding ranges must be valid and must not overlap'); END;
CREATE TRIGGER IF NOT EXISTS "holding_no_overlap_update" BEFORE UPDATE OF first_no, last_no, batch_id ON "holding"
WHEN NEW.first_no < 1 OR NEW.first_no > NEW.last_no OR COALESCE((
    SELECT h.last_no >= NEW.first_no FROM "holding" h
    WHERE h.batch_id = NEW.batch_id AND h.first_no <= NEW.last_no AND h.id != NEW.id
    ORDER BY h.first_no DESC LIMIT 1), 0)
BEGIN SELECT RAISE(ABORT, 'holding ranges must be valid and must not overlap'); END;
""",
}


async def install_guards(conn: BaseDBAsyncClient) -> None:
    await conn.execute_script(GUARDS[conn.capabilities.dialect])
