"""Every public page, at phone (390×844) and desktop (1280×800) size, has no serious or critical axe-core violation
and no tap target under 24×24 px.

The pages without parameters are read from the application's own routes (so a public page added later is checked
without anyone listing it here); the pages behind a token or a code, and the calculator's and buy page's states,
are made through the shop like a visitor makes them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from factories import shop as factories
from registry.models import Order
from shop.limits import TRUSTED
from shop.orders import EventKind, OrderRequest, PaymentEvent, apply_event, create_order
from tests.a11y import axe_violations, small_targets

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
NOT_PAGES = ("/admin", "/static", "/webhooks/", "/healthz", "/lang/")


def route_paths(routes: list[Any], prefix: str = "") -> list[str]:
    """Every GET path without parameters, outside the back-office, static files, webhooks and the JSON API."""
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += route_paths(route.routes or [], prefix + route.path)
        elif isinstance(route, Route) and "GET" in (route.methods or ()) and "{" not in route.path:
            found.append(prefix + route.path)
    return [p for p in found if not p.startswith(NOT_PAGES) and (not p.startswith("/api/") or p == "/api/v1/docs")]


async def html_pages(base: str, paths: list[str]) -> list[str]:
    """The paths that answer a page (not a CSV, a PDF or JSON)."""
    pages = []
    async with httpx.AsyncClient(base_url=base) as http:
        for path in paths:
            response = await http.get(path)
            if response.headers.get("content-type", "").startswith("text/html"):
                assert response.status_code < 500, f"{path} answered {response.status_code}"
                pages.append(path)
    return pages


async def orders(settings) -> tuple[Order, Order]:  # type: ignore[no-untyped-def]
    """A paid order (its certificate made) and one waiting for payment at the demo page."""
    made = []
    for name in ("张三", "李四"):
        order, _ = await create_order(
            settings, OrderRequest(quantity=20, purpose="travel", certificate_name=name), provider="demo", buyer=TRUSTED
        )
        made.append(order)
    paid = made[0]
    await apply_event(paid.id, PaymentEvent("demo", f"demo:{paid.id}:paid", EventKind.PAID, amount_fen=2000))
    return paid, made[1]


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_public_pages_have_no_serious_violations(size, app, settings, live_server, browser):
    await factories.quota(10_000)
    paid, pending = await orders(settings)
    certificate = await paid.certificates.all().first()  # type: ignore[attr-defined]
    pages = await html_pages(live_server, route_paths(app.routes))
    assert {"/", "/calculator", "/buy", "/my-orders", "/planting", "/verify", "/api/v1/docs"} <= set(pages)
    pages += [
        "/no-such-page",  # the error page
        "/?lang=en",
        "/calculator?step=trip&mode=flight&to=beijing&round_trip=1",  # a result
        "/calculator?step=event&event_attendees=x&event_km=-1&mix_car=50",  # field errors and their summary
        "/calculator?step=meeting&lang=en",
        "/buy?quantity=abc",  # the hint instead of a total
        "/buy?quantity=50&lang=en",
        f"/orders/{paid.token}",
        f"/pay/demo/{pending.token}",
        f"/verify/{certificate.code}",
        "/my-orders",  # now with both orders, opened above on this device
    ]
    context = await browser.new_context(viewport=VIEWPORTS[size], locale="zh-CN")
    page = await context.new_page()
    problems: dict[str, Any] = {}
    try:
        await page.goto(f"{live_server}/orders/{pending.token}")  # remembered on this device: "my orders"
        # a basket of two results, so the calculator and the buy page show it
        for query in ("step=trip&mode=flight&to=beijing&round_trip=1", "step=home&kwh=100"):
            await page.goto(f"{live_server}/calculator?{query}")
            await page.click("#add-to-basket")
        pages.append("/buy?quantity=11&purpose=travel&basket=1")
        for path in pages:
            await page.goto(live_server + path)
            violations = await axe_violations(page)
            small = await small_targets(page)
            if violations or small:
                problems[path] = {"axe": violations, "small targets": small}
    finally:
        await context.close()
    assert not problems, problems
