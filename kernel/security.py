"""Security headers on every response (a pure ASGI middleware).

* ``Content-Security-Policy``: scripts, styles, images and fonts only from this site — no inline script,
  no inline style, no ``javascript:`` URL (templates keep behaviour in ``static/``); no framing
  (``frame-ancestors 'none'``); forms post only here (and to Stripe's checkout, the Alipay gateway and WeChat
  Pay's H5 page, which a 303 leads to).
* ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` (for browsers without CSP 3).
* ``Referrer-Policy``: ``no-referrer`` on pages whose address is a secret (order, payment, organisation and
  certificate links, the back-office), ``strict-origin-when-cross-origin`` elsewhere.
* ``Strict-Transport-Security`` when the site's base URL is https.
* ``Cache-Control: no-store`` on the back-office and the secret-link pages, so no shared cache or back
  button keeps them.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """The policy; ``form_targets`` are the origins a form may lead to by its redirect besides this site and
    Stripe's checkout (the configured Alipay gateway and WeChat Pay's H5 page: choosing a method on the payment
    page posts here and is answered with a 303 to the provider, which ``form-action`` also governs)."""
    targets = " ".join(["'self'", "https://checkout.stripe.com", *dict.fromkeys(form_targets)])
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action {targets}",
            "frame-ancestors 'none'",
        )
    )


CSP = content_security_policy()
HSTS = "max-age=31536000"
# Pages whose address carries a secret (a token or a certificate code) or that only staff see: no referrer.
SECRET_ADDRESS = re.compile(
    r"^/(admin(/|$)|orders/|pay/|planting/orders/|planting/org/[^/]+|api/v1/orders/|certificates/|verify/)"
)
# The ones no cache may keep: the back-office, order and payment pages, an organisation's management
# link (its roster and certificates), and "my orders" (the links to a device's orders). Certificate PDFs keep their
# own ``private`` caching.
NO_STORE = re.compile(r"^/(admin(/|$)|orders/|pay/|planting/orders/|planting/org/[^/]+|api/v1/orders/|my-orders$)")


def is_private(path: str) -> bool:
    return bool(NO_STORE.match(path))


def attachment(filename: str) -> str:
    """``Content-Disposition`` for a download: the name percent-encoded in ``filename*`` (RFC 6266/5987), and an
    ASCII fallback without quotes, backslashes or control characters — nothing in the name can end the header."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool = False, form_targets: tuple[str, ...] = ()) -> None:
        self.app, self.https = app, https
        self.csp = content_security_policy(form_targets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        secret_address, no_store = bool(SECRET_ADDRESS.match(path)), is_private(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers["Referrer-Policy"] = "no-referrer" if secret_address else "strict-origin-when-cross-origin"
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if no_store and "no-store" not in headers.get("Cache-Control", ""):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
