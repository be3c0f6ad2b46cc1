"""The one event type every payment provider's report becomes (:class:`PaymentEvent`), whatever its shape there.

Each provider reads its own reports — a webhook's body and headers (:meth:`PaymentProvider.parse_notification`),
the answer to a query, the demo page's button — into a :class:`PaymentEvent`; settlement (:mod:`shop.settlement`,
:func:`shop.orders.apply_event`) reads only events, never Stripe's, Alipay's or WeChat Pay's own fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    PAID = "paid"  # money received
    AWAITING = "awaiting"  # checkout completed, an asynchronous payment is still on its way
    FAILED = "failed"  # the payment failed
    EXPIRED = "expired"  # the payment page ran out (or its trade was closed unpaid)
    CANCELLED = "cancelled"  # the buyer gave up
    REFUNDED = "refunded"  # the provider refunded the payment
    NOTE = "note"  # kept as evidence only (a partial refund, say)


@dataclass(frozen=True)
class PaymentEvent:
    """What a provider reported about an order's payment, in the shop's terms.

    ``event_id`` deduplicates: the same report delivered twice has the same id and is applied once.
    ``order_id`` and ``trade_no`` are what the report names — the order, and our reference of its trade at the
    provider (a Checkout Session's id, an ``out_trade_no``); settlement acts on an order only for one of its own
    trades. ``amount_fen`` is what a payment took (-1 when unreadable or not in CNY: never the order's amount);
    ``refund_fen`` what a refund gave back (less than the order's amount is kept as evidence only); ``paid_at``
    when the payer paid, as the provider says (a bill counts the payment on that day)."""

    provider: str
    event_id: str
    kind: EventKind
    amount_fen: int | None = None
    payload: dict[str, Any] | None = None
    event_type: str = ""
    order_id: int | None = None
    trade_no: str = ""
    paid_at: datetime | None = None
    refund_fen: int | None = None
