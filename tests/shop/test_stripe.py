"""The Stripe path end to end: the real ``stripe`` library against the fake Stripe server on loopback."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from factories import shop as factories
from registry import register
from registry.models import Certificate, CertificateStatus, Order, OrderStatus, Payment
from registry.quotas import quota_stats
from shop.reconcile import reconcile
from tests.fakestripe import WEBHOOK_SECRET, FakeStripe


async def api_order(client, quantity: int = 10, name: str = "张三") -> Order:
    response = await client.post(
        "/api/v1/orders", json={"quantity": quantity, "purpose": "travel", "certificate_name": name}
    )
    assert response.status_code == 201, response.text
    return await Order.get(id=response.json()["id"])


async def post_event(
    client,
    fake: FakeStripe,
    event: dict,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    body: str | None = None,
):
    payload = json.dumps(event)
    signature = fake.sign(payload, secret=secret, timestamp=timestamp)
    return await client.post(
        "/webhooks/stripe",
        content=body or payload,
        headers={"stripe-signature": signature, "content-type": "application/json"},
    )


async def test_checkout_session_is_cny_with_card_alipay_wechat_and_idempotent(stripe_client, fake_stripe):
    await factories.quota(1000)
    response = await stripe_client.post(
        "/buy", data={"quantity": "50", "purpose": "meeting", "certificate_name": "银川会议"}
    )
    assert response.status_code == 303
    order = await Order.get()
    assert response.headers["location"] == f"https://checkout.stripe.test/c/pay/{order.provider_ref}"
    [call] = fake_stripe.requests
    params = call["params"]
    assert call["headers"]["idempotency-key"] == f"order-{order.id}-checkout"
    assert params["currency"] == "cny" and params["mode"] == "payment"
    assert params["payment_method_types"] == ["card", "alipay", "wechat_pay"]
    assert params["payment_method_options"] == {"wechat_pay": {"client": "web"}}
    item = params["line_items"][0]
    assert (item["quantity"], item["price_data"]["unit_amount"], item["price_data"]["currency"]) == ("50", "100", "cny")
    assert params["client_reference_id"] == str(order.id)
    assert params["metadata"]["order_id"] == params["payment_intent_data"]["metadata"]["order_id"] == str(order.id)
    expires = int(params["expires_at"])
    assert 30 * 60 <= expires - time.time() <= 24 * 3600
    assert expires <= order.expires_at.timestamp()  # the reservation outlives the payment page
    assert params["success_url"].endswith(f"/orders/{order.token}?session_id={{CHECKOUT_SESSION_ID}}")


async def test_a_transient_stripe_error_is_retried_once_not_duplicated(stripe_client, fake_stripe):
    await factories.quota(1000)
    fake_stripe.fail_next = 1
    order = await api_order(stripe_client)
    assert order.provider_ref and len(fake_stripe.sessions) == 1
    assert len(fake_stripe.requests) == 2


async def test_stripe_down_releases_the_units(stripe_client, fake_stripe):
    batch = await factories.quota(1000)
    fake_stripe.down = True
    page = await stripe_client.post("/buy", data={"quantity": "10", "purpose": "travel", "certificate_name": "x"})
    assert page.status_code == 502 and "支付服务暂时不可用" in page.text
    api = await stripe_client.post(
        "/api/v1/orders", json={"quantity": 10, "purpose": "travel", "certificate_name": "x"}
    )
    assert api.status_code == 502 and api.json()["error"]["code"] == "payment_unavailable"
    assert (await quota_stats(batch)).available == 1000
    assert {o.status for o in await Order.all()} == {OrderStatus.FAILED}


async def test_completed_webhook_fulfils_once_however_often_it_arrives(stripe_client, fake_stripe):
    batch = await factories.quota(1000)
    order = await api_order(stripe_client)
    fake_stripe.pay(order.provider_ref)
    event = fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    first = await post_event(stripe_client, fake_stripe, event)
    assert first.status_code == 200 and first.json()["outcome"] == "fulfilled"
    again = await post_event(stripe_client, fake_stripe, event)  # replayed, freshly signed
    assert again.json()["outcome"] == "duplicate"
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert await Certificate.filter(order_id=order.id).count() == 1
    assert await Payment.filter(order_id=order.id).count() == 1
    assert (await quota_stats(batch)).sold == 10
    # a late "expired" for the same session changes nothing
    late = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.expired", order.provider_ref)
    )
    assert late.json()["outcome"] == "already_settled"


async def test_forged_stale_and_tampered_webhooks_are_400_and_change_nothing(stripe_client, fake_stripe):
    await factories.quota(1000)
    order = await api_order(stripe_client)
    fake_stripe.pay(order.provider_ref)
    event = fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    forged = await post_event(stripe_client, fake_stripe, event, secret="whsec_attacker")
    stale = await post_event(stripe_client, fake_stripe, event, timestamp=int(time.time()) - 3600)
    tampered_event = json.loads(json.dumps(event))
    tampered_event["data"]["object"]["amount_total"] = 1
    tampered = await post_event(stripe_client, fake_stripe, event, body=json.dumps(tampered_event))
    unsigned = await stripe_client.post("/webhooks/stripe", content=json.dumps(event))
    for response in (forged, stale, tampered, unsigned):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING
    assert await Payment.all().count() == 0


async def test_async_payment_then_success_or_failure(stripe_client, fake_stripe):
    batch = await factories.quota(1000)
    good = await api_order(stripe_client, 10)
    bad = await api_order(stripe_client, 20)
    for order in (good, bad):
        fake_stripe.pay(order.provider_ref, async_pending=True)
        r = await post_event(
            stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", order.provider_ref)
        )
        assert r.json()["outcome"] == "noted"
    await good.refresh_from_db()
    assert good.status is OrderStatus.PENDING and good.details["awaiting_payment"]
    fake_stripe.sessions[good.provider_ref]["payment_status"] = "paid"
    r = await post_event(
        stripe_client,
        fake_stripe,
        fake_stripe.session_event("checkout.session.async_payment_succeeded", good.provider_ref),
    )
    assert r.json()["outcome"] == "fulfilled"
    r = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.async_payment_failed", bad.provider_ref)
    )
    assert r.json()["outcome"] == "released"
    stats = await quota_stats(batch)
    assert (stats.sold, stats.reserved, stats.available) == (10, 0, 990)


async def test_expired_session_releases_units(stripe_client, fake_stripe):
    batch = await factories.quota(1000)
    order = await api_order(stripe_client)
    fake_stripe.sessions[order.provider_ref]["status"] = "expired"
    r = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.expired", order.provider_ref)
    )
    assert r.json()["outcome"] == "released"
    assert (await quota_stats(batch)).available == 1000


async def test_payment_after_expiry_with_stock_left_is_fulfilled(stripe_client, fake_stripe):
    batch = await factories.quota(1000)
    order = await api_order(stripe_client)
    await register.expire_reservations(now=datetime.now(UTC) + timedelta(hours=1))
    fake_stripe.pay(order.provider_ref)
    r = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    )
    assert r.json()["outcome"] == "fulfilled"
    assert (await quota_stats(batch)).sold == 10


async def test_payment_after_the_quota_ran_out_is_refunded_through_stripe(stripe_client, fake_stripe, settings):
    batch = await factories.quota(100)
    late = await api_order(stripe_client, 10)
    await register.expire_reservations(now=datetime.now(UTC) + timedelta(hours=1))
    rest = await api_order(stripe_client, 100)
    fake_stripe.pay(rest.provider_ref)
    await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", rest.provider_ref)
    )
    fake_stripe.pay(late.provider_ref)
    r = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", late.provider_ref)
    )
    assert r.json()["outcome"] == "refunded"
    [refund] = fake_stripe.refunds.values()
    assert refund["payment_intent"] == f"pi_{late.provider_ref}" and refund["amount"] == 1000
    await late.refresh_from_db()
    assert late.status is OrderStatus.REFUNDED and late.details["refund_ref"] == refund["id"]
    assert (await quota_stats(batch)).sold == 100  # never oversold
    # Stripe then reports the refund: nothing more happens
    r = await post_event(stripe_client, fake_stripe, fake_stripe.charge_refunded_event(late.provider_ref))
    assert r.json()["outcome"] == "already_settled"


async def test_charge_refunded_marks_order_and_certificate(stripe_client, fake_stripe):
    await factories.quota(1000)
    order = await api_order(stripe_client)
    fake_stripe.pay(order.provider_ref)
    await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    )
    partial = await post_event(
        stripe_client, fake_stripe, fake_stripe.charge_refunded_event(order.provider_ref, full=False)
    )
    assert partial.json()["outcome"] == "noted"
    r = await post_event(stripe_client, fake_stripe, fake_stripe.charge_refunded_event(order.provider_ref))
    assert r.json()["outcome"] == "refunded"
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.REFUNDED
    page = await stripe_client.get(f"/orders/{order.token}")
    assert "已退款" in page.text


async def test_unrelated_or_unknown_events_are_acknowledged(stripe_client, fake_stripe):
    r = await post_event(stripe_client, fake_stripe, fake_stripe.event("customer.created", {"id": "cus_1"}))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    r = await post_event(
        stripe_client,
        fake_stripe,
        fake_stripe.event(
            "checkout.session.completed", {"id": "cs_x", "client_reference_id": "99999", "payment_status": "paid"}
        ),
    )
    assert r.json()["outcome"] == "ignored"


async def test_return_page_settles_a_paid_session_without_waiting_for_the_webhook(stripe_client, fake_stripe):
    await factories.quota(1000)
    order = await api_order(stripe_client)
    fake_stripe.pay(order.provider_ref)
    page = await stripe_client.get(f"/orders/{order.token}", params={"session_id": order.provider_ref})
    assert "证书已生成" in page.text
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED


async def test_reconcile_fulfils_paid_and_expires_abandoned_sessions(stripe_client, fake_stripe, stripe_settings):
    batch = await factories.quota(1000)
    paid = await api_order(stripe_client, 10)
    abandoned = await api_order(stripe_client, 20)
    fresh = await api_order(stripe_client, 30)
    fake_stripe.pay(paid.provider_ref)
    later = datetime.now(UTC) + timedelta(hours=1)
    await Order.filter(id__in=[paid.id, abandoned.id]).update(created_at=later - timedelta(hours=2))
    await Order.filter(id=fresh.id).update(
        created_at=later - timedelta(minutes=10), expires_at=later + timedelta(minutes=25)
    )
    summary = await reconcile(stripe_settings, older_than_minutes=30, now=later)
    assert summary.checked == 2
    assert summary.results == {"fulfilled": 1, "released": 1}
    assert fake_stripe.sessions[abandoned.provider_ref]["status"] == "expired"
    statuses = {o.id: o.status for o in await Order.all()}
    assert statuses == {
        paid.id: OrderStatus.FULFILLED,
        abandoned.id: OrderStatus.EXPIRED,
        fresh.id: OrderStatus.PENDING,
    }
    stats = await quota_stats(batch)
    assert (stats.sold, stats.reserved) == (10, 30)
    again = await reconcile(stripe_settings, older_than_minutes=30, now=later)
    assert again.checked == 0


def test_provider_is_chosen_from_settings_and_demo_is_refused_in_production(settings, stripe_settings):
    import pytest

    from kernel.settings import SettingsError
    from shop.payments import get_provider
    from shop.payments.demo import DemoProvider

    assert get_provider(settings).name == "demo"
    assert get_provider(stripe_settings).name == "stripe"
    with pytest.raises(SettingsError):
        DemoProvider(settings.with_(env="production"))


async def test_events_of_another_session_never_settle_an_order_they_name(stripe_client, fake_stripe):
    """Only the order's own Checkout Session (its provider_ref) fulfils, expires or refunds it, whatever an event's
    client_reference_id or metadata say (finding 11)."""
    batch = await factories.quota(1000)
    target = await api_order(stripe_client, 10)
    other = await api_order(stripe_client, 10)
    naming_target = {"client_reference_id": str(target.id), "metadata": {"order_id": str(target.id)}}

    # Another order's paid session, relabelled to name the target; a session made elsewhere naming it.
    fake_stripe.pay(other.provider_ref)
    relabelled = {**fake_stripe.public(fake_stripe.sessions[other.provider_ref]), **naming_target}
    elsewhere = {**relabelled, "id": "cs_test_elsewhere", "payment_intent": "pi_elsewhere"}
    for obj in (relabelled, elsewhere):
        for kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            r = await post_event(stripe_client, fake_stripe, fake_stripe.event(kind, obj))
            assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    r = await post_event(stripe_client, fake_stripe, fake_stripe.event("checkout.session.expired", elsewhere))
    assert r.json()["outcome"] == "ignored"
    await target.refresh_from_db()
    assert target.status is OrderStatus.PENDING and await Payment.filter(order_id=target.id).count() == 0
    assert (await quota_stats(batch)).sold == 0 and (await quota_stats(batch)).reserved == 20

    # Its own session fulfils it; then a refund of another payment that names it changes nothing.
    fake_stripe.pay(target.provider_ref)
    r = await post_event(
        stripe_client, fake_stripe, fake_stripe.session_event("checkout.session.completed", target.provider_ref)
    )
    assert r.json()["outcome"] == "fulfilled"
    foreign_refund = fake_stripe.charge_refunded_event(other.provider_ref)
    foreign_refund["data"]["object"]["metadata"] = {"order_id": str(target.id)}
    r = await post_event(stripe_client, fake_stripe, foreign_refund)
    assert r.json()["outcome"] == "ignored"
    await target.refresh_from_db()
    assert target.status is OrderStatus.FULFILLED
    assert (await Certificate.get(order_id=target.id)).status is CertificateStatus.VALID
    r = await post_event(stripe_client, fake_stripe, fake_stripe.charge_refunded_event(target.provider_ref))
    assert r.json()["outcome"] == "refunded"
