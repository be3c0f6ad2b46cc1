from __future__ import annotations

import re

from factories import shop as factories
from registry.models import Certificate, Order, OrderStatus


async def test_home_shows_price_stock_totals_and_both_ways_in(client, settings):
    await factories.quota(1000)
    order = await factories.order(settings, 10)
    from shop.orders import fulfil

    await fulfil(order)
    page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "¥1.00" in html and 'id="units-left">990<' in html
    assert 'id="units-sold">10<' in html and 'id="kg-offset">100<' in html
    assert 'href="/calculator"' in html and 'href="/planting"' in html
    assert "演示 / DEMO" in html  # the demo provider is active


async def test_home_in_english(client):
    await factories.quota(1000)
    html = (await client.get("/?lang=en")).text
    assert "Carbon-sink forest tickets" in html
    assert "Offset my emissions" in html and "DEMO" in html


async def test_calculator_shows_kg_tickets_and_steps(client):
    await factories.quota(1000)
    page = await client.get("/calculator", params={"mode": "flight", "to": "beijing", "round_trip": "1"})
    assert page.status_code == 200
    assert 'id="result-kg">409.91<' in page.text
    assert "/buy?quantity=41&amp;purpose=travel" in page.text
    assert "895 km × 2 × 1 × 0.229" in page.text and "出行 · 飞机" in page.text
    bad = await client.get("/calculator", params={"kwh": "-1"})
    assert bad.status_code == 400 and 'id="kwh-error">不能是负数<' in bad.text  # the field, and why
    english = await client.get("/calculator", params={"kwh": "100", "lang": "en"})
    assert "Home electricity · North-west grid (incl. Ningxia)" in english.text


async def test_buy_page_states_minimum_with_reason(client):
    await factories.quota(1000)
    page = await client.get("/buy?quantity=50")
    assert "最少 5 张（¥5.00）：支付机构不受理过小的金额" in page.text
    assert 'value="50"' in page.text and "¥50.00" in page.text
    for preset in (10, 50, 100, 500, 1000):
        assert f'data-q="{preset}"' in page.text


async def test_full_demo_purchase(client):
    batch = await factories.quota(1000)
    form = {"quantity": "12", "purpose": "travel", "certificate_name": "李四", "contact": "li@example.cn"}
    response = await client.post("/buy", data=form)
    assert response.status_code == 303
    pay_url = response.headers["location"]
    token = pay_url.rsplit("/", 1)[1]
    assert pay_url == f"http://testserver/pay/demo/{token}"
    pay_page = await client.get(f"/pay/demo/{token}")
    assert "¥12.00" in pay_page.text and "演示" in pay_page.text
    pending = await client.get(f"/orders/{token}")
    assert "待支付" in pending.text and 'http-equiv="refresh"' in pending.text
    done = await client.post(f"/pay/demo/{token}", data={"action": "confirm"})
    assert done.status_code == 303 and done.headers["location"] == f"/orders/{token}"
    page = await client.get(f"/orders/{token}")
    order = await Order.get(token=token)
    assert order.status is OrderStatus.FULFILLED
    code = re.search(r'id="certificate-code" data-code="([^"]+)"', page.text).group(1)
    assert code == (await Certificate.get(order_id=order.id)).code
    grouped = "-".join(code[i : i + 4] for i in range(0, len(code), 4))
    assert f">{grouped}<" in page.text
    assert f'href="/certificates/{code}.pdf"' in page.text and f'href="/verify/{grouped}"' in page.text
    assert f'href="/certificates/{code}/share.png"' in page.text  # the share card for WeChat Moments
    assert f"{batch.serial_prefix}-00000001 – {batch.serial_prefix}-00000012" in page.text
    assert 'http-equiv="refresh"' not in page.text
    # paying again changes nothing
    await client.post(f"/pay/demo/{token}", data={"action": "confirm"})
    assert (await Order.get(token=token)).status is OrderStatus.FULFILLED


async def test_demo_cancel_releases_units(client, settings):
    await factories.quota(100)
    order = await factories.order(settings, 10)
    await client.post(f"/pay/demo/{order.token}", data={"action": "cancel"})
    await order.refresh_from_db()
    assert order.status is OrderStatus.CANCELLED
    assert "已取消" in (await client.get(f"/orders/{order.token}")).text


async def test_buy_refusals_are_shown_on_the_form_and_write_nothing(client):
    await factories.quota(30)
    cases = [
        ({"quantity": "0"}, 400, "数量必须是正整数"),
        ({"quantity": "-5"}, 400, "数量必须是正整数"),
        ({"quantity": "2.5"}, 400, "数量必须是正整数"),
        ({"quantity": "abc"}, 400, "数量必须是正整数"),
        ({"quantity": "3"}, 400, "订单金额低于最低限额"),
        ({"quantity": "99999999999"}, 400, "订单数量超过单笔上限"),
        ({"quantity": "31"}, 409, "本期碳汇林票额度已售完或剩余不足"),
        ({"quantity": "10", "certificate_name": "x" * 101}, 400, "证书名称"),
        ({"quantity": "10", "purpose": "war"}, 400, "请选择有效的用途"),
    ]
    for fields, status, message in cases:
        form = {"purpose": "travel", "certificate_name": "王五", **fields}
        page = await client.post("/buy", data=form)
        assert page.status_code == status, fields
        assert message in page.text, fields
    assert await Order.all().count() == 0


async def test_markup_in_names_is_escaped_everywhere(client, settings):
    await factories.quota(100)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = await client.post("/buy", data={"quantity": "10", "purpose": "other", "certificate_name": evil})
    token = response.headers["location"].rsplit("/", 1)[1]
    for url in (f"/pay/demo/{token}", f"/orders/{token}"):
        html = (await client.get(url)).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert (await Order.get(token=token)).certificate_name == evil  # stored as text


async def test_wrong_tokens_are_404_without_a_hint(client, settings):
    await factories.quota(100)
    order = await factories.order(settings, 10)
    # one character off (never the token itself, whatever its last character is)
    near = order.token[:-1] + ("y" if order.token.endswith("x") else "x")
    for url in ("/orders/nope", f"/orders/{near}", "/orders/" + "a" * 200, "/pay/demo/nope"):
        page = await client.get(url)
        assert page.status_code == 404
        assert order.certificate_name not in page.text
    missing = await client.get("/orders/nope")
    wrong_token = order.token[:-2] + ("yy" if order.token.endswith("zz") else "zz")
    wrong = await client.get(f"/orders/{wrong_token}")
    assert missing.text.replace("nope", "T") == wrong.text.replace(wrong_token, "T")
