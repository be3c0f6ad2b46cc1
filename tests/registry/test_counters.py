"""The register's counters (registry.counters): kept in the same transaction as each change, read instead of the
holdings, exact about lapsed reservations, rebuilt from the register when asked. The property test
(test_register_properties.py) checks them against a full recount after every random step; these pin the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from factories import make_batch, make_holder
from kernel import clock
from registry import audit, chain, counters, quotas, register, stock
from registry.chain import append_entry, lock_register, verify_chain
from registry.counters import ALL_TIME, BatchSales, BatchStock
from registry.errors import InsufficientUnits
from registry.models import EntryKind, Order, TicketKind


async def _order(batch, quantity: int, *, purpose: str = "travel", expires: datetime | None = None) -> Order:  # type: ignore[no-untyped-def]
    return await Order.create(
        token=f"t-{datetime.now(UTC).timestamp()}-{quantity}-{purpose}",
        batch=batch,
        quantity=quantity,
        amount_fen=quantity * 100,
        purpose=purpose,
        certificate_name="买家",
        expires_at=expires or datetime.now(UTC) + timedelta(minutes=30),
    )


async def _sell(batch, pool, quantity: int, *, purpose: str = "travel") -> Order:  # type: ignore[no-untyped-def]
    order = await _order(batch, quantity, purpose=purpose)
    await register.reserve_units(batch=batch, holder=pool, quantity=quantity, order=order, expires_at=order.expires_at)
    await register.retire_units(order=order, buyer=await make_holder("买家"), purpose=purpose)
    return order


async def test_every_change_moves_the_counters_in_its_own_transaction(db):
    quota = await quotas.open_quota(units=1000)
    pool = await quotas.pool_holder()
    stock_row = await counters.stock_of(quota.id)
    assert (stock_row.held, stock_row.reserved, stock_row.retired, stock_row.issuer_held) == (1000, 0, 0, 1000)
    await _sell(quota, pool, 30)
    order = await _order(quota, 20)
    await register.reserve_units(batch=quota, holder=pool, quantity=20, order=order, expires_at=order.expires_at)
    stock_row = await counters.stock_of(quota.id)
    assert (stock_row.held, stock_row.reserved, stock_row.retired) == (950, 20, 30)
    assert (stock_row.issuer_held, stock_row.issuer_reserved, stock_row.issuer_retired) == (950, 20, 0)
    assert stock_row.retired_to_others == 30
    # a refusal writes nothing, counters included
    with pytest.raises(InsufficientUnits):
        await register.transfer_units(batch=quota, from_holder=pool, to_holder=await make_holder(), quantity=5000)
    assert await counters.stored() == await counters.recount()
    stats = await quotas.quota_stats(quota)
    assert (stats.available, stats.reserved, stats.sold, stats.kg_co2e_sold) == (950, 20, 30, 300)


async def test_a_rolled_back_operation_leaves_the_counters_as_they_were(db):
    quota = await quotas.open_quota(units=100)
    pool = await quotas.pool_holder()
    before = await counters.stored()
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await _sell(quota, pool, 10)
            raise RuntimeError("the caller gives up")
    assert await counters.stored() == before
    assert await counters.recount() == before


async def test_lapsed_reservations_count_as_available_before_and_after_they_are_tidied(db):
    quota = await quotas.open_quota(units=100)
    pool = await quotas.pool_holder()
    lapsed = await _order(quota, 15, expires=datetime.now(UTC) - timedelta(minutes=1))
    await register.reserve_units(batch=quota, holder=pool, quantity=15, order=lapsed, expires_at=lapsed.expires_at)
    live = await _order(quota, 5)
    await register.reserve_units(batch=quota, holder=pool, quantity=5, order=live, expires_at=live.expires_at)
    stats = await quotas.quota_stats(quota)
    assert (stats.available, stats.reserved) == (95, 5)  # the lapsed 15 are free to sell again
    on_sale = await quotas.quota_on_sale()
    assert on_sale is not None and on_sale.stats == stats
    assert await register.units_available(quota, pool) == 95
    carbon = stock.totals_by_kind(await stock.stock_by_kind_and_district())[TicketKind.CARBON]
    assert (carbon.held, carbon.reserved) == (95, 5)
    assert await register.expire_reservations() == 1
    assert await quotas.quota_stats(quota) == stats  # tidying changes where they are counted, not what is shown
    assert (await counters.stock_of(quota.id)).reserved == 5


async def test_the_shop_totals_and_sales_by_day_come_from_the_counters(db):
    quota = await quotas.open_quota(units=1000, kg_co2e_per_ticket=12)
    pool = await quotas.pool_holder()
    today_start = clock.day_start(clock.today())
    with clock.use(clock.FixedClock(today_start - timedelta(minutes=1))):  # 23:59 yesterday in Yinchuan
        await _sell(quota, pool, 7, purpose="meeting")
    with clock.use(clock.FixedClock(today_start + timedelta(minutes=1))):  # 00:01 today
        await _sell(quota, pool, 11)
        await _sell(quota, pool, 2, purpose="planting")
        today, week = await stock.quota_sales_today_and_week(quota, clock.now())
    assert (today.units, today.amount_fen, today.entries) == (11, 1100, 1)
    assert (today.planting_units, today.planting_amount_fen) == (2, 200)
    monday = clock.local_date(today_start).weekday() == 0
    assert week.units == (11 if monday else 18)
    rows = {(r.purpose, r.day): r.units for r in await BatchSales.filter(batch_id=quota.id)}
    assert rows[("meeting", clock.today() - timedelta(days=1))] == 7
    assert rows[("travel", ALL_TIME)] == 11 and rows[("planting", ALL_TIME)] == 2
    from shop.orders import shop_totals

    totals = await shop_totals()
    assert (totals.units_sold, totals.kg_co2e_offset) == (20, 240)


async def test_rebuild_restores_counters_that_were_lost_or_wrong(db):
    quota = await quotas.open_quota(units=500)
    pool = await quotas.pool_holder()
    await _sell(quota, pool, 40)
    land = await make_batch(TicketKind.COLLECTIVE, units=300)
    right = await counters.stored()
    await BatchStock.filter(batch_id=quota.id).update(issuer_held=1, retired=999)
    await BatchSales.all().delete()
    await BatchStock.filter(batch_id=land.id).delete()
    assert await counters.stored() != right
    # a batch without a row is still counted right (from its holdings), and its next change writes the row
    assert (await counters.stock_of(land)).held == 300
    rebuilt = await counters.rebuild_counters()
    assert rebuilt == right == await counters.stored() == await counters.recount()


async def test_a_batch_issued_before_the_counters_gets_its_row_at_its_next_change(db):
    holder, other = await make_holder(), await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=120, holder=holder)
    await BatchStock.filter(batch_id=batch.id).delete()  # as if issued before the migration
    await register.transfer_units(batch=batch, from_holder=holder, to_holder=other, quantity=20)
    row = await counters.stock_of(batch.id)
    assert (row.held, row.issuer_held, row.issuer_id) == (120, 100, holder.id)


async def test_the_remembered_chain_tip_survives_a_rolled_back_savepoint(db):
    await make_batch(TicketKind.COLLECTIVE, units=10)
    async with in_transaction():
        await lock_register()
        with pytest.raises(RuntimeError):
            async with in_transaction():  # a savepoint that appends, then rolls back
                await append_entry(EntryKind.REISSUE, actor="rolled back")
                raise RuntimeError
        entry = await append_entry(EntryKind.REISSUE, actor="kept")
    assert (await verify_chain()).ok
    assert entry.chain_seq == 1  # the first of the chain without a batch: the rolled-back entry left no gap


async def test_a_lock_taken_by_a_rolled_back_operation_is_taken_again(db):
    holder = await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=10, holder=holder)
    async with in_transaction():  # an outer transaction that did not lock the register (a quota being opened)
        assert chain.lock_state() is None
        with pytest.raises(InsufficientUnits):
            await register.transfer_units(batch=batch, from_holder=holder, to_holder=await make_holder(), quantity=99)
        # PostgreSQL released the row lock with the savepoint: the next operation must not believe it holds it
        assert chain.lock_state() is None
        await register.transfer_units(batch=batch, from_holder=holder, to_holder=await make_holder(), quantity=1)
    assert (await verify_chain()).ok


async def test_counters_hold_quotas_past_two_billion_tickets(db):
    """Units are 64-bit everywhere (a quota may have up to 10^12 tickets): no counter is typed as a 32-bit integer."""
    quota = await quotas.open_quota(units=3_000_000_000)
    pool = await quotas.pool_holder()
    await _sell(quota, pool, 5)
    await quotas.withdraw_unsold(quota, actor=audit.SYSTEM)
    row = await counters.stock_of(quota.id)
    assert (row.held, row.retired, row.issuer_retired, row.retired_to_others) == (0, 3_000_000_000, 2_999_999_995, 5)
    assert await counters.stored() == await counters.recount()
