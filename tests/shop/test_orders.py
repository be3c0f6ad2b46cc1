from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from factories import shop as factories
from registry import register
from registry.models import Certificate, CertificateStatus, Holding, HoldingState, Order, OrderStatus, RegisterEntry
from registry.quotas import pool_holder, quota_stats
from shop.errors import (
    AboveMaximum,
    BelowMinimum,
    IdempotencyConflict,
    InvalidName,
    InvalidPurpose,
    InvalidQuantity,
    NoOpenQuota,
    QuotaExhausted,
)
from shop.orders import (
    EventKind,
    Outcome,
    PaymentEvent,
    apply_event,
    fulfil,
    order_certificate,
    parse_order_request,
    serial_ranges,
)


def paid(order: Order, event_id: str | None = None) -> PaymentEvent:
    return PaymentEvent("demo", event_id or f"paid-{order.id}", EventKind.PAID, amount_fen=int(order.amount_fen))


async def test_an_order_reserves_its_units_in_the_same_transaction(db, settings):
    batch = await factories.quota(100)
    order = await factories.order(settings, 10)
    assert order.amount_fen == 1000 and order.status is OrderStatus.PENDING
    assert len(order.token) >= 32
    assert order.expires_at - order.created_at >= timedelta(minutes=30)
    stats = await quota_stats(batch)
    assert (stats.available, stats.reserved) == (90, 10)
    assert await serial_ranges(order) == [f"{batch.serial_prefix}-00000001 – {batch.serial_prefix}-00000010"]


async def test_limits_and_quota(db, settings):
    with pytest.raises(NoOpenQuota):
        await factories.order(settings, 10)
    await factories.quota(20)
    with pytest.raises(BelowMinimum):
        await factories.order(settings, 4)  # ¥4 < ¥5
    with pytest.raises(QuotaExhausted):
        await factories.order(settings, 21)
    assert await Order.all().count() == 0  # a refusal writes nothing
    assert await RegisterEntry.filter(kind="reservation").count() == 0


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        (0, InvalidQuantity),
        (-3, InvalidQuantity),
        (2.5, InvalidQuantity),
        ("2.5", InvalidQuantity),
        ("abc", InvalidQuantity),
        ("", InvalidQuantity),
        (None, InvalidQuantity),
        (True, InvalidQuantity),
        ("1e3", InvalidQuantity),
        ("-1", InvalidQuantity),
        (10**30, AboveMaximum),
        ("9" * 40, AboveMaximum),
        (1_000_001, AboveMaximum),
    ],
)
def test_bad_quantities(settings, quantity, error):
    with pytest.raises(error):
        parse_order_request({"quantity": quantity, "purpose": "travel", "certificate_name": "x"}, settings)


def test_names_and_purposes(settings):
    ok = parse_order_request(
        {"quantity": "12", "purpose": "event", "certificate_name": "  <b>宁夏\x00 公司</b> "}, settings
    )
    assert ok.quantity == 12 and ok.certificate_name == "<b>宁夏 公司</b>"  # stored as text, escaped on output
    with pytest.raises(InvalidName):
        parse_order_request({"quantity": 5, "purpose": "travel", "certificate_name": "名" * 101}, settings)
    with pytest.raises(InvalidName):
        parse_order_request({"quantity": 5, "purpose": "travel", "certificate_name": "   "}, settings)
    with pytest.raises(InvalidPurpose):
        parse_order_request({"quantity": 5, "purpose": "出行", "certificate_name": "x"}, settings)


async def test_idempotency_key_returns_the_same_order(db, settings):
    await factories.quota(100)
    first = await factories.order(settings, 10, key="abc")
    again = await factories.order(settings, 10, key="abc")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await factories.order(settings, 11, key="abc")
    assert await Order.all().count() == 1


async def test_fulfil_retires_to_the_buyer_and_makes_one_certificate(db, settings):
    batch = await factories.quota(100)
    order = await factories.order(settings, 10, purpose="meeting", name="银川某公司")
    outcomes = await asyncio.gather(*(fulfil(order) for _ in range(5)))
    assert outcomes.count(Outcome.FULFILLED) == 1
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.fulfilled_at is not None
    retired = await Holding.filter(order_id=order.id)
    assert [h.state for h in retired] == [HoldingState.RETIRED]
    assert retired[0].holder_id == order.buyer_id and retired[0].purpose == "会议"
    assert await Certificate.filter(order_id=order.id).count() == 1
    assert (await order_certificate(order)).holder_name == "银川某公司"
    assert (await quota_stats(batch)).sold == 10


async def test_replayed_and_out_of_order_events(db, settings):
    await factories.quota(100)
    order = await factories.order(settings, 10)
    assert await apply_event(order.id, paid(order)) is Outcome.FULFILLED
    assert await apply_event(order.id, paid(order)) is Outcome.DUPLICATE
    late_expiry = PaymentEvent("demo", "exp-1", EventKind.EXPIRED)
    assert await apply_event(order.id, late_expiry) is Outcome.ALREADY_SETTLED
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert await Certificate.filter(order_id=order.id).count() == 1


async def test_wrong_amount_is_not_fulfilled(db, settings):
    await factories.quota(100)
    order = await factories.order(settings, 10)
    event = PaymentEvent("demo", "short", EventKind.PAID, amount_fen=1)
    assert await apply_event(order.id, event) is Outcome.AMOUNT_MISMATCH
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING


async def _expire(order: Order) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    await register.expire_reservations(now=later)
    await order.refresh_from_db()
    assert order.status is OrderStatus.EXPIRED


async def test_payment_after_expiry_reserves_again_when_stock_is_left(db, settings):
    batch = await factories.quota(100)
    order = await factories.order(settings, 10)
    await _expire(order)
    assert (await quota_stats(batch)).reserved == 0
    assert await apply_event(order.id, paid(order)) is Outcome.FULFILLED
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert (await quota_stats(batch)).sold == 10


async def test_payment_after_the_quota_ran_out_is_refunded_never_oversold(db, settings):
    batch = await factories.quota(20)
    late = await factories.order(settings, 10)
    await _expire(late)
    other = await factories.order(settings, 20)  # takes everything that is left
    assert await apply_event(other.id, paid(other)) is Outcome.FULFILLED
    assert await apply_event(late.id, paid(late)) is Outcome.REFUND_DUE
    await late.refresh_from_db()
    assert late.status is OrderStatus.FAILED and late.details["refund_due"] is True
    assert (await quota_stats(batch)).sold == 20
    assert not await Certificate.filter(order_id=late.id).exists()


async def test_refund_event_marks_order_and_certificate_refunded_units_stay_retired(db, settings):
    batch = await factories.quota(100)
    order = await factories.order(settings, 10)
    await apply_event(order.id, paid(order))
    refund = PaymentEvent("demo", "refund-1", EventKind.REFUNDED)
    assert await apply_event(order.id, refund) is Outcome.REFUNDED
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    certificate = await Certificate.get(order_id=order.id)
    assert certificate.status is CertificateStatus.REFUNDED
    # a retirement is irreversible: the units are not for sale again
    assert (await quota_stats(batch)).available == 90
    assert await Holding.filter(order_id=order.id, state=HoldingState.RETIRED).count() == 1


async def test_expired_and_failed_payments_release_units(db, settings):
    batch = await factories.quota(100)
    a = await factories.order(settings, 10)
    b = await factories.order(settings, 10)
    assert await apply_event(a.id, PaymentEvent("demo", "e1", EventKind.EXPIRED)) is Outcome.RELEASED
    assert await apply_event(b.id, PaymentEvent("demo", "e2", EventKind.FAILED)) is Outcome.RELEASED
    stats = await quota_stats(batch)
    assert (stats.available, stats.reserved) == (100, 0)
    await b.refresh_from_db()
    assert b.status is OrderStatus.FAILED


async def test_300_concurrent_checkouts_for_the_last_50_tickets(db, settings):
    settings = settings.with_(min_order_fen=100)
    batch = await factories.quota(1050)
    big = await factories.order(settings, 1000)
    await fulfil(big)

    async def attempt(i: int) -> Order | None:
        try:
            return await factories.order(settings, 1, name=f"买家{i}")
        except QuotaExhausted:
            return None

    results = await asyncio.gather(*(attempt(i) for i in range(300)))
    winners = [o for o in results if o is not None]
    assert len(winners) == 50
    await asyncio.gather(*(fulfil(o) for o in winners))
    stats = await quota_stats(batch)
    assert (stats.sold, stats.available, stats.reserved) == (1050, 0, 0)
    pool = await pool_holder()
    assert await register.holder_total(pool, batch=batch, state=HoldingState.HELD) == 0
    ranges = sorted((h.first_no, h.last_no) for h in await Holding.filter(batch_id=batch.id))
    covered = sum(last - first + 1 for first, last in ranges)
    assert covered == 1050 and all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
