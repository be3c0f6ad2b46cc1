"""Transfers per second through the register, against a bare-SQL baseline in the same run.

    python bench/register.py [--transfers 500] [--pg postgres://postgres@127.0.0.1:5432/test]

For each database: (1) ``register.transfer_units`` of one unit from A to B, repeated — each a transaction with
the register lock, range split, merge into B's range, hash-chained entry; (2) the baseline: the same net row
writes in raw SQL on the same connection — lock the chain head, shrink A's range, grow B's range, insert an entry,
move the chain head — with no ORM, no checks and no hashing. The ratio is register ÷ baseline throughput.
PostgreSQL runs when --pg is given or LINPIAO_TEST_DATABASE_URL is set; its schema is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from factories import make_batch
from linpiao.db import tortoise_config
from registry import register
from registry.constraints import install_guards
from registry.models import Holder, HolderKind, Holding, TicketKind


async def _fresh(url: str) -> None:
    await Tortoise.init(config=tortoise_config(url))
    if url.startswith("postgres"):
        await connections.get("default").execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    await Tortoise.generate_schemas()
    await install_guards(connections.get("default"))  # as the migration does


# a residence a clerk checked in 兴庆区: collective tickets may circulate to them (registry.residence)
IN_CITY: dict[str, Any] = {
    "residence_district": "640104",
    "residence_evidence": "household_register",
    "residence_confirmed": True,
}


async def run_register(n: int) -> float:
    a = await Holder.create(kind=HolderKind.INDIVIDUAL, name="A", region_code="640104", **IN_CITY)
    b = await Holder.create(kind=HolderKind.INDIVIDUAL, name="B", region_code="640104", **IN_CITY)
    batch = await make_batch(TicketKind.COLLECTIVE, units=n + 10, holder=a)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=1)  # B gets a range
    start = time.perf_counter()
    for _ in range(n):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=1, price_fen=100)
    elapsed = time.perf_counter() - start
    assert await register.holder_total(b, batch=batch) == n + 1
    return n / elapsed


async def run_baseline(n: int) -> float:
    conn = connections.get("default")
    pg = conn.capabilities.dialect == "postgres"
    p = (lambda i: f"${i}") if pg else (lambda i: "?")
    a = await Holder.create(kind=HolderKind.INDIVIDUAL, name="A2", region_code="640104", **IN_CITY)
    b = await Holder.create(kind=HolderKind.INDIVIDUAL, name="B2", region_code="640104", **IN_CITY)
    batch = await make_batch(TicketKind.COLLECTIVE, units=n + 10, holder=a)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=1)
    a_range = await Holding.get(batch_id=batch.id, holder_id=a.id)
    b_range = await Holding.get(batch_id=batch.id, holder_id=b.id)
    insert = (
        "INSERT INTO register_entry (seq, kind, batch_id, from_holder_id, to_holder_id, quantity, ranges, "
        "price_fen, purpose, details, actor, created_at, prev_hash, hash) VALUES "
        f"({', '.join(p(i) for i in range(1, 15))})"
    )
    start = time.perf_counter()
    for _ in range(n):
        async with in_transaction() as tx:
            await tx.execute_query("UPDATE register_head SET seq = seq WHERE id = 1")
            _, rows = await tx.execute_query("SELECT seq, last_hash FROM register_head WHERE id = 1")
            seq = rows[0]["seq"] + 1
            await tx.execute_query(f"UPDATE holding SET first_no = first_no + 1 WHERE id = {p(1)}", [a_range.id])
            await tx.execute_query(f"UPDATE holding SET last_no = last_no + 1 WHERE id = {p(1)}", [b_range.id])
            await tx.execute_query(
                insert,
                [
                    seq,
                    "transfer",
                    batch.id,
                    a.id,
                    b.id,
                    1,
                    "[[1, 1]]",
                    100,
                    "",
                    "{}",
                    "",
                    datetime.now(UTC) if pg else datetime.now(UTC).isoformat(),
                    rows[0]["last_hash"],
                    f"{seq:064d}",
                ],
            )
            await tx.execute_query(
                f"UPDATE register_head SET seq = {p(1)}, last_hash = {p(2)} WHERE id = 1",
                [seq, f"{seq:064d}"],
            )
    return n / (time.perf_counter() - start)


async def bench(url: str, label: str, n: int) -> None:
    try:
        await _fresh(url)
        await run_register(20)  # warm up
        baseline = await run_baseline(n)
        registered = await run_register(n)
    finally:
        await Tortoise.close_connections()
    print(
        f"{label:<10} register {registered:8.0f} transfers/s   bare SQL {baseline:8.0f} transfers/s   "
        f"ratio {registered / baseline:.2f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=500)
    parser.add_argument("--pg", default=os.environ.get("LINPIAO_TEST_DATABASE_URL", ""))
    parser.add_argument("--only", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        await bench(args.only, "PostgreSQL" if args.only.startswith("postgres") else "SQLite", args.transfers)
        return
    # Tortoise binds its query builders to the first dialect it meets: one process per database.
    with tempfile.TemporaryDirectory() as tmp:
        for url in [f"sqlite://{tmp}/bench.db", *([args.pg] if args.pg else [])]:
            subprocess.run([sys.executable, __file__, "--transfers", str(args.transfers), "--only", url], check=True)


if __name__ == "__main__":
    asyncio.run(main())
