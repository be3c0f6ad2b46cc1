"""The public pages on a phone (390×844) in Chromium: /impact, /retirements and a forest page fit the screen,
work under the Content-Security-Policy (charts are inline SVG, no script), and are photographed for the README
(artifacts/public-*.png; copies in docs/screens/)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from certificates import service
from kernel import clock
from tests.live import screenshot_path
from tests.shop.public_world import shop_order

pytestmark = pytest.mark.browser

EARLIER = [(5, 300, "travel", "宁夏绿色出行协会"), (4, 120, "event", "银川马拉松组委会"), (3, 800, "meeting", "周立波")]
EARLIER += [(2, 450, "daily", "林晓"), (1, 260, "travel", "银川市第一中学"), (0, 50, "daily", "马丽")]
# an irregular parcel outline in 兴庆区 (longitude, latitude)
OUTLINE = {
    "type": "Polygon",
    "coordinates": [
        [
            [106.3101, 38.4902],
            [106.3162, 38.4911],
            [106.3189, 38.4878],
            [106.3171, 38.4846],
            [106.3127, 38.4839],
            [106.3093, 38.4861],
            [106.3101, 38.4902],
        ]
    ],
}


def _noon(day) -> datetime:  # type: ignore[no-untyped-def]
    return datetime.combine(day, time(12), tzinfo=clock.CITY_TZ)


async def _history() -> dict[str, str]:
    """The demo register (as `linpiao serve --demo` seeds it), with half a year of offsets, this year's
    tree-planting duty, a green-land offset and a compensation case."""
    from linpiao.demo import seed_demo
    from planting.domain.models import DutyBasis, PlantingOutcome, PlantingPurchase, PurchaseStatus
    from planting.domain.rules import rule_for
    from registry.models import Batch, Parcel, TicketKind

    today = clock.today()
    await seed_demo()
    quota = await Batch.get(kind=TicketKind.CARBON)
    for months_back, quantity, purpose, name in EARLIER:
        with clock.use(clock.FixedClock(_noon(today - timedelta(days=30 * months_back + 1)))):
            order, entry = await shop_order(quantity, name=name, batch=quota, purpose=purpose)
            await service.issue_carbon_certificate(order, entry)
    rule = await rule_for(today.year)
    for name in ("张三丰", "李四光", "王小二"):
        order, entry = await shop_order(30, name=name, batch=quota, purpose="planting")
        certificate = await service.issue_planting_certificate(
            None, name=name, year=today.year, trees=3, entries=[entry], order=order
        )
        await PlantingPurchase.create(
            year=today.year,
            rule=rule,
            name=name,
            trees=3,
            tickets=30,
            amount_fen=3000,
            owes_duty=True,
            duty_basis=DutyBasis.DECLARED,
            status=PurchaseStatus.COUNTED,
            outcome=PlantingOutcome.FULFILS,
            certificate=certificate,
        )
    collective = await Batch.get(serial_prefix="YC-JT-640104-2026-001")
    await Parcel.filter(id=collective.parcel_id).update(boundary_geojson=OUTLINE)
    return {"quota": quota.serial_prefix, "collective": collective.serial_prefix}


async def _fits_the_phone(page) -> None:  # type: ignore[no-untyped-def]
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


async def test_public_pages_on_a_phone(live_server, browser_page):
    batches = await _history()
    page = browser_page

    await page.goto(f"{live_server}/impact")
    assert await page.locator("svg.chart").count() == 5
    assert await page.locator("#by-month table tbody tr").count() == 12
    assert await page.inner_text("#planting-total") == "3"
    assert await page.inner_text("#digest-day") == (clock.today() - timedelta(days=1)).isoformat()
    await _fits_the_phone(page)
    await page.screenshot(path=screenshot_path("public-impact"), full_page=True)

    await page.goto(f"{live_server}/retirements")
    assert await page.locator("li.retirement").count() == 9
    assert "张*丰" in await page.inner_text("#retirements")
    await _fits_the_phone(page)
    await page.screenshot(path=screenshot_path("public-retirements"), full_page=False)
    await page.fill("#q", f"{batches['quota']}-00000001")
    await page.click("#search")
    await page.wait_for_url("**/retirements?**")
    assert await page.locator("li.retirement").count() == 1

    await page.goto(f"{live_server}/forests")
    assert await page.locator("li.forest").count() == 4  # the quota, two collective batches, a state batch
    await page.click(f"a[href='/forests/{batches['collective']}']")
    await page.wait_for_url(f"**/forests/{batches['collective']}")
    assert await page.locator("svg.outline path").count() == 1
    assert await page.inner_text("#units-issued") == "1,000 张"
    await _fits_the_phone(page)
    await page.screenshot(path=screenshot_path("public-forest"), full_page=True)

    await page.goto(f"{live_server}/forests/{batches['quota']}?lang=en")
    assert "kg CO2e per ticket" in await page.inner_text("#basis")
    assert "demo" in (await page.inner_text("#basis")).lower() or "演示" in await page.inner_text("#basis")
    await _fits_the_phone(page)
