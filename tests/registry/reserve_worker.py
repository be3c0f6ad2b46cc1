"""A separate process that races for units: ``python -m tests.registry.reserve_worker URL BATCH HOLDER ORDER...``.

Prints one line per order: ``<order id> ok`` or ``<order id> refused``.
"""

from __future__ import annotations

import asyncio
import sys

from tortoise import Tortoise

from linpiao.db import tortoise_config
from registry import register
from registry.errors import InsufficientUnits
from registry.models import Batch, Holder, Order


async def main(url: str, batch_id: int, holder_id: int, order_ids: list[int]) -> None:
    await Tortoise.init(config=tortoise_config(url))
    try:
        batch = await Batch.get(id=batch_id)
        holder = await Holder.get(id=holder_id)
        orders = [await Order.get(id=i) for i in order_ids]

        async def attempt(order: Order) -> str:
            try:
                await register.reserve_units(
                    batch=batch, holder=holder, quantity=order.quantity, order=order, expires_at=order.expires_at
                )
                return f"{order.id} ok"
            except InsufficientUnits:
                return f"{order.id} refused"

        for line in await asyncio.gather(*(attempt(o) for o in orders)):
            print(line, flush=True)
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(a) for a in sys.argv[4:]]))
