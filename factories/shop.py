"""Shop test data: a quota on sale, and orders made through the service."""

from __future__ import annotations

from registry.models import Batch, Order
from registry.quotas import open_quota
from shop.limits import TRUSTED, Buyer
from shop.orders import OrderRequest, create_order


async def quota(units: int = 1000, *, price_fen: int = 100, kg: int = 10) -> Batch:
    return await open_quota(units=units, price_fen=price_fen, kg_co2e_per_ticket=kg)


async def order(
    settings,
    quantity: int = 10,
    *,
    purpose: str = "travel",
    name: str = "张三",
    key: str | None = None,
    provider: str = "demo",
    buyer: Buyer = TRUSTED,
) -> Order:
    made, _ = await create_order(
        settings,
        OrderRequest(quantity=quantity, purpose=purpose, certificate_name=name),
        provider=provider,
        idempotency_key=key,
        buyer=buyer,
    )
    return made
