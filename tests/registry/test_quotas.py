"""Carbon quotas: the shop sells them in the order they were opened, skipping sold-out and closed ones."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel import clock
from registry import register
from registry.audit import Actor
from registry.errors import InvalidState, NonPositiveQuantity
from registry.models import AuditLog, Batch, Holder, HolderKind, RegisterEntry
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
    await close_quota(first, actor=Actor(None, system="test"))
    yesterday = clock.now() - timedelta(days=1)
    with clock.use(clock.FixedClock(yesterday)):
        expired = await open_quota(units=10, valid_until=clock.today())
    assert expired.is_open
    assert await current_quota() is None
    live = await open_quota(units=5)
    assert (await current_quota()).id == live.id


async def test_a_quota_cannot_open_already_expired_or_empty(db):
    with pytest.raises(InvalidState):
        await open_quota(units=10, valid_until=clock.today() - timedelta(days=1))
    with pytest.raises(NonPositiveQuantity):
        await open_quota(units=0)
    with pytest.raises(NonPositiveQuantity):
        await open_quota(units=10, price_fen=0)
    assert await Batch.all().count() == 0 and await AuditLog.all().count() == 0


async def test_opening_a_quota_is_audited_with_who_opened_it(db):
    batch = await open_quota(units=10, actor=Actor(None, system="cli"))
    log = await AuditLog.get(action="quota.open")
    assert log.username == "cli" and log.target == f"batch:{batch.serial_prefix}"
    issue = await RegisterEntry.get(batch_id=batch.id)
    assert issue.actor == "system:cli"
