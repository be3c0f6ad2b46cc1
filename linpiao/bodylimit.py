"""Request-body limits, per route, enforced before anything reads the body.

A pure ASGI middleware: a declared ``Content-Length`` over the route's limit is refused at once (the
application never runs); a body without one (chunked) is counted as its chunks arrive, and the request is
refused as soon as the count passes the limit — the rest is never read. The refusal is 413, as JSON
(``{"error": {"code": "body_too_large", ...}}``) under ``/api/`` and ``/webhooks/``, as a page otherwise.

This is the one place body sizes are bounded; handlers still check what is inside (a document's own size,
a roster's rows).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.i18n import gettext as _

log = logging.getLogger("linpiao.bodylimit")

KIB = 1024
MIB = 1024 * KIB
# Documents are at most 10 MB (registry.parcels.MAX_DOCUMENT_BYTES), rosters 20 MB (planting.shop.roster.MAX_BYTES);
# the margins are for the form fields and multipart framing around the file.
DOCUMENT_UPLOAD = 12 * MIB
ROSTER_UPLOAD = 21 * MIB
COUNTY_IMPORT = 11 * MIB  # a county's holders and parcels file (registry.county_import.MAX_BYTES = 10 MB)
ADMIN_FORM = 2 * MIB  # a parcel's GeoJSON outline (up to 5,000 points) is the largest back-office form
SMALL = 64 * KIB  # JSON API, webhooks and every public form


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    limit: int


RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^/admin/parcels/[^/]+/documents/?$"), DOCUMENT_UPLOAD),
    Rule(re.compile(r"^/admin/import/?$"), COUNTY_IMPORT),
    Rule(re.compile(r"^/planting/org/?$"), ROSTER_UPLOAD),
    Rule(re.compile(r"^/planting/org/[^/]+/upload/?$"), ROSTER_UPLOAD),
    Rule(re.compile(r"^/api/"), SMALL),
    Rule(re.compile(r"^/webhooks/"), SMALL),
    Rule(re.compile(r"^/admin(/|$)"), ADMIN_FORM),
)


def limit_for(path: str, rules: tuple[Rule, ...] = RULES, default: int = SMALL) -> int:
    return next((rule.limit for rule in rules if rule.pattern.match(path)), default)


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the limit (the 413 has already been sent)."""


def _wants_json(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/webhooks/")


def refusal(scope: Scope, limit: int) -> Response:
    message = _("请求内容超过了允许的大小")
    if _wants_json(scope.get("path", "")):
        response: Response = JSONResponse(
            {"error": {"code": "body_too_large", "message": message, "limit_bytes": limit}}, status_code=413
        )
    else:
        from linpiao.errors import error_response  # templates load lazily; keep the import cycle-free

        response = error_response(Request(scope), 413, "body_too_large", message)
    response.headers["Connection"] = "close"  # the rest of the body is never read: do not reuse the connection
    return response


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimitMiddleware:
    """Pure ASGI: refuse bodies over the route's limit, counting bytes as they arrive."""

    def __init__(self, app: ASGIApp, rules: tuple[Rule, ...] = RULES, default: int = SMALL) -> None:
        self.app, self.rules, self.default = app, rules, default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""), self.rules, self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refusal(scope, limit)(scope, receive, send)
            return

        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await refusal(scope, limit)(scope, receive, send)
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; whatever the application answers after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            log.info("refused a body over %d bytes on %s", limit, scope.get("path", ""))
