"""Where a buyer finds the payment receipt (收款凭证): the JSON order API gives its URL once the money was received
(as the OpenAPI document says), and /my-orders links it beside each paid order, never beside an unpaid one."""

from __future__ import annotations

from urllib.parse import urlsplit

from factories import shop as factories
from registry.models import Order, OrderStatus
from tests.shop.test_api import check
from tests.shop.test_my_orders import paid


async def test_the_order_api_gives_the_receipt_url_once_paid(client):
    await factories.quota(500)
    payload = {"quantity": 20, "purpose": "event", "certificate_name": "宁夏某会展公司", "contact": "a@b.cn"}
    created = check(await client.post("/api/v1/orders", json=payload), "/orders", "post")
    assert created["receipt_url"] is None  # nothing received yet
    pending = await client.get(f"/api/v1/orders/{created['id']}", params={"token": created["token"]})
    assert check(pending, "/orders/{id}", "get")["receipt_url"] is None

    await client.post(f"/pay/demo/{created['token']}", data={"action": "confirm"})
    read = check(
        await client.get(f"/api/v1/orders/{created['id']}", params={"token": created["token"]}), "/orders/{id}", "get"
    )
    assert read["status"] == "fulfilled"
    assert read["receipt_url"] == f"http://testserver/orders/{created['token']}/receipt.pdf"
    pdf = await client.get(urlsplit(read["receipt_url"]).path)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_a_refunded_order_still_gives_its_receipt_url(client, settings):
    await factories.quota(500)
    order = await paid(settings)
    await Order.filter(id=order.id).update(status=OrderStatus.REFUNDED)
    read = await client.get(f"/api/v1/orders/{order.id}", params={"token": order.token})
    assert check(read, "/orders/{id}", "get")["receipt_url"].endswith(f"/orders/{order.token}/receipt.pdf")


async def test_my_orders_links_the_receipt_of_paid_orders_only(client, settings):
    await factories.quota(10_000)
    order = await paid(settings, 12)
    await client.get(f"/orders/{order.token}")  # this device remembers it
    await client.post("/buy", data={"quantity": "5", "purpose": "travel", "certificate_name": "李四"})
    unpaid = await Order.filter(status=OrderStatus.PENDING).get()

    page = (await client.get("/my-orders")).text
    assert f'href="/orders/{order.token}/receipt.pdf"' in page and "下载收款凭证" in page
    assert f"/orders/{unpaid.token}/receipt.pdf" not in page
    assert page.count("receipt.pdf") == 1
    english = (await client.get("/my-orders?lang=en")).text
    assert f'href="/orders/{order.token}/receipt.pdf"' in english and "收款凭证" not in english
