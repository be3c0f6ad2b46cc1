"""The API reference page (``/api/v1/docs``) and the document it is rendered from say what the API does
(issue 11, finding 8)."""

from __future__ import annotations

import html
import re

from factories import shop as factories


async def test_the_page_lists_every_path_and_method_of_the_served_document(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    operations = [(m.upper(), path) for path, item in document["paths"].items() for m in item]
    assert len(operations) >= 6
    for method, path in operations:
        assert f"{method} /api/v1{path}" in text, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text, name
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # self-hosted: nothing fetched from elsewhere
    assert '<meta name="viewport"' in page.text  # the shared phone-first layout


async def test_the_page_speaks_chinese_and_english(client):
    assert "API 参考" in (await client.get("/api/v1/docs")).text
    english = await client.get("/api/v1/docs?lang=en")
    assert "API reference" in english.text and "Endpoints" in english.text and '<html lang="en">' in english.text


async def test_the_documented_quantities_are_the_shops_real_limits(client, settings):
    await factories.quota(500, price_fen=200)  # ¥2 a ticket: the ¥5 minimum order is 3 tickets
    document = (await client.get("/api/v1/openapi.json")).json()
    quantity = document["components"]["schemas"]["OrderCreate"]["properties"]["quantity"]
    quota = (await client.get("/api/v1/quota")).json()
    assert quantity["minimum"] == quota["min_quantity"] == 3
    assert quantity["maximum"] == quota["max_quantity"] == settings.max_order_units
    payload = {"purpose": "travel", "certificate_name": "张三"}
    below = await client.post("/api/v1/orders", json={**payload, "quantity": 2})
    assert below.status_code == 400 and below.json()["error"]["code"] == "below_minimum"
    at = await client.post("/api/v1/orders", json={**payload, "quantity": 3})
    assert at.status_code == 201
    page = html.unescape((await client.get("/api/v1/docs")).text)
    assert re.search(r"integer, 3 … " + str(settings.max_order_units), page)


async def test_the_mix_rule_is_documented_and_enforced(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    mix = document["components"]["schemas"]["EstimateRequest"]["properties"]["event"]["properties"]["mix"]
    assert "add up to exactly 100" in mix["description"]
    base = {"event": {"attendees": 10, "avg_km": 20}}
    ok = await client.post("/api/v1/estimate", json={"event": {**base["event"], "mix": {"car": 60, "bus": 40}}})
    assert ok.status_code == 200
    short = await client.post("/api/v1/estimate", json={"event": {**base["event"], "mix": {"car": 60, "bus": 30}}})
    assert short.status_code == 400
    error = short.json()["error"]
    assert error["code"] == "invalid_estimate" and "100" in error["message"] and "event.mix" in error["message"]


async def test_the_certificates_endpoint_is_documented_with_its_limit_header(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/certificates/{code}"]["get"]
    assert {"200", "400", "404", "429"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "20-character" in operation["description"]
