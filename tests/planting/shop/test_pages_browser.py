"""Tree planting in Chromium: a citizen on a phone, an organisation's upload on a desktop (demo provider)."""

from __future__ import annotations

import pytest

from factories import credit_code, resident_id
from planting.domain.rules import set_rule
from registry.models import Certificate, CertificateKind
from registry.quotas import open_quota
from tests.live import DESKTOP, screenshot_path

pytestmark = pytest.mark.browser


async def _on_sale() -> None:
    await open_quota(units=100_000)
    await set_rule(
        year=2026,
        tickets_per_tree=10,
        trees_per_duty=3,
        receiving_body="银川市绿化基金会",
        source="银川市绿化委员会办公室 2026 年第 1 号通知",
    )


async def test_citizen_fulfils_the_duty_on_a_phone(db, live_server, browser_page):
    await _on_sale()
    page = browser_page
    person = resident_id("640121", "19800101", seq=11)
    await page.goto(live_server + "/planting")
    assert "银川市绿化基金会" in await page.inner_text("#rule")
    await page.click("text=5 株")
    assert "¥50.00" in await page.inner_text("#planting-total")
    await page.click("text=4 株")
    assert "¥40.00" in await page.inner_text("#planting-total")
    await page.fill("#name", "张三")
    await page.fill("#id_number", person)
    await page.check("#id_consent")  # the unticked consent box, linking the privacy notice
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    await page.screenshot(path=screenshot_path("planting-citizen-form"), full_page=True)
    await page.click("#planting-pay")
    await page.wait_for_selector("#confirm-payment")
    assert "义务植树尽责（2026年度）" in await page.content()
    await page.click("#confirm-payment")
    await page.wait_for_selector("#certificate-kind")
    assert "全民义务植树尽责证书" in await page.inner_text("#certificate-kind")
    assert person not in await page.content()
    assert (await page.inner_text("#id-masked")).startswith("6401")
    await page.screenshot(path=screenshot_path("planting-citizen-certificate"), full_page=True)
    certificate = await Certificate.get()
    assert certificate.kind is CertificateKind.PLANTING


async def test_organisation_uploads_a_roster_on_a_desktop(db, live_server, browser, tmp_path):
    await _on_sale()
    rows = [
        "姓名,身份证号码,工号,植树株数",
        f"甲,{resident_id('640121', '19800101', seq=11)},E1,",
        f"乙,{resident_id('640121', '19850101', seq=13)},E2,5",
        f"丙,{resident_id('640121', '19600101', seq=14)},E3,",
        f"甲,{resident_id('640121', '19800101', seq=11)},E1,",
        "丁,6.40121E+17,E4,",
        "=1+1,,E5,",
        ",,E6,",
    ]
    roster = tmp_path / "名单.csv"
    roster.write_bytes("\r\n".join(rows).encode("gbk"))
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(live_server + "/planting/org")
        await page.fill("#organisation_name", "银川市某局")
        await page.fill("#credit_code", credit_code("640104"))
        await page.fill("#contact", "王科长 0951-1234567")
        await page.set_input_files("#roster", str(roster))
        await page.check("#id_consent")  # each person on it agreed (PIPL)
        await page.click("#upload-roster")
        await page.wait_for_selector("#roster-table")
        assert await page.locator("tr.row-error").count() == 3  # duplicate, Excel-mangled ID, no name
        assert await page.locator('[data-code="formula"]').count() == 1
        assert "¥140.00" in await page.inner_text("#roster-amount")
        await page.screenshot(path=screenshot_path("planting-org-preview"), full_page=True)
        await page.click("#pay-roster")
        await page.click("#confirm-payment")
        await page.wait_for_selector("#download-zip")
        assert "4" in await page.inner_text("#download-zip")
        await page.screenshot(path=screenshot_path("planting-org-paid"), full_page=True)
        await page.click("#report-page")
        await page.wait_for_selector("#report-table")
        # listed: 甲 乙 丙 丁, the formula row and E6 (no name, still a person); the duplicate is not.
        # 丙 (a woman of 66) does not owe the duty; fulfilled: 甲 乙 and the formula row → 3 of 5
        assert await page.inner_text("#rate") == "60.0%"
        await page.screenshot(path=screenshot_path("planting-org-report"), full_page=True)
    finally:
        await context.close()
