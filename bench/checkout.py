"""Completed demo orders per second (create + pay + fulfil) through the real application, against a bare
Starlette endpoint pair doing the same SQL by hand, in the same run and on the same database.

    /tmp/venv/bin/python bench/checkout.py                 # SQLite (temporary file)
    /tmp/venv/bin/python bench/checkout.py --pg URL        # PostgreSQL too (or LINPIAO_TEST_DATABASE_URL)
    /tmp/venv/bin/python bench/checkout.py -n 300 -c 4     # orders per run, concurrent buyers

Both sides are driven in-process through httpx's ASGI transport, so the figure is the application's own
cost (HTTP parsing, validation, the register's rules, the ORM) and not the network's. The ratio
``app / bare`` is what the application keeps of the raw SQL's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel.settings import Settings
from linpiao.app import create_app
from linpiao.db import tortoise_config
from registry.quotas import open_quota, pool_holder


class SQL:
    """Hand-written statements; ``?`` placeholders become ``$n`` on PostgreSQL."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def __call__(self, sql: str) -> str:
        if not self.postgres:
            return sql
        parts = sql.split("?")
        return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def bare_app(batch_id: int, pool_id: int, sql: SQL) -> Starlette:
    """Two endpoints doing what one checkout and one payment write, without framework or rules."""

    async def append(conn, kind: str, qty: int, ranges: list, to_holder: int | None, now: datetime) -> int:
        head = (await conn.execute_query_dict(sql("SELECT seq, last_hash FROM register_head WHERE id = 1")))[0]
        seq = int(head["seq"]) + 1
        digest = hashlib.sha256(f"{seq}{kind}{ranges}{head['last_hash']}".encode()).hexdigest()
        rows = await conn.execute_query_dict(
            sql(
                "INSERT INTO register_entry (seq, kind, quantity, ranges, purpose, details, actor, created_at, "
                "prev_hash, hash, batch_id, from_holder_id, to_holder_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id"
            ),
            [
                seq,
                kind,
                qty,
                json.dumps(ranges),
                "",
                "{}",
                "bare",
                now,
                head["last_hash"],
                digest,
                batch_id,
                pool_id,
                to_holder,
            ],
        )
        await conn.execute_query(sql("UPDATE register_head SET seq = ?, last_hash = ? WHERE id = 1"), [seq, digest])
        return int(rows[0]["id"])

    async def create(request: Request) -> Response:
        body = await request.json()
        qty = int(body["quantity"])
        now = datetime.now(UTC)
        token = secrets.token_urlsafe(24)
        async with in_transaction() as conn:
            await conn.execute_query(sql("UPDATE register_head SET seq = seq WHERE id = 1"))
            free = (
                await conn.execute_query_dict(
                    sql(
                        "SELECT id, first_no, last_no FROM holding WHERE batch_id = ? AND holder_id = ? "
                        "AND state = 'held' ORDER BY first_no LIMIT 1"
                    ),
                    [batch_id, pool_id],
                )
            )[0]
            order = await conn.execute_query_dict(
                sql(
                    'INSERT INTO "order" (token, quantity, amount_fen, purpose, purpose_note, certificate_name, '
                    "contact, status, provider, client, details, expires_at, created_at, batch_id) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                    "RETURNING id"
                ),
                [
                    token,
                    qty,
                    qty * 100,
                    body["purpose"],
                    "",
                    body["certificate_name"],
                    "",
                    "pending",
                    "demo",
                    "address:127.0.0.1",
                    "{}",
                    now + timedelta(minutes=35),
                    now,
                    batch_id,
                ],
            )
            first = int(free["first_no"])
            await conn.execute_query(sql("UPDATE holding SET first_no = ? WHERE id = ?"), [first + qty, free["id"]])
            await conn.execute_query(
                sql(
                    "INSERT INTO holding (first_no, last_no, state, reserved_until, purpose, batch_id, holder_id, "
                    "order_id) VALUES (?,?,?,?,?,?,?,?)"
                ),
                [
                    first,
                    first + qty - 1,
                    "reserved",
                    now + timedelta(minutes=35),
                    "",
                    batch_id,
                    pool_id,
                    order[0]["id"],
                ],
            )
            await append(conn, "reservation", qty, [[first, first + qty - 1]], None, now)
        return JSONResponse({"id": order[0]["id"], "token": token}, status_code=201)

    async def pay(request: Request) -> Response:
        token = request.path_params["token"]
        now = datetime.now(UTC)
        async with in_transaction() as conn:
            await conn.execute_query(sql("UPDATE register_head SET seq = seq WHERE id = 1"))
            order = (await conn.execute_query_dict(sql('SELECT * FROM "order" WHERE token = ?'), [token]))[0]
            await conn.execute_query(
                sql(
                    "INSERT INTO payment (provider, event_id, event_type, amount_fen, payload, created_at, order_id) "
                    "VALUES (?,?,?,?,?,?,?)"
                ),
                ["demo", f"bare:{order['id']}", "paid", order["amount_fen"], "{}", now, order["id"]],
            )
            buyer = await conn.execute_query_dict(
                sql(
                    "INSERT INTO holder (kind, name, region_code, contact, residence_district, residence_evidence, "
                    "residence_confirmed, created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id"
                ),
                ["individual", order["certificate_name"], "", "", "", "none", False, now],
            )
            held = (
                await conn.execute_query_dict(
                    sql("SELECT id, first_no, last_no FROM holding WHERE order_id = ? AND state = 'reserved'"),
                    [order["id"]],
                )
            )[0]
            entry = await append(
                conn, "retirement", int(order["quantity"]), [[held["first_no"], held["last_no"]]], buyer[0]["id"], now
            )
            await conn.execute_query(
                sql(
                    "UPDATE holding SET holder_id = ?, state = 'retired', reserved_until = NULL, retirement_id = ?, "
                    "purpose = ? WHERE id = ?"
                ),
                [buyer[0]["id"], entry, order["purpose"], held["id"]],
            )
            await conn.execute_query(
                sql('UPDATE "order" SET status = ?, buyer_id = ?, paid_at = ?, fulfilled_at = ? WHERE id = ?'),
                ["fulfilled", buyer[0]["id"], now, now, order["id"]],
            )
            await conn.execute_query(
                sql(
                    "INSERT INTO certificate (code, kind, status, status_reason, holder_name, quantity, serial_ranges, "
                    "data, issued_at, batch_id, entry_id, holder_id, order_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                ),
                [
                    secrets.token_hex(10).upper(),
                    "carbon",
                    "valid",
                    "",
                    order["certificate_name"],
                    order["quantity"],
                    "",
                    "{}",
                    now,
                    batch_id,
                    entry,
                    buyer[0]["id"],
                    order["id"],
                ],
            )
        return RedirectResponse(f"/orders/{token}", status_code=303)

    return Starlette(routes=[Route("/orders", create, methods=["POST"]), Route("/pay/{token}", pay, methods=["POST"])])


class QueryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def drive(app, n: int, concurrency: int, create_path: str, pay_path: str) -> float:
    """Complete ``n`` orders with ``concurrency`` buyers; returns orders per second."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        queue = iter(range(n))

        async def buyer() -> None:
            for i in queue:
                r = await http.post(
                    create_path, json={"quantity": 5, "purpose": "travel", "certificate_name": f"买家{i}"}
                )
                assert r.status_code == 201, r.text
                p = await http.post(pay_path.format(token=r.json()["token"]), data={"action": "confirm"})
                assert p.status_code == 303, p.text

        start = time.perf_counter()
        await asyncio.gather(*(buyer() for _ in range(concurrency)))
        return n / (time.perf_counter() - start)


async def bench(url: str, n: int, concurrency: int) -> dict[str, float]:
    postgres = url.startswith("postgres")
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        if postgres:
            await connections.get("default").execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await Tortoise.generate_schemas()
        units = n * 5 * 3 + 100
        await open_quota(units=units, serial_prefix="BENCH-APP")  # the shop sells the oldest open quota
        bare_batch = await open_quota(units=units, serial_prefix="BENCH-BARE")
        pool = await pool_holder()
        # every simulated buyer shares one address: lift the per-address cap on unpaid orders (shop/limits.py)
        settings = Settings(
            database_url=url, base_url="http://bench", secret_key="bench-" + "x" * 40, max_pending_orders=10_000
        )
        app = create_app(settings, manage_db=False)
        bare = bare_app(bare_batch.id, pool.id, SQL(postgres))

        counter = QueryCounter()
        db_log = logging.getLogger("tortoise.db_client")
        db_log.setLevel(logging.DEBUG)
        db_log.propagate = False
        db_log.addHandler(counter)
        await drive(app, 5, 1, "/api/v1/orders", "/pay/demo/{token}")  # warm up and count statements
        app_queries = counter.count / 5
        counter.count = 0
        await drive(bare, 5, 1, "/orders", "/pay/{token}")
        bare_queries = counter.count / 5
        db_log.removeHandler(counter)
        db_log.setLevel(logging.WARNING)
        db_log.propagate = True

        results = {"app_queries": app_queries, "bare_queries": bare_queries}
        results["app"] = await drive(app, n, concurrency, "/api/v1/orders", "/pay/demo/{token}")
        results["bare"] = await drive(bare, n, concurrency, "/orders", "/pay/{token}")
        return results
    finally:
        await Tortoise.close_connections()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="orders per run")
    parser.add_argument("-c", "--concurrency", type=int, default=1, help="buyers at once")
    parser.add_argument(
        "--pg",
        default=os.environ.get("LINPIAO_TEST_DATABASE_URL", ""),
        help="PostgreSQL URL (its public schema is dropped!)",
    )
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # one database, in this process
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        r = asyncio.run(bench(args.one, args.n, args.concurrency))
        name = "PostgreSQL" if args.one.startswith("postgres") else "SQLite"
        print(
            f"{name:<11} app {r['app']:7.1f} orders/s ({r['app_queries']:.0f} SQL statements/order)  "
            f"bare {r['bare']:7.1f} orders/s ({r['bare_queries']:.0f} statements)  "
            f"ratio app/bare {r['app'] / r['bare']:.2f}",
            flush=True,
        )
        return 0
    print(f"{args.n} orders per run, {args.concurrency} concurrent buyer(s), 5 tickets each", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite://{tmp}/bench.db"] + ([args.pg] if args.pg else [])
        for url in urls:
            # Tortoise caches SQL per model for the first dialect it meets: one process per database.
            subprocess.run(
                [sys.executable, __file__, "-n", str(args.n), "-c", str(args.concurrency), "--one", url], check=True
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
