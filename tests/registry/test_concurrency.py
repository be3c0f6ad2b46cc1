"""Concurrent reservations never oversell: 100 buyers of 5 units race for 200 units."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from factories import make_batch, make_holder
from registry import register
from registry.errors import InsufficientUnits
from registry.models import Holding, HoldingState, Order, TicketKind
from tests.live import ROOT
from tests.timetravel import python_module


async def _race_setup() -> tuple:
    """A pool holding 200 carbon units and 100 pending orders of 5 each."""
    pool = await make_holder()
    batch = await make_batch(TicketKind.CARBON, units=200, holder=pool)
    expires = datetime.now(UTC) + timedelta(minutes=30)
    orders = [
        await Order.create(
            token=f"race-{i}",
            batch=batch,
            quantity=5,
            amount_fen=500,
            purpose="travel",
            certificate_name="买家",
            expires_at=expires,
        )
        for i in range(100)
    ]
    return pool, batch, orders


async def test_100_concurrent_reservations_of_5_against_200(db):
    pool, batch, orders = await _race_setup()
    expires = orders[0].expires_at

    async def attempt(order: Order) -> bool:
        try:
            await register.reserve_units(batch=batch, holder=pool, quantity=5, order=order, expires_at=expires)
            return True
        except InsufficientUnits:
            return False

    results = await asyncio.gather(*(attempt(o) for o in orders))
    assert results.count(True) == 40
    reserved = await Holding.filter(batch_id=batch.id, state=HoldingState.RESERVED)
    assert sum(h.quantity for h in reserved) == 200
    # every reserved range belongs to a winning order, and no serial is reserved twice
    serials = [n for h in reserved for n in range(h.first_no, h.last_no + 1)]
    assert len(serials) == len(set(serials)) == 200
    winners = {o.id for o, ok in zip(orders, results, strict=True) if ok}
    assert {h.order_id for h in reserved} == winners


async def test_four_processes_racing_never_oversell(db):
    """The same race across four worker processes: the register lock holds between processes too."""
    pool, batch, orders = await _race_setup()
    ids = [o.id for o in orders]
    workers = [
        await asyncio.create_subprocess_exec(
            *python_module("tests.registry.reserve_worker"),
            db,
            str(batch.id),
            str(pool.id),
            *map(str, ids[k::4]),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for k in range(4)
    ]
    lines = []
    for worker in workers:
        out, _ = await worker.communicate()
        assert worker.returncode == 0
        lines += out.decode().split()
    outcomes = dict(zip(lines[::2], lines[1::2], strict=True))
    assert len(outcomes) == 100
    assert list(outcomes.values()).count("ok") == 40
    reserved = await Holding.filter(batch_id=batch.id, state=HoldingState.RESERVED)
    assert sum(h.quantity for h in reserved) == 200
    assert {str(h.order_id) for h in reserved} == {k for k, v in outcomes.items() if v == "ok"}
