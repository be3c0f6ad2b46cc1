"""``linpiao reconcile``: settle orders whose provider events were missed.

Every order still pending ``older_than_minutes`` after it was made is looked up at its own provider (Stripe,
Alipay, WeChat Pay or the demo): paid → fulfilled (or refunded if its quota ran out), expired or failed → units
released, still open past its reservation → the payment page or trade is closed early and the order expired. An
order whose payer never picked a method has no trade: it simply expires with its reservation. Trades of orders
whose reservation ran out in the register (another buyer's reservation released it) are asked about too: paid →
fulfilled if the tickets are still free, else refunded; still open → closed. Refunds that failed before are retried.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kernel import clock
from kernel.settings import Settings
from registry import chain
from registry.models import Order, OrderStatus
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, order_stock, pending_orders_older_than
from shop.payments import PaymentError, PaymentProvider, RemoteStatus, get_provider
from shop.settlement import log, refund_if_due, refunds_due, remote_trade, settle, settle_with_provider

DIRECT_PROVIDERS = ("alipay", "wechat_pay")
# Trades of orders that ended unpaid are looked at for this long (Alipay and WeChat Pay close them themselves at
# their ``time_expire``; this catches a payment made at the last moment, and closes what is still open).
CLOSE_WINDOW = timedelta(days=2)


@dataclass
class ReconcileSummary:
    checked: int = 0
    results: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.results.items())) or "nothing to do"
        return f"reconcile: {self.checked} order(s) checked — {detail}"


class _Providers:
    """One provider of each kind for the run, closed at the end; ``fixed`` (tests) answers for every order."""

    def __init__(self, settings: Settings, fixed: PaymentProvider | None) -> None:
        self.settings, self.fixed = settings, fixed
        self.made: dict[str, PaymentProvider] = {}

    def for_order(self, order: Order) -> PaymentProvider:
        if self.fixed is not None:
            return self.fixed
        name = order.provider or self.settings.card_provider()
        if name not in self.made:
            self.made[name] = get_provider(self.settings, name)
        return self.made[name]

    async def aclose(self) -> None:
        for provider in self.made.values():
            await provider.aclose()


async def _expire_without_trade(order: Order, now: datetime) -> str:
    """An order whose payer never picked a method: nothing to ask anyone; it ends with its reservation."""
    if order.expires_at > now:
        return str(RemoteStatus.OPEN)
    event = PaymentEvent("shop", f"reconcile:{order.id}:expired", EventKind.EXPIRED, event_type="reconcile.expired")
    return str(await apply_event(order.id, event))


async def close_lapsed_trade(order: Order, provider: PaymentProvider) -> str:
    """An order that ended unpaid in the register but whose Alipay / WeChat Pay trade may still be open or paid."""
    trade = await remote_trade(provider, order)
    if trade.status is RemoteStatus.PAID:
        event = PaymentEvent(
            provider=provider.name,
            event_id=f"reconcile:{order.id}:{order.provider_ref}:paid",
            kind=EventKind.PAID,
            amount_fen=trade.amount_fen,
            payload={"out_trade_no": order.provider_ref, "trade_no": trade.trade_no, "source": "query"},
            event_type="reconcile.paid",
        )
        return str(await settle(order.id, event, provider, stock=order_stock(order)))
    if trade.status in (RemoteStatus.OPEN, RemoteStatus.UNKNOWN):
        await provider.expire_checkout(order)

    async def close() -> None:
        await order.refresh_from_db()
        if not await chain.hold_order(*order_stock(order)):  # reserved again meanwhile: read it again
            await order.refresh_from_db()
        order.details = {**order.details, "trade_closed": order.provider_ref}
        await order.save(update_fields=["details"])

    await chain.stock_transaction(*order_stock(order), close)
    return "closed"


async def lapsed_trades(now: datetime) -> list[Order]:
    orders = await Order.filter(
        status__in=[OrderStatus.EXPIRED, OrderStatus.CANCELLED],
        provider__in=list(DIRECT_PROVIDERS),
        provider_ref__isnull=False,
        created_at__gte=clock.utc(now - CLOSE_WINDOW),
    ).order_by("id")
    return [o for o in orders if o.details.get("trade_closed") != o.provider_ref]


async def reconcile(
    settings: Settings,
    older_than_minutes: int = 30,
    *,
    older_than: timedelta | None = None,
    provider: PaymentProvider | None = None,
    now: datetime | None = None,
) -> ReconcileSummary:
    now = now or clock.now()
    threshold = older_than if older_than is not None else timedelta(minutes=older_than_minutes)
    providers = _Providers(settings, provider)
    summary = ReconcileSummary()
    asked: set[int] = set()
    try:
        for order in await pending_orders_older_than(now - threshold):
            asked.add(order.id)
            summary.checked += 1
            try:
                if not order.provider and provider is None:
                    summary.results[await _expire_without_trade(order, now)] += 1
                else:
                    summary.results[await settle_with_provider(order, providers.for_order(order), now=now)] += 1
            except PaymentError:
                log.exception("reconcile: provider error for order %s", order.id)
                summary.results["provider_error"] += 1
        if provider is None:
            for order in await lapsed_trades(now):
                if order.id in asked:  # its trade was just asked about (and closed, if it was open)
                    continue
                summary.checked += 1
                try:
                    summary.results[await close_lapsed_trade(order, providers.for_order(order))] += 1
                except PaymentError:
                    log.exception("reconcile: provider error closing the trade of order %s", order.id)
                    summary.results["provider_error"] += 1
        for order in await refunds_due():
            summary.checked += 1
            summary.results[str(await refund_if_due(order.id, Outcome.REFUND_DUE, providers.for_order(order)))] += 1
    finally:
        await providers.aclose()
    return summary
