"""``linpiao reconcile``: settle orders whose provider events were missed.

Every order still pending ``older_than_minutes`` after it was made is looked up at the provider: paid →
fulfilled (or refunded if its quota ran out), expired or failed → units released, still open past its
reservation → the payment page is closed early and the order expired. Refunds that failed before are retried.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from linpiao.settings import Settings
from registry import clock
from shop.orders import Outcome, pending_orders_older_than
from shop.payments import PaymentError, PaymentProvider, get_provider
from shop.settlement import log, refund_if_due, refunds_due, settle_with_provider


@dataclass
class ReconcileSummary:
    checked: int = 0
    results: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.results.items())) or "nothing to do"
        return f"reconcile: {self.checked} order(s) checked — {detail}"


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
    own = provider is None
    provider = provider or get_provider(settings)
    summary = ReconcileSummary()
    try:
        for order in await pending_orders_older_than(now - threshold):
            summary.checked += 1
            try:
                summary.results[await settle_with_provider(order, provider, now=now)] += 1
            except PaymentError:
                log.exception("reconcile: provider error for order %s", order.id)
                summary.results["provider_error"] += 1
        for order in await refunds_due():
            summary.checked += 1
            summary.results[str(await refund_if_due(order.id, Outcome.REFUND_DUE, provider))] += 1
    finally:
        if own:
            await provider.aclose()
    return summary
