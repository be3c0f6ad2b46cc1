"""The payment receipt (收款凭证) of a paid shop order: what was paid, when, how, for which tickets, and to whom.

Organisations book their payment with it, and a citizen may keep one too. It is a record of money received, not a
fiscal bill: the fiscal e-bill (财政电子票据) comes from the finance department, and the receipt says so
(:mod:`certificates.receipt` prints it).

Everything comes from the register's own records — the order, the payment events its provider reported, the
holdings its tickets were reserved and retired in — so the receipt states nothing the timeline does not. Who
receives the money is the finance report's rule (:func:`registry.finance.order_stream`), so a receipt and the
revenue report never name different bodies.

**Which orders have one**: orders whose money was received — paid, fulfilled, and refunded after payment. A
refunded order's receipt is still given, stamped 已退款: the organisation that booked the receipt needs the same
document to reverse the entry, and a refused download would leave its books with a receipt and no word of the
refund. An order not paid (pending, expired, cancelled, failed) has none (:class:`NotPaid`); an order paid after its
tickets were gone is being paid back and has none either (:class:`RefundDue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel import clock
from registry import donations, finance
from registry.errors import RegisterError
from registry.models import Order, OrderStatus, Payment, TicketKind
from registry.register import order_holdings
from registry.register_view import KIND_LABELS

# What the payer used, by the order's provider (the method the payer chose on the payment page)
METHOD_LABELS = {
    "alipay": "支付宝",
    "wechat_pay": "微信支付",
    "stripe": "Stripe 在线支付（银行卡等）",
    "demo": "演示支付（非真实收款）",
}
STREAM_LABELS = {
    finance.Stream.CARBON: "碳汇林票收入",
    finance.Stream.PLANTING: "义务植树尽责捐资",
}
RECEIVED = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED)
# the order's detail the refund writes in its own transaction (shop.orders): when the money went back, UTC ISO
REFUNDED_AT = "refunded_at"


class NotPaid(RegisterError):
    code = "order_not_paid"
    message = "该订单尚未付款，没有收款凭证；付款完成后可以下载"
    http_status = 409


class RefundDue(RegisterError):
    code = "order_refund_due"
    message = "该订单付款时林票已售完，款项将全额退回，不出具收款凭证"
    http_status = 409


@dataclass(frozen=True)
class Receipt:
    order_id: int
    payer: str  # the name the buyer gave (a person, or the organisation paying for its roster)
    payer_code: str  # an organisation's unified social credit code (统一社会信用代码), when it paid for a roster
    paid_at: datetime  # Beijing time
    provider: str
    method: str  # Chinese label of :data:`METHOD_LABELS`
    trade_no: str  # the payment institution's own trade number (支付宝交易号, 微信支付订单号, Stripe PaymentIntent)
    merchant_trade_no: str  # the shop's trade number at the provider (out_trade_no, Checkout Session), if other
    ticket_kind: str
    quantity: int
    serial_ranges: tuple[str, ...]
    amount_fen: int
    stream: str  # Chinese label of :data:`STREAM_LABELS`
    receiving_body: str  # "" when a tree-planting rule names none
    refunded: bool
    refunded_at: datetime | None = None  # Beijing time, on a refunded order's receipt

    @property
    def demo(self) -> bool:
        return self.provider == "demo"


def _trade_numbers(order: Order, payments: list[Payment]) -> tuple[str, str]:
    """``(trade number at the payment institution, the shop's own trade number there)`` of the trade that paid:
    the first payment of the order's amount (a second trade paid by mistake comes later and is refunded)."""
    merchant = str(order.provider_ref or "")
    for payment in payments:
        payload: dict[str, Any] = payment.payload or {}
        if order.provider in ("alipay", "wechat_pay"):
            if payload.get("trade_no") and int(payment.amount_fen) == int(order.amount_fen):
                return str(payload["trade_no"]), str(payload.get("out_trade_no") or merchant)
        elif order.provider == "stripe":
            obj = ((payload.get("data") or {}).get("object")) or {}
            intent = obj.get("payment_intent")
            intent_id = intent if isinstance(intent, str) else (intent or {}).get("id")
            if obj.get("id") == merchant and intent_id:
                return str(intent_id), merchant
    if order.provider == "demo":
        paid = next((p for p in payments if p.event_type == "demo.paid"), None)
        return (paid.event_id if paid else merchant), ""
    return merchant, ""


async def _payer_code(order: Order) -> str:
    submission_id = (order.details.get("planting") or {}).get("submission")
    if submission_id is None:
        return ""
    return await donations.book().payer_code(int(submission_id))


def has_receipt(order: Order) -> bool:
    """Whether ``order``'s money was received, so that it has a receipt (refunded ones too, stamped)."""
    return order.status in RECEIVED and order.paid_at is not None


def _refunded_at(order: Order, payments: list[Payment]) -> datetime | None:
    """When a refunded order's money went back, in Beijing time: the time its refund recorded on the order, or —
    for an order refunded before the refund recorded it — the provider's last event, the refund that settled it."""
    if order.status is not OrderStatus.REFUNDED:
        return None
    text = order.details.get(REFUNDED_AT)
    if isinstance(text, str):
        try:
            return clock.local(datetime.fromisoformat(text))
        except ValueError:
            pass
    return clock.local(payments[-1].created_at) if payments else None


async def payment_receipt(order: Order) -> Receipt:
    """The receipt of ``order``; :class:`NotPaid` or :class:`RefundDue` when it has none."""
    if order.status is OrderStatus.FAILED and order.paid_at is not None:
        raise RefundDue(str(order.id))
    paid_at = order.paid_at
    if paid_at is None or not has_receipt(order):
        raise NotPaid(str(order.id))
    payments = list(await Payment.filter(order_id=order.id).order_by("id"))
    trade_no, merchant = _trade_numbers(order, payments)
    holdings = await order_holdings(order)
    stream, body = await finance.order_stream(order)
    kind = TicketKind(holdings[0].batch.kind) if holdings else TicketKind.CARBON
    return Receipt(
        order_id=int(order.id),
        payer=order.certificate_name,
        payer_code=await _payer_code(order),
        paid_at=clock.local(paid_at),
        provider=order.provider,
        method=METHOD_LABELS.get(order.provider, order.provider),
        trade_no=trade_no,
        merchant_trade_no=merchant if merchant != trade_no else "",
        ticket_kind=KIND_LABELS[kind],
        quantity=int(order.quantity),
        serial_ranges=tuple(holdings[0].batch.serial_ranges((h.first_no, h.last_no) for h in holdings))
        if holdings
        else (),
        amount_fen=int(order.amount_fen),
        stream=STREAM_LABELS[stream],
        receiving_body=body,
        refunded=order.status is OrderStatus.REFUNDED,
        refunded_at=_refunded_at(order, payments),
    )
