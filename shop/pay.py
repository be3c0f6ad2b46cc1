"""An order's payment page (``/pay/{token}``) and the Alipay and WeChat Pay notifications.

The payer picks a method on the payment page, which offers what fits the device (:mod:`shop.payments.methods`):
inside WeChat, WeChat Pay by JSAPI (the payer's openid comes from the official account's OAuth); on other phones,
Alipay's mobile cashier and WeChat Pay's H5 page; on desktops, Alipay's cashier (with its own QR code) and a WeChat
Pay Native QR code drawn here, the page updating itself until the order is paid. The card (Stripe) is offered when
the amount reaches its minimum. Behaviour lives in ``static/shop/pay.js``: no inline script.

Coming back from a provider (``/pay/{token}/return``) never fulfils by itself: the trade is queried and only the
provider's answer settles the order. Notifications (``/webhooks/alipay``, ``/webhooks/wechatpay``) are verified,
checked against the order (app or merchant, seller, amount, trade number), recorded in the payment-event table
(:class:`registry.models.Payment`, deduplicated by the provider's trade number and state) and only then answered
``success`` / 204, so the provider retries anything not durably recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from certificates.qr import qr_svg
from kernel import clock, ratelimit
from kernel.proxy import client_ip
from kernel.settings import Settings
from kernel.templating import render
from registry.models import Order, OrderStatus
from shop import purposes
from shop.checkout import AlreadyPaid, open_trade
from shop.errors import OrderNotFound
from shop.i18n import gettext as _
from shop.orders import checkout_expires_at, order_by_token
from shop.payments import InvalidNotification, PaymentContext, PaymentError, get_provider, provider_for_order
from shop.payments.methods import (
    ALIPAY,
    CARD,
    METHODS,
    WECHAT,
    WECHAT_PAY,
    channel_for,
    device_of,
    enabled_methods,
    offered_methods,
)
from shop.payments.wechatpay import WechatPayProvider
from shop.settlement import settle_notification, settle_with_provider

log = logging.getLogger("linpiao.shop.pay")
FORM_LIMITS = {"max_files": 0, "max_fields": 5}
METHOD_LABELS = {ALIPAY: "支付宝", WECHAT_PAY: "微信支付", CARD: "银行卡"}
# The payment page asks the provider itself at most this often while the payer looks at a QR code (the
# notification normally comes first; this covers a late or lost one) — once per order across every app server
# when LINPIAO_REDIS_URL is set (kernel/ratelimit.py).
QUERY_EVERY_SECONDS = 10


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _order_url(order: Order) -> str:
    return f"/orders/{order.token}"


def _checkout_open(order: Order) -> bool:
    return order.status is OrderStatus.PENDING and checkout_expires_at(order) > clock.now()


def _oauth_state(settings: Settings, order: Order) -> str:
    """The OAuth ``state``: binds the WeChat callback to this order, so a forged callback cannot pay another."""
    message = f"wechat-oauth:{order.token}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def _context(request: Request, method: str, *, openid: str = "") -> PaymentContext:
    device = device_of(request.headers.get("user-agent"))
    return PaymentContext(
        device=device, channel=channel_for(method, device), client_ip=client_ip(request), openid=openid
    )


# --- the payment page -----------------------------------------------------------------------------------------


async def pay_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    if order.status is not OrderStatus.PENDING:
        return RedirectResponse(_order_url(order), status_code=303)
    device = device_of(request.headers.get("user-agent"))
    open_now = _checkout_open(order)
    methods = offered_methods(settings, device, int(order.amount_fen)) if open_now else []
    details = order.details
    wechat_trade = open_now and order.provider == WECHAT_PAY and bool(order.provider_ref)
    showing_qr = bool(wechat_trade and details.get("channel") == "native" and details.get("qr"))
    jsapi = details.get("jsapi") if wechat_trade and details.get("channel") == "jsapi" else None
    if showing_qr or jsapi:  # WeChat Pay is on the page already: the list offers the other methods
        methods = [m for m in methods if m != WECHAT_PAY]
    label = purposes.of(order).label(order)
    return render(
        request,
        "shop/pay.html",
        {
            "active": "",
            "order": order,
            "purpose_label": label,
            "methods": methods,
            "labels": METHOD_LABELS,
            "device": device,
            "in_wechat": device == WECHAT,
            "open_now": open_now,
            "showing_qr": bool(showing_qr),
            "jsapi": jsapi or None,
            "current": details.get("payment_method") if order.provider_ref else None,
            "error": error,
            "card_minimum_fen": settings.min_order_fen,
            "card_too_small": CARD in enabled_methods(settings)
            and CARD not in methods
            and int(order.amount_fen) < settings.min_order_fen,
        },
        status_code=status_code,
    )


async def pay(request: Request) -> Response:
    """``GET``: the methods that fit the device; ``POST method=…``: open that method's trade and go on."""
    if request.method == "GET":
        return await pay_page(request)
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    async with request.form(**FORM_LIMITS) as form:
        method = str(form.get("method", ""))
    if order.status is not OrderStatus.PENDING:
        return RedirectResponse(_order_url(order), status_code=303)
    device = device_of(request.headers.get("user-agent"))
    if not _checkout_open(order):
        return await pay_page(request, error=_("订单保留时间已过，请重新下单"), status_code=409)
    if method not in METHODS or method not in offered_methods(settings, device, int(order.amount_fen)):
        return await pay_page(request, error=_("该支付方式不可用，请选择其他方式"), status_code=400)
    if method == WECHAT_PAY and device == WECHAT:
        return RedirectResponse(f"/pay/{order.token}/wechat", status_code=303)  # the openid first
    try:
        start = await open_trade(settings, order, method, _context(request, method))
    except AlreadyPaid:
        return RedirectResponse(_order_url(order), status_code=303)
    except PaymentError:
        log.exception("opening a %s trade for order %s failed", method, order.id)
        return await pay_page(request, error=_("支付服务暂时不可用，请稍后再试或换一种支付方式"), status_code=502)
    if start.qr or start.jsapi:  # shown on our own page
        return RedirectResponse(f"/pay/{order.token}", status_code=303)
    return RedirectResponse(start.url, status_code=303)


async def wechat_start(request: Request) -> Response:
    """Inside WeChat: the payer's openid (official-account OAuth, ``snsapi_base``: no prompt), then the JSAPI
    trade. An openid already known for this order is used again."""
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    if order.status is not OrderStatus.PENDING:
        return RedirectResponse(_order_url(order), status_code=303)
    device = device_of(request.headers.get("user-agent"))
    if device != WECHAT or WECHAT_PAY not in offered_methods(settings, device, int(order.amount_fen)):
        raise OrderNotFound()
    if order.details.get("openid"):
        return await _open_jsapi(request, order, str(order.details["openid"]))
    provider = get_provider(settings, WECHAT_PAY)
    try:
        assert isinstance(provider, WechatPayProvider)
        url = provider.oauth_url(
            f"{settings.base_url}/pay/{order.token}/wechat/callback", _oauth_state(settings, order)
        )
    finally:
        await provider.aclose()
    return RedirectResponse(url, status_code=303)


async def wechat_callback(request: Request) -> Response:
    settings = _settings(request)
    order = await order_by_token(request.path_params["token"])
    if order.status is not OrderStatus.PENDING:
        return RedirectResponse(_order_url(order), status_code=303)
    state = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    if not code or not hmac.compare_digest(state.encode(), _oauth_state(settings, order).encode()):
        return await pay_page(request, error=_("微信授权失败，请重试"), status_code=400)
    provider = get_provider(settings, WECHAT_PAY)
    try:
        assert isinstance(provider, WechatPayProvider)
        openid = await provider.openid_for_code(code[:128])
    except PaymentError:
        log.exception("WeChat OAuth for order %s failed", order.id)
        return await pay_page(request, error=_("微信授权失败，请重试"), status_code=502)
    finally:
        await provider.aclose()
    return await _open_jsapi(request, order, openid)


async def _open_jsapi(request: Request, order: Order, openid: str) -> Response:
    settings = _settings(request)
    if not _checkout_open(order):
        return await pay_page(request, error=_("订单保留时间已过，请重新下单"), status_code=409)
    try:
        context = PaymentContext(device=WECHAT, channel="jsapi", client_ip=client_ip(request), openid=openid)
        await open_trade(settings, order, WECHAT_PAY, context)
    except AlreadyPaid:
        return RedirectResponse(_order_url(order), status_code=303)
    except PaymentError:
        log.exception("opening a JSAPI trade for order %s failed", order.id)
        return await pay_page(request, error=_("支付服务暂时不可用，请稍后再试或换一种支付方式"), status_code=502)
    return RedirectResponse(f"/pay/{order.token}", status_code=303)


async def _ask_provider(settings: Settings, order: Order) -> None:
    """Query the order's trade and settle what the provider says (never the payer's word)."""
    if order.status is not OrderStatus.PENDING or not order.provider or not order.provider_ref:
        return
    provider = provider_for_order(settings, order)
    try:
        await settle_with_provider(order, provider)
    except PaymentError:  # the notification or reconcile will settle it; the page still shows the state
        log.exception("querying the trade of order %s failed", order.id)
    finally:
        await provider.aclose()
    await order.refresh_from_db()


async def pay_return(request: Request) -> Response:
    """Back from Alipay's cashier, WeChat Pay's H5 page or the JSAPI sheet: ask the provider, then show the order."""
    order = await order_by_token(request.path_params["token"])
    await _ask_provider(_settings(request), order)
    return RedirectResponse(_order_url(order), status_code=303)


async def pay_status(request: Request) -> Response:
    """What the payment page polls while a QR code is shown: done once the order is no longer pending."""
    order = await order_by_token(request.path_params["token"])
    queries = ratelimit.shared(request.app).window("provider-query", 1, QUERY_EVERY_SECONDS)
    if order.status is OrderStatus.PENDING and await queries.take(str(order.id)):
        await _ask_provider(_settings(request), order)
    done = order.status is not OrderStatus.PENDING
    return JSONResponse({"status": str(order.status), "done": done, "next": _order_url(order)})


async def pay_qr(request: Request) -> Response:
    """The WeChat Pay Native ``code_url`` of the order's current trade, as an SVG QR code."""
    order = await order_by_token(request.path_params["token"])
    code_url = order.details.get("qr")
    if order.status is not OrderStatus.PENDING or order.provider != WECHAT_PAY or not code_url:
        raise HTTPException(404)
    return Response(qr_svg(str(code_url)), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --- notifications --------------------------------------------------------------------------------------------


async def alipay_webhook(request: Request) -> Response:
    """Alipay's asynchronous notification: verified with Alipay's public key, for our app and seller, recorded,
    then answered with the literal ``success`` (anything else makes Alipay deliver it again, for about a day)."""
    settings = _settings(request)
    if ALIPAY not in settings.payment_providers():
        return PlainTextResponse("fail", status_code=404)
    body = await request.body()  # bounded before it is read (linpiao.bodylimit)
    provider = get_provider(settings, ALIPAY)
    try:
        event = await provider.parse_notification(body, request.headers)
        outcome = await settle_notification(provider, event, keep_strangers=True) if event else "ignored"
    except InvalidNotification as exc:
        log.warning("Alipay notification refused: %s", exc)
        return PlainTextResponse("fail", status_code=exc.status)
    finally:
        await provider.aclose()
    log.info("Alipay notification for %s: %s", event.trade_no if event else "-", outcome)
    return PlainTextResponse("success")


async def wechatpay_webhook(request: Request) -> Response:
    """WeChat Pay's notification: signature (public key) and age checked, resource decrypted (APIv3 key), for our
    merchant and app, recorded, then answered 204 (anything else makes WeChat Pay deliver it again)."""
    settings = _settings(request)
    if WECHAT_PAY not in settings.payment_providers():
        return JSONResponse({"code": "FAIL", "message": "not configured"}, status_code=404)
    body = await request.body()
    provider = get_provider(settings, WECHAT_PAY)
    try:
        event = await provider.parse_notification(body, request.headers)
        if event is not None:
            await settle_notification(provider, event, keep_strangers=True)
    except InvalidNotification as exc:
        log.warning("WeChat Pay notification refused: %s", exc)
        return JSONResponse({"code": "FAIL", "message": str(exc)[:100]}, status_code=exc.status)
    finally:
        await provider.aclose()
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/pay/{token}", pay, methods=["GET", "POST"], name="pay"),
    Route("/pay/{token}/return", pay_return, name="pay_return"),
    Route("/pay/{token}/status", pay_status, name="pay_status"),
    Route("/pay/{token}/qr.svg", pay_qr, name="pay_qr"),
    Route("/pay/{token}/wechat", wechat_start, name="pay_wechat"),
    Route("/pay/{token}/wechat/callback", wechat_callback, name="pay_wechat_callback"),
    Route("/webhooks/alipay", alipay_webhook, methods=["POST"], name="alipay_webhook"),
    Route("/webhooks/wechatpay", wechatpay_webhook, methods=["POST"], name="wechatpay_webhook"),
]
