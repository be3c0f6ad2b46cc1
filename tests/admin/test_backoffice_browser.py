"""The back-office in Chromium at 1280×800 and 390×844: the main pages fit the screen (a wide table scrolls in its
own container, never the page), axe-core finds no serious or critical violation, a customer-service clerk finds
an order by its certificate code and opens its timeline, and finance downloads a month as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kernel import clock
from linpiao.demo import seed_demo
from registry.models import Certificate, Order
from tests.a11y import axe_violations
from tests.desk import paid_order
from tests.live import PHONE, screenshot_path
from tests.shop.paying import provider_env

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 800}
SIZES = {"desktop": WIDE, "phone": PHONE}
FORESTRY = ("forestry", "demo-forestry-2026")
FINANCE = ("finance", "demo-finance-2026")
# the main back-office pages and who reads them
PAGES = [
    ("dashboard", "/admin/", FORESTRY),
    ("holders", "/admin/holders?buyers=show", FORESTRY),
    ("parcels", "/admin/parcels", FORESTRY),
    ("applications", "/admin/applications", FORESTRY),
    ("trades", "/admin/trades", FORESTRY),
    ("register", "/admin/register", FORESTRY),
    ("service", "/admin/service", FORESTRY),
    ("finance", "/admin/finance", FINANCE),
    ("reconciliation", "/admin/reconciliation", FINANCE),
]
AXED = {"dashboard", "holders", "register", "finance", "service", "reconciliation"}


@pytest.fixture
def server_env(settings, china_settings):  # type: ignore[no-untyped-def]
    """The live server with Alipay and WeChat Pay configured against the fakes, so reconciliation has bills."""
    return {
        "LINPIAO_DATABASE_URL": settings.database_url,
        "LINPIAO_SECRET_KEY": settings.secret_key,
        "LINPIAO_ENV": "development",
        "LINPIAO_DATA_DIR": str(settings.data_dir),
        **provider_env(china_settings),
    }


async def signed_in(browser, base: str, who: tuple[str, str], viewport: dict):  # type: ignore[no-untyped-def]
    phone = viewport == PHONE
    context = await browser.new_context(
        viewport=viewport, locale="zh-CN", is_mobile=phone, has_touch=phone, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto(f"{base}/admin/login")
    await page.fill("#username", who[0])
    await page.fill("#password", who[1])
    await page.click("button[type=submit]")
    await page.wait_for_url("**/admin/")
    return context, page


async def seeded(settings) -> list[Order]:  # type: ignore[no-untyped-def]
    await seed_demo()
    return [
        await paid_order(settings, 12_345, contact="zhang.san@example.com", name="张三"),
        await paid_order(settings, 7, contact="13800138000", name="银川市某某有限公司绿色出行碳中和项目部"),
    ]


@pytest.mark.parametrize("size", SIZES)
async def test_main_pages_fit_the_screen_and_pass_axe(live_server, browser, settings, fake_alipay, size):
    await seeded(settings)
    # a trade the register does not know in today's Alipay bill: the reconciliation page lists a difference
    fake_alipay.bill_lines.append(
        {"kind": "交易", "out_trade_no": "LP424242_deadbeef", "trade_no": "2026000", "amount_fen": 123456}
    )
    viewport = SIZES[size]
    sessions = {}
    try:
        for name, path, who in PAGES:
            if who not in sessions:
                sessions[who] = await signed_in(browser, live_server, who, viewport)
            page = sessions[who][1]
            if name == "reconciliation":
                path += f"?from={clock.today().isoformat()}"
            response = await page.goto(live_server + path)
            assert response is not None and response.status == 200, name
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)
            # every table is either narrow enough or scrolls inside its own wrapper
            loose = await page.evaluate(
                """(limit) => Array.from(document.querySelectorAll("table")).filter(t => {
                     const box = t.getBoundingClientRect();
                     return box.right > limit + 1 && !t.closest(".table-wrap");
                   }).map(t => t.outerHTML.slice(0, 80))""",
                viewport["width"],
            )
            assert loose == [], (name, loose)
            if name in AXED:
                assert await axe_violations(page) == [], name
            await page.screenshot(path=screenshot_path(f"admin-{name}-{size}"), full_page=True)
        reconciliation = sessions[FINANCE][1]
        assert "LP424242_deadbeef" in await reconciliation.locator('[data-testid="differences"]').inner_text()
    finally:
        for context, _page in sessions.values():
            await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_customer_service_finds_an_order_by_its_certificate_code(live_server, browser, settings, size):
    orders = await seeded(settings)
    wanted = orders[1]
    code = (await Certificate.get(order_id=wanted.id)).code
    context, page = await signed_in(browser, live_server, FORESTRY, SIZES[size])
    try:
        await page.click("nav >> text=客服")
        await page.fill("#code", code.lower().replace("-", " "))  # typed any way /verify accepts
        await page.click('[data-testid="service-search"] button[type=submit]')
        results = page.locator('[data-testid="service-results"] tbody tr')
        await results.first.wait_for()
        assert await results.count() == 1
        assert await results.first.get_attribute("data-order") == str(wanted.id)
        assert await page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
        await results.first.locator("a").click()
        await page.wait_for_url(f"**/admin/service/orders/{wanted.id}")
        timeline = await page.locator('[data-testid="order-timeline"]').inner_text()
        for event in ("下单", "预留林票", "注销林票给购买人", "订单完成", "生成证书"):
            assert event in timeline, (event, timeline)
        grouped = "-".join(code[i : i + 4] for i in range(0, len(code), 4))
        assert grouped in await page.locator('[data-testid="order-certificates"]').inner_text()
        assert await page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
        await page.screenshot(path=screenshot_path(f"admin-service-order-{size}"), full_page=True)
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_finance_exports_a_month(live_server, browser, settings, size, tmp_path: Path):
    _this_month, last_month = await seeded(settings)
    # the second order was paid last month: the export of this month leaves it out
    first_day = clock.today().replace(day=1)
    last_month.paid_at = clock.day_start(first_day - timedelta(days=3)) + timedelta(hours=10)
    await last_month.save(update_fields=["paid_at"])
    context, page = await signed_in(browser, live_server, FINANCE, SIZES[size])
    try:
        await page.goto(f"{live_server}/admin/finance")
        await page.fill("#from", first_day.isoformat())
        await page.fill("#to", clock.today().isoformat())
        await page.select_option("#period", "day")
        await page.click("button:has-text('统计')")
        await page.wait_for_url("**/admin/finance?*")
        assert "¥12,345.00" in await page.locator('[data-testid="finance-total"]').inner_text()

        async with page.expect_download() as csv_download:
            await page.click('[data-testid="export-csv"]')
        csv_file = tmp_path / "month.csv"
        await (await csv_download.value).save_as(csv_file)
        rows = list(csv.reader(io.StringIO(csv_file.read_text(encoding="utf-8-sig"))))
        month = first_day.isoformat()[:7]
        lines = [r for r in rows[1:] if r[0] != "合计"]
        assert lines and all(r[0].startswith(month) for r in lines), lines
        assert [r[4:] for r in lines] == [["1", "12345", "12345.00"]]  # this month's order, not last month's

        async with page.expect_download() as xlsx_download:
            await page.click('[data-testid="export-xlsx"]')
        xlsx_file = tmp_path / "month.xlsx"
        await (await xlsx_download.value).save_as(xlsx_file)
        sheet = load_workbook(xlsx_file).worksheets[0]
        cells = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]]
        assert [(str(r[0])[:7], r[4], r[5]) for r in cells] == [(month, 1, 12345)]
    finally:
        await context.close()
