"""End to end on a phone-sized Chromium: an issuer records a transfer, files it three times, reads the register."""

from __future__ import annotations

import pytest

from factories import make_holder
from registry import register
from registry.models import StaffRole
from registry.trades import Trade, TradeStatus
from tests.admin.conftest import PASSWORD, make_staff
from tests.admin.test_trades_pages import _collective
from tests.live import screenshot_path

pytestmark = pytest.mark.browser


async def _no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, (page.url, width)


async def test_issuer_records_a_transfer_and_its_filings_on_a_phone(live_server, browser_page):
    await make_staff(StaffRole.ISSUER, "xq.trades", "640104")
    batch, village = await _collective(units=500)
    buyer = await make_holder("李四")
    page = browser_page
    await page.goto(f"{live_server}/admin/trades/transfer/new")
    await page.fill("#username", "xq.trades")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/admin/trades/transfer/new")

    await page.check(f'[data-testid="pick-batch_id-{batch.id}"] input')  # the newest batches come offered
    # the parties are picked by search as you type (htmx), never by their internal numbers
    await page.type("#seller_id__q", "春林村")
    await page.check(f'[data-testid="pick-seller_id-{village.id}"] input')
    await page.type("#buyer_id__q", "李四")
    await page.check(f'[data-testid="pick-buyer_id-{buyer.id}"] input')
    await page.fill("#quantity", "900")  # more than the village holds: refused with the reason
    await page.fill("#price", "12000")
    await page.click("button:has-text('预览转让')")
    await page.wait_for_selector("text=可用林票数量不足")
    await page.fill("#quantity", "120")
    await page.screenshot(path=screenshot_path("trades-transfer-form-phone"), full_page=True)
    await page.click("button:has-text('预览转让')")
    await page.wait_for_selector('[data-testid="trade-preview"] >> text=李四')
    assert await Trade.all().count() == 0  # the preview wrote nothing
    await page.screenshot(path=screenshot_path("trades-transfer-preview-phone"), full_page=True)
    await page.click("button:has-text('确认登记')")
    await page.wait_for_selector('[data-testid="trade-status"] >> text=备案未完成，尚未生效')
    await _no_sideways_scroll(page)
    await page.screenshot(path=screenshot_path("trades-pending-phone"), full_page=True)

    for reference in ("村备字第1号", "区备字第2号", "市林备字第3号"):
        await page.fill("#reference", reference)
        await page.click("button:has-text('预览备案')")
        await page.wait_for_selector('[data-testid="filing-preview"]')
        await page.click("button:has-text('确认登记备案')")
        await page.wait_for_selector(f"text={reference}")
    await page.wait_for_selector('[data-testid="trade-status"] >> text=已生效')
    await page.screenshot(path=screenshot_path("trades-effective-phone"), full_page=True)

    await page.goto(f"{live_server}/admin/register?entry=transfer")
    await page.wait_for_selector('[data-testid="register-table"] >> text=李四')
    await _no_sideways_scroll(page)
    await page.screenshot(path=screenshot_path("trades-register-phone"), full_page=True)
    await page.goto(f"{live_server}/admin/holders/{buyer.id}/statement")
    assert await page.locator('[data-testid="closing-total"]').inner_text() == "120"
    await _no_sideways_scroll(page)
    await page.screenshot(path=screenshot_path("trades-statement-phone"), full_page=True)

    trade = await Trade.get()
    assert trade.status is TradeStatus.EFFECTIVE and await register.holder_total(buyer, batch=batch) == 120
