"""Turning what a provider reports into order events, and issuing the refunds those events call for.

Used by the Stripe webhook, the demo payment page, the return page and ``linpiao reconcile``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from linpiao.money import parse_yuan
from registry import clock
from registry.models import Order, OrderStatus, Payment
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, mark_refund_issued
from shop.payments import PaymentError, PaymentProvider, RemoteStatus, RemoteTrade

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


def _fen(text: str | None) -> int | None:
    try:
        return parse_yuan(text or "")
    except ValueError:
        return None


def alipay_event(params: dict[str, str], order: Order) -> PaymentEvent:
    """A verified Alipay notification about one of ``order``'s trades, as an order event.

    ``TRADE_SUCCESS`` / ``TRADE_FINISHED`` are payments of ``total_amount`` (compared with the order's amount when
    applied); with a ``refund_fee`` they report a partial refund, kept as evidence. ``TRADE_CLOSED`` with a refund
    is the full refund of a paid trade; without one it is the trade closing unpaid, which releases the reservation
    — only for the order's current trade, not one it replaced when the payer changed method. Deduplicated by
    Alipay's trade number, status and refund request, so retries and replays are recorded once."""
    status = params.get("trade_status", "")
    out_trade_no = params.get("out_trade_no", "")
    refund_fee = _fen(params.get("refund_fee")) or 0
    amount = None
    if status in ("TRADE_SUCCESS", "TRADE_FINISHED") and not refund_fee:
        kind = EventKind.PAID
        amount = _fen(params.get("total_amount"))
        amount = -1 if amount is None else amount  # an unreadable amount is never the order's
    elif status == "TRADE_CLOSED" and refund_fee:
        kind = EventKind.REFUNDED if refund_fee >= int(order.amount_fen) else EventKind.NOTE
    elif status == "TRADE_CLOSED" and out_trade_no == order.provider_ref:
        kind = EventKind.EXPIRED
    else:
        kind = EventKind.NOTE
    trade = params.get("trade_no") or out_trade_no
    return PaymentEvent(
        provider="alipay",
        event_id=f"alipay:{trade}:{status}:{params.get('out_biz_no', '')}",
        kind=kind,
        amount_fen=amount,
        payload={"out_trade_no": out_trade_no, "trade_no": params.get("trade_no", ""), "notification": params},
        event_type=f"alipay.{status.lower() or 'unknown'}",
    )


def wechatpay_event(notification: dict[str, Any], resource: dict[str, Any], order: Order) -> PaymentEvent:
    """A verified, decrypted WeChat Pay notification about one of ``order``'s trades, as an order event.

    ``TRANSACTION.SUCCESS`` is a payment of ``amount.total`` fen (CNY only); ``REFUND.SUCCESS`` of the whole amount
    is the refund, a partial or failed refund is kept as evidence. Deduplicated by WeChat Pay's transaction (or
    refund) id and state."""
    kind_name = str(notification.get("event_type", ""))
    out_trade_no = str(resource.get("out_trade_no", ""))
    amount_info = resource.get("amount") or {}
    amount = None
    if kind_name == "TRANSACTION.SUCCESS" and resource.get("trade_state") == "SUCCESS":
        kind = EventKind.PAID
        total = amount_info.get("total")
        amount = int(total) if isinstance(total, int) and amount_info.get("currency", "CNY") == "CNY" else -1
        event_id = f"wechat_pay:{resource.get('transaction_id') or out_trade_no}:SUCCESS"
    elif kind_name.startswith("REFUND."):
        refunded = amount_info.get("refund")
        full = resource.get("refund_status") == "SUCCESS" and refunded == int(order.amount_fen)
        kind = EventKind.REFUNDED if full else EventKind.NOTE
        event_id = f"wechat_pay:refund:{resource.get('refund_id') or resource.get('out_refund_no')}:{kind_name}"
    else:
        kind = EventKind.NOTE
        event_id = f"wechat_pay:{notification.get('id', '')}:{kind_name}"
    return PaymentEvent(
        provider="wechat_pay",
        event_id=event_id,
        kind=kind,
        amount_fen=amount,
        payload={
            "out_trade_no": out_trade_no,
            "trade_no": str(resource.get("transaction_id", "")),
            "notification": {**notification, "resource": resource},
        },
        event_type=f"wechat_pay.{kind_name.lower() or 'unknown'}",
    )


PAID_EVENT_TYPES = (
    "alipay.trade_success",
    "alipay.trade_finished",
    "alipay.query_paid",
    "wechat_pay.transaction.success",
    "wechat_pay.query_paid",
    "reconcile.paid",
)


async def paid_by_another_trade(order: Order, out_trade_no: str) -> bool:
    """Whether a payment of another of ``order``'s trades was recorded: a second trade paid for the same order (the
    payer paid an older trade too) is then refunded rather than kept."""
    payments = await Payment.filter(order_id=order.id, event_type__in=list(PAID_EVENT_TYPES))
    return any((p.payload or {}).get("out_trade_no") not in (None, "", out_trade_no) for p in payments)


async def refund_extra_trade(order: Order, out_trade_no: str, amount_fen: int, provider: PaymentProvider) -> str:
    """Refund a trade that paid an order already paid through another trade; returns the refund's reference."""
    refund_trade = getattr(provider, "refund_trade", None)
    if refund_trade is None:
        raise PaymentError(f"{provider.name} cannot refund a trade by its number")
    ref = str(await refund_trade(out_trade_no, amount_fen, amount_fen))
    log.warning("order %s: trade %s paid an order already paid; refunded as %s", order.id, out_trade_no, ref)
    return ref


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


async def remote_trade(provider: PaymentProvider, order: Order) -> RemoteTrade:
    """What the provider says of ``order``'s current trade, with the amount it took when it tells it (Alipay,
    WeChat Pay); a provider that only tells the status (Stripe, the demo) leaves the amount unknown."""
    retrieve = getattr(provider, "retrieve_trade", None)
    if retrieve is not None:
        trade: RemoteTrade = await retrieve(order)
        return trade
    return RemoteTrade(await provider.retrieve_status(order))


async def settle_with_provider(order: Order, provider: PaymentProvider, *, now: datetime | None = None) -> str:
    """Ask the provider about one order and settle it: fulfil, expire (release), or leave it open. Used by the
    return pages, which never fulfil on their own word: only the provider's answer (or a verified notification)
    does, and a paid amount that is not the order's is recorded, not fulfilled."""
    now = now or clock.now()
    trade = await remote_trade(provider, order)
    status = trade.status
    if status is RemoteStatus.OPEN and order.expires_at <= now:
        await provider.expire_checkout(order)
        trade = await remote_trade(provider, order)
        status = trade.status
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
        amount_fen=trade.amount_fen if status is RemoteStatus.PAID else None,
        payload={"out_trade_no": order.provider_ref, "trade_no": trade.trade_no, "source": "query"},
        event_type=f"reconcile.{status}",
    )
    return str(await settle(order.id, event, provider))


async def refunds_due() -> list[Order]:
    return [o for o in await Order.filter(status=OrderStatus.FAILED) if o.details.get("refund_due")]
