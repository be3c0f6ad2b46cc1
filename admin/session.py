"""Back-office sessions in signed cookies, CSRF tokens, and the guard every back-office page goes through.

The session cookie carries the staff id, a CSRF token, a stamp of the password hash (a password change ends
every other session) and the time of the last request (idle timeout); it is signed with the settings' secret,
HttpOnly, SameSite=Lax, and Secure when the site is served over https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.permissions import Perm, staff_allowed
from linpiao import inputs, proxy
from linpiao.i18n import gettext as _
from linpiao.settings import Settings
from registry.applications import NotPermitted
from registry.audit import Actor
from registry.models import StaffUser

SESSION_COOKIE = "linpiao_admin"
LOGIN_COOKIE = "linpiao_admin_login"
COOKIE_PATH = "/admin"
IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
MAX_FILES = 4
MAX_FIELDS = 200


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def password_stamp(staff: StaffUser) -> str:
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


def _set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax", secure=settings.https
    )


def start_session(response: Response, settings: Settings, staff: StaffUser) -> None:
    payload = {"u": staff.id, "c": secrets.token_urlsafe(24), "p": password_stamp(staff), "t": int(time.time())}
    write_session(response, settings, payload)


def write_session(response: Response, settings: Settings, payload: dict[str, Any]) -> None:
    value = _serializer(settings, "admin-session").dumps(payload)
    _set_cookie(response, settings, SESSION_COOKIE, value, MAX_AGE_SECONDS)


def end_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=settings.https)


async def load_session(request: Request) -> tuple[StaffUser | None, dict[str, Any]]:
    """The signed-in staff member, or None when there is no valid, fresh session."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None, {}
    try:
        payload = _serializer(settings_of(request), "admin-session").loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None, {}
    if not isinstance(payload, dict) or time.time() - int(payload.get("t", 0)) > IDLE_SECONDS:
        return None, {}
    staff = await StaffUser.get_or_none(id=payload.get("u"))
    if staff is None or not staff.is_active or payload.get("p") != password_stamp(staff):
        return None, {}
    return staff, payload


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
    session: dict[str, Any]
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return Actor(self.staff, proxy.client_ip(self.request))

    @property
    def settings(self) -> Settings:
        return settings_of(self.request)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default) if self.form is not None else default
        return inputs.clean(value) if isinstance(value, str) else default

    def may(self, perm: Perm) -> bool:
        return staff_allowed(self.staff, perm)


Handler = Callable[[AdminContext], Awaitable[Response]]


def guard(perm: Perm | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: require a fresh session and ``perm``; for POST, bound the form and check the CSRF
    token before the handler runs. The session's idle clock restarts with every request."""

    async def endpoint(request: Request) -> Response:
        staff, session = await load_session(request)
        if staff is None:
            if request.method == "GET":
                target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                return RedirectResponse(f"/admin/login?next={target}", status_code=303)
            raise HTTPException(401, _("请先登录"))
        if perm is not None and not staff_allowed(staff, perm):
            raise HTTPException(403)
        try:
            if request.method == "POST":
                async with request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS) as form:
                    token = form.get("csrf")
                    if not isinstance(token, str) or not hmac.compare_digest(token, str(session.get("c", ""))):
                        raise HTTPException(403, "表单已过期，请刷新页面后重试")
                    response = await handler(AdminContext(request, staff, session, form))
            else:
                response = await handler(AdminContext(request, staff, session))
        except NotPermitted:
            raise HTTPException(403) from None
        if not any(v.startswith(f"{SESSION_COOKIE}=") for v in response.headers.getlist("set-cookie")):
            write_session(response, settings_of(request), {**session, "t": int(time.time())})
        return response

    return endpoint
