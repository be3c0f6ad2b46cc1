"""Turning what a provider reports into order events, and issuing the refunds those events call for.

Used by the Stripe webhook, the demo payment page, the return page and ``linpiao reconcile``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from linpiao.settings import Settings
from registry import clock
from registry.models import Order, OrderStatus
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, mark_refund_issued
from shop.payments import PaymentError, PaymentProvider, RemoteStatus, get_provider

log = logging.getLogger("linpiao.shop")

_STRIPE_SESSION_EVENTS = {
    "checkout.session.async_payment_succeeded": EventKind.PAID,
    "checkout.session.async_payment_failed": EventKind.FAILED,
    "checkout.session.expired": EventKind.EXPIRED,
}


def stripe_event(event: dict[str, Any]) -> tuple[int | None, PaymentEvent | None]:
    """Map a verified Stripe event to ``(order id, event)``; ``(None, None)`` for events the shop ignores."""
    kind_name = event.get("type", "")
    obj = event.get("data", {}).get("object", {}) or {}
    metadata = obj.get("metadata") or {}
    reference = obj.get("client_reference_id") or metadata.get("order_id")
    try:
        order_id = int(reference) if reference is not None else None
    except (TypeError, ValueError):
        order_id = None
    if order_id is None:
        return None, None
    amount = None
    if kind_name == "checkout.session.completed":
        paid = obj.get("payment_status") in ("paid", "no_payment_required")
        kind = EventKind.PAID if paid else EventKind.AWAITING
        amount = obj.get("amount_total") if paid else None
        if paid and obj.get("currency") not in (None, "cny"):
            amount = -1  # never fulfil a payment in another currency
    elif kind_name in _STRIPE_SESSION_EVENTS:
        kind = _STRIPE_SESSION_EVENTS[kind_name]
        if kind is EventKind.PAID:
            amount = obj.get("amount_total")
    elif kind_name == "charge.refunded":
        kind = EventKind.REFUNDED if obj.get("refunded") else EventKind.NOTE
    else:
        return None, None
    return order_id, PaymentEvent(
        provider="stripe",
        event_id=str(event["id"]),
        kind=kind,
        amount_fen=amount,
        payload=event,
        event_type=kind_name,
    )


async def stripe_event_is_for(order: Order, event: PaymentEvent, provider: PaymentProvider) -> bool:
    """Whether a verified Stripe event is about ``order``'s own Checkout Session — the one whose id is the order's
    ``provider_ref`` — and not merely one whose ``client_reference_id`` or metadata name the order (another session,
    made elsewhere with the same account, can say anything there). A session event carries the session's id; a
    charge carries its payment intent, compared with the payment intent of the order's session, read from Stripe.

    Raises :class:`PaymentError` when Stripe cannot be asked (the webhook then answers 503 and Stripe retries)."""
    obj = ((event.payload or {}).get("data") or {}).get("object") or {}
    if order.provider != "stripe" or not order.provider_ref:
        return False
    if obj.get("object") == "charge" or event.event_type.startswith("charge."):
        from shop.payments.stripe_provider import StripeProvider

        intent = obj.get("payment_intent")
        if not intent or not isinstance(provider, StripeProvider):
            return False
        intent_id = intent if isinstance(intent, str) else intent.get("id")
        return bool(intent_id) and intent_id == await provider.payment_intent_id(order)
    return bool(obj.get("id")) and obj.get("id") == order.provider_ref


async def refund_if_due(order_id: int, outcome: Outcome, provider: PaymentProvider) -> Outcome:
    """After a payment that could not be fulfilled (quota gone), ask the provider to refund it."""
    if outcome is not Outcome.REFUND_DUE:
        return outcome
    order = await Order.get(id=order_id)
    try:
        ref = await provider.refund(order)
    except PaymentError:
        log.exception("refund of order %s failed; reconcile will retry", order_id)
        return outcome
    await mark_refund_issued(order, ref)
    return Outcome.REFUNDED


async def settle(order_id: int, event: PaymentEvent, provider: PaymentProvider) -> Outcome:
    outcome = await apply_event(order_id, event)
    return await refund_if_due(order_id, outcome, provider)


async def settle_with_provider(order: Order, provider: PaymentProvider, *, now: datetime | None = None) -> str:
    """Ask the provider about one order and settle it: fulfil, expire (release), or leave it open."""
    now = now or clock.now()
    status = await provider.retrieve_status(order)
    if status is RemoteStatus.OPEN and order.expires_at <= now:
        await provider.expire_checkout(order)
        status = await provider.retrieve_status(order)
        if status is RemoteStatus.OPEN:
            status = RemoteStatus.EXPIRED
    if status is RemoteStatus.UNKNOWN and order.expires_at <= now:
        status = RemoteStatus.EXPIRED
    kinds = {
        RemoteStatus.PAID: EventKind.PAID,
        RemoteStatus.EXPIRED: EventKind.EXPIRED,
        RemoteStatus.FAILED: EventKind.FAILED,
    }
    if status not in kinds:
        return str(status)
    event = PaymentEvent(
        provider=provider.name,
        event_id=f"reconcile:{order.id}:{status}",
        kind=kinds[status],
        event_type=f"reconcile.{status}",
    )
    return str(await settle(order.id, event, provider))


async def refunds_due() -> list[Order]:
    return [o for o in await Order.filter(status=OrderStatus.FAILED) if o.details.get("refund_due")]


def provider_for(settings: Settings) -> PaymentProvider:
    return get_provider(settings)
