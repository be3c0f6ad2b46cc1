"""JSON API for organisations (``/api/v1``): orders, the quota on sale, and the calculator.

Errors are ``{"error": {"code", "message"}}`` with a 4xx status; the OpenAPI document in
:mod:`shop.openapi` describes exactly what these handlers accept and return."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kernel.proxy import client_ip
from kernel.settings import Settings
from linpiao import inputs
from linpiao.errors import error_response, status_of
from registry import apikeys
from registry.apikeys import InvalidApiKey
from shop.apidocs import docs_page
from shop.calculator import estimate as run_estimate
from shop.checkout import parse_payment_choice, start_checkout
from shop.errors import IdempotencyConflict, InvalidEstimate, PaymentUnavailable
from shop.i18n import gettext as _
from shop.limits import Buyer
from shop.openapi import narrow_payment_methods, openapi_document
from shop.orders import create_order, order_by_id_and_token, parse_order_request
from shop.payments.methods import enabled_methods
from shop.views import order_json, order_view, quota_json, quota_view

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces


def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (:func:`linpiao.inputs.json_object`: too deep or not an object is a 400)."""
    body = await request.body()  # its size is bounded before it is read (linpiao.bodylimit)
    return inputs.json_object(body)


async def _buyer(request: Request) -> Buyer:
    """Who orders: the organisation whose API key is in ``Authorization: Bearer …`` (a wrong, unknown or revoked
    key is a 401, never a fall-back to anonymous), or else the client's address (kernel.proxy: the real one)."""
    header = request.headers.get("authorization")
    if header is None:
        return Buyer.at_address(client_ip(request))
    scheme, _space, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidApiKey()
    return Buyer.with_key(await apikeys.authenticate(token.strip()))


async def create(request: Request) -> Response:
    settings = _settings(request)
    buyer = await _buyer(request)
    data = await _json_object(request)
    order_request = parse_order_request(data, settings, strict=True)
    provider, payment = parse_payment_choice(data, settings)  # the method decides the minimum (shop.payments)
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        return error_response(request, 400, "invalid_idempotency_key", _("幂等键须为1至128个可见字符"))
    try:
        order, created = await create_order(
            settings,
            order_request,
            provider=provider,
            idempotency_key=key,  # the key is the sender's own: its address, or its organisation (buyer.client)
            buyer=buyer,
        )
    except IdempotencyConflict as exc:  # the key names another order: a conflict, as the document says
        return error_response(request, status_of(exc), exc.code, _(exc.message))
    try:
        await start_checkout(settings, order, payment)
    except PaymentUnavailable as exc:
        return error_response(request, status_of(exc), exc.code, _(exc.message))
    # start_checkout wrote the trade onto this very instance (read under the lock): nothing to read again
    return JSONResponse(order_json(await order_view(order), settings), status_code=201 if created else 200)


async def show(request: Request) -> Response:
    order = await order_by_id_and_token(request.path_params["order_id"], request.query_params.get("token"))
    return JSONResponse(order_json(await order_view(order), _settings(request)))


async def quota(request: Request) -> Response:
    return JSONResponse(quota_json(await quota_view(_settings(request))))


async def estimate(request: Request) -> Response:
    data = await _json_object(request)
    view = await quota_view(_settings(request))
    try:
        result = run_estimate(data, kg_per_ticket=Decimal(view.kg_per_ticket or 10))
    except InvalidEstimate as exc:
        where = f" ({exc.detail})" if exc.detail else ""
        return error_response(request, status_of(exc), exc.code, _(exc.message) + where)
    return JSONResponse(result.as_json())


async def openapi(request: Request) -> Response:
    view = await quota_view(_settings(request))  # the real order limits, as GET /quota tells them
    document = openapi_document(
        _settings(request).base_url,
        min_quantity=view.min_quantity,
        max_quantity=view.max_quantity,
        limits=view.limits,
    )
    narrow_payment_methods(document, enabled_methods(_settings(request)), view.card_min_quantity)
    return JSONResponse(document)


# Full paths rather than a Mount, so other packages' /api/v1/... routes are never shadowed by this one.
routes: list[BaseRoute] = [
    Route("/api/v1/orders", create, methods=["POST"], name="api_create_order"),
    Route("/api/v1/orders/{order_id:id}", show, name="api_order"),
    Route("/api/v1/quota", quota, name="api_quota"),
    Route("/api/v1/estimate", estimate, methods=["POST"], name="api_estimate"),
    Route("/api/v1/openapi.json", openapi, name="api_openapi"),
    Route("/api/v1/docs", docs_page, name="api_docs"),
]
