"""Daily bill comparison (对账): each direct provider's statement of a Beijing date against the register.

Alipay's trade bill (``alipay.data.dataservice.bill.downloadurl.query``) and WeChat Pay's trade bill
(``/v3/bill/tradebill``) list every payment and refund the provider made for the shop. Every difference is reported:

* ``paid_not_fulfilled`` — the provider took money for a trade whose order is not fulfilled (nor refunded), or for
  a trade the register does not know;
* ``fulfilled_not_paid`` — an order paid through the provider that day whose trades are not in the bill;
* ``amount_mismatch`` — the bill's amount for a trade is not the order's;
* ``refund_not_recorded`` — the bill shows a refund of an order the register does not show refunded.

A day is a Beijing date, as the providers' bills are (their day ends at midnight in Beijing, 16:00 UTC). An order
belongs to the day its payer paid as the provider reported it (Alipay's ``gmt_payment``, WeChat Pay's
``success_time`` in the recorded notification) — not the moment the register heard of it, which may be after
midnight for a payment made just before — and to the Beijing date of ``paid_at`` when no provider time was recorded.

``linpiao bills --date YYYY-MM-DD`` runs it (yesterday by default: the bills of a day are ready the next morning);
run it daily from cron or a timer. Nothing is changed: the report is for finance staff to act on.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from kernel import clock
from kernel.settings import Settings
from registry.models import Order, OrderStatus, Payment
from registry.reconciliation import BillReport, Difference, Matched
from shop.payments import PaymentError, alipay, get_provider, wechatpay
from shop.payments.base import BillLine, provider_time
from shop.payments.trades import is_trade_of, order_id_of
from shop.settlement import PAID_EVENT_TYPES

SETTLED = (OrderStatus.FULFILLED, OrderStatus.REFUNDED)
# How long after a payment the register may first hear of it (Alipay retries a notification for about a day).
LATE_SETTLEMENT = timedelta(days=1)


def direct_providers(settings: Settings) -> list[str]:
    return [name for name in ("alipay", "wechat_pay") if name in settings.payment_providers()]


async def _order_of(out_trade_no: str) -> Order | None:
    order_id = order_id_of(out_trade_no)
    order = await Order.get_or_none(id=order_id) if order_id is not None else None
    return order if order is not None and is_trade_of(order, out_trade_no) else None


def _refund_recorded(order: Order) -> bool:
    return order.status is OrderStatus.REFUNDED or bool(order.details.get("refund_ref"))


def _by_trade(lines: list[BillLine]) -> tuple[dict[str, int], dict[str, int]]:
    """The bill's payments and refunds added up per trade (``out_trade_no``)."""
    paid: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for line in lines:
        (refunded if line.kind == "refund" else paid)[line.out_trade_no] += line.amount_fen
    return paid, refunded


def matched(lines: list[BillLine], differences: list[Difference]) -> Matched:
    """The bill's paid trades that no difference names: they agree with the register."""
    flagged = {d.out_trade_no for d in differences}
    agreeing = [amount for trade, amount in _by_trade(lines)[0].items() if trade not in flagged]
    return Matched(len(agreeing), sum(agreeing))


async def compare(provider: str, day: date, lines: list[BillLine]) -> list[Difference]:
    """The differences between one provider's bill of ``day`` and the register."""
    paid, refunded = _by_trade(lines)
    differences: list[Difference] = []
    for out_trade_no, amount in sorted(paid.items()):
        order = await _order_of(out_trade_no)
        if order is None:
            differences.append(
                Difference(provider, "paid_not_fulfilled", out_trade_no, None, amount, None, "unknown trade")
            )
            continue
        if amount != int(order.amount_fen):
            differences.append(
                Difference(provider, "amount_mismatch", out_trade_no, order.id, amount, int(order.amount_fen))
            )
        if order.status not in SETTLED and not _refund_recorded(order) and not order.details.get("refund_due"):
            differences.append(
                Difference(provider, "paid_not_fulfilled", out_trade_no, order.id, amount, int(order.amount_fen),
                           f"order {order.status}")
            )  # fmt: skip
    for out_trade_no, amount in sorted(refunded.items()):
        order = await _order_of(out_trade_no)
        if order is None or not _refund_recorded(order):
            if order is not None and out_trade_no != order.provider_ref:
                continue  # the refund of an extra trade that paid an order already paid (shop.pay)
            register = int(order.amount_fen) if order is not None else None
            differences.append(
                Difference(provider, "refund_not_recorded", out_trade_no, order.id if order else None, amount, register)
            )
    for order in await paid_on(provider, day):
        trades = set(order.details.get("trades") or {}) | {order.provider_ref or ""}
        if not trades & set(paid):
            differences.append(
                Difference(provider, "fulfilled_not_paid", order.provider_ref or "", order.id, None,
                           int(order.amount_fen))
            )  # fmt: skip
    return differences


def provider_paid_at(payload: dict[str, Any] | None) -> datetime | None:
    """When the payer paid, as the provider said: kept with the payment event (``paid_at``, which the provider read
    from its notification — Alipay's ``gmt_payment``, WeChat Pay's ``success_time``); for events recorded before it
    was kept, read by the provider from the stored notification. ``None`` when it said nothing readable."""
    payload = payload or {}
    if "paid_at" in payload:
        return provider_time(payload["paid_at"])
    notification = payload.get("notification")
    if not isinstance(notification, dict):
        return None
    resource = notification.get("resource")
    return alipay.paid_at(notification) or (wechatpay.paid_at(resource) if isinstance(resource, dict) else None)


async def paid_on(provider: str, day: date) -> list[Order]:
    """Orders paid through ``provider`` on the Beijing date ``day`` and settled (fulfilled or refunded since): by the
    provider's own payment time where a notification recorded it, else by ``paid_at`` — so a payment at 23:59
    whose notification arrived at 00:01 is of the day it was paid, as in the provider's bill."""
    candidates = await Order.filter(
        provider=provider,
        status__in=list(SETTLED),
        paid_at__gte=clock.day_start(day),
        paid_at__lt=clock.day_end(day) + LATE_SETTLEMENT,
    ).order_by("id")
    # the register heard of them on this day or up to a day later; the first payment event that says when the
    # payer paid decides the day
    paid_times: dict[int, datetime] = {}
    events = Payment.filter(order_id__in=[o.id for o in candidates], event_type__in=list(PAID_EVENT_TYPES))
    for event in await events.order_by("id"):
        moment = provider_paid_at(event.payload)
        order_id = event.order_id
        if moment is not None and order_id not in paid_times:
            paid_times[order_id] = moment
    return [o for o in candidates if o.paid_at and clock.local_date(paid_times.get(o.id, o.paid_at)) == day]


async def compare_bills(settings: Settings, day: date, *, providers: list[str] | None = None) -> BillReport:
    """Download each direct provider's bill of ``day`` and compare it with the register."""
    report = BillReport(day)
    for name in providers or direct_providers(settings):
        provider = get_provider(settings, name)
        try:
            bill = getattr(provider, "bill", None)
            if bill is None:
                continue
            lines: list[BillLine] = await bill(day)
        except PaymentError as exc:
            report.errors[name] = str(exc)
            continue
        finally:
            await provider.aclose()
        report.lines[name] = len(lines)
        differences = await compare(name, day, lines)
        report.differences += differences
        report.matched[name] = matched(lines, differences)
    return report


class ProviderBills:
    """:class:`registry.reconciliation.BillReader` for the back-office's reconciliation page: the same comparison
    as ``linpiao bills``, for the providers these settings enable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def providers(self) -> list[str]:
        return direct_providers(self.settings)

    async def report(self, day: date) -> BillReport:
        return await compare_bills(self.settings, day)
