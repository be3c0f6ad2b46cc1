"""End to end in Debian's Chromium: an issuer takes a collective application from submission to issued batch; a clerk
issues a collective batch and records a transfer using only pickers and confirm pages, on a phone and a laptop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factories import make_holder
from kernel import clock
from registry import notices
from registry.applications import IssuanceApplication
from registry.audit import Actor
from registry.models import Batch, StaffRole
from registry.trades import Trade
from tests.admin.conftest import PASSWORD, make_staff, village_with_parcel
from tests.live import DESKTOP, PHONE, screenshot_path

pytestmark = pytest.mark.browser


async def test_issuer_takes_an_application_to_an_issued_batch(live_server, browser):
    issuer = await make_staff(StaffRole.ISSUER, "xq.issuer", "640104")
    village, parcel = await village_with_parcel("640104", "150")
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(f"{live_server}/admin/parcels/{parcel.id}")
        assert "/admin/login" in page.url  # signed out: sent to the login form, then back
        await page.fill("#username", "xq.issuer")
        await page.fill("#password", PASSWORD)
        await page.screenshot(path=screenshot_path("admin-login"))
        await page.click("button[type=submit]")
        await page.wait_for_url(f"**/admin/parcels/{parcel.id}")
        assert await page.locator('[data-testid="area"]').inner_text() == "150"  # a trimmed area, not 150.0000

        await page.click("text=受理发放申请")
        # the parcel and its owner come chosen in the pickers (search boxes with radio buttons, not numbers)
        assert await page.is_checked(f'[data-testid="pick-parcel_id-{parcel.id}"] input')
        assert await page.is_checked(f'[data-testid="pick-applicant_id-{village.id}"] input')
        await page.fill("#note", "村民代表会议同意以林木发放林票")
        await page.click("text=提交申请")
        await page.wait_for_selector('[data-testid="status"] >> text=待审核')

        await page.fill("#comment", "确权清楚，材料齐全")
        await page.click("button:has-text('批准')")
        await page.wait_for_selector('[data-testid="status"] >> text=已批准，待发放')
        await page.screenshot(path=screenshot_path("admin-application-approved"), full_page=True)
        # its public notice (公示) was published ten days ago for seven days and closed without objection
        with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):
            await notices.publish_issuance_notice(await IssuanceApplication.get(), actor=Actor(issuer, ""))
        await page.reload()

        await page.fill("#unit_area_m2", "333")  # does not divide 100000 m²: refused with a reason
        await page.click("button:has-text('发放')")
        await page.wait_for_selector("text=单位面积必须能整除林地面积")
        await page.fill("#unit_area_m2", "100")
        await page.click("button:has-text('预览发放')")  # the preview (admin/preview.py) writes nothing
        await page.wait_for_selector('[data-testid="issue-preview"]')
        assert await Batch.all().count() == 0
        await page.click("button:has-text('确认发放')")
        await page.wait_for_selector('[data-testid="status"] >> text=已发放')
        batch_text = await page.locator('[data-testid="batch"]').inner_text()
        assert "1,000 × 100 m²" in batch_text and "兴庆区人民政府" in batch_text
        steps = await page.locator('[data-testid="steps"]').inner_text()
        assert "受理申请" in steps and "审核通过" in steps and "发放林票" in steps and "xq.issuer" in steps
        assert "下载凭证（PDF）" in await page.locator('[data-testid="certificate"]').inner_text()
        await page.screenshot(path=screenshot_path("admin-application-issued"), full_page=True)

        await page.click("text=概览")
        await page.wait_for_selector('[data-testid="stock-table"]')
        assert "1,000" in await page.locator('[data-testid="stock-table"]').inner_text()
        await page.screenshot(path=screenshot_path("admin-dashboard"), full_page=True)

        # usable on a tablet: the same session, portrait 768 px, no page-wide horizontal scrolling
        tablet = await browser.new_context(
            viewport={"width": 768, "height": 1024}, locale="zh-CN", storage_state=await context.storage_state()
        )
        try:
            tab = await tablet.new_page()
            for path in ("/admin/", "/admin/applications/1", f"/admin/parcels/{parcel.id}", "/admin/holders"):
                await tab.goto(live_server + path)
                width = await tab.evaluate("document.documentElement.scrollWidth")
                assert width <= 768, (path, width)
            await tab.screenshot(path=screenshot_path("admin-holders-tablet"), full_page=True)
        finally:
            await tablet.close()
    finally:
        await context.close()

    application = await IssuanceApplication.get()
    batch = await Batch.get()
    assert application.batch_id == batch.id and batch.total_units == 1000


LAPTOP = {"width": 1280, "height": 800}


async def _fits(page, width: int) -> None:  # type: ignore[no-untyped-def]
    """No page-wide horizontal scrolling at this width (a wide table scrolls inside its own box)."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (page.url, scroll)


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390x844", "1280x800"])
async def test_a_clerk_issues_a_collective_batch_and_records_a_transfer_with_pickers_and_confirm_pages(
    live_server, browser, viewport
):
    """Every record is chosen by typing into a picker (never by an internal number) and every irreversible step
    goes through its confirm page, which writes nothing until confirmed."""
    issuer = await make_staff(StaffRole.ISSUER, "xq.clerk", "640104")
    village, parcel = await village_with_parcel("640104", "150")
    buyer = await make_holder("李四", region="640104")
    phone = viewport["width"] < 600
    size = "phone" if phone else "laptop"
    context = await browser.new_context(
        viewport=viewport, locale="zh-CN", is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1
    )
    page = await context.new_page()
    try:
        await page.goto(f"{live_server}/admin/applications/new")
        await page.fill("#username", "xq.clerk")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/admin/applications/new")

        await page.type("#parcel_id__q", "春林")
        await page.check(f'[data-testid="pick-parcel_id-{parcel.id}"] input')
        await page.type("#applicant_id__q", "春林村")
        await page.check(f'[data-testid="pick-applicant_id-{village.id}"] input')
        await page.click("text=提交申请")
        await page.wait_for_selector('[data-testid="status"] >> text=待审核')
        await page.click("button:has-text('批准')")
        await page.wait_for_selector('[data-testid="status"] >> text=已批准，待发放')
        application = await IssuanceApplication.get()
        with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):  # its notice (公示) closed, unopposed
            await notices.publish_issuance_notice(application, actor=Actor(issuer, ""))
        await page.reload()

        await page.fill("#unit_area_m2", "100")
        await page.click("button:has-text('预览发放')")
        await page.wait_for_selector('[data-testid="issue-preview"]')
        assert await page.locator('[data-testid="preview-units"]').inner_text() == "1,000"
        serials = await page.locator('[data-testid="preview-serials"]').inner_text()
        assert serials.startswith("YC-JT-640104-") and serials.endswith("-00001000")
        assert village.name in await page.locator('[data-testid="preview-holder"]').inner_text()
        assert await Batch.all().count() == 0  # the preview wrote nothing
        await _fits(page, viewport["width"])
        await page.screenshot(path=screenshot_path(f"admin-issue-preview-{size}"), full_page=True)
        await page.click("button:has-text('确认发放')")
        await page.wait_for_selector('[data-testid="status"] >> text=已发放')
        batch = await Batch.get()

        await page.goto(f"{live_server}/admin/trades/transfer/new")
        await page.type("#batch_id__q", batch.serial_prefix)
        await page.check(f'[data-testid="pick-batch_id-{batch.id}"] input')
        await page.type("#seller_id__q", "春林村")
        await page.check(f'[data-testid="pick-seller_id-{village.id}"] input')
        await page.type("#buyer_id__q", "李四")
        await page.check(f'[data-testid="pick-buyer_id-{buyer.id}"] input')
        await page.fill("#quantity", "120")
        await page.fill("#price", "3600.50")
        await _fits(page, viewport["width"])
        await page.click("button:has-text('预览转让')")
        await page.wait_for_selector('[data-testid="trade-preview"] >> text=李四')
        assert await page.locator('[data-testid="preview-price"]').inner_text() == "¥3,600.50"
        assert await Trade.all().count() == 0
        await _fits(page, viewport["width"])
        await page.screenshot(path=screenshot_path(f"admin-transfer-preview-{size}"), full_page=True)
        await page.click("button:has-text('确认登记')")
        await page.wait_for_selector('[data-testid="trade-status"] >> text=备案未完成，尚未生效')
        await _fits(page, viewport["width"])
    finally:
        await context.close()
    trade = await Trade.get()
    assert trade.quantity == 120 and trade.price_fen == 360_050 and trade.buyer_id == buyer.id
