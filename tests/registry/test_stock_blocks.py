"""Stock blocks (registry.blocks): a carbon quota is sold in slices that buyers lock apart — each order reserves,
is paid and retired inside one block, on that block's own chain and counters — while an order larger than any
block, or one reserved again after its reservation lapsed, takes the quota's own lock. Nothing is oversold, the
counters always equal a recount, and every chain (the blocks' included) verifies."""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest

from factories import shop as factories
from registry import blocks, chain, counters, register
from registry.chain import verify_chain
from registry.models import Holding, HoldingState, Order, OrderStatus, RegisterEntry, StockBlock
from registry.quotas import pool_holder, quota_stats
from shop import orders
from shop.errors import QuotaExhausted
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, fulfil
from tests.conftest import is_postgres
from tests.registry.test_chain import _linpiao

needs_postgres = pytest.mark.skipif(not is_postgres(), reason="row locks across connections: PostgreSQL only")


@pytest.fixture(autouse=True)
def _worker_sold_before(monkeypatch):
    """As a worker that has sold before: it knows the quota on sale (its first sale takes the whole register's
    lock on SQLite, where writers take turns anyway)."""
    monkeypatch.setattr(orders, "_quota_hint", [1])


def _paid(order: Order) -> PaymentEvent:
    return PaymentEvent("demo", f"paid-{order.id}", EventKind.PAID, amount_fen=int(order.amount_fen))


async def _consistent() -> None:
    """What every test ends with: counters equal a recount, every chain verifies, and every range the pool holds
    or has reserved lies inside one block of its quota."""
    assert await counters.stored() == await counters.recount()
    report = await verify_chain()
    assert report.ok, report.describe()
    pool = await pool_holder()
    spans: dict[int, list[tuple[int, int]]] = {}
    for block in await StockBlock.all():
        spans.setdefault(int(block.batch_id), []).append((int(block.first_no), int(block.last_no)))
    live = await Holding.filter(holder_id=pool.id, state__in=[HoldingState.HELD, HoldingState.RESERVED])
    for holding in live:
        if holding.batch_id in spans:
            assert any(lo <= holding.first_no and holding.last_no <= hi for lo, hi in spans[holding.batch_id]), holding


def test_the_plan_cuts_every_serial_once_into_at_most_64_blocks():
    for total in (1, 99, 100, 101, 250, 6_399, 6_400, 10_000, 1_000_001, 10**12):
        ranges = blocks.plan(total)
        assert ranges[0][0] == 1 and ranges[-1][1] == total
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
        assert 1 <= len(ranges) <= blocks.MAX_BLOCKS
        assert len(ranges) == 1 or min(last - first + 1 for first, last in ranges) >= blocks.MIN_BLOCK // 2


async def test_a_quota_opens_cut_into_blocks_and_its_figures_are_unchanged(db):
    quota = await factories.quota(1000)
    cut = await StockBlock.filter(batch_id=quota.id).order_by("first_no")
    assert [(b.first_no, b.last_no) for b in cut] == [(1 + 100 * k, 100 * (k + 1)) for k in range(10)]
    assert all(b.issuer_held == 100 and b.seq == 0 for b in cut)
    issue = await RegisterEntry.get(batch_id=quota.id, kind="issue")
    assert {b.anchor_hash for b in cut} == {issue.hash}  # every block's chain hangs off the batch's chain
    stats = await quota_stats(quota)
    assert (stats.total, stats.available, stats.reserved, stats.sold) == (1000, 1000, 0, 0)
    await _consistent()


async def test_an_order_is_reserved_paid_and_retired_inside_one_block(db, settings):
    quota = await factories.quota(1000)
    first = await factories.order(settings, 10)
    second = await factories.order(settings, 30)
    assert first.block_id is not None and first.block_id == second.block_id  # SQLite: writers take turns
    block = await StockBlock.get(id=first.block_id)
    assert await apply_event(first.id, _paid(first)) is Outcome.FULFILLED
    entries = await RegisterEntry.filter(block_id=block.id).order_by("chain_seq")
    assert [e.kind for e in entries] == ["reservation", "reservation", "retirement"]
    assert [e.chain_seq for e in entries] == [1, 2, 3] and entries[0].prev_hash == block.anchor_hash
    await block.refresh_from_db()
    assert (block.seq, block.last_hash) == (3, entries[-1].hash)
    assert (block.issuer_held, block.issuer_reserved, block.retired - block.issuer_retired) == (60, 30, 10)
    stats = await quota_stats(quota)
    assert (stats.available, stats.reserved, stats.sold) == (960, 30, 10)
    sales = await counters.sales_by_purpose([quota.id])
    assert sales["travel"].units == 10
    await _consistent()


async def test_an_order_larger_than_any_block_takes_the_quota_lock_and_spans_blocks(db, settings):
    quota = await factories.quota(1000)  # ten blocks of 100
    small = await factories.order(settings, 95)  # leaves 5 in the first block
    big = await factories.order(settings, 250)
    assert small.block_id is not None and big.block_id is None
    reserved = await Holding.filter(order_id=big.id).order_by("first_no")
    assert sum(h.quantity for h in reserved) == 250 and len(reserved) >= 3  # cut at the blocks' bounds
    assert await apply_event(big.id, _paid(big)) is Outcome.FULFILLED
    assert await apply_event(small.id, _paid(small)) is Outcome.FULFILLED
    retirements = {e.details["order"]: e for e in await RegisterEntry.filter(kind="retirement")}
    assert retirements[big.id].block_id is None  # on the batch's own chain
    assert retirements[small.id].block_id == small.block_id
    assert (await quota_stats(quota)).sold == 345
    await _consistent()


async def test_the_last_tickets_spread_over_blocks_are_all_sold_and_never_more(db, settings):
    settings = settings.with_(min_order_fen=100)
    quota = await factories.quota(800)  # eight blocks of 100
    for _ in range(8):  # each takes 97 of one block: 3 left in each
        assert (await factories.order(settings, 97)).block_id is not None
    assert {b.issuer_held for b in await StockBlock.filter(batch_id=quota.id)} == {3}

    async def attempt(quantity: int, i: int) -> Order | None:
        try:
            return await factories.order(settings, quantity, name=f"买家{i}")
        except QuotaExhausted:
            return None

    tries = [attempt(1, i) for i in range(40)] + [attempt(5, 100 + i) for i in range(5)]
    won = [o for o in await asyncio.gather(*tries) if o is not None]
    assert sum(o.quantity for o in won) == 24  # every one of the 24 left, whatever the order of arrival
    assert all(o.block_id is None for o in won if o.quantity == 5)  # 5 fits no block: the quota's lock
    await asyncio.gather(*(fulfil(o) for o in won))
    stats = await quota_stats(quota)
    assert (stats.available, stats.sold) == (0, 24)
    await _consistent()


async def test_a_payment_after_the_reservation_lapsed_is_reserved_again_under_the_quota_lock(db, settings):
    quota = await factories.quota(500)
    order = await factories.order(settings, 20)
    assert order.block_id is not None
    await Holding.filter(order_id=order.id).update(reserved_until=order.created_at)  # it lapsed
    assert await register.expire_reservations() == 1
    assert await apply_event(order.id, _paid(order)) is Outcome.FULFILLED  # the block widened to the quota
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.block_id is None
    assert (await quota_stats(quota)).sold == 20
    await _consistent()


async def test_a_rewritten_entry_of_a_block_is_named(db, settings):
    await factories.quota(1000)
    order = await factories.order(settings, 10)
    await apply_event(order.id, _paid(order))
    retirement = await RegisterEntry.get(kind="retirement", block_id=order.block_id)
    await RegisterEntry.filter(id=retirement.id).update(quantity=1)
    report = await verify_chain()
    assert not report.ok and report.chain.endswith(f"block {order.block_id}")
    assert (report.first_bad_seq, report.chain_seq) == (retirement.seq, 2)
    code, out = await _linpiao("verify-register", env={**os.environ, "LINPIAO_DATABASE_URL": db})
    assert code == 1 and f"block {order.block_id} entry seq={retirement.seq}" in out


async def test_a_block_chain_that_does_not_start_from_its_batch_is_refused(db, settings):
    await factories.quota(1000)
    order = await factories.order(settings, 10)
    await StockBlock.filter(id=order.block_id).update(anchor_hash="f" * 64)
    report = await verify_chain()
    assert not report.ok and "does not start from its batch" in report.reason


async def test_the_migration_cuts_open_quotas_with_sales_and_pending_orders(db, settings):
    quota = await factories.quota(1000)
    sold = await factories.order(settings, 130)
    await apply_event(sold.id, _paid(sold))
    pending = await factories.order(settings, 70)
    # as a quota opened before blocks existed: no blocks, every count on the batch's row, orders on its chain
    await StockBlock.filter(batch_id=quota.id).delete()
    await Order.all().update(block_id=None)
    await RegisterEntry.filter(batch_id=quota.id).update(block_id=None)
    await Holding.filter(batch_id=quota.id, state=HoldingState.HELD).delete()
    pool = await pool_holder()
    await Holding.create(batch_id=quota.id, holder_id=pool.id, first_no=201, last_no=1000, state=HoldingState.HELD)
    await counters.rebuild_counters()
    await chain.start_batch_chains()
    assert await blocks.cut_open_quotas() == 1
    assert await blocks.cut_open_quotas() == 0  # once
    assert await StockBlock.filter(batch_id=quota.id).count() == 10
    stats = await quota_stats(quota)
    assert (stats.available, stats.reserved, stats.sold) == (800, 70, 130)
    assert await apply_event(pending.id, _paid(pending)) is Outcome.FULFILLED  # on the quota's lock
    later = await factories.order(settings, 10)
    assert later.block_id is not None
    assert await apply_event(later.id, _paid(later)) is Outcome.FULFILLED
    assert (await quota_stats(quota)).sold == 210


# --- PostgreSQL: buyers of one quota hold different blocks at the same time -------------------------------------


async def _claim_and_hold(batch_id: int, holding: asyncio.Event, release: asyncio.Event, claimed: list[int]) -> None:
    async with chain.tracked_transaction():
        span = await chain.claim_block(batch_id, 5)
        assert span is not None
        claimed.append(span.id)
        holding.set()
        await release.wait()


@needs_postgres
async def test_two_buyers_of_one_quota_hold_different_blocks_at_once(db, settings):
    quota = await factories.quota(1000)
    holding, release, claimed = asyncio.Event(), asyncio.Event(), []
    first = asyncio.create_task(_claim_and_hold(quota.id, holding, release, claimed))
    await asyncio.wait_for(holding.wait(), 10)
    contender = asyncio.create_task(factories.order(settings, 10))  # a whole order while the first block is held
    done, _ = await asyncio.wait({contender}, timeout=5)
    release.set()
    await first
    order = await contender
    assert done, "an order of the same quota waited for another buyer's block"
    assert order.block_id is not None and order.block_id != claimed[0]
    await _consistent()


@needs_postgres
async def test_the_quota_lock_waits_for_the_blocks_in_use(db, settings):
    quota = await factories.quota(1000)
    holding, release, claimed = asyncio.Event(), asyncio.Event(), []
    first = asyncio.create_task(_claim_and_hold(quota.id, holding, release, claimed))
    await asyncio.wait_for(holding.wait(), 10)
    big = asyncio.create_task(factories.order(settings, 300))  # larger than any block: the quota's own lock
    done, _ = await asyncio.wait({big}, timeout=1.5)
    release.set()
    await first
    assert not done  # it waited for the block in use
    assert (await big).block_id is None
    await _consistent()


async def test_parallel_requests_with_one_idempotency_key_make_one_order(db, settings):
    """Buyers no longer take turns on the quota: a key's own lock keeps its requests from both creating an order."""
    await factories.quota(1000)
    made = await asyncio.gather(*(factories.order(settings, 10, key="one-key") for _ in range(10)))
    assert len({order.id for order in made}) == 1
    assert await Order.all().count() == 1
    await _consistent()
