"""A full demo purchase on a phone (390×844), from the home page to the certificate code, in both languages."""

from __future__ import annotations

import re

import pytest

from factories import shop as factories
from registry.models import Order, OrderStatus
from tests.live import screenshot_path

pytestmark = pytest.mark.browser


async def purchase(page, base: str, lang: str, texts: dict[str, str]) -> str:
    shot = f"shop-{lang}"
    await page.goto(f"{base}/?lang={lang}")
    assert await page.locator(".demo-banner").count() == 1
    await page.screenshot(path=screenshot_path(f"{shot}-1-home"), full_page=True)

    await page.click(f"text={texts['offset']}")
    await page.select_option("#mode", "flight")
    await page.select_option("#to", "beijing")
    await page.check("input[name=round_trip]")
    await page.click(f"button:has-text('{texts['calculate']}')")
    assert await page.inner_text("#result-kg") == "409.91"
    await page.screenshot(path=screenshot_path(f"{shot}-2-calculator"), full_page=True)

    await page.click("#buy-estimate")
    assert await page.input_value("#quantity") == "41"
    assert await page.inner_text("#total") == "¥41.00"
    await page.click(".preset[data-q='50']")  # the total follows the quantity without a reload
    assert await page.inner_text("#total") == "¥50.00"
    await page.fill("#quantity", "41")
    assert await page.inner_text("#total") == "¥41.00"
    await page.fill("#certificate_name", texts["name"])
    await page.screenshot(path=screenshot_path(f"{shot}-3-buy"), full_page=True)

    await page.click("#checkout")
    await page.wait_for_url(re.compile(r".*/pay/demo/.*"))
    await page.screenshot(path=screenshot_path(f"{shot}-4-pay"), full_page=True)
    await page.click("#confirm-payment")
    await page.wait_for_url(re.compile(r".*/orders/.*"))
    code = await page.get_attribute("#certificate-code", "data-code")
    assert code and code in (await page.inner_text("#certificate-code")).replace("-", "")
    assert texts["ready"] in await page.inner_text("#order-status")
    assert texts["name"] == await page.inner_text("#certificate-name")
    await page.screenshot(path=screenshot_path(f"{shot}-5-order"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows the phone's width
    return code


async def test_demo_purchase_in_chinese_and_english(live_server, browser_page):
    await factories.quota(10_000)
    zh = await purchase(
        browser_page,
        live_server,
        "zh_CN",
        {"offset": "抵消我的碳排放", "calculate": "计算", "name": "宁夏<b>绿色</b>出行协会", "ready": "证书已生成"},
    )
    en = await purchase(
        browser_page,
        live_server,
        "en",
        {"offset": "Offset my emissions", "calculate": "Calculate", "name": "Jane Doe", "ready": "Certificate ready"},
    )
    assert zh != en
    assert await Order.filter(status=OrderStatus.FULFILLED).count() == 2
    pdf = await browser_page.request.get(f"{live_server}/certificates/{en}.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"].startswith("application/pdf")
    await browser_page.click("#certificate-verify")
    assert en in (await browser_page.content()).replace("-", "")
    await browser_page.screenshot(path=screenshot_path("shop-en-6-verify"), full_page=True)
