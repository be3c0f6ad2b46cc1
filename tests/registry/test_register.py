"""The register's operations: what they move, what they refuse, and that refusals change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from factories import make_batch, make_holder
from registry import register
from registry.chain import verify_chain
from registry.errors import (
    HolderOutsideCity,
    InsufficientUnits,
    InvalidShares,
    InvalidState,
    NonPositiveQuantity,
    RetiredUnits,
)
from registry.models import (
    HolderKind,
    Holding,
    HoldingState,
    Order,
    OrderStatus,
    RegisterEntry,
    TicketKind,
)


async def snapshot() -> tuple:
    holdings = sorted(
        (h.batch_id, h.holder_id, h.first_no, h.last_no, str(h.state), h.order_id) for h in await Holding.all()
    )
    return holdings, await RegisterEntry.all().count()


async def make_order(batch, quantity: int, minutes: int = 30) -> Order:
    return await Order.create(
        token=f"tok-{quantity}-{datetime.now(UTC).timestamp()}",
        batch=batch,
        quantity=quantity,
        amount_fen=quantity * 100,
        purpose="travel",
        certificate_name="张三",
        expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
    )


async def test_issue_puts_all_units_with_the_holder(db):
    holder = await make_holder(kind=HolderKind.VILLAGE_COLLECTIVE)
    batch = await make_batch(units=1500, holder=holder)
    assert await register.holder_total(holder, batch=batch) == 1500
    entry = await RegisterEntry.get(batch_id=batch.id)
    assert entry.kind == "issue" and entry.ranges == [[1, 1500]]


async def test_transfer_splits_ranges_and_merges_back(db):
    a = await make_holder()
    b = await make_holder()
    batch = await make_batch(units=100, holder=a)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=30, price_fen=3000)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=20)
    assert await register.holder_total(a, batch=batch) == 50
    b_ranges = [(h.first_no, h.last_no) for h in await Holding.filter(holder_id=b.id)]
    assert b_ranges == [(1, 50)]  # adjacent receipts merged into one range
    await register.transfer_units(batch=batch, from_holder=b, to_holder=a, quantity=50)
    assert [(h.first_no, h.last_no) for h in await Holding.filter(batch_id=batch.id)] == [(1, 100)]
    assert (await verify_chain()).ok


async def test_transfer_of_exact_serials(db):
    a = await make_holder()
    b = await make_holder()
    batch = await make_batch(units=100, holder=a)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=11, serials=(40, 50))
    rows = sorted((h.first_no, h.last_no, h.holder_id) for h in await Holding.filter(batch_id=batch.id))
    assert rows == [(1, 39, a.id), (40, 50, b.id), (51, 100, a.id)]


@pytest.mark.parametrize(
    "quantity",
    [0, -1, 1.5, "3", True, None],
)
async def test_non_positive_or_non_integer_quantity_is_refused(db, quantity):
    a = await make_holder()
    b = await make_holder()
    batch = await make_batch(units=10, holder=a)
    before = await snapshot()
    with pytest.raises(NonPositiveQuantity):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=quantity)
    assert await snapshot() == before


async def test_refusals_change_nothing(db):
    a = await make_holder()
    b = await make_holder()
    outsider = await make_holder(region="310101")
    batch = await make_batch(TicketKind.COLLECTIVE, units=10, holder=a)
    before = await snapshot()
    with pytest.raises(InsufficientUnits):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=11)
    with pytest.raises(HolderOutsideCity):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=outsider, quantity=1)
    with pytest.raises(InsufficientUnits):
        await register.transfer_units(batch=batch, from_holder=b, to_holder=a, quantity=1)
    assert await snapshot() == before


async def test_carbon_tickets_may_go_anywhere(db):
    pool = await make_holder(kind=HolderKind.GOVERNMENT)
    outsider = await make_holder(region="310101")
    batch = await make_batch(TicketKind.CARBON, units=10, holder=pool)
    await register.transfer_units(batch=batch, from_holder=pool, to_holder=outsider, quantity=3)
    assert await register.holder_total(outsider) == 3


async def test_state_tickets_refuse_holders_outside_city_on_issue(db):
    outsider = await make_holder(kind=HolderKind.STATE_UNIT, region="310101")
    with pytest.raises(HolderOutsideCity):
        await make_batch(TicketKind.STATE, units=10, holder=outsider)
    assert await RegisterEntry.all().count() == 0


async def test_reserve_retire_and_retired_units_cannot_move(db):
    pool = await make_holder(kind=HolderKind.GOVERNMENT)
    buyer = await make_holder()
    batch = await make_batch(TicketKind.CARBON, units=100, holder=pool)
    order = await make_order(batch, 10)
    await register.reserve_units(batch=batch, holder=pool, quantity=10, order=order, expires_at=order.expires_at)
    assert await register.holder_total(pool, batch=batch, state=HoldingState.RESERVED) == 10
    entry = await register.retire_units(order=order, buyer=buyer, purpose="出行")
    assert entry.ranges == [[1, 10]]
    retired = await Holding.get(batch_id=batch.id, state=HoldingState.RETIRED)
    assert (retired.holder_id, retired.purpose, retired.retirement_id) == (buyer.id, "出行", entry.id)
    before = await snapshot()
    with pytest.raises(RetiredUnits):
        await register.transfer_units(batch=batch, from_holder=buyer, to_holder=pool, quantity=1, serials=(5, 5))
    with pytest.raises(InsufficientUnits):
        await register.transfer_units(batch=batch, from_holder=buyer, to_holder=pool, quantity=1)
    with pytest.raises(InvalidState):
        await register.retire_units(order=order, buyer=buyer, purpose="again")
    assert await snapshot() == before


async def test_reserved_units_cannot_be_transferred_by_serial(db):
    pool = await make_holder(kind=HolderKind.GOVERNMENT)
    other = await make_holder()
    batch = await make_batch(TicketKind.CARBON, units=100, holder=pool)
    order = await make_order(batch, 10)
    await register.reserve_units(batch=batch, holder=pool, quantity=10, order=order, expires_at=order.expires_at)
    with pytest.raises(InvalidState):
        await register.transfer_units(batch=batch, from_holder=pool, to_holder=other, quantity=2, serials=(9, 10))


async def test_release_and_expiry_give_stock_back(db):
    pool = await make_holder(kind=HolderKind.GOVERNMENT)
    batch = await make_batch(TicketKind.CARBON, units=20, holder=pool)
    stale = await make_order(batch, 15, minutes=-1)
    await register.reserve_units(batch=batch, holder=pool, quantity=15, order=stale, expires_at=stale.expires_at)
    fresh = await make_order(batch, 10)
    # only 5 are free, but the stale reservation has run out and is released first
    await register.reserve_units(batch=batch, holder=pool, quantity=10, order=fresh, expires_at=fresh.expires_at)
    await stale.refresh_from_db()
    assert stale.status is OrderStatus.EXPIRED
    await register.release_units(order=fresh)
    assert [(h.first_no, h.last_no, h.state) for h in await Holding.filter(batch_id=batch.id)] == [
        (1, 20, HoldingState.HELD)
    ]
    assert (await verify_chain()).ok


async def test_inheritance_splits_by_shares_exactly(db):
    deceased = await make_holder("王老汉")
    heirs = [await make_holder("王大"), await make_holder("王二"), await make_holder("王三")]
    await make_batch(units=100, holder=deceased)
    entries = await register.inherit_units(
        deceased=deceased,
        heirs=[register.Heir(h, Fraction(1, 3)) for h in heirs],
        died_on=date(2026, 1, 2),
        documents=["继承公证书 (2026) 宁银证字第1号"],
    )
    assert [await register.holder_total(h) for h in heirs] == [34, 33, 33]
    assert await register.holder_total(deceased, state=HoldingState.HELD) == 0
    assert len(entries) == 1 and entries[0].kind == "inheritance"
    await deceased.refresh_from_db()
    assert deceased.deceased_on == date(2026, 1, 2)


async def test_inheritance_refuses_shares_that_do_not_add_up(db):
    deceased = await make_holder()
    heir = await make_holder()
    await make_batch(units=10, holder=deceased)
    before = await snapshot()
    with pytest.raises(InvalidShares):
        await register.inherit_units(
            deceased=deceased, heirs=[register.Heir(heir, Fraction(9, 10))], died_on=date(2026, 1, 1)
        )
    assert await snapshot() == before


async def test_transfer_to_oneself_is_refused(db):
    a = await make_holder()
    batch = await make_batch(units=10, holder=a)
    before = await snapshot()
    with pytest.raises(InvalidState):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=a, quantity=1)
    assert await snapshot() == before
