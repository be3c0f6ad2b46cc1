"""Carbon quotas (定额发放): the carbon pool the shop sells from.

A quota is a carbon batch issued to the city's natural resources bureau (forestry), which holds the unsold
tickets. The shop sells quotas in the order they were opened: the oldest open, in-date quota that still has
tickets; an order is served from one quota, so its serials form one run of one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry import clock, register
from registry.errors import InvalidState
from registry.identity import uscc_check_char
from registry.models import Batch, Holder, HolderKind, Holding, HoldingState, TicketKind

POOL_HOLDER_NAME = "银川市自然资源局（林业）"
_POOL_CODE_BODY = "11640100MB0000000"
POOL_HOLDER_CODE = _POOL_CODE_BODY + uscc_check_char(_POOL_CODE_BODY)  # 11: a government body (机关)


async def pool_holder() -> Holder:
    """The government body that holds unsold carbon tickets."""
    holder = await Holder.get_or_none(id_number=POOL_HOLDER_CODE)
    if holder is None:
        holder = await Holder.create(
            kind=HolderKind.GOVERNMENT,
            name=POOL_HOLDER_NAME,
            id_number=POOL_HOLDER_CODE,
            region_code="640100",
        )
    return holder


async def open_quota(
    *,
    units: int,
    price_fen: int = 100,
    kg_co2e_per_ticket: int = 10,
    valid_until: date | None = None,
    serial_prefix: str | None = None,
    actor: str = "",
) -> Batch:
    """Open a carbon quota of ``units`` tickets at ``price_fen`` each (¥1 by default)."""
    holder = await pool_holder()
    today = clock.today()
    if serial_prefix is None:
        count = await Batch.filter(kind=TicketKind.CARBON).count()
        serial_prefix = f"YC-TH-{today.year}-{count + 1:03d}"
    return await register.issue_batch(
        kind=TicketKind.CARBON,
        holder=holder,
        total_units=units,
        serial_prefix=serial_prefix,
        price_fen=price_fen,
        g_co2e_per_unit=kg_co2e_per_ticket * 1000,
        issuing_authority=POOL_HOLDER_NAME,
        district_code="640100",
        valid_from=today,
        valid_until=valid_until,
        actor=actor,
    )


async def close_quota(batch: Batch, *, actor: str = "") -> None:
    if batch.kind is not TicketKind.CARBON:
        raise InvalidState("not a carbon quota")
    batch.is_open = False
    batch.closed_at = clock.now()
    await batch.save(update_fields=["is_open", "closed_at"])


async def current_quota() -> Batch | None:
    """The quota on sale: the oldest open, in-date quota with tickets available; when every open quota is sold out,
    the newest of them (so the shop can say so); ``None`` when no quota is open."""
    today = clock.today()
    in_date = [
        batch
        for batch in await Batch.filter(kind=TicketKind.CARBON, is_open=True).order_by("id")
        if batch.valid_until is None or batch.valid_until >= today
    ]
    if not in_date:
        return None
    holder = await pool_holder()
    for batch in in_date:
        if await register.units_available(batch, holder) > 0:
            return batch
    return in_date[-1]


@dataclass(frozen=True)
class QuotaStats:
    total: int
    available: int
    reserved: int
    sold: int
    kg_co2e_sold: int


async def quota_stats(batch: Batch) -> QuotaStats:
    """Tickets of a quota by state; reservations past their expiry count as available."""
    holder = await pool_holder()
    held = await register.holder_total(holder, batch=batch, state=HoldingState.HELD)
    available = await register.units_available(batch, holder)
    reserved = await register.holder_total(holder, batch=batch, state=HoldingState.RESERVED)
    sold = sum(
        h.quantity
        for h in await Holding.filter(batch_id=batch.id, state=HoldingState.RETIRED).exclude(holder_id=holder.id)
    )
    return QuotaStats(
        total=int(batch.total_units),
        available=available,
        reserved=reserved - (available - held),
        sold=sold,
        kg_co2e_sold=sold * int(batch.g_co2e_per_unit or 0) // 1000,
    )
