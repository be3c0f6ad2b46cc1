"""End to end in Debian's Chromium: an issuer takes a collective application from submission to issued batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry import clock, notices
from registry.applications import IssuanceApplication
from registry.audit import Actor
from registry.models import Batch, StaffRole
from tests.admin.conftest import PASSWORD, make_staff, village_with_parcel
from tests.live import DESKTOP, screenshot_path

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
        assert await page.locator('[data-testid="area"]').inner_text() == "150.0000"

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
        await page.click("button:has-text('发放')")
        await page.wait_for_selector('[data-testid="status"] >> text=已发放')
        batch_text = await page.locator('[data-testid="batch"]').inner_text()
        assert "1,000 × 100.0000 m²" in batch_text and "兴庆区人民政府" in batch_text
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
