"""Inventory protection (issue 11, finding 1): one anonymous request must not empty the shop.

The attack first — one request for the whole open quota — then each rule of :mod:`shop.limits`: the per-order
maximum (a share of what is left, with a floor), the cap on one client's unpaid orders (an address; an IPv6 /64),
short reservations for large orders, organisation API keys that lift the limits (shown once, stored hashed,
refused once revoked), and an honest "tickets left"."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import httpx
import pytest

from factories import shop as factories
from kernel import clock
from kernel.settings import Settings, SettingsError, load_settings
from registry import apikeys, register
from registry.audit import Actor
from registry.models import EntryKind, Holding, HoldingState, Order, RegisterEntry, TicketKind
from registry.stock import stock_by_kind_and_district
from shop.limits import Buyer, address_group, order_maximum, reservation_length

PAYLOAD = {"purpose": "event", "certificate_name": "某会展公司"}


def client_at(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def new_key(max_pending_units: int | None = None) -> tuple[apikeys.ApiKey, str]:
    return await apikeys.create_key(
        organisation="宁夏某能源集团", max_pending_units=max_pending_units, actor=Actor(None, "test")
    )


async def quota_json(client: httpx.AsyncClient) -> dict:
    return (await client.get("/api/v1/quota")).json()


# --- the attack ----------------------------------------------------------------------------------------------


async def test_one_anonymous_request_for_the_whole_quota_is_refused_and_the_stock_stays_whole(client):
    await factories.quota(100_000)
    response = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 99_985})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "above_order_limit"
    assert "1,000" in error["message"] and "100,000" in error["message"]  # the maximum now, and what is left
    assert await Order.all().count() == 0
    assert not await Holding.filter(state=HoldingState.RESERVED).exists()
    assert not await RegisterEntry.filter(kind=EntryKind.RESERVATION).exists()
    quota = await quota_json(client)
    assert (quota["units_left"], quota["units_reserved"]) == (100_000, 0)
    # and everyone else can still buy
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201
    english = await client.post("/api/v1/orders?lang=en", json={**PAYLOAD, "quantity": 99_985})
    assert "at most 999 tickets (1% of the 99,990 left" in english.json()["error"]["message"]


async def test_repeating_the_largest_allowed_order_cannot_drain_the_quota(client):
    """At most one address's cap is held: the maximum shrinks with what is left, the cap stops the repeats."""
    await factories.quota(100_000)
    held = 0
    codes = []
    for _ in range(10):
        maximum = (await quota_json(client))["order_limits"]["max_quantity"]
        response = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": maximum})
        codes.append(response.status_code)
        if response.status_code == 201:
            held += maximum
    assert codes[:2] == [201, 201] and set(codes[2:]) == {429}
    assert held <= 2_000
    assert (await quota_json(client))["units_left"] == 100_000 - held


# --- rule 1: the per-order maximum -------------------------------------------------------------------------


def test_the_per_order_maximum_is_a_share_of_what_is_left_with_a_floor():
    settings = Settings()  # 1 %, never below 200, never above 1,000,000
    assert order_maximum(settings, 100_000) == 1_000
    assert order_maximum(settings, 99_985) == 999
    assert order_maximum(settings, 10_000) == 200  # the floor: small quotas and the last tickets still sell
    assert order_maximum(settings, 50) == 200
    assert order_maximum(settings, 0) == 200
    assert order_maximum(settings, 10_000, at_least=250) == 250  # one person's tree-planting purchase
    assert order_maximum(settings.with_(order_share_percent=5), 100_000) == 5_000
    assert order_maximum(settings.with_(max_order_units=300), 100_000) == 300


async def test_the_maximum_is_enforced_at_its_edge_and_follows_what_is_left(client):
    await factories.quota(100_000)
    above = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 1_001})
    assert above.status_code == 409 and above.json()["error"]["code"] == "above_order_limit"
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 1_000})).status_code == 201
    # 99,000 left now: 990 at most
    assert (await quota_json(client))["order_limits"]["max_quantity"] == 990
    refused = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 991})
    assert refused.status_code == 409 and "990" in refused.json()["error"]["message"]


async def test_a_small_quota_still_sells_up_to_the_floor(client):
    await factories.quota(150)
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 150})).status_code == 201
    assert (await quota_json(client))["units_left"] == 0


# --- rule 2: one client's unpaid orders ----------------------------------------------------------------------


async def test_a_flood_of_pending_orders_from_one_address_is_capped(app):
    await factories.quota(100_000)
    async with client_at(app, "203.0.113.9") as flood, client_at(app, "198.51.100.2") as other:
        codes = [(await flood.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code for _ in range(8)]
        assert codes == [201] * 5 + [429] * 3
        refused = await flood.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})
        error = refused.json()["error"]
        assert error["code"] == "pending_orders_limit" and "5" in error["message"]
        # it ends by itself: Retry-After is when the first reservation runs out (30 minutes + 5 of grace)
        assert 30 * 60 < int(refused.headers["retry-after"]) <= 35 * 60
        assert (await other.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201
        assert await Order.filter(client="address:203.0.113.9").count() == 5
        # the HTML shop counts against the same address
        page = await flood.post("/buy", data={**PAYLOAD, "quantity": "10"})
        assert page.status_code == 429 and "同一网络地址同时最多保留 5 笔未付款订单" in page.text
        # once the reservations ran out, the address may order again
        later = clock.now() + timedelta(minutes=36)
        with clock.use(clock.FixedClock(later)):
            assert (await flood.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201


async def test_parallel_requests_of_one_address_cannot_slip_past_the_cap(app):
    """The cap is checked under the register lock, in the order's own transaction."""
    await factories.quota(100_000)
    async with client_at(app, "203.0.113.9") as flood:

        async def buy() -> int:
            return (await flood.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code

        codes = await asyncio.gather(*(buy() for _ in range(20)))
    assert sorted(codes) == [201] * 5 + [429] * 15
    assert await Order.all().count() == 5


async def test_the_tickets_one_address_holds_unpaid_are_capped(app):
    await factories.quota(100_000)
    async with client_at(app, "203.0.113.9") as buyer:
        for quantity in (1_000, 990):
            assert (await buyer.post("/api/v1/orders", json={**PAYLOAD, "quantity": quantity})).status_code == 201
        assert (await buyer.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201  # 2,000
        refused = await buyer.post("/api/v1/orders", json={**PAYLOAD, "quantity": 5})
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "pending_units_limit" and "2,000" in error["message"]
        assert "retry-after" in refused.headers


async def test_paid_orders_no_longer_count_against_the_address(client):
    await factories.quota(100_000)
    tokens = []
    for _ in range(5):
        tokens.append((await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).json()["token"])
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 429
    assert (await client.post(f"/pay/demo/{tokens[0]}", data={"action": "confirm"})).status_code == 303
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201


def test_an_ipv6_client_is_counted_by_its_64():
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")
    assert address_group("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_group("203.0.113.9") == "203.0.113.9"
    assert Buyer.at_address("2001:db8::1").client == "address:2001:db8::1"  # the Idempotency-Key's scope


async def test_addresses_of_one_ipv6_64_share_one_cap(app):
    await factories.quota(100_000)
    for i in range(5):
        async with client_at(app, f"2001:db8:5:6::{i + 1:x}") as buyer:
            assert (await buyer.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201
    async with client_at(app, "2001:db8:5:6:ffff::1") as same, client_at(app, "2001:db8:5:7::1") as other:
        assert (await same.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 429
        assert (await other.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).status_code == 201


# --- rule 3: short reservations for large orders ------------------------------------------------------------


def test_the_reservation_of_a_large_anonymous_order_is_short():
    settings = Settings()
    assert reservation_length(settings, 499, limited=True) == timedelta(minutes=30)
    assert reservation_length(settings, 500, limited=True) == timedelta(minutes=10)
    assert reservation_length(settings, 500_000, limited=False) == timedelta(minutes=30)  # a known buyer


async def test_a_large_order_is_held_briefly_and_then_returns_to_the_quota(client):
    batch = await factories.quota(100_000)
    large = (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 800})).json()
    small = (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10})).json()
    orders = {o.quantity: o for o in await Order.all()}
    assert orders[800].expires_at - orders[800].created_at <= timedelta(minutes=15, seconds=5)  # 10 + 5 of grace
    assert orders[10].expires_at - orders[10].created_at >= timedelta(minutes=34)
    quota = await quota_json(client)
    assert (quota["units_left"], quota["units_reserved"]) == (100_000 - 810, 810)
    with clock.use(clock.FixedClock(clock.now() + timedelta(minutes=16))):
        quota = await quota_json(client)
        assert (quota["units_left"], quota["units_reserved"]) == (100_000 - 10, 10)  # the large hold is over
        assert await register.expire_reservations() == 1
        order = await client.get(f"/api/v1/orders/{large['id']}", params={"token": large["token"]})
        assert order.json()["status"] == "expired"
        again = await client.get(f"/api/v1/orders/{small['id']}", params={"token": small["token"]})
        assert again.json()["status"] == "pending"
    pool = await register.units_available(batch, await _pool())
    assert pool == 100_000 - 10


async def _pool():  # type: ignore[no-untyped-def]
    from registry.quotas import pool_holder

    return await pool_holder()


# --- rule 4: organisation API keys ----------------------------------------------------------------------------


async def test_a_keyed_organisation_buys_a_large_amount(app):
    await factories.quota(100_000)
    key, secret = await new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    async with client_at(app, "203.0.113.9") as org:
        big = await org.post("/api/v1/orders", json={**PAYLOAD, "quantity": 60_000}, headers=headers)
        assert big.status_code == 201, big.text
        for _ in range(6):  # more unpaid orders than an address may keep
            response = await org.post("/api/v1/orders", json={**PAYLOAD, "quantity": 10}, headers=headers)
            assert response.status_code == 201
        # the same address without the key is still held to the limits
        anonymous = await org.post("/api/v1/orders", json={**PAYLOAD, "quantity": 5_000})
        assert anonymous.status_code == 409
    order = await Order.get(quantity=60_000)
    assert order.client == f"org:{key.id}"
    assert order.expires_at - order.created_at >= timedelta(minutes=34)  # a known buyer keeps the normal hold
    await key.refresh_from_db()
    assert key.last_used_at is not None


async def test_an_organisations_idempotency_key_is_its_own_wherever_it_calls_from(app):
    await factories.quota(100_000)
    _key, secret = await new_key()
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "po-2026-001"}
    async with client_at(app, "203.0.113.9") as office, client_at(app, "198.51.100.2") as datacentre:
        first = await office.post("/api/v1/orders", json={**PAYLOAD, "quantity": 3_000}, headers=headers)
        retry = await datacentre.post("/api/v1/orders", json={**PAYLOAD, "quantity": 3_000}, headers=headers)
        assert (first.status_code, retry.status_code) == (201, 200)
        assert first.json()["id"] == retry.json()["id"]
        anonymous = await office.post(
            "/api/v1/orders", json={**PAYLOAD, "quantity": 10}, headers={"Idempotency-Key": "po-2026-001"}
        )
        assert anonymous.status_code == 201 and anonymous.json()["id"] != first.json()["id"]


async def test_a_key_may_cap_what_its_unpaid_orders_hold(client):
    await factories.quota(100_000)
    _key, secret = await new_key(max_pending_units=3_000)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (
        await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 2_500}, headers=headers)
    ).status_code == 201
    refused = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 501}, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "pending_units_limit" and "3,000" in refused.json()["error"]["message"]
    assert (await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 500}, headers=headers)).status_code == 201


async def test_a_key_is_stored_only_as_its_hash(db):
    key, secret = await new_key()
    assert secret.startswith(key.prefix + "_") and len(secret) > 50
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = await apikeys.ApiKey.filter(id=key.id).values()
    assert not any(isinstance(value, str) and secret in value for row in stored for value in row.values())
    from registry.models import AuditLog

    audit = await AuditLog.filter(action="apikey.create").values()
    assert audit and secret not in str(audit) and key.prefix in str(audit)
    assert (await apikeys.authenticate(secret)).id == key.id


@pytest.mark.parametrize(
    "header",
    [
        "Bearer lp_aaaaaaaaaaaa_" + "A" * 43,  # well formed, unknown
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
async def test_unknown_or_malformed_keys_are_refused_with_401(client, header):
    await factories.quota(100_000)
    response = await client.post(
        "/api/v1/orders", json={**PAYLOAD, "quantity": 5_000}, headers={"Authorization": header}
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await Order.all().count() == 0


async def test_a_revoked_key_is_refused_with_401(client):
    await factories.quota(100_000)
    key, secret = await new_key()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (
        await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 5_000}, headers=headers)
    ).status_code == 201
    await apikeys.revoke_key(key, actor=Actor(None, "test"))
    refused = await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 5_000}, headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert await Order.all().count() == 1
    # a key with the right prefix and another secret is refused too
    forged = secret[: len(key.prefix) + 1] + "B" * 43
    assert (
        await client.post(
            "/api/v1/orders", json={**PAYLOAD, "quantity": 5}, headers={"Authorization": f"Bearer {forged}"}
        )
    ).status_code == 401


# --- what the public sees ------------------------------------------------------------------------------------------


async def test_tickets_left_counts_reserved_tickets_honestly(client):
    await factories.quota(10_000)
    await client.post("/api/v1/orders", json={**PAYLOAD, "quantity": 150})
    quota = await quota_json(client)
    assert (quota["units_total"], quota["units_left"], quota["units_reserved"]) == (10_000, 9_850, 150)
    home = await client.get("/")
    assert 'id="units-left">9,850<' in home.text and 'id="units-reserved">150<' in home.text
    assert "不含已被未付款订单预留的林票" in home.text


async def test_the_buy_page_states_the_limits_and_shows_the_reason(client):
    await factories.quota(100_000)
    page = await client.get("/buy")
    assert "单笔最多 1,000 张" in page.text and 'max="1000"' in page.text
    assert "同一网络地址同时最多 5 笔未付款订单、合计 2,000 张" in page.text
    assert "500 张及以上的订单只保留 10 分钟" in page.text
    refused = await client.post("/buy", data={**PAYLOAD, "quantity": "99985"})
    assert refused.status_code == 409
    assert "单笔订单最多 1,000 张" in refused.text and "剩余 100,000 张" in refused.text
    english = await client.get("/buy?lang=en")
    assert "at most 5 unpaid orders" in english.text
    assert await Order.all().count() == 0


async def test_the_document_describes_the_dynamic_maximum_and_its_refusals(client, settings):
    await factories.quota(100_000)
    document = (await client.get("/api/v1/openapi.json")).json()
    quantity = document["components"]["schemas"]["OrderCreate"]["properties"]["quantity"]
    assert quantity["maximum"] == settings.max_order_units  # an organisation's key reaches it
    assert quantity["x-current-maximum"] == 1_000 == (await quota_json(client))["order_limits"]["max_quantity"]
    assert "LINPIAO_ORDER_SHARE_PERCENT" in quantity["description"] and "above_order_limit" in quantity["description"]
    operation = document["paths"]["/orders"]["post"]
    assert {"401", "409", "429"} <= set(operation["responses"])
    assert "above_order_limit" in operation["responses"]["409"]["description"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert operation["security"] == [{}, {"organisationKey": []}]
    assert document["components"]["securitySchemes"]["organisationKey"]["scheme"] == "bearer"


async def test_the_dashboard_counts_a_lapsed_reservation_as_free(db, settings):
    await factories.quota(1_000)
    await factories.order(settings, 100)
    [row] = [r for r in await stock_by_kind_and_district() if r.kind is TicketKind.CARBON]
    assert (row.held, row.reserved) == (900, 100)
    with clock.use(clock.FixedClock(clock.now() + timedelta(hours=1))):
        [row] = [r for r in await stock_by_kind_and_district() if r.kind is TicketKind.CARBON]
    assert (row.held, row.reserved) == (1_000, 0)


def test_the_limits_are_settings():
    loaded = load_settings(
        {
            "LINPIAO_ORDER_SHARE_PERCENT": "2",
            "LINPIAO_ORDER_FLOOR_UNITS": "50",
            "LINPIAO_MAX_PENDING_ORDERS": "3",
            "LINPIAO_MAX_PENDING_UNITS": "900",
            "LINPIAO_LARGE_ORDER_UNITS": "100",
            "LINPIAO_LARGE_ORDER_RESERVATION_MINUTES": "7",
        },
        env_file="/nonexistent",
    )
    assert (loaded.order_share_percent, loaded.order_floor_units, loaded.max_pending_orders) == (2, 50, 3)
    assert (loaded.max_pending_units, loaded.large_order_units, loaded.large_order_reservation_minutes) == (900, 100, 7)
    with pytest.raises(SettingsError):
        Settings(order_share_percent=0).check()
    with pytest.raises(SettingsError):
        Settings(max_pending_orders=0).check()


# --- tree planting: a person's purchase always fits; a roster's payment is one order ------------------------------


async def _planting_on_sale(units: int) -> None:
    from planting.domain.rules import set_rule
    from registry.quotas import open_quota

    await open_quota(units=units)
    await set_rule(
        year=2026, tickets_per_tree=100, trees_per_duty=3, receiving_body="银川市绿化基金会", source="第 1 号通知"
    )


def _roster(people: int) -> bytes:
    from factories import resident_id

    rows = [f"职工{i},{resident_id('640121', '19800101', seq=11 + 2 * i)},E{i}," for i in range(people)]
    return "\r\n".join(["姓名,身份证号码,工号,植树株数", *rows]).encode("utf-8-sig")


async def _roster_link(client: httpx.AsyncClient, people: int) -> str:
    from factories import credit_code

    form = {
        "organisation_name": "银川市某局",
        "credit_code": credit_code("640104"),
        "contact": "王科长",
        "year": "2026",
        "id_consent": "1",
    }
    uploaded = await client.post(
        "/planting/org", data=form, files={"roster": ("名单.csv", _roster(people), "text/csv")}
    )
    assert uploaded.status_code == 303, uploaded.text
    return uploaded.headers["location"]


async def test_a_persons_tree_planting_purchase_is_never_above_the_maximum(client):
    """10,000 tickets left: the maximum is its floor, 200; 5 trees at 100 tickets a tree (500) still sell."""
    from factories import resident_id

    await _planting_on_sale(10_000)
    form = {
        "year": "2026",
        "trees": "5",
        "name": "张三",
        "id_number": resident_id("640121", "19800101", seq=11),
        "id_consent": "1",
    }
    response = await client.post("/planting", data=form)
    assert response.status_code == 303, response.text
    order = await Order.get()
    assert order.quantity == 500 and order.client == "address:127.0.0.1"
    # it counts against the address like any order
    assert (await quota_json(client))["units_reserved"] == 500


async def test_a_large_roster_needs_an_organisation_key(client):
    await _planting_on_sale(100_000)  # the maximum is 1,000; 4 people × 3 trees × 100 tickets = 1,200
    link = await _roster_link(client, 4)
    page = await client.get(link)
    assert 'id="roster-above-limit"' in page.text and "1,200" in page.text and "1,000" in page.text
    refused = await client.post(f"{link}/pay")
    assert refused.status_code == 409 and "单笔订单最多 1,000 张" in refused.text
    wrong = await client.post(f"{link}/pay", data={"api_key": "lp_aaaaaaaaaaaa_" + "A" * 43})
    assert wrong.status_code == 401 and "机构 API 密钥无效或已被吊销" in wrong.text
    assert await Order.all().count() == 0 and (await quota_json(client))["units_reserved"] == 0
    key, secret = await new_key()
    paid = await client.post(f"{link}/pay", data={"api_key": secret})
    assert paid.status_code == 303 and "/pay/demo/" in paid.headers["location"]
    order = await Order.get()
    assert (order.quantity, order.client) == (1_200, f"org:{key.id}")


async def test_a_small_roster_pays_without_a_key_and_counts_against_the_address(client):
    await _planting_on_sale(100_000)
    link = await _roster_link(client, 3)  # 900 tickets
    assert 'id="roster-above-limit"' not in (await client.get(link)).text
    assert (await client.post(f"{link}/pay")).status_code == 303
    assert (await Order.get()).client == "address:127.0.0.1"
