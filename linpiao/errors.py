"""Refusals of the register, mapped once to a 4xx page (HTML) or a JSON error (``/api/``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linpiao.i18n import gettext as _
from linpiao.templating import render
from registry.errors import InsufficientUnits, NotFound, RegisterError

STATUS = {NotFound: 404, InsufficientUnits: 409}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/webhooks/")


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    return render(request, "error.html", {"status": status, "code": code, "message": message}, status_code=status)


async def register_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegisterError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return error_response(request, status, exc.code, _(exc.message))


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
