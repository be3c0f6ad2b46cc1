"""The minimum follows the method; the payment page offers what fits the device; the API takes ``payment_method``."""

from __future__ import annotations

import httpx
import pytest

from factories import shop as factories
from kernel import clock
from kernel.settings import Settings, SettingsError, load_settings
from linpiao.app import create_app
from planting.domain.rules import set_rule
from registry.models import Order, OrderStatus
from shop.payments.methods import device_of, offered_methods, order_minimum_fen
from tests.shop.conftest import china_pay_settings
from tests.shop.paying import DESKTOP_UA, PHONE_UA, WECHAT_UA, buy, choose

ORDER = {"purpose": "travel", "certificate_name": "宁夏某公司"}


@pytest.fixture
async def everything_client(stripe_settings, tmp_path, fake_alipay, fake_wechatpay, db):
    """Stripe (cards, ¥5 minimum) beside Alipay and WeChat Pay."""
    settings = china_pay_settings(stripe_settings, tmp_path / "keys", fake_alipay, fake_wechatpay)
    app = create_app(settings, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


def test_devices():
    assert device_of(WECHAT_UA) == "wechat" and device_of(PHONE_UA) == "phone" and device_of(DESKTOP_UA) == "desktop"
    assert device_of(None) == "desktop"


def test_the_minimum_follows_the_provider(settings, china_settings):
    stripe_too = china_settings.with_(stripe_secret_key="sk_test_x")
    assert order_minimum_fen(settings) == 500  # the demo card: Stripe's rule
    assert order_minimum_fen(china_settings) == 1  # Alipay / WeChat Pay: ¥0.01
    assert order_minimum_fen(stripe_too, "stripe") == 500 and order_minimum_fen(stripe_too, "alipay") == 1
    assert offered_methods(stripe_too, "desktop", 100) == ["alipay", "wechat_pay"]  # ¥1: no card
    assert offered_methods(stripe_too, "desktop", 500) == ["alipay", "wechat_pay", "card"]
    assert offered_methods(stripe_too, "wechat", 500) == ["wechat_pay", "card"]  # Alipay does not open in WeChat
    assert offered_methods(china_settings.with_(wechatpay_app_secret=""), "wechat", 100) == []  # no openid, no JSAPI


async def test_one_ticket_is_the_minimum_with_alipay_and_wechat_pay(china_client):
    await factories.quota(1000)
    quota = (await china_client.get("/api/v1/quota")).json()
    assert quota["min_quantity"] == 1 and quota["min_order_fen"] == 100
    page = await china_client.get("/buy")
    assert "最少 1 张（¥1.00）" in page.text
    order = await buy(china_client, 1)
    assert order.amount_fen == 100 and order.status is OrderStatus.PENDING


async def test_the_card_keeps_its_own_minimum(everything_client, fake_stripe):
    await factories.quota(1000)
    below = await everything_client.post("/api/v1/orders", json={**ORDER, "quantity": 1, "payment_method": "card"})
    assert below.status_code == 400 and below.json()["error"]["code"] == "below_minimum"
    one = await everything_client.post("/api/v1/orders", json={**ORDER, "quantity": 1, "payment_method": "alipay"})
    assert one.status_code == 201
    document = (await everything_client.get("/api/v1/openapi.json")).json()
    create = document["components"]["schemas"]["OrderCreate"]
    assert create["properties"]["payment_method"]["enum"] == ["alipay", "wechat_pay", "card"]
    assert create["properties"]["quantity"]["minimum"] == 1
    card_rule = [rule for rule in create["allOf"] if "quantity" in rule["then"].get("properties", {})]
    assert card_rule[0]["then"]["properties"]["quantity"]["minimum"] == 5
    buy_page = await everything_client.get("/buy")
    assert "最少 1 张" in buy_page.text and "银行卡支付最少 5 张（¥5.00）" in buy_page.text

    small = await buy(everything_client, 2, name="two tickets")
    page = await everything_client.get(f"/pay/{small.token}", headers={"User-Agent": DESKTOP_UA})
    assert 'id="pay-card"' not in page.text and "银行卡支付最低 ¥5.00" in page.text
    refused = await choose(everything_client, small, "card", DESKTOP_UA)
    assert refused.status_code == 400

    large = await buy(everything_client, 10, name="ten tickets")
    page = await everything_client.get(f"/pay/{large.token}", headers={"User-Agent": DESKTOP_UA})
    assert 'id="pay-card"' in page.text
    card = await choose(everything_client, large, "card", DESKTOP_UA)
    assert card.headers["location"].startswith("https://checkout.stripe.test/")
    await large.refresh_from_db()
    assert large.provider == "stripe" and large.provider_ref in fake_stripe.sessions
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' https://checkout.stripe.com http://127.0.0.1:" in csp  # the fakes' cashiers


async def test_the_api_returns_what_the_client_needs(china_client, fake_alipay, fake_wechatpay):
    await factories.quota(1000)
    plain = await china_client.post("/api/v1/orders", json={**ORDER, "quantity": 1})
    body = plain.json()
    assert plain.status_code == 201 and body["payment_method"] is None and body["payment"] is None
    assert body["payment_url"] == f"http://testserver/pay/{body['token']}"  # the payer picks there

    alipay = (
        await china_client.post("/api/v1/orders", json={**ORDER, "quantity": 2, "payment_method": "alipay"})
    ).json()
    assert alipay["payment_method"] == "alipay" and alipay["payment"]["channel"] == "page"
    assert alipay["payment_url"] == alipay["payment"]["url"] and alipay["payment_url"].startswith(fake_alipay.url)

    wap = await china_client.post(
        "/api/v1/orders", json={**ORDER, "quantity": 3, "payment_method": "alipay", "payment_channel": "wap"}
    )
    assert "alipay.trade.wap.pay" in wap.json()["payment"]["url"]

    wechat = (
        await china_client.post("/api/v1/orders", json={**ORDER, "quantity": 1, "payment_method": "wechat_pay"})
    ).json()
    assert wechat["payment"]["channel"] == "native" and wechat["payment"]["qr_content"].startswith("weixin://wxpay/")
    assert wechat["payment_url"] == f"http://testserver/pay/{wechat['token']}"

    jsapi = await china_client.post(
        "/api/v1/orders",
        json={
            **ORDER,
            "quantity": 1,
            "payment_method": "wechat_pay",
            "payment_channel": "jsapi",
            "wechat_openid": "oUser_1",
        },
    )
    params = jsapi.json()["payment"]["jsapi"]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    order = await Order.get(id=jsapi.json()["id"])
    assert fake_wechatpay.trades[str(order.provider_ref)].openid == "oUser_1"

    read = await china_client.get(f"/api/v1/orders/{wechat['id']}", params={"token": wechat["token"]})
    assert read.json()["payment"]["qr_content"] == wechat["payment"]["qr_content"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"payment_method": "bitcoin"}, "payment_method"),
        ({"payment_method": "card"}, "payment_method"),  # no card provider configured here
        ({"payment_method": None}, "payment_method"),
        ({"payment_channel": "page"}, "payment_method"),
        ({"payment_method": "alipay", "payment_channel": "native"}, "payment_channel"),
        ({"payment_method": "wechat_pay", "payment_channel": "jsapi"}, "wechat_openid"),
        ({"payment_method": "wechat_pay", "wechat_openid": "o1"}, "wechat_openid"),
    ],
)
async def test_a_bad_payment_choice_is_a_clear_400(china_client, extra, field):
    await factories.quota(1000)
    response = await china_client.post("/api/v1/orders", json={**ORDER, "quantity": 1, **extra})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_payment_method" and "支付方式" in error["message"]
    assert await Order.all().count() == 0


async def test_demo_mode_is_unchanged(client):
    await factories.quota(1000)
    document = (await client.get("/api/v1/openapi.json")).json()
    create = document["components"]["schemas"]["OrderCreate"]["properties"]
    assert create["payment_method"]["enum"] == ["card"] and create["payment_channel"]["not"] == {}
    made = await client.post("/api/v1/orders", json={**ORDER, "quantity": 5, "payment_method": "card"})
    assert made.status_code == 201 and made.json()["payment_url"].endswith(f"/pay/demo/{made.json()['token']}")
    assert made.json()["payment_method"] == "card"
    buy_page = await client.post("/buy", data={"quantity": "5", "purpose": "travel", "certificate_name": "x"})
    assert "/pay/demo/" in buy_page.headers["location"]  # the card alone: straight to its page
    assert "演示 / DEMO" in (await client.get("/")).text


def test_settings_name_the_providers_and_refuse_half_a_configuration(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("x")
    alipay = {
        "LINPIAO_ALIPAY_APP_ID": "2021",
        "LINPIAO_ALIPAY_PRIVATE_KEY_FILE": str(key),
        "LINPIAO_ALIPAY_PUBLIC_KEY_FILE": str(key),
        "LINPIAO_ALIPAY_SELLER_ID": "2088",
        "LINPIAO_ALIPAY_GATEWAY": "https://openapi-sandbox.dl.alipaydev.com/gateway.do",
    }
    settings = load_settings(alipay, env_file="/nonexistent")
    assert settings.alipay_enabled and not settings.demo_payments and settings.alipay_seller_id == "2088"
    assert settings.alipay_gateway.startswith("https://openapi-sandbox")
    assert Settings().alipay_gateway == "https://openapi.alipay.com/gateway.do"
    assert Settings().wechatpay_gateway == "https://api.mch.weixin.qq.com"
    load_settings({**alipay, "LINPIAO_ENV": "production", "LINPIAO_SECRET_KEY": "s" * 40}, env_file="/x").check()
    with pytest.raises(SettingsError, match="LINPIAO_ALIPAY_PUBLIC_KEY_FILE"):
        load_settings({**alipay, "LINPIAO_ALIPAY_PUBLIC_KEY_FILE": ""}, env_file="/x").check()
    with pytest.raises(SettingsError, match="no such file"):
        load_settings({**alipay, "LINPIAO_ALIPAY_PRIVATE_KEY_FILE": "/nope.pem"}, env_file="/x").check()
    wechat = {
        "LINPIAO_WECHATPAY_MCHID": "1900000109",
        "LINPIAO_WECHATPAY_APPID": "wx1",
        "LINPIAO_WECHATPAY_CERT_SERIAL": "ABC",
        "LINPIAO_WECHATPAY_PRIVATE_KEY_FILE": str(key),
        "LINPIAO_WECHATPAY_APIV3_KEY": "k" * 32,
        "LINPIAO_WECHATPAY_PUBLIC_KEY_FILE": str(key),
        "LINPIAO_WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1",
    }
    assert load_settings(wechat, env_file="/x").wechatpay_enabled
    with pytest.raises(SettingsError, match="APIV3"):
        load_settings({**wechat, "LINPIAO_WECHATPAY_APIV3_KEY": "short"}, env_file="/x").check()
    with pytest.raises(SettingsError, match="LINPIAO_WECHATPAY_PUBLIC_KEY_ID"):
        load_settings({**wechat, "LINPIAO_WECHATPAY_PUBLIC_KEY_ID": ""}, env_file="/x").check()


async def test_tree_planting_below_the_card_minimum_is_payable_with_alipay_and_wechat(
    client, china_client, fake_alipay
):
    await factories.quota(1000)
    year = clock.today().year
    await set_rule(year=year, tickets_per_tree=1, trees_per_duty=3, receiving_body="银川市绿化基金会", source="测试")
    form = {"year": str(year), "trees": "3", "name": "张三", "declared": "owes"}  # 3 tickets: ¥3
    refused = await client.post("/planting", data=form)  # the demo card: Stripe's ¥5 rule
    assert refused.status_code == 400 and await Order.all().count() == 0
    taken = await china_client.post("/planting", data=form)
    assert taken.status_code == 303
    order = await Order.get()
    assert taken.headers["location"] == f"http://testserver/pay/{order.token}" and order.amount_fen == 300
    chosen = await choose(china_client, order, "alipay", PHONE_UA)
    assert chosen.headers["location"].startswith(fake_alipay.url)
    english = await china_client.get(f"/pay/{order.token}?lang=en", headers={"User-Agent": PHONE_UA})
    assert "Choose how to pay" in english.text or "Or pay another way" in english.text
    assert "Alipay" in english.text and "WeChat Pay" in english.text
