"""The forestry department's actions on carbon quotas (碳汇林票定额), each audited in its own transaction."""

from __future__ import annotations

from datetime import date

from tortoise.transactions import in_transaction

from registry import audit, clock, quotas, register
from registry.errors import InvalidState, NonPositiveQuantity
from registry.models import Batch, RegisterEntry, TicketKind

MAX_QUOTA_UNITS = 10**12


async def open_quota(
    *, units: int, price_fen: int, kg_co2e_per_ticket: int, valid_until: date | None, actor: audit.Actor
) -> Batch:
    if not 0 < units <= MAX_QUOTA_UNITS:
        raise NonPositiveQuantity(str(units))
    if price_fen <= 0 or kg_co2e_per_ticket <= 0:
        raise NonPositiveQuantity(f"{price_fen} / {kg_co2e_per_ticket}")
    if valid_until is not None and valid_until < clock.today():
        raise InvalidState(f"valid until {valid_until}")
    async with in_transaction():
        batch = await quotas.open_quota(
            units=units,
            price_fen=price_fen,
            kg_co2e_per_ticket=kg_co2e_per_ticket,
            valid_until=valid_until,
            actor=actor.label,
        )
        await audit.record(
            actor,
            "quota.open",
            f"batch:{batch.serial_prefix}",
            units=units,
            price_fen=price_fen,
            kg_co2e_per_ticket=kg_co2e_per_ticket,
            valid_until=str(valid_until) if valid_until else None,
        )
    return batch


async def _quota(batch: Batch) -> Batch:
    await batch.refresh_from_db()
    if batch.kind is not TicketKind.CARBON:
        raise InvalidState("not a carbon quota")
    return batch


async def close_quota(batch: Batch, *, actor: audit.Actor) -> Batch:
    async with in_transaction():
        await _quota(batch)
        if not batch.is_open:
            raise InvalidState("closed")
        await quotas.close_quota(batch, actor=actor.label)
        await audit.record(actor, "quota.close", f"batch:{batch.serial_prefix}")
    return batch


async def withdraw_unsold(batch: Batch, *, actor: audit.Actor, reason: str = "") -> RegisterEntry:
    """Withdraw (收回) every unsold ticket of a quota; the quota closes and they can never be sold."""
    async with in_transaction():
        await _quota(batch)
        entry = await register.withdraw_units(
            batch=batch, holder=await quotas.pool_holder(), actor=actor.label, reason=reason.strip()[:200]
        )
        await audit.record(actor, "quota.withdraw", f"batch:{batch.serial_prefix}", units=int(entry.quantity))
    return entry
