"""My orders: a returning visitor on the same device finds the orders placed or opened there."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from factories import shop as factories
from registry.models import Order
from shop.limits import TRUSTED
from shop.my_orders import MAX_REMEMBERED, MY_ORDERS
from shop.orders import EventKind, OrderRequest, PaymentEvent, apply_event, create_order

COOKIE, SALT = MY_ORDERS.cookie, MY_ORDERS.salt


def remembered_tokens(client, settings) -> list[str]:  # type: ignore[no-untyped-def]
    """What the cookie holds, read with the site's key (a long list is compressed before it is signed)."""
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT).loads(client.cookies[COOKIE])  # type: ignore[no-any-return]


async def paid(settings, quantity: int = 10, name: str = "张三") -> Order:  # type: ignore[no-untyped-def]
    order, _ = await create_order(
        settings,
        OrderRequest(quantity=quantity, purpose="travel", certificate_name=name),
        provider="demo",
        buyer=TRUSTED,
    )
    event = PaymentEvent("demo", f"demo:{order.id}:paid", EventKind.PAID, amount_fen=int(order.amount_fen))
    await apply_event(order.id, event)
    await order.refresh_from_db()
    return order


async def test_an_order_placed_here_is_listed_with_status_amount_and_certificate(client, settings):
    await factories.quota(10_000)
    form = {"quantity": "12", "purpose": "travel", "certificate_name": "李四", "contact": "li@example.cn"}
    response = await client.post("/buy", data=form)
    assert response.status_code == 303
    cookie_header = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie_header and "HttpOnly" in cookie_header and "SameSite=lax" in cookie_header
    order = await Order.get()
    assert remembered_tokens(client, settings) == [order.token]  # an order reference, and nothing else
    assert "李四" not in client.cookies[COOKIE] and "example" not in client.cookies[COOKIE]

    page = await client.get("/my-orders")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'href="/orders/{order.token}"' in page.text
    assert "待支付" in page.text and "12 张" in page.text and "¥12.00" in page.text

    await client.post(f"/pay/demo/{order.token}", data={"action": "confirm"})
    page = await client.get("/my-orders")
    certificate = await order.certificates.all().first()  # type: ignore[attr-defined]
    assert "证书已生成" in page.text and f'href="/certificates/{certificate.code}.pdf"' in page.text
    english = await client.get("/my-orders?lang=en")
    assert "My orders" in english.text and "Certificate ready" in english.text and "12 tickets" in english.text


async def test_opening_a_private_link_remembers_it_newest_first_and_once(client, settings):
    await factories.quota(10_000)
    first, second = await paid(settings), await paid(settings, 20)
    await client.get(f"/orders/{first.token}")
    await client.get(f"/orders/{second.token}")
    await client.get(f"/orders/{first.token}")
    assert remembered_tokens(client, settings) == [first.token, second.token]
    page = await client.get("/my-orders")
    assert page.text.index(f"/orders/{first.token}") < page.text.index(f"/orders/{second.token}")


async def test_at_most_twenty_orders_are_remembered(client, settings):
    await factories.quota(100_000)
    orders = [await paid(settings, 5) for _ in range(MAX_REMEMBERED + 2)]
    for order in orders:
        await client.get(f"/orders/{order.token}")
    tokens = remembered_tokens(client, settings)
    assert len(tokens) == MAX_REMEMBERED and tokens[0] == orders[-1].token
    assert orders[0].token not in tokens and orders[1].token not in tokens


async def test_a_forged_cookie_shows_nothing_and_forgetting_clears_the_device(client, settings):
    await factories.quota(10_000)
    order = await paid(settings)
    client.cookies.set(COOKIE, f'["{order.token}"]')  # unsigned: someone else's reference typed in
    page = await client.get("/my-orders")
    assert order.token not in page.text and 'id="no-orders"' in page.text
    client.cookies.delete(COOKIE)
    await client.get(f"/orders/{order.token}")
    forget = await client.post("/my-orders/forget")
    assert forget.status_code == 303 and forget.headers["location"] == "/my-orders?forgotten=1"
    assert COOKIE not in client.cookies
    page = await client.get("/my-orders?forgotten=1")
    assert 'id="no-orders"' in page.text and "本设备已不再记住这些订单" in page.text
    assert (await client.get(f"/orders/{order.token}")).status_code == 200  # the link itself still works


async def test_tree_planting_orders_are_remembered_with_their_kind(client, settings):
    """A citizen's tree-planting order and an organisation's roster payment are listed beside a carbon order,
    each saying what it bought, each linking to its own page (the roster's leads on to the roster's page)."""
    from factories import resident_id
    from planting.domain.rules import set_rule
    from registry.models import Certificate, OrderStatus
    from registry.quotas import open_quota

    await open_quota(units=100_000)
    await set_rule(year=2026, tickets_per_tree=10, trees_per_duty=3, receiving_body="绿化基金会", source="通知")
    carbon = await client.post(
        "/buy", data={"quantity": "12", "purpose": "travel", "certificate_name": "李四", "contact": ""}
    )
    assert carbon.status_code == 303
    person = resident_id("640121", "19800101", seq=21)
    placed = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "张三", "id_number": person, "id_consent": "1"}
    )
    assert placed.status_code == 303
    citizen = await Order.get(purpose="planting")
    assert remembered_tokens(client, settings)[0] == citizen.token  # remembered when placed, before paying
    from tests.planting.shop.test_pages import org_form, roster_csv

    roster = roster_csv(f"王五,{resident_id('640121', '19850101', seq=22)},E1,")
    started = await client.post("/planting/org", data=org_form(), files={"roster": ("r.csv", roster, "text/csv")})
    assert started.status_code == 303, started.text
    paying = await client.post(started.headers["location"] + "/pay")
    assert paying.status_code == 303
    roster_order = await Order.filter(purpose="planting").exclude(id=citizen.id).get()
    assert remembered_tokens(client, settings)[:2] == [roster_order.token, citizen.token]

    page = await client.get("/my-orders")
    kinds = [kind for kind in ("roster", "planting", "carbon") if f'data-kind="{kind}"' in page.text]
    assert kinds == ["roster", "planting", "carbon"]
    assert page.text.index('data-kind="roster"') < page.text.index('data-kind="planting"')
    assert "单位义务植树尽责" in page.text and "碳汇林票" in page.text
    assert f'href="/planting/orders/{citizen.token}"' in page.text
    assert f'href="/planting/orders/{roster_order.token}"' in page.text

    # paid: the citizen's certificate is offered beside the order, as a carbon order's is
    await client.post(f"/pay/demo/{citizen.token}", data={"action": "confirm"})
    await citizen.refresh_from_db()
    assert citizen.status is OrderStatus.FULFILLED
    certificate = await Certificate.get(order_id=citizen.id)
    page = await client.get("/my-orders")
    assert f'href="/certificates/{certificate.code}.pdf"' in page.text
    english = await client.get("/my-orders?lang=en")
    assert "Organisation tree-planting fulfilment" in english.text
    assert "Tree-planting duty" in english.text and "Carbon-sink forest tickets" in english.text
