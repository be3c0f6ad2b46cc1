"""A person with a phone types the code from a paper certificate and sees whether it is genuine."""

from __future__ import annotations

import pytest

from certificates import service
from certificates.codes import group_code
from factories.certificates import carbon_certificate
from tests.live import screenshot_path

pytestmark = pytest.mark.browser


async def test_typed_code_verifies_on_a_phone(db, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    certificate = await carbon_certificate(1280, name="王小明")
    revoked = await carbon_certificate(10, name="宁夏某某超长名称" * 12)
    await service.revoke(revoked, reason="信息登记错误")

    page = browser_page
    await page.goto(live_server + "/verify")
    code = certificate.code
    await page.fill("#code", f" {code[:4].lower()} {code[4:12]}-{code[12:].lower()}")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"**/verify/{group_code(code)}")
    assert "证书有效" in await page.inner_text(".verdict")
    assert await page.inner_text(".holder-name") == "王*明"
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=screenshot_path("certificates-verify-valid"), full_page=True)

    await page.goto(f"{live_server}/verify/{group_code(revoked.code)}")
    assert "证书无效" in await page.inner_text(".verdict")
    assert "信息登记错误" in await page.inner_text(".status-reason")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=screenshot_path("certificates-verify-revoked"), full_page=True)

    response = await page.goto(f"{live_server}/certificates/{group_code(code)}.pdf")
    assert response is not None and response.status == 200
