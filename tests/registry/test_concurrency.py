"""Concurrent reservations never oversell: 100 buyers of 5 units race for 200 units."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from registry import register
from registry.errors import InsufficientUnits
from registry.models import Holding, HoldingState, Order, TicketKind
from tests.factories import make_batch, make_holder


async def test_100_concurrent_reservations_of_5_against_200(db):
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
