"""What a payment receipt (收款凭证) states, from the register's records (registry/receipts.py): which orders have
one, the payment institution's trade number of each provider, and the receiving body the finance report names."""

from __future__ import annotations

import pytest

from factories import shop as factories
from kernel import clock
from registry import receipts
from registry.errors import RegisterError
from registry.finance import FINANCE_BUREAU, Stream, order_stream
from registry.models import Order, OrderStatus
from shop.limits import TRUSTED
from shop.orders import EventKind, OrderRequest, PaymentEvent, apply_event, create_order


async def _order(settings, provider: str = "demo", ref: str | None = None) -> Order:  # type: ignore[no-untyped-def]
    order, _ = await create_order(
        settings,
        OrderRequest(quantity=10, purpose="meeting", certificate_name="张三"),
        provider=provider,
        buyer=TRUSTED,
    )
    if ref is not None:
        order.provider_ref = ref
        await order.save(update_fields=["provider_ref"])
    return order


async def _paid(order: Order, payload: dict[str, object], n: int = 1) -> Order:
    event = PaymentEvent(order.provider, f"e{order.id}-{n}", EventKind.PAID, int(order.amount_fen), payload, "x.paid")
    await apply_event(order.id, event)
    await order.refresh_from_db()
    return order


async def test_only_orders_whose_money_was_received_have_a_receipt(settings, db):
    await factories.quota(1000)
    pending = await _order(settings)
    with pytest.raises(receipts.NotPaid) as refused:
        await receipts.payment_receipt(pending)
    assert refused.value.http_status == 409 and not receipts.has_receipt(pending)
    sold_out = await _order(settings)
    await Order.filter(id=sold_out.id).update(status=OrderStatus.FAILED, paid_at=clock.now())
    with pytest.raises(receipts.RefundDue):
        await receipts.payment_receipt(await Order.get(id=sold_out.id))
    paid = await _paid(await _order(settings), {})
    receipt = await receipts.payment_receipt(paid)
    assert receipt.amount_fen == 1000 and receipt.quantity == 10 and not receipt.refunded
    assert receipt.paid_at.utcoffset() == clock.local(paid.paid_at).utcoffset()  # type: ignore[arg-type]


async def test_stripe_receipt_names_the_payment_intent_of_the_orders_own_session(settings, db):
    await factories.quota(1000)
    order = await _order(settings, "stripe", "cs_test_own")
    other = {"data": {"object": {"id": "cs_test_other", "payment_intent": "pi_other"}}}
    own = {"data": {"object": {"id": "cs_test_own", "payment_intent": "pi_own"}}}
    await apply_event(order.id, PaymentEvent("stripe", "evt-note", EventKind.NOTE, None, other, "x.note"))
    receipt = await receipts.payment_receipt(await _paid(order, own))
    assert (receipt.trade_no, receipt.merchant_trade_no) == ("pi_own", "cs_test_own")
    assert receipt.method == "Stripe 在线支付（银行卡等）"


async def test_wechat_pay_receipt_names_the_transaction_that_paid(settings, db):
    await factories.quota(1000)
    order = await _order(settings, "wechat_pay", "LP-T2")
    refund = {"out_trade_no": "LP-T2", "trade_no": "4200000001"}  # evidence without the order's amount
    await apply_event(order.id, PaymentEvent("wechat_pay", "w-note", EventKind.NOTE, None, refund, "x.note"))
    order = await _paid(order, {"out_trade_no": "LP-T2", "trade_no": "4200000002"})
    # a second trade the payer opened on another device and paid too: recorded later, refunded as extra
    await _paid(order, {"out_trade_no": "LP-T3", "trade_no": "4200000003"}, n=2)
    receipt = await receipts.payment_receipt(order)
    assert (receipt.trade_no, receipt.merchant_trade_no, receipt.method) == ("4200000002", "LP-T2", "微信支付")


async def test_without_a_trade_number_the_shops_own_reference_is_given(settings, db):
    await factories.quota(1000)
    receipt = await receipts.payment_receipt(await _paid(await _order(settings, "alipay", "LP-A1"), {}))
    assert (receipt.trade_no, receipt.merchant_trade_no) == ("LP-A1", "")


async def test_carbon_money_goes_to_the_finance_bureau(settings, db):
    await factories.quota(1000)
    order = await _order(settings)
    assert await order_stream(order) == (Stream.CARBON, FINANCE_BUREAU)
    receipt = await receipts.payment_receipt(await _paid(order, {}))
    assert (receipt.stream, receipt.receiving_body) == ("碳汇林票收入", FINANCE_BUREAU)


def test_refusals_are_register_errors_with_chinese_reasons():
    for refusal in (receipts.NotPaid, receipts.RefundDue):
        assert issubclass(refusal, RegisterError) and "收款凭证" in refusal.message
