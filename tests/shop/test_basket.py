"""The calculator's basket: several steps' results in one signed cookie, bought as one order."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode

from factories import shop as factories
from registry.models import Order
from shop.basket import BASKET, MAX_ITEMS

COOKIE = BASKET.cookie

FLIGHT = {"step": "trip", "mode": "flight", "to": "beijing", "km": "", "passengers": "", "round_trip": "1"}
MEETING = {"step": "meeting", "meeting_attendees": "10", "meeting_days": "2", "meeting_overnight": "1"}


async def add(client, form):  # type: ignore[no-untyped-def]
    return await client.post("/calculator/basket", data={**form, "action": "add"})


async def test_two_steps_add_up_to_one_purchase_with_their_purposes(client):
    await factories.quota(10_000)
    response = await add(client, FLIGHT)
    assert response.status_code == 303
    assert response.headers["location"] == "/calculator?step=trip&notice=added#basket"
    await add(client, MEETING)
    page = await client.get("/calculator?step=meeting")
    html = page.text
    assert html.count('class="basket-line"') == 2
    assert "409.91 千克" in html and "603 千克" in html
    # 409.91 + 603 = 1,012.91 kg → 1.01 t → 102 tickets; the meeting weighs most, so it is the purpose
    assert 'id="basket-kg">1.01 吨二氧化碳当量<' in html
    assert "/buy?quantity=102&amp;purpose=meeting&amp;basket=1" in html
    assert "购买清单：102 张，¥102.00" in html

    buy = await client.get("/buy?quantity=102&purpose=meeting&basket=1")
    assert 'id="from-basket"' in buy.text and 'name="basket" value="1"' in buy.text
    assert "出行 · 飞机 · 北京 · 往返 — 409.91 千克" in buy.text and "（用途：出行）" in buy.text
    assert "会议 · 10 人 · 2 天 · 含住宿 — 603 千克" in buy.text and "（用途：会议）" in buy.text
    assert '<option value="meeting" selected>' in buy.text and "¥102.00" in buy.text

    order = await client.post(
        "/buy", data={"quantity": "102", "purpose": "meeting", "certificate_name": "王五", "basket": "1"}
    )
    assert order.status_code == 303
    assert f'{COOKIE}=""' in order.headers["set-cookie"] or "Max-Age=0" in order.headers["set-cookie"]
    assert (await Order.get()).quantity == 102
    after = await client.get("/calculator")
    assert 'id="basket-empty"' in after.text  # placing the order emptied the basket


async def test_the_cookie_keeps_inputs_signed_and_never_a_result(client):
    await factories.quota(1000)
    response = await add(client, FLIGHT)
    cookie = client.cookies[COOKIE]
    payload = json.loads(urlsafe_b64decode(cookie.split(".")[0] + "=="))
    assert payload == [{"step": "trip", "mode": "flight", "to": "beijing", "round_trip": "1"}]
    assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=lax" in response.headers["set-cookie"]
    # a forged basket (someone else's signature, or none) is an empty basket
    forged = urlsafe_b64encode(json.dumps([{"step": "home", "kwh": "99999999"}]).encode()).decode().rstrip("=")
    client.cookies.set(COOKIE, forged + ".AAAA.BBBB")
    page = await client.get("/calculator")
    assert 'id="basket-empty"' in page.text


async def test_an_add_that_does_not_check_goes_back_to_the_step_with_its_errors(client):
    await factories.quota(1000)
    response = await add(client, {"step": "home", "kwh": "-3", "region": ""})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/calculator?step=home&kwh=-3")
    assert COOKIE not in client.cookies
    page = await client.get(response.headers["location"])
    assert page.status_code == 400 and 'id="kwh-error">不能是负数<' in page.text


async def test_remove_clear_and_a_cap_on_the_number_of_items(client):
    await factories.quota(1000)
    for _ in range(MAX_ITEMS):
        await add(client, FLIGHT)
    full = await add(client, MEETING)
    assert full.headers["location"].endswith("notice=full#basket")
    page = await client.get(full.headers["location"])
    assert page.text.count('class="basket-line"') == MAX_ITEMS and "清单最多 10 项：请先移除一项。" in page.text
    result = await client.get("/calculator", params=FLIGHT)  # a result can no longer be added
    assert 'id="add-to-basket" disabled' in result.text
    await client.post("/calculator/basket", data={"action": "remove", "index": "0", "step": "trip"})
    assert (await client.get("/calculator")).text.count('class="basket-line"') == MAX_ITEMS - 1
    await client.post("/calculator/basket", data={"action": "remove", "index": "99", "step": "trip"})  # nothing
    assert (await client.get("/calculator")).text.count('class="basket-line"') == MAX_ITEMS - 1
    cleared = await client.post("/calculator/basket", data={"action": "clear", "step": "trip"})
    assert cleared.headers["location"] == "/calculator?step=trip&notice=cleared#basket"
    assert 'id="basket-empty"' in (await client.get("/calculator")).text


async def test_english_basket_labels_in_english(client):
    await factories.quota(1000)
    await add(client, FLIGHT)
    page = await client.get("/calculator?lang=en")
    assert "Basket" in page.text and "Flight · Beijing · return" in page.text and "409.91 kg" in page.text
    assert "Buy the basket: 41 tickets, ¥41.00" in page.text
