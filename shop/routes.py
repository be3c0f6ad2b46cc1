"""Routes of the public shop: pages, the demo payment page, the Stripe webhook and the JSON API."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kernel.proxy import client_ip
from kernel.settings import Settings
from kernel.templating import render
from linpiao import inputs
from linpiao.errors import error_response, refusal_text, status_of
from registry.errors import RegisterError
from registry.models import Order, OrderStatus
from shop import api, buy_page, calculator_pages, my_orders, pay, purposes, receipts
from shop.checkout import start_checkout
from shop.errors import OrderNotFound
from shop.i18n import gettext as _
from shop.limits import Buyer
from shop.orders import (
    PURPOSES,
    create_order,
    order_by_token,
    order_stock,
    parse_order_request,
    reservation_minutes,
)
from shop.payments import InvalidNotification, PaymentError, get_provider, provider_name
from shop.payments.demo import DemoProvider
from shop.settlement import settle, settle_notification, settle_with_provider
from shop.views import order_view, quota_view

log = logging.getLogger("linpiao.shop")
PRESETS = (10, 50, 100, 500, 1000)
FORM_LIMITS = {"max_files": 0, "max_fields": 40}


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _page(request: Request, name: str, ctx: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    base = {"purposes": PURPOSES, "active": ""}
    return render(request, f"shop/{name}", {**base, **(ctx or {})}, status_code=status_code)


async def home(request: Request) -> Response:
    return _page(request, "home.html", {"quota": await quota_view(_settings(request)), "active": "home"})


# --- buying -----------------------------------------------------------------------------------------------


async def buy(request: Request) -> Response:
    settings = _settings(request)
    form: dict[str, Any] = dict(request.query_params)
    error = None
    status = 200
    if request.method == "POST":
        async with request.form(**FORM_LIMITS) as submitted:
            form = inputs.form_fields(submitted)
        try:
            order_request = parse_order_request(form, settings)
            buyer = Buyer.at_address(client_ip(request))
            order, _created = await create_order(settings, order_request, provider=provider_name(settings), buyer=buyer)
            url = await start_checkout(settings, order)
            response = RedirectResponse(url, status_code=303)
            buy_page.after_order(request, response, settings, order, form)  # "my orders"; empty the basket
            return response
        except RegisterError as exc:  # the reason, with the limits in force (shop/limits.py), on the page
            error, status = refusal_text(exc), status_of(exc)
    quota = await quota_view(settings)
    quantity_text = str(form.get("quantity") or quota.min_quantity * 2).strip()[:20]
    return _page(
        request,
        "buy.html",
        {
            "quota": quota,
            "presets": PRESETS,
            "form": form,
            "error": error,
            "active": "buy",
            "quantity_text": quantity_text,
            # the total or why not, what this buyer may still order, the basket (shop/buy_page.py)
            **await buy_page.context(request, settings, quota, form, quantity_text),
            "reservation_minutes": reservation_minutes(settings),
        },
        status_code=status,
    )


async def order_page(request: Request) -> Response:
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    session_id = request.query_params.get("session_id")
    if (
        session_id
        and order.status is OrderStatus.PENDING
        and order.provider == "stripe"
        and session_id == order.provider_ref
    ):
        # Back from Stripe: don't wait for the webhook if the payment is already complete.
        provider = get_provider(settings)
        try:
            await settle_with_provider(order, provider)
        except Exception:  # the webhook or reconcile will settle it; the page still shows the state
            log.exception("settling order %s on return failed", order.id)
        finally:
            await provider.aclose()
        await order.refresh_from_db()
    page = purposes.of(order).page_of(order)
    if page != request.url.path:  # an order of another purpose has its own page (tree planting: planting/shop/pages.py)
        return RedirectResponse(page, status_code=303)
    view = await order_view(order)
    response = _page(request, "order.html", {"view": view, "order": order})
    my_orders.remember(request, response, settings, order.token)  # "my orders" on this device
    return response


# --- demo payment page ------------------------------------------------------------------------------------


async def _demo_order(request: Request) -> Order:
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    if provider_name(settings) != "demo" or order.provider != "demo":
        raise OrderNotFound()
    return order


async def demo_pay(request: Request) -> Response:
    order = await _demo_order(request)
    if request.method == "GET":
        label = purposes.of(order).label(order)
        return _page(request, "demo_pay.html", {"order": order, "purpose_label": label})
    async with request.form(**FORM_LIMITS) as form:
        action = str(form.get("action", "confirm"))
    provider = get_provider(_settings(request), "demo")
    try:
        assert isinstance(provider, DemoProvider)
        # the demo builds its own event
        await settle(order.id, provider.page_event(order, action), provider, stock=order_stock(order))
    finally:
        await provider.aclose()
    return RedirectResponse(f"/orders/{order.token}", status_code=303)


# --- Stripe webhook ---------------------------------------------------------------------------------------


async def stripe_webhook(request: Request) -> Response:
    settings = _settings(request)
    if "stripe" not in settings.payment_providers() or not settings.stripe_webhook_secret:
        return error_response(request, 404, "not_found", _("页面不存在"))
    body = await request.body()
    provider = get_provider(settings, "stripe")
    try:
        event = await provider.parse_notification(body, request.headers)
        outcome = await settle_notification(provider, event, keep_strangers=False) if event else "ignored"
    except InvalidNotification:
        return error_response(request, 400, "invalid_signature", _("签名无效"))
    except PaymentError:  # Stripe could not say whose payment this is: let it send the event again later
        log.warning("stripe event: the payment intent of its order is unknown, retry")
        return JSONResponse({"received": False, "outcome": "retry"}, status_code=503)
    finally:
        await provider.aclose()
    return JSONResponse({"received": True, "outcome": outcome})


routes: list[BaseRoute] = [
    Route("/", home, name="home"),
    *calculator_pages.routes,  # the calculator's steps and its basket
    Route("/buy", buy, methods=["GET", "POST"], name="buy"),
    Route("/orders/{token}", order_page, name="order"),
    *receipts.routes,  # the payment receipt (收款凭证) behind the order's private link
    Route("/my-orders", my_orders.my_orders_page, name="my_orders"),
    Route("/my-orders/forget", my_orders.forget, methods=["POST"], name="my_orders_forget"),
    Route("/pay/demo/{token}", demo_pay, methods=["GET", "POST"], name="demo_pay"),
    Route("/webhooks/stripe", stripe_webhook, methods=["POST"], name="stripe_webhook"),
    *pay.routes,  # the payment page (methods by device) and the Alipay / WeChat Pay notifications
    *api.routes,
]  # the tree-planting pages (planting/shop/pages.py) are mounted beside these by linpiao/app.py
