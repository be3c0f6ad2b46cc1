"""Back-office sessions, CSRF tokens, and the guard every back-office page goes through.

A session is a server-side record (:mod:`registry.sessions`); the cookie carries only its opaque 256-bit id, set
once at sign-in (HttpOnly, SameSite=Lax, Secure when the site is served over https, Max-Age = the absolute limit)
and never rewritten, so no user data is in it and nothing a request does can extend the absolute limit. The id is
not signed: it is unguessable by itself, a forged or random one finds no row, and what decides whether it still
works is the row (revoked, idle, expired), which a signature could not express. Each session's CSRF token is an
HMAC of its id under the settings' secret: it dies with the session, differs between sessions, and cannot be
computed from a database dump (which holds only the id's hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.i18n import gettext as _
from admin.permissions import Perm, staff_allowed
from kernel import proxy
from kernel.settings import Settings
from linpiao import inputs
from linpiao.errors import status_of
from registry import sessions
from registry.applications import NotPermitted
from registry.audit import Actor
from registry.models import StaffUser
from registry.sessions import StaffSession

SESSION_COOKIE = "linpiao_admin"
LOGIN_COOKIE = "linpiao_admin_login"
COOKIE_PATH = "/admin"
MAX_FILES = 4
MAX_FIELDS = 200


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def session_limits(settings: Settings) -> sessions.Limits:
    return sessions.Limits(
        idle=timedelta(minutes=settings.admin_idle_minutes), lifetime=timedelta(hours=settings.admin_session_hours)
    )


def _set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax", secure=settings.https
    )


def csrf_token(settings: Settings, token: str) -> str:
    """The CSRF token of the session whose cookie holds ``token``."""
    digest = hmac.new(settings.secret_key.encode(), b"linpiao-admin-csrf\x00" + token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


async def start_session(response: Response, request: Request, staff: StaffUser) -> StaffSession:
    """Open a session for ``staff`` (recording the address and browser) and hand its id to the browser."""
    settings = settings_of(request)
    limits = session_limits(settings)
    token, session = await sessions.open_session(
        staff,
        limits,
        ip=proxy.client_ip(request),
        user_agent=inputs.clean(request.headers.get("user-agent", "")),
    )
    _set_cookie(response, settings, SESSION_COOKIE, token, int(limits.lifetime.total_seconds()))
    return session


def end_session(response: Response, settings: Settings) -> None:
    """Drop the cookie (the record is revoked by the caller: the cookie alone proves nothing)."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=settings.https)


async def load_session(request: Request) -> tuple[StaffUser | None, StaffSession | None]:
    """The signed-in staff member and their session, or (None, None) when the cookie names no live session."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await sessions.session_for(token, session_limits(settings_of(request))) if token else None
    if session is None:
        return None, None
    return session.staff, session


def login_csrf(request: Request) -> tuple[str, str]:
    """A CSRF token for the login form (double-submit: the token signed in a cookie and echoed in the form)."""
    token = secrets.token_urlsafe(24)
    return token, _serializer(settings_of(request), "admin-login").dumps(token)


def set_login_cookie(response: Response, request: Request, signed: str) -> None:
    _set_cookie(response, settings_of(request), LOGIN_COOKIE, signed, 3600)


def check_login_csrf(request: Request, submitted: str) -> bool:
    raw = request.cookies.get(LOGIN_COOKIE, "")
    try:
        expected = _serializer(settings_of(request), "admin-login").loads(raw, max_age=3600)
    except BadSignature:
        return False
    return isinstance(expected, str) and hmac.compare_digest(expected, submitted or "")


@dataclass
class AdminContext:
    """What a back-office handler gets: the request, who is signed in, the submitted form (for POST)."""

    request: Request
    staff: StaffUser
    session: StaffSession
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return Actor(self.staff, proxy.client_ip(self.request))

    @property
    def settings(self) -> Settings:
        return settings_of(self.request)

    @property
    def csrf(self) -> str:
        """The CSRF token of this session, for the forms of the page."""
        return csrf_token(self.settings, self.request.cookies.get(SESSION_COOKIE, ""))

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default) if self.form is not None else default
        return inputs.clean(value) if isinstance(value, str) else default

    def may(self, perm: Perm) -> bool:
        return staff_allowed(self.staff, perm)


Handler = Callable[[AdminContext], Awaitable[Response]]


def guard(perm: Perm | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: require a live session and ``perm``; for POST, bound the form and check the session's
    CSRF token before the handler runs. The session's idle clock restarts with every request (the row's
    ``last_seen_at``, at most once a minute); the cookie is never rewritten."""

    async def endpoint(request: Request) -> Response:
        staff, session = await load_session(request)
        if staff is None or session is None:
            if request.method == "GET":
                target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                return RedirectResponse(f"/admin/login?next={target}", status_code=303)
            raise HTTPException(401, _("请先登录"))
        if perm is not None and not staff_allowed(staff, perm):
            raise HTTPException(403)
        try:
            if request.method == "POST":
                async with request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS) as form:
                    context = AdminContext(request, staff, session, form)
                    token = form.get("csrf")
                    if not isinstance(token, str) or not hmac.compare_digest(token, context.csrf):
                        raise HTTPException(403, "表单已过期，请刷新页面后重试")
                    response = await handler(context)
            else:
                response = await handler(AdminContext(request, staff, session))
        except NotPermitted as exc:  # registry.access refused the record: 403 with the reason
            raise HTTPException(status_of(exc), _(exc.message)) from None
        return response

    return endpoint
