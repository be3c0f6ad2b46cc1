"""Certificates of every kind, made the way the shop and the back-office make them: through the register."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from certificates import service
from factories import make_batch, make_holder
from registry import register
from registry.models import Batch, Certificate, Holder, HolderKind, Order, RegisterEntry, TicketKind
from registry.quotas import open_quota, pool_holder


async def paid_order(
    quantity: int = 100,
    *,
    name: str = "张三",
    buyer: Holder | None = None,
    purpose: str = "travel",
    batch: Batch | None = None,
) -> tuple[Order, RegisterEntry]:
    """A carbon order reserved and retired to its buyer, as the shop's fulfilment does."""
    batch = batch or await open_quota(units=1_000_000)
    buyer = buyer or await make_holder(name)
    order = await Order.create(
        token=secrets.token_urlsafe(16),
        batch=batch,
        quantity=quantity,
        amount_fen=quantity * 100,
        purpose=purpose,
        certificate_name=name,
        buyer=buyer,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    await register.reserve_units(
        batch=batch,
        holder=await pool_holder(),
        quantity=quantity,
        order=order,
        expires_at=order.expires_at,
    )
    entry = await register.retire_units(order=order, buyer=buyer, purpose=purpose)
    return order, entry


async def carbon_certificate(quantity: int = 100, *, name: str = "张三", **kwargs) -> Certificate:
    order, entry = await paid_order(quantity, name=name, **kwargs)
    return await service.issue_carbon_certificate(order, entry)


async def planting_certificate(name: str = "李四", *, honour: bool = False) -> Certificate:
    order, entry = await paid_order(30, name=name, purpose="planting")
    holder = await Holder.get(id=entry.to_holder_id)
    issue = service.issue_honour_certificate if honour else service.issue_planting_certificate
    return await issue(holder, name=name, year=2026, trees=3, entries=[entry], order=order)


async def holding_certificate(
    kind: TicketKind = TicketKind.COLLECTIVE, *, name: str | None = None, units: int = 250
) -> Certificate:
    owner = await make_holder(
        name or ("兴庆区掌政镇春林村股份经济合作社" if kind is TicketKind.COLLECTIVE else "银川市国有林场"),
        kind=HolderKind.VILLAGE_COLLECTIVE if kind is TicketKind.COLLECTIVE else HolderKind.STATE_UNIT,
    )
    batch = await make_batch(kind, units=units, holder=owner)
    return await service.issue_holding_certificate(batch, owner)


async def all_kinds() -> dict[str, Certificate]:
    return {
        "carbon": await carbon_certificate(),
        "planting": await planting_certificate(),
        "honour": await planting_certificate("王小明", honour=True),
        "collective_holding": await holding_certificate(TicketKind.COLLECTIVE),
        "state_holding": await holding_certificate(TicketKind.STATE),
    }
