"""Does a page cost more once a million orders are sold? p50/p95 of the public pages, the register view and a holder
statement on a database of 0, 100, 10k, 100k and 1M sold orders, each as a ratio to the empty database and to the
100-order one (where every list page is full).

    python bench/growth.py                                # SQLite (temporary file), 0 / 100 / 10k / 100k / 1M
    python bench/growth.py --sizes 0,100,10000,100000     # fewer sizes (the largest one run is what to report)
    python bench/growth.py --pg URL                       # PostgreSQL (its public schema is dropped!)

How the seeded rows match what the register writes. The database is set up as the application sets it up: a carbon
quota opened with ``registry.quotas.open_quota`` (the shop's quota on sale), the demo's land holders, parcels,
batches and trades (``linpiao.demo.seed_demo``), and one real order made and paid through the application over HTTP.
Every seeded order is a copy of that real order's rows, read back from the database with all their columns, with its
own ids, serials, names, token, certificate code and time — one row each of ``order``, ``payment`` (the paid event),
``holder`` (the buyer), ``holding`` (its five tickets, retired to the buyer), ``certificate``, and two
``register_entry`` rows (the reservation and the retirement), chained by SHA-256 exactly as
:func:`registry.chain.append_entry` chains them (``linpiao verify-register`` passes on the result; the bench checks
it, and the counters against a recount, at every size up to 10k). The orders are spread over the quota's stock
blocks in turn (``registry.blocks``), as concurrent buyers spread them: each order's entries go on its block's
chain, the pool's held range in each block is shortened by the serials sold and the block's chain tip set to its
last entry, as the register leaves them. The counters (``registry.counters``) are then rebuilt from those rows with
:func:`registry.counters.rebuild_counters` — the function the migration and ``linpiao rebuild-counters`` run — and
its time is printed, so the same run shows what that backfill costs at each size. Seeding is bulk SQL, 5,000 orders
a statement batch; sizes are cumulative (10k, then 90k more, then 900k more). The orders' times are spread over the
30 days before now, so "sold today" and "this week" have real rows to add up.

Pages are requested through the application in-process (httpx's ASGI transport), sequentially, after a warm-up;
the public retirements index of ``registry.retirements`` is brought up to date before timing (its time printed), and
on PostgreSQL the database is vacuumed, analysed and checkpointed (a production database has had that done by
autovacuum and the checkpointer since its rows were written; a bulk load's write-back inside the timing is noise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tortoise import Tortoise, connections

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel.settings import Settings
from linpiao.app import create_app
from linpiao.db import tortoise_config
from registry import counters, retirements
from registry.chain import entry_hash, verify_chain
from registry.constraints import install_guards
from registry.models import Batch, Holder, Order, StockBlock, TicketKind
from registry.quotas import open_quota, pool_holder
from registry.retirements import public_holder_name

UNITS_PER_ORDER = 5
SPAN = timedelta(days=30)
PURPOSES = ["travel", "meeting", "event", "daily", "other"]
LABELS = {"travel": "出行", "meeting": "会议", "event": "大型活动", "daily": "日常生活", "other": "其他"}
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHUNK = 5000
# From this many sold orders on, every list page (/retirements: 30 rows, the register view: 25) is full. On the empty
# database they show the demo's few rows, so part of their ratio to it is the cost of drawing a full page, which
# does not grow further; the last column ("× full") is the ratio to the first size at or above this.
FULL_PAGES = 100
PUBLIC = ["/", "/buy", "/calculator", "/api/v1/quota", "/planting", "/impact", "/retirements", "/forests"]


def code_of(number: int) -> str:
    """A certificate code (Crockford base32, 20 characters) that no other seeded order has."""
    digits = []
    for _ in range(20):
        number, rest = divmod(number, 32)
        digits.append(ALPHABET[rest])
    return "S" + "".join(reversed(digits))[1:]


@dataclass
class SeedBlock:
    """Where seeding stands in one stock block: its chain's tip and the pool's next free serial in it."""

    id: int
    holding: int  # the pool's held range in the block
    free: int
    seq: int
    last_hash: str


class Seeder:
    """Copies of one real order's rows (see the module's docstring)."""

    def __init__(self, postgres: bool, span_start: datetime, total: int) -> None:
        self.postgres = postgres
        self.start = span_start
        self.total = max(total, 1)
        self.seeded = 0

    def sql(self, text: str) -> str:
        if not self.postgres:
            return text
        parts = text.split("?")
        return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))

    def when(self, moment: datetime) -> Any:
        return moment if self.postgres else moment.isoformat(sep=" ")

    async def load_template(self, order_id: int) -> None:
        conn = connections.get("default")

        async def one(table: str, where: str, value: Any) -> dict[str, Any]:
            rows = await conn.execute_query_dict(self.sql(f'SELECT * FROM "{table}" WHERE {where} = ?'), [value])
            return dict(rows[0])

        self.order = await one("order", '"id"', order_id)
        self.payment = await one("payment", '"order_id"', order_id)
        self.buyer = await one("holder", '"id"', self.order["buyer_id"])
        self.holding = await one("holding", '"order_id"', order_id)
        self.certificate = await one("certificate", '"order_id"', order_id)
        self.entries = [
            dict(row)
            for row in await conn.execute_query_dict(
                self.sql('SELECT * FROM "register_entry" WHERE "block_id" = ? ORDER BY "seq"'),
                [self.order["block_id"]],
            )
        ]
        assert [e["kind"] for e in self.entries] == ["reservation", "retirement"], self.entries
        self.batch = await Batch.get(id=self.order["batch_id"])
        self.pool_id = (await pool_holder()).id

    async def _next_ids(self) -> dict[str, int]:
        conn = connections.get("default")
        ids = {}
        for table in ("order", "payment", "holder", "holding", "certificate", "register_entry"):
            rows = await conn.execute_query_dict(f'SELECT COALESCE(MAX("id"), 0) AS "m" FROM "{table}"')
            ids[table] = int(rows[0]["m"])
        return ids

    async def seed(self, count: int) -> None:
        """``count`` more sold orders, in one transaction."""
        conn = connections.get("default")
        ids = await self._next_ids()
        # orders are sold from the quota's stock blocks in turn, as concurrent buyers claim them (registry.blocks):
        # each order's two entries go on its block's own hash chain, its serials come off the front of the range
        # the pool holds in that block; ``seq`` numbers entries across the register, as the id does here
        # (PostgreSQL draws both from one sequence)
        top = await conn.execute_query_dict('SELECT COALESCE(MAX("seq"), 0) AS "m" FROM "register_entry"')
        ids["register_entry"] = max(ids["register_entry"], int(top[0]["m"]))
        blocks: list[SeedBlock] = []
        for stock_block in await StockBlock.filter(batch_id=self.batch.id).order_by("first_no"):  # their tips now
            pool = await conn.execute_query_dict(
                self.sql(
                    'SELECT "id", "first_no", "last_no" FROM "holding" WHERE "batch_id" = ? AND "holder_id" = ? '
                    'AND "state" = ? AND "first_no" BETWEEN ? AND ? ORDER BY "last_no" - "first_no" DESC LIMIT 1'
                ),
                [self.batch.id, self.pool_id, "held", stock_block.first_no, stock_block.last_no],
            )
            seq, tip = int(stock_block.seq), stock_block.last_hash
            blocks.append(SeedBlock(stock_block.id, int(pool[0]["id"]), int(pool[0]["first_no"]), seq, tip))
        for number, seeding in enumerate(blocks):  # the pool's held ranges give up the serials sold first
            sold = len(range(number, count, len(blocks))) * UNITS_PER_ORDER
            await conn.execute_query(
                self.sql('UPDATE "holding" SET "first_no" = ? WHERE "id" = ?'), [seeding.free + sold, seeding.holding]
            )
        tables: dict[str, list[list[Any]]] = {
            k: [] for k in ("holder", "order", "payment", "register_entry", "holding", "certificate")
        }
        columns = {
            "holder": list(self.buyer),
            "order": list(self.order),
            "payment": list(self.payment),
            "register_entry": list(self.entries[0]),
            "holding": list(self.holding),
            "certificate": list(self.certificate),
        }

        async def flush() -> None:
            for table, rows in tables.items():
                if rows:
                    names = ", ".join(f'"{c}"' for c in columns[table])
                    marks = ", ".join("?" for _ in columns[table])
                    await conn.execute_many(self.sql(f'INSERT INTO "{table}" ({names}) VALUES ({marks})'), rows)
                    rows.clear()

        step = SPAN / self.total
        for k in range(1, count + 1):
            n = self.seeded + k
            moment = self.start + step * n
            purpose = PURPOSES[n % len(PURPOSES)]
            block = blocks[(k - 1) % len(blocks)]
            first, block.free = block.free, block.free + UNITS_PER_ORDER
            last = first + UNITS_PER_ORDER - 1
            holder_id, order_id = ids["holder"] + k, ids["order"] + k
            token = f"seed-{order_id:012d}"
            name = f"买家{n}"
            tables["holder"].append(
                [
                    {**self.buyer, "id": holder_id, "name": name, "created_at": self.when(moment)}[c]
                    for c in columns["holder"]
                ]
            )
            details = json.dumps(
                {
                    "buyer_kind": "individual",
                    "checkout_expires_at": (moment + timedelta(minutes=30)).isoformat(),
                    "payment_method": "card",
                    "channel": "",
                    "checkout_url": f"http://bench/pay/demo/{token}",
                    "trades": {f"demo_{order_id}": "card"},
                    "qr": None,
                    "jsapi": {},
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            order = {
                **self.order,
                "id": order_id,
                "token": token,
                "purpose": purpose,
                "certificate_name": name,
                "provider_ref": f"demo_{order_id}",
                "client": f"address:10.{n % 250}.{n // 250 % 250}.{n % 7}",
                "details": details,
                "expires_at": self.when(moment + timedelta(minutes=35)),
                "created_at": self.when(moment),
                "paid_at": self.when(moment),
                "fulfilled_at": self.when(moment),
                "buyer_id": holder_id,
                "block_id": block.id,
            }
            tables["order"].append([order[c] for c in columns["order"]])
            payment = {
                **self.payment,
                "id": ids["payment"] + k,
                "order_id": order_id,
                "event_id": f"demo:{order_id}:paid",
                "created_at": self.when(moment),
            }
            tables["payment"].append([payment[c] for c in columns["payment"]])
            entry_ids = []
            for template, offset, to_holder, price, label in (
                (self.entries[0], 0, None, None, ""),
                (self.entries[1], 1, holder_id, UNITS_PER_ORDER * int(self.batch.price_fen or 100), LABELS[purpose]),
            ):
                block.seq += 1
                entry_id = ids["register_entry"] + 2 * (k - 1) + offset + 1
                at = moment + timedelta(microseconds=offset)
                # the retirement names its beneficiary as registry.register.retire_units does
                entry_details: dict[str, Any] = {"order": order_id}
                if offset:
                    entry_details["beneficiary"] = public_holder_name(name, "individual")
                content = {
                    "seq": entry_id,
                    "kind": template["kind"],
                    "batch": self.batch.id,
                    "from": self.pool_id,
                    "to": to_holder,
                    "quantity": UNITS_PER_ORDER,
                    "ranges": [[first, last]],
                    "price_fen": price,
                    "purpose": label,
                    "details": entry_details,
                    "actor": template["actor"],
                    "created_at": at.astimezone(UTC).isoformat(timespec="microseconds"),
                    "prev": block.last_hash,
                    "chain_seq": block.seq,
                    "block": block.id,
                }
                digest = entry_hash(content)
                entry_ids.append(entry_id)
                row = {
                    **template,
                    "id": entry_id,
                    "seq": entry_id,
                    "chain_seq": block.seq,
                    "block_id": block.id,
                    "quantity": UNITS_PER_ORDER,
                    "ranges": json.dumps([[first, last]]),
                    "price_fen": price,
                    "purpose": label,
                    "details": json.dumps(entry_details, ensure_ascii=False),
                    "created_at": self.when(at),
                    "prev_hash": block.last_hash,
                    "hash": digest,
                    "to_holder_id": to_holder,
                }
                tables["register_entry"].append([row[c] for c in columns["register_entry"]])
                block.last_hash = digest
            holding = {
                **self.holding,
                "id": ids["holding"] + k,
                "first_no": first,
                "last_no": last,
                "purpose": LABELS[purpose],
                "holder_id": holder_id,
                "order_id": order_id,
                "retirement_id": entry_ids[1],
            }
            tables["holding"].append([holding[c] for c in columns["holding"]])
            certificate = {
                **self.certificate,
                "id": ids["certificate"] + k,
                "code": code_of(order_id),
                "holder_name": name,
                "serial_ranges": self.batch.serial_range(first, last),
                "issued_at": self.when(moment),
                "entry_id": entry_ids[1],
                "holder_id": holder_id,
                "order_id": order_id,
            }
            tables["certificate"].append([certificate[c] for c in columns["certificate"]])
            if k % CHUNK == 0:
                await flush()
        await flush()
        for seeding in blocks:
            await conn.execute_query(
                self.sql('UPDATE "stock_block" SET "seq" = ?, "last_hash" = ? WHERE "id" = ?'),
                [seeding.seq, seeding.last_hash, seeding.id],
            )
        if self.postgres:  # explicit ids: move each table's sequence past them
            for table in columns:
                await conn.execute_query(
                    f'SELECT setval(pg_get_serial_sequence(\'"{table}"\', \'id\'), (SELECT MAX("id") FROM "{table}"))'
                )
        self.seeded += count


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def timed(client: httpx.AsyncClient, url: str, requests: int) -> tuple[float, float]:
    for _ in range(3):
        response = await client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return percentiles(samples)


async def run(url: str, sizes: list[int], requests: int) -> None:
    postgres = url.startswith("postgres")
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        if postgres:
            await connections.get("default").execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await Tortoise.generate_schemas()
        await install_guards(connections.get("default"))  # as the migrations install them
        start = datetime.now(UTC) - SPAN - timedelta(hours=1)
        settings = Settings(
            database_url=url, base_url="http://bench", secret_key="bench-" + "x" * 40, max_pending_orders=10_000
        )
        app = create_app(settings, manage_db=False)
        seeder = Seeder(postgres, start + timedelta(minutes=30), max(sizes))
        from linpiao.demo import seed_demo

        await open_quota(units=(max(sizes) + 1000) * UNITS_PER_ORDER, serial_prefix="YC-TH-GROWTH")
        await seed_demo()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            # the template is sold from a stock block (on SQLite a worker's first sale takes the whole register and
            # the quota's own chain: the second one is the one every later sale is like)
            for _ in range(2):
                order = {"quantity": UNITS_PER_ORDER, "purpose": "travel", "certificate_name": "模板"}
                made = await http.post("/api/v1/orders", json=order)
                assert made.status_code == 201, made.text
                paid = await http.post(f"/pay/demo/{made.json()['token']}", data={"action": "confirm"})
                assert paid.status_code == 303, paid.text
                if await Order.filter(id=made.json()["id"], block_id__isnull=False).exists():
                    break
        await seeder.load_template(made.json()["id"])
        village = await Holder.get(kind="village_collective", name__contains="春林村")

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as admin:
            login = await admin.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf is not None
            signed = await admin.post(
                "/admin/login", data={"username": "auditor", "password": "demo-auditor-2026", "csrf": csrf.group(1)}
            )
            assert signed.status_code == 303, signed.text
            public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            baseline: dict[str, tuple[float, float]] = {}
            full: dict[str, float] = {}  # p50 at the first size whose list pages are full (FULL_PAGES orders)
            checked_up_to = 10_000  # every chain verified and the counters recounted at each size up to this one
            print(
                f"{'sold orders':>11}  {'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'p50 ×':>6} {'p95 ×':>6}"
                f" {'× full':>6}",
                flush=True,
            )
            for size in sizes:
                if size > seeder.seeded:
                    began = time.perf_counter()
                    await seeder.seed(size - seeder.seeded)
                    seeded_in = time.perf_counter() - began
                    began = time.perf_counter()
                    await counters.rebuild_counters()
                    rebuilt_in = time.perf_counter() - began
                    began = time.perf_counter()
                    indexed = await retirements.sync()
                    synced_in = time.perf_counter() - began
                    note = f"seeded in {seeded_in:.1f} s; counters rebuilt in {rebuilt_in:.1f} s; "
                    note += f"public retirements index +{indexed} rows in {synced_in:.1f} s"
                    if postgres:
                        # what autovacuum and the checkpointer do in the minutes after any bulk load, done before the
                        # timing instead of during it: fresh planner statistics and visibility map, written back
                        began = time.perf_counter()
                        for step in ("VACUUM ANALYZE", "CHECKPOINT"):  # one at a time: VACUUM runs alone
                            await connections.get("default").execute_script(step)
                        note += f"; VACUUM ANALYZE and CHECKPOINT in {time.perf_counter() - began:.1f} s"
                    if size <= checked_up_to:
                        report = await verify_chain()
                        assert report.ok, report
                        stored, counted = await counters.stored(), await counters.recount()
                        assert stored == counted
                        note += f"; chain verified ({report.entries_checked} entries), counters = recount"
                    print(f"# {size:,} sold orders: {note}", flush=True)
                last_seq = int(
                    (
                        await connections.get("default").execute_query_dict(
                            'SELECT MAX("seq") AS "m" FROM "register_entry"'
                        )
                    )[0]["m"]
                )
                pages = [(p, public, p) for p in PUBLIC] + [
                    ("register view, first page", admin, "/admin/register"),
                    ("register view, latest page", admin, f"/admin/register?after={max(0, last_seq - 25)}"),
                    ("register view, one holder", admin, f"/admin/register?holder={village.id}"),
                    ("holder statement (village)", admin, f"/admin/holders/{village.id}/statement"),
                ]
                for label, client, path in pages:
                    p50, p95 = await timed(client, path, requests)
                    base = baseline.setdefault(label, (p50, p95))
                    if size >= FULL_PAGES:
                        full.setdefault(label, p50)
                    to_full = f"{p50 / full[label]:6.2f}" if label in full else f"{'':>6}"
                    print(
                        f"{size:>11,}  {label:<34} {p50:8.2f} {p95:8.2f} {p50 / base[0]:6.2f} {p95 / base[1]:6.2f}"
                        f" {to_full}",
                        flush=True,
                    )
            await public.aclose()
        quota = await Batch.filter(kind=TicketKind.CARBON).order_by("id").first()
        assert quota is not None
        sold = await Order.filter(status="fulfilled").count()
        print(f"# done: {sold:,} fulfilled orders on {quota.serial_prefix}", flush=True)
    finally:
        await Tortoise.close_connections()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100,10000,100000,1000000", help="sold orders to measure at, ascending")
    parser.add_argument("-n", "--requests", type=int, default=40, help="timed requests per page and size")
    parser.add_argument(
        "--pg", default="", help="PostgreSQL URL instead of SQLite (its public schema is dropped: use a scratch one)"
    )
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # one database, in this process
    args = parser.parse_args()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] != 0:
        sizes = [0, *sizes]  # the ratios are to the empty database
    if args.one:
        asyncio.run(run(args.one, sizes, args.requests))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = args.pg or f"sqlite://{tmp}/growth.db"
        # Tortoise caches SQL per model for the first dialect it meets: one process per database.
        command = [
            sys.executable,
            __file__,
            "--sizes",
            ",".join(map(str, sizes)),
            "-n",
            str(args.requests),
            "--one",
            url,
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
