"""Trades, dividends and register exports, each against a baseline measured in the same run.

    /tmp/venv/bin/python bench/trades.py [--holders 300] [--url sqlite:///tmp/bench-trades.db]

* a pro-rata subscription from N holders (trade, legs, filings, audit, one register entry per seller) against
  N bare ``register.transfer_units`` calls moving the same units: what the trade records cost;
* a dividend over N holders, whose balances are rebuilt from the register entries, against reading the same
  balances from the live holdings: what "no snapshot table" costs;
* CSV and XLSX export of every register entry, in rows per second.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise

from factories import make_batch, make_holder
from kernel import clock
from linpiao.db import tortoise_config
from registry import audit, register
from registry.dividends import record_dividend
from registry.models import HolderKind, Holding, HoldingState, StaffRole, StaffUser
from registry.register_view import EntryFilter, export_csv, export_xlsx, find_entries
from registry.trades import TradeLeg, record_subscription


async def run(url: str, holders: int) -> None:
    await Tortoise.init(config=tortoise_config(url))
    await Tortoise.generate_schemas()
    staff = await StaffUser.create(username="bench", password_hash="-", role=StaffRole.ISSUER, district_code="640104")
    actor = audit.Actor(staff)

    village = await make_holder("村集体", kind=HolderKind.VILLAGE_COLLECTIVE)
    units = holders * 100
    batch = await make_batch(units=units, holder=village)
    households = [await make_holder(f"户{i}") for i in range(holders)]
    for household in households:
        await register.transfer_units(batch=batch, from_holder=village, to_holder=household, quantity=50)
    coop = await make_holder("合作社", kind=HolderKind.ENTERPRISE)
    spare = await make_holder("基线")

    # baseline: the same units moved by bare transfers, one per seller
    start = time.perf_counter()
    for household in households:
        await register.transfer_units(batch=batch, from_holder=household, to_holder=spare, quantity=5)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    trade = await record_subscription(
        batch=batch,
        subscriber=coop,
        share=Fraction(holders * 5, units),
        price_fen=1_000_000,
        operating_form="equity",
        actor=actor,
    )
    subscription = time.perf_counter() - start
    legs = await TradeLeg.filter(trade_id=trade.id).count()
    print(f"subscription from {legs} holders: {subscription:.3f} s; {holders} bare transfers {bare:.3f} s")
    print(f"  ratio {subscription / bare:.2f}")

    start = time.perf_counter()
    live: dict[int, int] = {}
    for h in await Holding.filter(batch_id=batch.id).exclude(state=HoldingState.RETIRED):
        live[h.holder_id] = live.get(h.holder_id, 0) + h.quantity
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    dividend = await record_dividend(
        batch=batch, income_fen=9_999_999, record_date=clock.today(), source="x", actor=actor
    )
    split = time.perf_counter() - start
    shares = await dividend.shares.all()
    assert {s.holder_id: s.units for s in shares} == live
    print(f"dividend over {len(shares)} holders: {split:.3f} s; reading live balances {baseline:.3f} s")

    rows = await find_entries(EntryFilter(), limit=None)
    start = time.perf_counter()
    csv_bytes = export_csv(rows)
    csv_time = time.perf_counter() - start
    start = time.perf_counter()
    xlsx_bytes = export_xlsx(rows)
    xlsx_time = time.perf_counter() - start
    print(f"export of {len(rows)} entries: CSV {len(rows) / csv_time:,.0f} rows/s ({len(csv_bytes):,} bytes)")
    print(f"  XLSX {len(rows) / xlsx_time:,.0f} rows/s ({len(xlsx_bytes):,} bytes)")
    await Tortoise.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holders", type=int, default=300)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite://{Path(tmp) / 'bench.db'}"
        started = datetime.now(UTC)
        asyncio.run(run(url, args.holders))
        print(f"total {(datetime.now(UTC) - started).total_seconds():.1f} s")


if __name__ == "__main__":
    main()
