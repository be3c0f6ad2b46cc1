"""A citizen on a phone (390×844): the calculator's steps, two results in the basket, a demo purchase, and the order
found again under "my orders". Screenshots go to ``artifacts/`` (git-ignored); the README's come from them."""

from __future__ import annotations

import re

import pytest

from factories import shop as factories
from registry.models import Order, OrderStatus
from tests.a11y import small_targets
from tests.live import screenshot_path

pytestmark = pytest.mark.browser


async def check_phone_page(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Nothing wider than the phone, no target under 24×24 px; then the screenshot."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, name
    assert await small_targets(page) == [], name
    await page.screenshot(path=screenshot_path(name), full_page=True)


async def test_a_citizen_calculates_in_steps_fills_the_basket_and_buys(live_server, browser_page):
    await factories.quota(10_000)
    page = browser_page
    await page.goto(f"{live_server}/")
    await check_phone_page(page, "shop-phone-0-home")
    await page.click("text=抵消我的碳排放")
    assert await page.get_attribute("#step-trip", "aria-current") == "step"

    # Step 1, travel: a wrong distance is refused on its field, with the reason
    await page.select_option("#mode", "flight")
    await page.fill("#km", "九百")
    await page.click("#calculate")
    assert await page.inner_text("#km-error") == "请输入数字，例如 12.5"
    assert await page.get_attribute("#km", "aria-invalid") == "true"
    assert "或单程公里数：请输入数字，例如 12.5" in await page.inner_text("#error-summary")
    await check_phone_page(page, "shop-phone-1-trip-error")
    await page.click("#error-summary a")  # the summary leads to the field
    assert await page.evaluate("document.activeElement.id") == "km"
    await page.fill("#km", "")
    await page.select_option("#to", "beijing")
    await page.check("input[name=round_trip]")
    await page.click("#calculate")
    assert await page.inner_text("#result-kg") == "409.91"
    assert await page.inner_text("#result-unit") == "千克二氧化碳当量"
    await check_phone_page(page, "shop-phone-2-trip-result")
    await page.click("#add-to-basket")
    await page.wait_for_url(re.compile(r".*notice=added.*"))
    assert await page.locator(".basket-line").count() == 1

    # Step 2, a meeting: its own form, its own button, its own result, into the same basket
    await page.click("#step-meeting")
    await page.fill("#meeting_attendees", "10")
    await page.fill("#meeting_days", "2")
    await page.check("input[name=meeting_overnight]")
    await page.click("#calculate")
    assert await page.inner_text("#result-kg") == "603"
    await page.click("#add-to-basket")
    await page.wait_for_url(re.compile(r".*step=meeting&notice=added.*"))
    assert await page.locator(".basket-line").count() == 2
    assert await page.inner_text("#basket-kg") == "1.01 吨二氧化碳当量"  # 1,012.91 kg
    assert "清单 1 项" in await page.inner_text("#step-trip")
    await page.locator("#basket").scroll_into_view_if_needed()
    await check_phone_page(page, "shop-phone-3-basket")

    # The basket becomes the order: quantity, purpose (the heavier item's), and both items listed
    await page.click("#buy-basket")
    await page.wait_for_url(re.compile(r".*/buy\?quantity=102&purpose=meeting&basket=1"))
    assert await page.input_value("#quantity") == "102"
    assert await page.input_value("#purpose") == "meeting"
    assert await page.locator("#from-basket li").count() == 2
    assert await page.inner_text("#total") == "¥102.00"
    # the total follows the typing, and bad input gets a reason, never ¥0.00
    await page.fill("#quantity", "")
    assert await page.is_hidden("#total-line")
    assert await page.inner_text("#total-hint") == "请输入整数张数，合计才会显示。"
    await page.fill("#quantity", "3")
    assert await page.inner_text("#total-hint") == "最少 5 张（¥5.00）：支付机构不受理过小的金额。"
    await page.fill("#quantity", "5000")
    assert await page.inner_text("#total-hint") == "单笔最多 200 张。"
    assert "¥0.00" not in await page.inner_text("#buy-form")
    await page.fill("#quantity", "102")
    assert await page.is_visible("#total-line") and await page.inner_text("#total") == "¥102.00"
    assert await page.inner_text("#total-hint") == ""
    assert "您现在最多可下单 200 张" in await page.inner_text("#left-for-you")
    await page.fill("#certificate_name", "宁夏绿色会议组委会")
    await check_phone_page(page, "shop-phone-4-buy")

    await page.click("#checkout")
    await page.wait_for_url(re.compile(r".*/pay/demo/.*"))
    await check_phone_page(page, "shop-phone-5-pay")
    await page.click("#confirm-payment")
    await page.wait_for_url(re.compile(r".*/orders/.*"))
    assert "证书已生成" in await page.inner_text("#order-status")
    await check_phone_page(page, "shop-phone-6-order")
    order = await Order.get()
    assert (order.quantity, order.purpose, order.status) == (102, "meeting", OrderStatus.FULFILLED)

    # Back later on the same phone: "my orders" has it; the basket was emptied by the order
    await page.goto(f"{live_server}/")
    await page.click(".site-nav >> text=我的订单")
    assert await page.locator(".my-order").count() == 1
    assert "证书已生成" in await page.inner_text(".my-order")
    await check_phone_page(page, "shop-phone-7-my-orders")
    await page.click(".my-order .order-link")
    await page.wait_for_url(re.compile(rf".*/orders/{order.token}$"))
    await page.goto(f"{live_server}/calculator")
    assert await page.locator("#basket-empty").count() == 1


async def test_the_calculator_in_english_on_a_phone(live_server, browser):
    """The same steps label everything in English (the README's calculator screenshot)."""
    await factories.quota(10_000)
    from tests.live import PHONE

    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server}/calculator?lang=en&step=home")
        await page.fill("#kwh", "abc")
        await page.click("#calculate")
        assert await page.inner_text("#kwh-error") == "Enter a number, such as 12.5"
        await page.fill("#kwh", "3,416.5")
        await page.click("#calculate")
        assert await page.inner_text("#result-kg") == "2"  # 3,416.5 kWh × 0.5857 = 2,001.04 kg
        assert await page.inner_text("#result-unit") == "t CO2e"
        assert await page.inner_text("#result-exact") == "that is 2,001.04 kg"
        await page.click("#add-to-basket")
        await page.wait_for_url(re.compile(r".*notice=added.*"))
        await page.goto(f"{live_server}/calculator?step=trip&mode=flight&to=beijing&round_trip=1")
        await page.click("text=How it was calculated")  # the working, opened
        assert "Buy the basket: 201 tickets, ¥201.00" in await page.inner_text("#basket")
        await check_phone_page(page, "shop-calculator-en")
    finally:
        await context.close()
