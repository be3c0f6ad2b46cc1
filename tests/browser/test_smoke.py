"""The served application renders in Debian's Chromium at phone size."""

from __future__ import annotations

import pytest

from tests.live import screenshot_path

pytestmark = pytest.mark.browser


async def test_home_page_renders_on_a_phone(live_server, browser_page):
    await browser_page.goto(live_server + "/")
    assert "碳汇林票" in await browser_page.title()
    await browser_page.click("text=English")
    assert await browser_page.get_attribute("html", "lang") == "en"
    await browser_page.goto(live_server + "/")  # the choice sticks
    assert await browser_page.get_attribute("html", "lang") == "en"
    await browser_page.screenshot(path=screenshot_path("smoke-home"), full_page=True)
