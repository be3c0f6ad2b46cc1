from __future__ import annotations

import asyncio

import httpx
import pytest
from jsonschema import Draft202012Validator

from factories import shop as factories
from registry.models import Order, OrderStatus
from shop.openapi import openapi_document

DOC = openapi_document("http://testserver")


def check(response: httpx.Response, path: str, method: str) -> dict:
    """The response matches the OpenAPI document's schema for this path, method and status."""
    operation = DOC["paths"][path][method]
    assert str(response.status_code) in operation["responses"], response.status_code
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(response.json())
    return response.json()


def request_ok(body: dict, path: str) -> None:
    schema = DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(body)


def test_the_document_is_valid_openapi_shape():
    assert DOC["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"components": DOC["components"]})
    assert set(DOC["paths"]) == {
        "/orders",
        "/orders/{id}",
        "/quota",
        "/estimate",
        "/certificates/{code}",
        "/compensation-cases/{case_number}",
        "/retirements",  # the register's open data (shop/openapi_public.py)
        "/retirements.csv",
        "/register/digests",
        "/register/digests/{day}",
    }


async def test_openapi_endpoint(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json()["paths"].keys() == DOC["paths"].keys()


async def test_quota(client):
    await factories.quota(500)
    body = check(await client.get("/api/v1/quota"), "/quota", "get")
    assert body["units_left"] == 500 and body["price_fen"] == 100 and body["kg_co2e_per_ticket"] == 10
    assert body["min_quantity"] == 5


async def test_order_create_read_and_idempotent_retry(client):
    await factories.quota(500)
    payload = {"quantity": 100, "purpose": "event", "certificate_name": "宁夏某会展公司", "contact": "a@b.cn"}
    request_ok(payload, "/orders")
    created = await client.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": "evt-2026-01"})
    assert created.status_code == 201
    body = check(created, "/orders", "post")
    assert body["amount_fen"] == 10000 and body["status"] == "pending" and body["currency"] == "CNY"
    assert body["payment_url"].endswith(f"/pay/demo/{body['token']}")
    retry = await client.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": "evt-2026-01"})
    assert retry.status_code == 200 and check(retry, "/orders", "post")["id"] == body["id"]
    conflict = await client.post(
        "/api/v1/orders", json={**payload, "quantity": 101}, headers={"Idempotency-Key": "evt-2026-01"}
    )
    assert check(conflict, "/orders", "post")["error"]["code"] == "idempotency_conflict"
    assert await Order.all().count() == 1

    await client.post(f"/pay/demo/{body['token']}", data={"action": "confirm"})
    read = await client.get(f"/api/v1/orders/{body['id']}", params={"token": body["token"]})
    order = check(read, "/orders/{id}", "get")
    assert order["status"] == "fulfilled" and order["certificate"]["code"]
    assert order["certificate"]["pdf_url"].endswith(f"/certificates/{order['certificate']['code']}.pdf")
    assert order["serial_ranges"] and order["kg_co2e"] == 1000


async def test_reading_needs_the_right_token(client, settings):
    await factories.quota(500)
    order = await factories.order(settings, 10)
    for params in ({}, {"token": "wrong"}, {"token": order.token + "x"}):
        response = await client.get(f"/api/v1/orders/{order.id}", params=params)
        assert check(response, "/orders/{id}", "get")["error"]["code"] == "not_found"
    other = await client.get("/api/v1/orders/99999", params={"token": order.token})
    assert other.status_code == 404 and other.json() == (await client.get(f"/api/v1/orders/{order.id}")).json()


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (0, "invalid_quantity"),
        (-1, "invalid_quantity"),
        (1.5, "invalid_quantity"),
        ("ten", "invalid_quantity"),
        (10**40, "above_maximum"),
        (4, "below_minimum"),
        (None, "invalid_quantity"),
        ([5], "invalid_quantity"),
        (201, "above_order_limit"),  # above the per-order maximum (shop/limits.py: its floor, 200, here)
    ],
)
async def test_bad_quantities_are_json_errors(client, quantity, code):
    await factories.quota(500)
    payload = {"quantity": quantity, "purpose": "travel", "certificate_name": "x"}
    response = await client.post("/api/v1/orders", json=payload)
    body = check(response, "/orders", "post")
    assert body["error"]["code"] == code and body["error"]["message"]
    assert response.status_code == (409 if code in ("quota_exhausted", "above_order_limit") else 400)
    assert await Order.all().count() == 0


async def test_bad_bodies(client):
    await factories.quota(500)
    cases = [
        b"not json",
        b"[1,2]",
        b"",
        b'{"quantity": 5, "purpose": "travel"}',
        b'{"quantity": 5, "purpose": "travel", "certificate_name": 5}',
    ]
    for raw in cases:
        response = await client.post("/api/v1/orders", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400 and check(response, "/orders", "post")["error"]["code"]
    huge = await client.post("/api/v1/orders", content=b"{" + b" " * 70_000 + b"}")
    assert huge.status_code == 413


async def test_markup_name_is_returned_as_plain_text(client):
    await factories.quota(500)
    name = "<script>alert(1)</script>"
    body = (
        await client.post("/api/v1/orders", json={"quantity": 5, "purpose": "other", "certificate_name": name})
    ).json()
    assert body["certificate_name"] == name
    assert (
        "application/json"
        in (await client.get(f"/api/v1/orders/{body['id']}?token={body['token']}")).headers["content-type"]
    )


async def test_estimate(client):
    await factories.quota(500)
    payload = {
        "trips": [{"mode": "high_speed_rail", "km": 500, "round_trip": True, "passengers": 3}],
        "electricity": {"kwh": 200, "region": "national"},
    }
    request_ok(payload, "/estimate")
    body = check(await client.post("/api/v1/estimate", json=payload), "/estimate", "post")
    # 500 × 2 × 3 × 0.035 = 105 ; 200 × 0.5366 = 107.32
    assert body["kg_co2e"] == "212.32" and body["tickets"] == 22 and len(body["steps"]) == 2
    bad = await client.post("/api/v1/estimate", json={"trips": [{"mode": "teleport", "km": 1}]})
    assert check(bad, "/estimate", "post")["error"]["code"] == "invalid_estimate"


async def test_concurrent_api_orders_never_oversell(app, settings):
    await factories.quota(60)

    async def buy(i: int) -> int:  # 30 buyers, each from its own address (one address keeps 5 unpaid orders)
        transport = httpx.ASGITransport(app=app, client=(f"203.0.113.{i + 1}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            payload = {"quantity": 5, "purpose": "daily", "certificate_name": f"{i}"}
            return (await client.post("/api/v1/orders", json=payload)).status_code

    codes = await asyncio.gather(*(buy(i) for i in range(30)))
    assert codes.count(201) == 12 and codes.count(409) == 18
    assert await Order.filter(status=OrderStatus.PENDING).count() == 12


async def test_an_idempotency_key_belongs_to_the_client_that_sent_it(app):
    """Two clients using the same key get two orders (neither sees the other's); each one's retry gets its own."""
    await factories.quota(500)
    payload = {"quantity": 10, "purpose": "travel", "certificate_name": "甲公司"}
    headers = {"Idempotency-Key": "order-1"}

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with client_from("203.0.113.5") as first, client_from("198.51.100.7") as second:
        mine = await first.post("/api/v1/orders", json=payload, headers=headers)
        theirs = await second.post("/api/v1/orders", json=payload, headers=headers)
        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["id"] != theirs.json()["id"] and mine.json()["token"] != theirs.json()["token"]
        # A different order under the same key from another client is not a conflict with the first client's.
        other = await second.post(
            "/api/v1/orders", json={**payload, "quantity": 20}, headers={"Idempotency-Key": "x-2"}
        )
        assert other.status_code == 201
        lookalike = await first.post(
            "/api/v1/orders", json={**payload, "quantity": 20}, headers={"Idempotency-Key": "x-2"}
        )
        assert lookalike.status_code == 201 and lookalike.json()["id"] != other.json()["id"]

        retry_mine = await first.post("/api/v1/orders", json=payload, headers=headers)
        retry_theirs = await second.post("/api/v1/orders", json=payload, headers=headers)
        assert retry_mine.status_code == retry_theirs.status_code == 200
        assert retry_mine.json()["id"] == mine.json()["id"] and retry_theirs.json()["id"] == theirs.json()["id"]
    assert await Order.all().count() == 4
