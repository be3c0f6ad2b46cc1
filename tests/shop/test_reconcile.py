from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import shop as factories
from registry.models import Order, OrderStatus
from registry.quotas import quota_stats
from shop.orders import EventKind, PaymentEvent, apply_event
from shop.reconcile import reconcile


async def test_demo_reconcile_expires_abandoned_orders_and_keeps_fresh_ones(db, settings):
    batch = await factories.quota(100)
    old = await factories.order(settings, 10)
    fresh = await factories.order(settings, 10)
    later = datetime.now(UTC) + timedelta(hours=1)
    await Order.filter(id=fresh.id).update(created_at=later, expires_at=later + timedelta(minutes=30))
    summary = await reconcile(settings, older_than_minutes=30, now=later)
    assert summary.checked == 1 and summary.results == {"released": 1}
    assert "1 order(s) checked" in str(summary)
    await old.refresh_from_db()
    assert old.status is OrderStatus.EXPIRED
    assert (await quota_stats(batch)).reserved == 10


async def test_reconcile_retries_a_refund_that_failed_before(db, settings):
    await factories.quota(20)
    late = await factories.order(settings, 10)
    await apply_event(late.id, PaymentEvent("demo", "exp", EventKind.EXPIRED))
    other = await factories.order(settings, 20)
    await apply_event(other.id, PaymentEvent("demo", "p1", EventKind.PAID, amount_fen=2000))
    await apply_event(late.id, PaymentEvent("demo", "p2", EventKind.PAID, amount_fen=1000))  # refund due, not issued
    summary = await reconcile(settings)
    assert summary.results == {"refunded": 1}
    await late.refresh_from_db()
    assert late.status is OrderStatus.REFUNDED and late.details["refund_ref"] == f"demo_refund_{late.id}"
