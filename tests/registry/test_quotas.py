"""Carbon quotas: the shop sells them in the order they were opened, skipping sold-out and closed ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from registry import register
from registry.models import Holder, HolderKind
from registry.quotas import close_quota, current_quota, open_quota, pool_holder, quota_stats


async def _sell_all(batch) -> None:
    buyer = await Holder.create(kind=HolderKind.INDIVIDUAL, name="买家", region_code="")
    await register.retire_held_units(
        batch=batch, holder=await pool_holder(), quantity=batch.total_units, purpose="出行", beneficiary=buyer
    )


async def test_quotas_sell_in_order_and_skip_sold_out_ones(db):
    assert await current_quota() is None
    first = await open_quota(units=10)
    second = await open_quota(units=20, kg_co2e_per_ticket=12)
    assert (await current_quota()).id == first.id
    await _sell_all(first)
    assert (await current_quota()).id == second.id
    stats = await quota_stats(first)
    assert (stats.sold, stats.available, stats.kg_co2e_sold) == (10, 0, 100)
    await _sell_all(second)
    assert (await current_quota()).id == second.id  # all sold out: the newest, so the shop can say so


async def test_closed_and_expired_quotas_are_not_on_sale(db):
    first = await open_quota(units=10)
    await close_quota(first)
    expired = await open_quota(units=10, valid_until=(datetime.now(UTC) - timedelta(days=1)).date())
    assert expired.is_open
    assert await current_quota() is None
    live = await open_quota(units=5)
    assert (await current_quota()).id == live.id
