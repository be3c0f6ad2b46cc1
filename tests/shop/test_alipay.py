"""Alipay end to end: the app's real RSA2 signing and verification against the fake gateway on loopback."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from factories import shop as factories
from kernel import clock
from registry.models import Certificate, CertificateStatus, Order, OrderStatus, Payment
from registry.quotas import quota_stats
from shop.orders import EventKind, PaymentEvent, apply_event
from shop.payments import PaymentError, get_provider
from shop.reconcile import reconcile
from tests.fakealipay import APP_ID, SELLER_ID, FakeAlipay
from tests.fakegateway import new_key, private_pem, public_pem
from tests.shop.paying import DESKTOP_UA, PHONE_UA, buy, choose, outside, query_of


async def notify(client, params: dict[str, str]):
    return await client.post(
        "/webhooks/alipay",
        content=FakeAlipay.encode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


async def pay_on_phone(client, fake: FakeAlipay, order: Order) -> str:
    """The payer picks Alipay on a phone, opens Alipay's mobile cashier; returns the trade number."""
    chosen = await choose(client, order, "alipay", PHONE_UA)
    assert chosen.status_code == 303
    cashier_url = chosen.headers["location"]
    assert cashier_url.startswith(fake.url + "/gateway.do?")
    cashier = await outside(cashier_url)
    assert cashier.status_code == 200, cashier.text  # the fake checked the app's RSA2 signature
    await order.refresh_from_db()
    return str(order.provider_ref)


async def test_one_yuan_ticket_paid_with_alipay_on_a_phone(china_client, fake_alipay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 1)
    assert order.amount_fen == 100 and order.provider == ""
    page = await china_client.get(f"/pay/{order.token}", headers={"User-Agent": PHONE_UA})
    assert 'id="pay-alipay"' in page.text and 'id="pay-wechat_pay"' in page.text
    assert 'id="pay-card"' not in page.text  # no card configured (and ¥1 is under its minimum anyway)
    assert "银行卡支付最低" not in page.text

    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    [cashier] = [r for r in fake_alipay.requests if r["method"] == "alipay.trade.wap.pay"]
    biz = json.loads(cashier["params"]["biz_content"])
    assert biz["total_amount"] == "1.00" and biz["out_trade_no"] == trade_no
    assert biz["product_code"] == "QUICK_WAP_WAY"
    assert cashier["params"]["notify_url"] == "http://testserver/webhooks/alipay"
    assert cashier["params"]["return_url"] == f"http://testserver/pay/{order.token}/return"
    assert order.details["trades"] == {trade_no: "alipay"} and order.details["channel"] == "wap"

    answer = await notify(china_client, fake_alipay.pay(trade_no))
    assert answer.status_code == 200 and answer.text == "success"
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.provider == "alipay"
    assert await Certificate.filter(order_id=order.id).count() == 1
    [payment] = await Payment.filter(order_id=order.id)
    assert payment.provider == "alipay" and payment.amount_fen == 100 and payment.payload["out_trade_no"] == trade_no
    assert (await quota_stats(batch)).sold == 1

    back = await china_client.get(f"/pay/{order.token}/return", headers={"User-Agent": PHONE_UA})
    assert back.status_code == 303 and back.headers["location"] == f"/orders/{order.token}"


async def test_desktop_pays_on_alipays_own_page_with_its_qr(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 3)
    chosen = await choose(china_client, order, "alipay", DESKTOP_UA)
    params = query_of(chosen.headers["location"])
    assert params["method"] == "alipay.trade.page.pay" and params["sign_type"] == "RSA2"
    biz = json.loads(params["biz_content"])
    assert biz["product_code"] == "FAST_INSTANT_TRADE_PAY" and biz["total_amount"] == "3.00"
    assert biz["time_expire"]  # Alipay closes the trade itself when the payment page would
    assert (await outside(chosen.headers["location"])).status_code == 200


async def test_amounts_are_exact_yuan_strings(china_client, fake_alipay):
    await factories.quota(2_000_000, price_fen=1)  # ¥0.01 a ticket: amounts that floats would get wrong
    for quantity, text in ((1, "0.01"), (10, "0.10"), (29, "0.29"), (1234, "12.34")):
        order = await buy(china_client, quantity, name=f"buyer {quantity}")
        chosen = await choose(china_client, order, "alipay", DESKTOP_UA)
        assert json.loads(query_of(chosen.headers["location"])["biz_content"])["total_amount"] == text


async def test_the_return_page_asks_alipay_and_never_fulfils_by_itself(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    nothing_yet = await china_client.get(f"/pay/{order.token}/return")
    assert nothing_yet.status_code == 303
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    await china_client.get(f"/pay/{order.token}/return?out_trade_no={trade_no}&trade_status=TRADE_SUCCESS")
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING  # the payer's word (query string) is not proof
    assert [r["method"] for r in fake_alipay.requests][-1] == "alipay.trade.query"

    fake_alipay.pay(trade_no)  # paid at Alipay; its notification is lost
    await china_client.get(f"/pay/{order.token}/return")
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED  # Alipay's signed answer to the query settled it


async def test_forged_and_tampered_notifications_are_refused_and_change_nothing(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    fake_alipay.trades[trade_no].status = "TRADE_SUCCESS"
    forged = fake_alipay.notification(trade_no, key=new_key())
    tampered = fake_alipay.notification(trade_no) | {"total_amount": "100.00"}
    unsigned = {k: v for k, v in fake_alipay.notification(trade_no).items() if k != "sign"}
    for params in (forged, tampered, unsigned):
        answer = await notify(china_client, params)
        assert answer.status_code == 401 and answer.text == "fail"
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and await Payment.all().count() == 0


async def test_notifications_for_another_app_or_seller_are_refused(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    fake_alipay.trades[trade_no].status = "TRADE_SUCCESS"
    for changes in ({"app_id": "2021009999999999"}, {"seller_id": "2088999999999999"}):
        answer = await notify(china_client, fake_alipay.notification(trade_no, **changes))  # genuinely signed
        assert answer.status_code == 400 and answer.text == "fail"
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and await Payment.all().count() == 0
    assert APP_ID and SELLER_ID  # what the app is configured with


async def test_a_replayed_notification_is_recorded_once(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    params = fake_alipay.pay(trade_no)
    for _ in range(3):
        answer = await notify(china_client, params)
        assert answer.text == "success"
    assert await Payment.filter(order_id=order.id).count() == 1
    assert await Certificate.filter(order_id=order.id).count() == 1


async def test_an_amount_that_is_not_the_orders_is_recorded_not_fulfilled(china_client, fake_alipay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 5)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    fake_alipay.trades[trade_no].status = "TRADE_SUCCESS"
    answer = await notify(china_client, fake_alipay.notification(trade_no, total_amount="0.01"))
    assert answer.text == "success"  # recorded: Alipay need not send it again
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and order.details["amount_mismatch"] == 1
    assert (await Payment.get(order_id=order.id)).amount_fen == 1
    assert (await quota_stats(batch)).sold == 0


async def test_out_of_order_notifications_are_harmless(china_client, fake_alipay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 2)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    fake_alipay.trades[trade_no].status = "TRADE_SUCCESS"
    finished = fake_alipay.notification(trade_no, "TRADE_FINISHED")
    success = fake_alipay.notification(trade_no, "TRADE_SUCCESS")
    assert (await notify(china_client, finished)).text == "success"  # the later state first
    assert (await notify(china_client, success)).text == "success"
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert await Certificate.filter(order_id=order.id).count() == 1 and (await quota_stats(batch)).sold == 2

    # closed unpaid (Alipay's own time-out), and only then paid: the late payment still gets its tickets
    late = await buy(china_client, 3, name="late payer")
    late_trade = await pay_on_phone(china_client, fake_alipay, late)
    closed = fake_alipay.notification(late_trade, "TRADE_CLOSED")
    assert (await notify(china_client, closed)).text == "success"
    await late.refresh_from_db()
    assert late.status is OrderStatus.EXPIRED and (await quota_stats(batch)).reserved == 0
    fake_alipay.trades[late_trade].status = "TRADE_SUCCESS"
    assert (await notify(china_client, fake_alipay.notification(late_trade))).text == "success"
    await late.refresh_from_db()
    assert late.status is OrderStatus.FULFILLED and (await quota_stats(batch)).sold == 5


async def test_a_notification_about_an_unknown_trade_is_kept_and_acknowledged(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    fake_alipay.trades["LP99999_0badc0de"] = replace(fake_alipay.trades[trade_no], out_trade_no="LP99999_0badc0de")
    answer = await notify(china_client, fake_alipay.notification("LP99999_0badc0de"))
    assert answer.text == "success"
    [kept] = await Payment.all()
    assert kept.order_id is None and kept.event_type == "alipay.unknown_trade"  # type: ignore[attr-defined]


async def test_a_late_payment_without_tickets_left_is_refunded_once(china_client, china_settings, fake_alipay):
    batch = await factories.quota(3)
    order = await buy(china_client, 3)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    closed = fake_alipay.notification(trade_no, "TRADE_CLOSED")  # its reservation ends
    assert (await notify(china_client, closed)).text == "success"
    other = await factories.order(china_settings, 3, provider="alipay")  # someone else takes the last tickets
    await apply_event(other.id, PaymentEvent("alipay", "other-paid", EventKind.PAID, amount_fen=300))
    fake_alipay.trades[trade_no].status = "TRADE_SUCCESS"  # ... and only now the first payer's money arrives
    assert (await notify(china_client, fake_alipay.notification(trade_no))).text == "success"
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED and order.details["refund_ref"] == f"{trade_no}R1"
    assert fake_alipay.trades[trade_no].refunds == {f"{trade_no}R1": 300}
    refund = [r for r in fake_alipay.requests if r["method"] == "alipay.trade.refund"][-1]
    assert json.loads(refund["params"]["biz_content"])["refund_amount"] == "3.00"
    provider = get_provider(china_settings, "alipay")
    try:  # asked again (a retry), Alipay moves no more money: the refund number is the same
        assert await provider.refund(order) == f"{trade_no}R1"
    finally:
        await provider.aclose()
    assert fake_alipay.trades[trade_no].refunds == {f"{trade_no}R1": 300}
    assert (await quota_stats(batch)).sold == 3


async def test_a_refund_reported_by_alipay_marks_the_order_and_certificate_refunded(china_client, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 2)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    await notify(china_client, fake_alipay.pay(trade_no))
    fake_alipay.trades[trade_no].refunds["merchant-portal-1"] = 200
    fake_alipay.trades[trade_no].status = "TRADE_CLOSED"
    refunded = fake_alipay.notification(trade_no, "TRADE_CLOSED", refund_fee="2.00", out_biz_no="merchant-portal-1")
    assert (await notify(china_client, refunded)).text == "success"
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.REFUNDED
    partial = fake_alipay.notification(trade_no, "TRADE_SUCCESS", refund_fee="1.00", out_biz_no="portal-2")
    assert (await notify(china_client, partial)).text == "success"  # a partial refund is evidence only


async def test_reconcile_closes_the_trade_of_an_expired_reservation(china_client, china_settings, fake_alipay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 4)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    later = clock.now() + timedelta(hours=1)
    summary = await reconcile(china_settings, now=later)
    assert summary.results == {"released": 1}
    assert fake_alipay.trades[trade_no].status == "TRADE_CLOSED"
    assert "alipay.trade.close" in [r["method"] for r in fake_alipay.requests]
    await order.refresh_from_db()
    assert order.status is OrderStatus.EXPIRED and (await quota_stats(batch)).reserved == 0


async def test_the_register_expiring_a_reservation_closes_its_open_trade_at_the_next_reconcile(
    china_client, china_settings, fake_alipay
):
    await factories.quota(1000)
    order = await buy(china_client, 4)
    trade_no = await pay_on_phone(china_client, fake_alipay, order)
    await Order.filter(id=order.id).update(status=OrderStatus.EXPIRED)  # released by another buyer's reservation
    summary = await reconcile(china_settings)
    assert summary.results["closed"] == 1 and fake_alipay.trades[trade_no].status == "TRADE_CLOSED"
    again = await reconcile(china_settings)
    assert "closed" not in again.results  # closed once


async def test_requests_signed_with_another_key_are_refused_and_answers_signed_with_another_are_not_believed(
    china_client, china_settings, fake_alipay, tmp_path
):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    await pay_on_phone(china_client, fake_alipay, order)
    await order.refresh_from_db()
    impostor = new_key()
    (tmp_path / "impostor.pem").write_bytes(private_pem(impostor))
    (tmp_path / "impostor_public.pem").write_bytes(public_pem(impostor))
    wrong_app_key = china_settings.with_(alipay_private_key_file=str(tmp_path / "impostor.pem"))
    wrong_alipay_key = china_settings.with_(alipay_public_key_file=str(tmp_path / "impostor_public.pem"))
    for settings in (wrong_app_key, wrong_alipay_key):
        provider = get_provider(settings, "alipay")
        try:
            await provider.retrieve_status(order)
            raise AssertionError("a refused or unverifiable answer must not pass")
        except PaymentError as exc:
            assert "invalid-signature" in str(exc) or "does not verify" in str(exc)
        finally:
            await provider.aclose()
