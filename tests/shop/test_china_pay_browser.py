"""¥1 paid with Alipay and WeChat Pay in Chromium at 390×844, against the fake gateways: Alipay's mobile cashier
and WeChat Pay's H5 page on a phone, JSAPI inside WeChat (OAuth for the openid, ``WeixinJSBridge`` stood in for by
the test), and the Native QR code on a desktop browser, decoded from the screen and paid by "scanning" it."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
import zxingcpp
from PIL import Image

from factories import shop as factories
from registry.models import Certificate, Order, OrderStatus
from tests.live import PHONE, free_port, screenshot_path, start_server, stop_server
from tests.shop.conftest import china_pay_settings
from tests.shop.paying import DESKTOP_UA, PHONE_UA, WECHAT_UA, provider_env

pytestmark = pytest.mark.browser

# WeChat's in-app browser provides WeixinJSBridge; here it hands the prepay id to the test, which pays at the fake.
FAKE_BRIDGE = """
window.WeixinJSBridge = {
  invoke: function (name, params, callback) {
    window.fakeWechatPay(name, params.package).then(function (result) { callback({ err_msg: result }); });
  }
};
"""


@pytest.fixture
def china_live(db, server_env, settings, tmp_path, fake_alipay, fake_wechatpay):  # type: ignore[no-untyped-def]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    configured = china_pay_settings(settings.with_(base_url=base), tmp_path / "keys", fake_alipay, fake_wechatpay)
    process, base = start_server({**server_env, "LINPIAO_BASE_URL": base, **provider_env(configured)}, port=port)
    try:
        yield base
    finally:
        stop_server(process)


async def order_one_ticket(page, base: str, name: str) -> Order:
    await page.goto(f"{base}/buy?quantity=1")
    assert await page.input_value("#quantity") == "1"
    await page.fill("#certificate_name", name)
    await page.click("#checkout")
    await page.wait_for_url(re.compile(r".*/pay/[A-Za-z0-9_-]+$"))
    order = await Order.get(certificate_name=name)
    assert order.amount_fen == 100
    assert "¥1.00" in await page.inner_text("#pay-amount")
    return order


async def certificate_shown(page, order: Order, shot: str) -> None:
    await page.wait_for_url(re.compile(rf".*/orders/{order.token}$"))
    await page.wait_for_selector("#certificate-code", timeout=15_000)
    assert "证书已生成" in await page.inner_text("#order-status")
    await page.screenshot(path=screenshot_path(shot), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await order.refresh_from_db()
    assert order.status is OrderStatus.FULFILLED
    assert await Certificate.filter(order_id=order.id).count() == 1


async def phone(browser, agent: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN", user_agent=agent
    )
    return context, await context.new_page()


async def test_one_yuan_with_each_method(china_live, browser, fake_alipay, fake_wechatpay):
    await factories.quota(10_000)

    # Alipay, phone browser: the mobile cashier, then back through the return page (which asks Alipay)
    context, page = await phone(browser, PHONE_UA)
    order = await order_one_ticket(page, china_live, "支付宝买家")
    assert await page.locator("#pay-card").count() == 0
    await page.screenshot(path=screenshot_path("pay-phone-methods"), full_page=True)
    await page.click("#pay-alipay")
    await page.wait_for_url(re.compile(re.escape(fake_alipay.url) + r"/gateway\.do\?.*"))
    assert "alipay.trade.wap.pay" in await page.inner_text("#cashier-kind")
    assert await page.inner_text("#cashier-amount") == "¥1.00"
    await page.click("#alipay-confirm")
    await certificate_shown(page, order, "pay-alipay-wap-order")

    # WeChat Pay H5, phone browser
    order = await order_one_ticket(page, china_live, "微信H5买家")
    await page.click("#pay-wechat_pay")
    await page.wait_for_url(re.compile(re.escape(fake_wechatpay.url) + r"/h5pay\?.*"))
    await page.click("#wechat-h5-confirm")
    await certificate_shown(page, order, "pay-wechat-h5-order")
    await context.close()

    # Inside WeChat: OAuth gives the openid, the page opens WeChat Pay's sheet (JSAPI)
    context, page = await phone(browser, WECHAT_UA)

    async def bridge(source, name: str, package: str) -> str:  # type: ignore[no-untyped-def]
        assert name == "getBrandWCPayRequest"
        trade = next(t for t in fake_wechatpay.trades.values() if f"prepay_id={t.prepay}" == package)
        assert await fake_wechatpay.pay_and_notify(trade.out_trade_no) == 204
        return "get_brand_wcpay_request:ok"

    await context.expose_binding("fakeWechatPay", bridge)
    await context.add_init_script(FAKE_BRIDGE)
    order = await order_one_ticket(page, china_live, "微信内买家")
    assert await page.locator("#pay-alipay").count() == 0  # Alipay does not open inside WeChat
    await page.click("#pay-wechat_pay")
    await page.wait_for_selector("#wechat-jsapi")
    await page.screenshot(path=screenshot_path("pay-wechat-jsapi"), full_page=True)
    await page.click("#wechat-jsapi")
    await certificate_shown(page, order, "pay-wechat-jsapi-order")
    await context.close()

    # A desktop browser (at phone size): WeChat Pay's Native QR code on our page, which updates itself when paid
    context, page = await phone(browser, DESKTOP_UA)
    order = await order_one_ticket(page, china_live, "扫码买家")
    await page.click("#pay-wechat_pay")
    await page.wait_for_selector("#wechat-qr")
    qr = page.locator("#wechat-qr")  # polled from here: the page's CSP forbids the string eval of wait_for_function
    for _ in range(100):
        if await qr.evaluate("image => image.naturalWidth") > 0:
            break
        await asyncio.sleep(0.1)
    await page.screenshot(path=screenshot_path("pay-wechat-native"), full_page=True)
    image = Image.open(io.BytesIO(await page.locator("#wechat-qr").screenshot()))
    [code] = [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    trade = fake_wechatpay.trade_by_code(code)
    assert trade.kind == "NATIVE" and trade.amount_fen == 100
    assert await fake_wechatpay.pay_and_notify(trade.out_trade_no) == 204  # the payer scans and pays
    await certificate_shown(page, order, "pay-wechat-native-order")  # the page noticed by itself

    # and Alipay's own page (with its QR code) on a desktop
    order = await order_one_ticket(page, china_live, "电脑支付宝买家")
    await page.click("#pay-alipay")
    await page.wait_for_url(re.compile(re.escape(fake_alipay.url) + r"/gateway\.do\?.*"))
    assert "alipay.trade.page.pay" in await page.inner_text("#cashier-kind")
    await page.click("#alipay-confirm")
    await certificate_shown(page, order, "pay-alipay-page-order")
    await context.close()

    assert await Order.filter(status=OrderStatus.FULFILLED).count() == 5
    assert all(status == 204 or status == 200 for _url, status in fake_alipay.delivered + fake_wechatpay.delivered)
