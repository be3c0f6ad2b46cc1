"""Refusals of the register, mapped once to a 4xx page (HTML) or a JSON error (``/api/``): :func:`status_of`
reads the status each refusal's class states (``http_status``, :mod:`registry.errors`)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kernel.i18n import domain_of
from kernel.i18n import gettext as _
from kernel.templating import render
from registry.apikeys import InvalidApiKey
from registry.errors import RegisterError
from shop.errors import OrderLimitError


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/webhooks/")


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    return render(request, "error.html", {"status": status, "code": code, "message": message}, status_code=status)


def status_of(exc: RegisterError) -> int:
    """The one answer to "which HTTP status for this refusal?": the ``http_status`` its class states (400 unless
    a class says otherwise: 404 not found, 403 not permitted, 409 conflict, 429 limited, 502 a provider failed).
    Every page, form and API handler asks this, so the back-office and the shop answer a refusal alike."""
    return exc.http_status


def refusal_text(exc: RegisterError) -> str:
    """The translated reason, in the domain of the package that raises it (the register's refusals in the register's
    catalog, the shop's limits in the shop's); a refusal that states numbers (the shop's limits) gets them filled in."""
    params = exc.params if isinstance(exc, OrderLimitError) else {}
    return domain_of(type(exc).__module__).gettext(exc.message, **params)


def refusal_headers(exc: RegisterError) -> dict[str, str]:
    """``Retry-After`` when the refusal ends by itself (a client's unpaid reservations running out);
    ``WWW-Authenticate`` for a refused API key."""
    if isinstance(exc, OrderLimitError) and exc.retry_after is not None:
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, InvalidApiKey):
        return {"WWW-Authenticate": 'Bearer realm="linpiao", error="invalid_token"'}
    return {}


async def register_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegisterError)
    response = error_response(request, status_of(exc), exc.code, refusal_text(exc))
    response.headers.update(refusal_headers(exc))
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: _("页面不存在"), 403: _("没有权限"), 405: _("不支持的请求方法"), 400: _("请求无效")}
    default_detail = HTTPStatus(exc.status_code).phrase
    if exc.detail and exc.detail != default_detail:
        message = exc.detail  # a reason given by the handler (already translated there)
    else:
        message = messages.get(exc.status_code, default_detail)
    response = error_response(request, exc.status_code, f"http_{exc.status_code}", str(message))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def exception_handlers() -> dict[Any, Any]:
    return {RegisterError: register_error, HTTPException: http_error}
