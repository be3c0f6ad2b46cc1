"""Refunds decided at the customer-service desk, through the order's provider: the demo one and Stripe (the real
library against the fake Stripe server)."""

from __future__ import annotations

import pytest

from factories import shop as factories
from registry.audit import Actor
from registry.models import AuditLog, Certificate, CertificateStatus, Holding, HoldingState, OrderStatus, Payment
from registry.quotas import quota_stats
from registry.service_desk import NotRefundable, ReasonRequired, RefundFailed
from shop.service_desk import ProviderRefunds
from tests.desk import paid_order
from tests.shop.test_stripe import api_order, post_event

DESK = Actor(None, "10.0.0.9", system="desk-test")


async def test_a_demo_order_is_refunded_with_its_reason(settings, db):
    batch = await factories.quota(1000)
    order = await paid_order(settings, 10)
    ref = await ProviderRefunds(settings).refund(order, reason="  买错了数量  ", actor=DESK)
    assert ref == f"demo_refund_{order.id}"
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert order.details["refund_ref"] == ref and order.details["refund_reason"] == "买错了数量"
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.REFUNDED
    # the retired tickets stay retired: a retirement is irreversible, refunded tickets are never sold twice
    assert await Holding.filter(order_id=order.id, state=HoldingState.RETIRED).count() == 1
    assert (await quota_stats(batch)).sold == 10
    payment = await Payment.get(order_id=order.id, event_type="desk.refund")
    assert payment.payload["reason"] == "买错了数量" and payment.amount_fen == 1000
    line = await AuditLog.get(action="order.refund")
    assert line.target == f"order:{order.id}"
    assert line.details == {"refund_ref": ref, "reason": "买错了数量", "amount_fen": 1000, "provider": "demo"}
    with pytest.raises(NotRefundable):  # a second click finds it refunded
        await ProviderRefunds(settings).refund(order, reason="again", actor=DESK)
    assert await AuditLog.filter(action="order.refund").count() == 1


async def test_a_refund_needs_a_reason_and_a_paid_order(settings, db):
    from shop.limits import TRUSTED
    from shop.orders import OrderRequest, create_order

    await factories.quota(1000)
    order = await paid_order(settings, 10)
    with pytest.raises(ReasonRequired):
        await ProviderRefunds(settings).refund(order, reason="   ", actor=DESK)
    unpaid, _ = await create_order(
        settings, OrderRequest(quantity=10, purpose="travel", certificate_name="李四"), provider="demo", buyer=TRUSTED
    )
    with pytest.raises(NotRefundable):
        await ProviderRefunds(settings).refund(unpaid, reason="客户要求", actor=DESK)
    await order.refresh_from_db()
    await unpaid.refresh_from_db()
    assert (order.status, unpaid.status) == (OrderStatus.FULFILLED, OrderStatus.PENDING)
    assert not await AuditLog.filter(action="order.refund").exists()


async def test_a_stripe_order_is_refunded_at_stripe_and_the_webhook_then_changes_nothing(
    stripe_client, stripe_settings, fake_stripe
):
    await factories.quota(1000)
    order = await api_order(stripe_client, 10)
    fake_stripe.pay(order.provider_ref)
    await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    )
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    ref = await ProviderRefunds(stripe_settings).refund(order, reason="重复购买", actor=DESK)
    [refund] = fake_stripe.refunds.values()
    assert ref == refund["id"] and refund["payment_intent"] == f"pi_{order.provider_ref}"
    assert refund["amount"] == 1000
    call = next(r for r in fake_stripe.requests if r["path"] == "/v1/refunds")
    assert call["headers"]["idempotency-key"] == f"order-{order.id}-refund"
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.REFUNDED
    # Stripe then reports the refund it made: the order is already settled
    response = await post_event(stripe_client, fake_stripe, fake_stripe.charge_refunded_event(order.provider_ref))
    assert response.json()["outcome"] == "already_settled"
    assert await AuditLog.filter(action="order.refund").count() == 1


async def test_a_refused_stripe_refund_changes_nothing(stripe_client, stripe_settings, fake_stripe):
    await factories.quota(1000)
    order = await api_order(stripe_client, 10)
    fake_stripe.pay(order.provider_ref)
    await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    )
    fake_stripe.down = True
    with pytest.raises(RefundFailed):
        await ProviderRefunds(stripe_settings).refund(order, reason="重复购买", actor=DESK)
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.VALID
    assert not await AuditLog.filter(action="order.refund").exists()
