"""In Chromium, with htmx: a whole ID number typed into a picker or the holders search never appears in any URL
the browser requests or is redirected to (tests/admin/test_id_not_in_urls.py checks the server's side)."""

from __future__ import annotations

import pytest

from factories import id_of, make_holder
from registry.models import StaffRole
from tests.admin.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.browser


async def test_typing_a_whole_id_number_keeps_it_out_of_every_url(live_server, browser):
    await make_staff(StaffRole.ISSUER, "xq.url", "640104")
    other = await make_holder("李秋生", region="640122")  # 贺兰县: offered only by its whole number
    number = id_of(other)
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("response", lambda response: urls.append(response.headers.get("location", "")))
    try:
        await page.goto(f"{live_server}/admin/trades/transfer/new")
        await page.fill("#username", "xq.url")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/admin/trades/transfer/new")
        await page.type("#buyer_id__q", number)
        await page.wait_for_selector(f'[data-testid="pick-buyer_id-{other.id}"] >> text=其他辖区')
        await page.goto(f"{live_server}/admin/holders")
        await page.fill("#q", number)
        await page.click("form.filters button[type=submit]")
        await page.wait_for_selector('[data-testid="holder-elsewhere"] >> text=李秋生')
        assert "/admin/holders?" in page.url and "&s=" in page.url and "q=" not in page.url
    finally:
        await context.close()
    assert any("/admin/pick/holders" in url for url in urls)  # the picker did ask the server, by POST
    assert not [url for url in urls if number in url or number.lower() in url]
