"""A county clerk onboards the county in Chromium, on a phone and a laptop: uploads a spreadsheet, reads every
row's problems, uploads the corrected file, confirms, and finds the holders and parcels in the register."""

from __future__ import annotations

import pytest

from factories import resident_id
from registry.models import AuditLog, Holder, Parcel, StaffRole
from tests.admin.conftest import PASSWORD, make_staff
from tests.admin.test_county_import import HOLDER_HEADER, PARCEL_HEADER, parcel_row, people, xlsx_bytes
from tests.live import PHONE, screenshot_path

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390x844", "1280x800"])
async def test_a_clerk_uploads_sees_the_preview_and_confirms(live_server, browser, viewport):
    await make_staff(StaffRole.ISSUER, "xq.import", "640104")
    phone = viewport["width"] < 600
    size = "phone" if phone else "laptop"
    owner = resident_id("640104", seq=1)
    holders = [HOLDER_HEADER, *people(3)]
    parcels = [PARCEL_HEADER, parcel_row("宁林权第1号", owner), parcel_row("宁林权第2号", owner, area="-3")]
    context = await browser.new_context(
        viewport=viewport, locale="zh-CN", is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1
    )
    page = await context.new_page()
    try:
        await page.goto(f"{live_server}/admin/import")
        await page.fill("#username", "xq.import")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/admin/import")
        assert await page.locator('a[href="/admin/import/template.xlsx"]').count() == 1

        # a file with a bad area: the preview names the row and its problem, and nothing can be confirmed
        bad = xlsx_bytes({"持有人": holders, "林地小班": parcels})
        await page.set_input_files("#file", files=[{"name": "台账.xlsx", "mimeType": XLSX, "buffer": bad}])
        await page.check("input[name=informed]")
        await page.click("#preview-import")
        await page.wait_for_selector('[data-testid="import-preview"]')
        assert "面积须为大于0的数字" in await page.locator('tr.has-errors[data-line="3"]').inner_text()
        assert await page.locator('[data-testid="import-confirm"]').count() == 0
        assert await page.locator('[data-testid="rows-with-errors"]').inner_text() == "1"
        await page.screenshot(path=screenshot_path(f"admin-import-problems-{size}"), full_page=True)
        assert await Holder.all().count() == 0 and await Parcel.all().count() == 0

        # corrected: previewed, then confirmed
        parcels[2] = parcel_row("宁林权第2号", owner, area="8.25")
        good = xlsx_bytes({"持有人": holders, "林地小班": parcels})
        await page.set_input_files("#file", files=[{"name": "台账.xlsx", "mimeType": XLSX, "buffer": good}])
        await page.check("input[name=informed]")
        await page.click("#preview-import")
        await page.wait_for_selector('[data-testid="import-confirm"]')
        assert await page.locator('[data-testid="confirm-holders"]').inner_text() == "3"
        assert await page.locator('[data-testid="confirm-parcels"]').inner_text() == "2"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width  # wide tables scroll in their own box
        await page.screenshot(path=screenshot_path(f"admin-import-preview-{size}"), full_page=True)
        assert await Holder.all().count() == 0  # the preview wrote nothing
        await page.click("#confirm-import")
        await page.wait_for_selector('[data-testid="import-done"]')
        assert await page.locator('[data-testid="done-holders"]').inner_text() == "3"
        await page.screenshot(path=screenshot_path(f"admin-import-done-{size}"), full_page=True)

        await page.click("text=查看待核实居住地")
        await page.wait_for_selector("text=农户3")
    finally:
        await context.close()
    assert await Holder.filter(name__startswith="农户").count() == 3
    assert await Parcel.all().count() == 2
    assert await AuditLog.filter(action="county.import").count() == 1
