"""WeChat Pay API v3 end to end: the app's real request signing, answer and notification verification (public-key
mode) and AEAD_AES_256_GCM decryption against the fake gateway on loopback."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

from factories import shop as factories
from kernel import clock
from registry.models import Certificate, CertificateStatus, Order, OrderStatus, Payment
from registry.quotas import quota_stats
from shop.orders import EventKind, PaymentEvent, apply_event
from shop.payments import PaymentError, get_provider
from shop.reconcile import reconcile
from tests.fakegateway import new_key, private_pem, verify
from tests.fakewechatpay import APPID, MCHID
from tests.shop.paying import DESKTOP_UA, PHONE_UA, WECHAT_UA, buy, choose, outside, query_of


async def notify(client, message: tuple[dict[str, str], bytes]):
    headers, body = message
    return await client.post("/webhooks/wechatpay", content=body, headers=headers)


async def native(client, order: Order) -> str:
    """The payer picks WeChat Pay on a desktop: a QR code on our page; returns the trade number."""
    chosen = await choose(client, order, "wechat_pay", DESKTOP_UA)
    assert chosen.status_code == 303 and chosen.headers["location"] == f"/pay/{order.token}"
    await order.refresh_from_db()
    return str(order.provider_ref)


async def test_one_yuan_ticket_paid_by_scanning_the_native_qr_code(china_client, fake_wechatpay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 1)
    page = await china_client.get(f"/pay/{order.token}", headers={"User-Agent": DESKTOP_UA})
    assert 'id="pay-alipay"' in page.text and 'id="pay-wechat_pay"' in page.text
    trade_no = await native(china_client, order)
    trade = fake_wechatpay.trades[trade_no]  # the fake checked the app's WECHATPAY2-SHA256-RSA2048 signature
    assert trade.kind == "NATIVE" and trade.amount_fen == 100
    assert trade.payload["notify_url"] == "http://testserver/webhooks/wechatpay"
    assert trade.time_expire.endswith("+08:00")
    assert order.details["qr"] == trade.prepay and order.details["channel"] == "native"

    page = await china_client.get(f"/pay/{order.token}", headers={"User-Agent": DESKTOP_UA})
    assert f'src="/pay/{order.token}/qr.svg' in page.text and 'data-poll="1"' in page.text
    assert 'id="pay-wechat_pay"' not in page.text and 'id="pay-alipay"' in page.text  # the other way to pay
    qr = await china_client.get(f"/pay/{order.token}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml") and "<path" in qr.text
    waiting = await china_client.get(f"/pay/{order.token}/status")
    assert waiting.json() == {"status": "pending", "done": False, "next": f"/orders/{order.token}"}

    answer = await notify(china_client, fake_wechatpay.pay(trade_no))
    assert answer.status_code == 204 and answer.content == b""
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.provider == "wechat_pay"
    assert await Certificate.filter(order_id=order.id).count() == 1
    [payment] = await Payment.filter(order_id=order.id)
    assert payment.amount_fen == 100 and payment.payload["trade_no"] == trade.transaction_id
    done = await china_client.get(f"/pay/{order.token}/status")
    assert done.json()["done"] is True
    assert (await china_client.get(f"/pay/{order.token}")).headers["location"] == f"/orders/{order.token}"
    assert (await quota_stats(batch)).sold == 1


async def test_other_phones_pay_on_wechat_pays_h5_page_and_come_back(china_client, fake_wechatpay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    chosen = await choose(china_client, order, "wechat_pay", PHONE_UA)
    h5 = chosen.headers["location"]
    assert h5.startswith(f"{fake_wechatpay.url}/h5pay?prepay_id=")
    assert query_of(h5)["redirect_url"] == f"http://testserver/pay/{order.token}/return"
    await order.refresh_from_db()
    trade = fake_wechatpay.trades[str(order.provider_ref)]
    assert trade.kind == "MWEB" and trade.payload["amount"] == {"total": 100, "currency": "CNY"}
    assert (await outside(h5)).status_code == 200

    fake_wechatpay.pay(trade.out_trade_no)  # paid; the notification is late
    back = await china_client.get(f"/pay/{order.token}/return")  # the return page asks WeChat Pay
    assert back.headers["location"] == f"/orders/{order.token}"
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED


async def test_inside_wechat_the_openid_comes_from_oauth_and_jsapi_pays(china_client, fake_wechatpay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    page = await china_client.get(f"/pay/{order.token}", headers={"User-Agent": WECHAT_UA})
    assert f'href="/pay/{order.token}/wechat"' in page.text and 'id="pay-alipay"' not in page.text
    start = await china_client.get(f"/pay/{order.token}/wechat", headers={"User-Agent": WECHAT_UA})
    authorize = start.headers["location"]
    assert authorize.startswith(f"{fake_wechatpay.url}/connect/oauth2/authorize?")
    assert authorize.endswith("#wechat_redirect")
    granted = await outside(authorize.split("#")[0], follow_redirects=False)
    callback = urlsplit(granted.headers["location"])
    assert callback.path == f"/pay/{order.token}/wechat/callback"

    forged = await china_client.get(f"{callback.path}?code=x&state=forged", headers={"User-Agent": WECHAT_UA})
    assert forged.status_code == 400
    opened = await china_client.get(f"{callback.path}?{callback.query}", headers={"User-Agent": WECHAT_UA})
    assert opened.headers["location"] == f"/pay/{order.token}"
    await order.refresh_from_db()
    trade = fake_wechatpay.trades[str(order.provider_ref)]
    assert trade.kind == "JSAPI" and trade.openid == fake_wechatpay.openid

    page = await china_client.get(f"/pay/{order.token}", headers={"User-Agent": WECHAT_UA})
    params = json.loads(html.unescape(re.search(r'data-params="([^"]+)"', page.text).group(1)))
    assert params["appId"] == APPID and params["package"] == f"prepay_id={trade.prepay}"
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert verify(fake_wechatpay.merchant_key.public_key(), message, params["paySign"])  # the merchant signed it

    assert (await notify(china_client, fake_wechatpay.pay(trade.out_trade_no))).status_code == 204
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED


async def test_forged_stale_and_undecryptable_notifications_are_refused(china_client, fake_wechatpay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade_no = await native(china_client, order)
    trade = fake_wechatpay.trades[trade_no]
    trade.state = "SUCCESS"
    resource = fake_wechatpay.transaction(trade)
    forged = fake_wechatpay.notification(resource, key=new_key())
    stale = fake_wechatpay.notification(resource, timestamp=int(time.time()) - 600)  # replayed ten minutes on
    wrong_key = fake_wechatpay.notification(resource, apiv3_key="0" * 32)
    headers, body = fake_wechatpay.notification(resource)
    tampered = (headers, body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" '))
    for message in (forged, stale, wrong_key, tampered, ({}, body)):
        answer = await notify(china_client, message)
        assert answer.status_code == 401 and answer.json()["code"] == "FAIL"
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and await Payment.all().count() == 0


async def test_notifications_for_another_merchant_or_app_are_refused(china_client, fake_wechatpay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    trade = fake_wechatpay.trades[await native(china_client, order)]
    trade.state = "SUCCESS"
    for changes in ({"mchid": "1900009999"}, {"appid": "wx0000000000000000"}):
        answer = await notify(china_client, fake_wechatpay.notification(fake_wechatpay.transaction(trade) | changes))
        assert answer.status_code == 400
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and await Payment.all().count() == 0
    assert MCHID


async def test_duplicates_replays_and_a_wrong_amount(china_client, fake_wechatpay):
    batch = await factories.quota(1000)
    order = await buy(china_client, 2)
    trade = fake_wechatpay.trades[await native(china_client, order)]
    trade.state = "SUCCESS"
    wrong = fake_wechatpay.transaction(trade)
    wrong["amount"] = {"total": 1, "payer_total": 1, "currency": "CNY"}
    assert (await notify(china_client, fake_wechatpay.notification(wrong))).status_code == 204  # recorded
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING and order.details["amount_mismatch"] == 1
    assert (await quota_stats(batch)).sold == 0

    other = await buy(china_client, 3, name="second")
    paid = fake_wechatpay.pay(await native(china_client, other))
    for _ in range(3):  # WeChat Pay retries; each delivery is signed afresh
        headers, body = paid
        assert (await notify(china_client, (headers, body))).status_code == 204
    assert await Payment.filter(order_id=other.id).count() == 1
    assert await Certificate.filter(order_id=other.id).count() == 1


async def test_a_refund_notification_and_refunds_by_out_refund_no(china_client, china_settings, fake_wechatpay):
    await factories.quota(1000)
    order = await buy(china_client, 2)
    trade_no = await native(china_client, order)
    await notify(china_client, fake_wechatpay.pay(trade_no))
    provider = get_provider(china_settings, "wechat_pay")
    try:
        await order.refresh_from_db()
        assert await provider.refund(order) == f"{trade_no}R1"
        assert await provider.refund(order) == f"{trade_no}R1"  # a retry: the same refund, no more money
    finally:
        await provider.aclose()
    trade = fake_wechatpay.trades[trade_no]
    assert {k: v["amount"] for k, v in trade.refunds.items()} == {f"{trade_no}R1": 200}
    answer = await notify(china_client, fake_wechatpay.refund_notification(f"{trade_no}R1"))
    assert answer.status_code == 204
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert (await Certificate.get(order_id=order.id)).status is CertificateStatus.REFUNDED


async def test_a_late_payment_without_tickets_left_is_refunded(china_client, china_settings, fake_wechatpay):
    await factories.quota(2)
    order = await buy(china_client, 2)
    trade_no = await native(china_client, order)
    await apply_event(order.id, PaymentEvent("wechat_pay", "expired", EventKind.EXPIRED))
    other = await factories.order(china_settings, 2, provider="wechat_pay")
    await apply_event(other.id, PaymentEvent("wechat_pay", "other", EventKind.PAID, amount_fen=200))
    assert (await notify(china_client, fake_wechatpay.pay(trade_no))).status_code == 204
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED and order.details["refund_ref"] == f"{trade_no}R1"
    assert fake_wechatpay.trades[trade_no].state == "REFUND"


async def test_reconcile_closes_an_expired_trade_and_settles_a_paid_one(china_client, china_settings, fake_wechatpay):
    batch = await factories.quota(1000)
    abandoned = await buy(china_client, 4, name="abandoned")
    abandoned_trade = await native(china_client, abandoned)
    paid = await buy(china_client, 5, name="paid, notification lost")
    paid_trade = await native(china_client, paid)
    fake_wechatpay.pay(paid_trade)
    summary = await reconcile(china_settings, now=clock.now() + timedelta(hours=1))
    assert summary.results == {"released": 1, "fulfilled": 1}
    assert fake_wechatpay.trades[abandoned_trade].state == "CLOSED"
    await abandoned.refresh_from_db()
    await paid.refresh_from_db()
    assert abandoned.status is OrderStatus.EXPIRED and paid.status is OrderStatus.FULFILLED
    assert (await quota_stats(batch)).sold == 5 and (await quota_stats(batch)).reserved == 0


async def test_changing_method_closes_the_first_trade(china_client, fake_wechatpay, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    first = await native(china_client, order)
    again = await native(china_client, order)
    assert again == first and len(fake_wechatpay.trades) == 1  # the same QR code, not a second trade
    chosen = await choose(china_client, order, "alipay", DESKTOP_UA)
    assert chosen.headers["location"].startswith(fake_alipay.url)
    assert fake_wechatpay.trades[first].state == "CLOSED"  # can no longer be paid
    await order.refresh_from_db()
    assert order.provider == "alipay" and set(order.details["trades"]) == {first, order.provider_ref}
    # a closed WeChat trade's notice of nothing changes nothing; the order pays through Alipay
    assert order.status is OrderStatus.PENDING


async def test_a_second_trade_paid_for_the_same_order_is_refunded(china_client, fake_wechatpay, fake_alipay):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    cashier = await choose(china_client, order, "alipay", PHONE_UA)
    assert (await outside(cashier.headers["location"])).status_code == 200  # the payer opens Alipay's cashier
    await order.refresh_from_db()
    alipay_trade = str(order.provider_ref)
    wechat_trade = await native(china_client, order)  # ... then switches to WeChat Pay: Alipay's trade is closed
    assert fake_alipay.trades[alipay_trade].status == "TRADE_CLOSED"
    assert (await notify(china_client, fake_wechatpay.pay(wechat_trade))).status_code == 204
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    # the first trade paid all the same (a race at the provider): that money goes back, the order stays fulfilled
    fake_alipay.trades[alipay_trade].status = "TRADE_SUCCESS"
    answer = await china_client.post(
        "/webhooks/alipay",
        content=fake_alipay.encode(fake_alipay.notification(alipay_trade)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.text == "success"
    assert fake_alipay.trades[alipay_trade].refunds == {f"{alipay_trade}R1": 100}
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert await Certificate.filter(order_id=order.id).count() == 1


async def test_requests_signed_with_another_merchant_key_are_refused(
    china_client, china_settings, fake_wechatpay, tmp_path
):
    await factories.quota(1000)
    order = await buy(china_client, 1)
    (tmp_path / "other.pem").write_bytes(private_pem(new_key()))
    impostor = china_settings.with_(wechatpay_private_key_file=str(tmp_path / "other.pem"))
    provider = get_provider(impostor, "wechat_pay")
    try:
        await provider.create_checkout(order)
        raise AssertionError("the gateway must refuse a request the merchant did not sign")
    except PaymentError as exc:
        assert "401" in str(exc)
    finally:
        await provider.aclose()
    assert fake_wechatpay.trades == {}
