"""Refunds at the back-office's customer-service desk of orders paid with Alipay and with WeChat Pay: the clerk's
click goes through the real provider code to the fake gateways on loopback (their RSA2 / WECHATPAY2 signatures
checked), once however often the clerk clicks, and a refusal changes nothing and says so on the page."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from factories import shop as factories
from kernel.settings import Settings
from linpiao.app import create_app
from registry.models import AuditLog, Certificate, CertificateStatus, Order, OrderStatus, Payment, StaffRole
from tests.admin.conftest import Staff, cheap_argon2, make_staff  # noqa: F401 - cheap_argon2 is an autouse fixture
from tests.fakealipay import FakeAlipay
from tests.fakewechatpay import FakeWechatPay
from tests.shop.paying import DESKTOP_UA, PHONE_UA, buy, choose, outside


@pytest.fixture
def china_app(china_settings: Settings, db: str) -> Starlette:
    return create_app(china_settings, manage_db=False)


@pytest.fixture
async def shop_client(china_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=china_app), base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def clerk(china_app: Starlette) -> AsyncIterator[Staff]:
    """A forestry clerk at the desk, signed in to the same app."""
    user = await make_staff(StaffRole.FORESTRY, "desk-clerk")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=china_app), base_url="http://testserver") as http:
        yield await Staff(http, user).sign_in()


async def paid_with_alipay(client: httpx.AsyncClient, fake: FakeAlipay, quantity: int) -> Order:
    order = await buy(client, quantity)
    cashier = await choose(client, order, "alipay", PHONE_UA)
    assert (await outside(cashier.headers["location"])).status_code == 200
    await order.refresh_from_db()
    answer = await client.post(
        "/webhooks/alipay",
        content=fake.encode(fake.pay(str(order.provider_ref))),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert answer.text == "success"
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.provider == "alipay"
    return order


async def paid_with_wechat(client: httpx.AsyncClient, fake: FakeWechatPay, quantity: int) -> Order:
    order = await buy(client, quantity)
    await choose(client, order, "wechat_pay", DESKTOP_UA)
    await order.refresh_from_db()
    headers, body = fake.pay(str(order.provider_ref))
    assert (await client.post("/webhooks/wechatpay", content=body, headers=headers)).status_code == 204
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and order.provider == "wechat_pay"
    return order


def alipay_refund_requests(fake: FakeAlipay) -> list[dict[str, Any]]:
    return [json.loads(r["params"]["biz_content"]) for r in fake.requests if r["method"] == "alipay.trade.refund"]


def wechat_refund_requests(fake: FakeWechatPay) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in fake.requests if r["path"] == "/v3/refund/domestic/refunds"]


async def double_click(clerk: Staff, order: Order, reason: str) -> list[httpx.Response]:
    """The clerk clicks the refund button twice before the first answer comes back."""
    url = f"/admin/service/orders/{order.id}/refund"
    return list(await asyncio.gather(clerk.post(url, {"reason": reason}), clerk.post(url, {"reason": reason})))


async def assert_refunded_once(order: Order, ref: str, provider: str, reason: str) -> None:
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert order.details["refund_ref"] == ref and order.details["refund_reason"] == reason
    certificates = await Certificate.filter(order_id=order.id)
    assert certificates and all(c.status is CertificateStatus.REFUNDED for c in certificates)
    [line] = await AuditLog.filter(action="order.refund", target=f"order:{order.id}")
    assert line.username == "desk-clerk"
    assert line.details == {"refund_ref": ref, "reason": reason, "amount_fen": order.amount_fen, "provider": provider}
    [event] = await Payment.filter(order_id=order.id, event_type="desk.refund")
    assert event.provider == provider and event.amount_fen == order.amount_fen


async def test_an_alipay_order_is_refunded_once_from_the_desk_on_a_double_click(
    shop_client, clerk, fake_alipay, fake_wechatpay
):
    await factories.quota(1000)
    order = await paid_with_alipay(shop_client, fake_alipay, 3)
    trade_no = str(order.provider_ref)
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    assert 'data-testid="refund"' in page.text

    answers = await double_click(clerk, order, "买家买错了数量")
    assert sorted(a.status_code for a in answers) == [303, 409], [a.text[:300] for a in answers]
    [request] = alipay_refund_requests(fake_alipay)  # one request reached Alipay
    assert request["out_trade_no"] == trade_no and request["refund_amount"] == "3.00"
    assert request["out_request_no"] == f"{trade_no}R1"
    assert fake_alipay.trades[trade_no].refunds == {f"{trade_no}R1": 300}
    assert wechat_refund_requests(fake_wechatpay) == []
    await assert_refunded_once(order, f"{trade_no}R1", "alipay", "买家买错了数量")

    done = await clerk.get(f"/admin/service/orders/{order.id}?done=refunded")
    assert 'data-testid="service-done"' in done.text and f"{trade_no}R1" in done.text
    assert 'data-testid="refund"' not in done.text
    steps = re.findall(r'data-step="([a-z_]+)"', done.text)
    assert "refund" in steps

    # Alipay then reports the full refund it made (TRADE_CLOSED with refund_fee): the order is already settled
    refunded = fake_alipay.notification(trade_no, "TRADE_CLOSED", refund_fee="3.00", out_biz_no=f"{trade_no}R1")
    answer = await shop_client.post(
        "/webhooks/alipay",
        content=fake_alipay.encode(refunded),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert answer.text == "success"
    await assert_refunded_once(order, f"{trade_no}R1", "alipay", "买家买错了数量")
    assert len(alipay_refund_requests(fake_alipay)) == 1


async def test_a_wechat_pay_order_is_refunded_once_from_the_desk_on_a_double_click(
    shop_client, clerk, fake_alipay, fake_wechatpay
):
    await factories.quota(1000)
    order = await paid_with_wechat(shop_client, fake_wechatpay, 2)
    trade_no = str(order.provider_ref)

    answers = await double_click(clerk, order, "重复购买")
    assert sorted(a.status_code for a in answers) == [303, 409], [a.text[:300] for a in answers]
    [request] = wechat_refund_requests(fake_wechatpay)
    assert request["out_trade_no"] == trade_no and request["out_refund_no"] == f"{trade_no}R1"
    assert request["amount"] == {"refund": 200, "total": 200, "currency": "CNY"}
    assert {k: v["amount"] for k, v in fake_wechatpay.trades[trade_no].refunds.items()} == {f"{trade_no}R1": 200}
    assert alipay_refund_requests(fake_alipay) == []
    await assert_refunded_once(order, f"{trade_no}R1", "wechat_pay", "重复购买")

    # WeChat Pay's REFUND.SUCCESS notification for the same refund changes nothing more
    headers, body = fake_wechatpay.refund_notification(f"{trade_no}R1")
    assert (await shop_client.post("/webhooks/wechatpay", content=body, headers=headers)).status_code == 204
    await assert_refunded_once(order, f"{trade_no}R1", "wechat_pay", "重复购买")


@pytest.mark.parametrize("method", ["alipay", "wechat_pay"])
async def test_a_refund_the_gateway_refuses_says_so_and_changes_nothing(
    shop_client, clerk, fake_alipay, fake_wechatpay, method
):
    await factories.quota(1000)
    if method == "alipay":
        order = await paid_with_alipay(shop_client, fake_alipay, 2)
        # the money was already refunded in Alipay's merchant portal: Alipay refuses a refund beyond the trade
        fake_alipay.trades[str(order.provider_ref)].refunds["portal-1"] = 200
    else:
        order = await paid_with_wechat(shop_client, fake_wechatpay, 2)
        fake_wechatpay.trades[str(order.provider_ref)].refunds["portal-1"] = {"refund_id": "5030001", "amount": 200}
    before = await Payment.filter(order_id=order.id).count()

    answer = await clerk.post(f"/admin/service/orders/{order.id}/refund", {"reason": "买家要求"})
    assert answer.status_code == 502
    assert 'data-testid="service-error"' in answer.text
    assert "支付机构未能受理退款，订单未改变" in answer.text
    # ... with what the provider answered, so the clerk knows a retry will not help
    refusal = "ACQ.TRADE_STATUS_ERROR" if method == "alipay" else "INVALID_REQUEST"
    assert refusal in answer.text and "None" not in answer.text
    assert 'data-testid="refund"' in answer.text  # the clerk may try again
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED and "refund_ref" not in order.details
    assert all(c.status is CertificateStatus.VALID for c in await Certificate.filter(order_id=order.id))
    assert await Payment.filter(order_id=order.id).count() == before
    assert not await AuditLog.filter(action="order.refund").exists()
    requests = alipay_refund_requests(fake_alipay) if method == "alipay" else wechat_refund_requests(fake_wechatpay)
    assert len(requests) == 1

    # a gateway that cannot be reached is refused the same way, and again nothing changes
    (fake_alipay if method == "alipay" else fake_wechatpay).down = True
    down = await clerk.post(f"/admin/service/orders/{order.id}/refund", {"reason": "买家要求"})
    assert down.status_code == 502 and 'data-testid="service-error"' in down.text
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert not await AuditLog.filter(action="order.refund").exists()
