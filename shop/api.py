"""JSON API for organisations (``/api/v1``): orders, the quota on sale, and the calculator.

Errors are ``{"error": {"code", "message"}}`` with a 4xx status; the OpenAPI document in
:mod:`shop.openapi` describes exactly what these handlers accept and return."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from linpiao.errors import error_response
from linpiao.i18n import gettext as _
from linpiao.settings import Settings
from shop.calculator import estimate as run_estimate
from shop.checkout import start_checkout
from shop.errors import PaymentUnavailable
from shop.openapi import openapi_document
from shop.orders import create_order, order_by_id_and_token, parse_order_request
from shop.payments import provider_name
from shop.views import order_json, order_view, quota_json, quota_view

MAX_BODY = 64 * 1024


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


class BadBody(Exception):
    pass


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadBody("too_large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody("invalid_json") from exc
    if not isinstance(data, dict):
        raise BadBody("invalid_json")
    return data


def _bad_body(request: Request, exc: BadBody) -> Response:
    if str(exc) == "too_large":
        return error_response(request, 413, "too_large", _("请求内容过大"))
    return error_response(request, 400, "invalid_json", _("请求体必须是JSON对象"))


async def create(request: Request) -> Response:
    settings = _settings(request)
    try:
        data = await _json_object(request)
    except BadBody as exc:
        return _bad_body(request, exc)
    order_request = parse_order_request(data, settings)
    key = request.headers.get("idempotency-key")
    order, created = await create_order(settings, order_request, provider=provider_name(settings), idempotency_key=key)
    try:
        await start_checkout(settings, order)
    except PaymentUnavailable as exc:
        return error_response(request, 502, exc.code, _(exc.message))
    await order.refresh_from_db()
    return JSONResponse(order_json(await order_view(order), settings), status_code=201 if created else 200)


async def show(request: Request) -> Response:
    order = await order_by_id_and_token(request.path_params["order_id"], request.query_params.get("token"))
    return JSONResponse(order_json(await order_view(order), _settings(request)))


async def quota(request: Request) -> Response:
    return JSONResponse(quota_json(await quota_view(_settings(request))))


async def estimate(request: Request) -> Response:
    try:
        data = await _json_object(request)
    except BadBody as exc:
        return _bad_body(request, exc)
    view = await quota_view(_settings(request))
    result = run_estimate(data, kg_per_ticket=Decimal(view.kg_per_ticket or 10))
    return JSONResponse(result.as_json())


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(_settings(request).base_url))


# Full paths rather than a Mount, so other packages' /api/v1/... routes are never shadowed by this one.
routes: list[BaseRoute] = [
    Route("/api/v1/orders", create, methods=["POST"], name="api_create_order"),
    Route("/api/v1/orders/{order_id:int}", show, name="api_order"),
    Route("/api/v1/quota", quota, name="api_quota"),
    Route("/api/v1/estimate", estimate, methods=["POST"], name="api_estimate"),
    Route("/api/v1/openapi.json", openapi, name="api_openapi"),
]
