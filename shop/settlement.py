"""Settling orders from what their providers report, and issuing the refunds those reports call for.

Every report arrives as one :class:`~shop.payments.events.PaymentEvent`, read by the provider itself — a webhook by
its ``parse_notification``, the demo page by the demo provider, a query's answer here (:func:`settle_with_provider`)
— so nothing here knows a provider's own fields. Used by the webhooks, the demo payment page, the return pages and
``linpiao reconcile``. It dispatches on the order purposes of :mod:`shop.purposes`: the carbon offsets of
:mod:`shop.orders` (imported here) and the tree planting of :mod:`planting.shop.orders`, which the composition root
imports (``linpiao/app.py``, ``linpiao/cli.py`` and the worker's job modules), since the shop imports nothing of it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from kernel import clock
from registry.models import Order, OrderStatus, Payment
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, mark_refund_issued, order_stock
from shop.payments import PaymentError, PaymentProvider, RemoteStatus, RemoteTrade

log = logging.getLogger("linpiao.shop")


async def settle_notification(provider: PaymentProvider, event: PaymentEvent, *, keep_strangers: bool) -> str:
    """Settle what a verified notification reports about one of an order's own trades; a report about a trade the
    register does not know (or not one of the order's it names) is kept as evidence without an order when
    ``keep_strangers`` (Alipay, WeChat Pay), else ignored (Stripe). A second trade paid for an order already paid
    is refunded. Returns the outcome. :class:`PaymentError` when the provider had to be asked and could not be."""
    order = await Order.get_or_none(id=event.order_id) if event.order_id is not None else None
    if order is None or not await provider.event_is_for(order, event):
        log.warning("%s event %s names no trade of ours (%s)", provider.name, event.event_id, event.trade_no or "-")
        if keep_strangers:
            await _record_unknown(provider.name, event)
            return "unknown_trade"
        return "ignored"
    outcome = await settle(order.id, event, provider, stock=order_stock(order))
    if (
        event.kind is EventKind.PAID
        and outcome is Outcome.ALREADY_SETTLED
        and event.amount_fen
        and event.amount_fen > 0
        and event.trade_no
        and await paid_by_another_trade(order, event.trade_no)
    ):
        try:
            await refund_extra_trade(order, event.trade_no, event.amount_fen, provider)
        except PaymentError:  # recorded; the bill comparison reports it and staff refund it by hand
            log.exception("order %s: refunding the extra trade %s failed", order.id, event.trade_no)
    return str(outcome)


async def _record_unknown(provider: str, event: PaymentEvent) -> None:
    """A genuine notification about a trade this register does not know: kept as evidence, and acknowledged."""
    event_id = f"{event.event_id}:unknown"  # apart from the same report about a known trade
    if await Payment.filter(event_id=event_id).exists():
        return
    notification: dict[str, Any] = (event.payload or {}).get("notification") or {}
    try:
        await Payment.create(
            order=None,
            provider=provider,
            event_id=event_id,
            event_type=f"{provider}.unknown_trade",
            payload={"notification": notification},
        )
    except IntegrityError:  # the same notification, recorded by a concurrent delivery
        return


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


async def settle(
    order_id: int, event: PaymentEvent, provider: PaymentProvider, *, stock: tuple[int, int | None] | None = None
) -> Outcome:
    """Apply the event (``stock``: the order's :func:`~shop.orders.order_stock`, when the caller has read the order)
    and refund what is due."""
    outcome = await apply_event(order_id, event, stock=stock)
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
        order_id=order.id,
    )
    return str(await settle(order.id, event, provider, stock=order_stock(order)))


async def refunds_due() -> list[Order]:
    return [o for o in await Order.filter(status=OrderStatus.FAILED) if o.details.get("refund_due")]
