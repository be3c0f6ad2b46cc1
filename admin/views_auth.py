"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin.session import (
    LOGIN_COOKIE,
    AdminContext,
    check_login_csrf,
    end_session,
    load_session,
    login_csrf,
    set_login_cookie,
    settings_of,
    start_session,
)
from admin.web import page, redirect
from linpiao import proxy
from linpiao.i18n import gettext as _
from linpiao.templating import render
from registry import audit
from registry import staff as staff_service


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"


def _login_page(request: Request, error: str = "", status: int = 200, username: str = "") -> Response:
    token, signed = login_csrf(request)
    response = render(
        request,
        "admin/login.html",
        {"csrf": token, "error": error, "username": username, "next": _safe_next(request.query_params.get("next"))},
        status_code=status,
    )
    set_login_cookie(response, request, signed)
    return response


async def login_form(request: Request) -> Response:
    staff, _session = await load_session(request)
    if staff is not None:
        return redirect(_safe_next(request.query_params.get("next")))
    return _login_page(request)


async def login_submit(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        csrf = str(form.get("csrf", ""))
        target = _safe_next(str(form.get("next", "")))
    if not check_login_csrf(request, csrf):
        return _login_page(request, _("表单已过期，请重新登录"), 403, username)
    try:
        staff = await staff_service.authenticate(username, password, ip=proxy.client_ip(request))
    except staff_service.LoginLocked as exc:
        return _login_page(request, _(exc.message), 429, username)
    except staff_service.LoginFailed as exc:
        return _login_page(request, _(exc.message), 400, username)
    response = redirect(target)
    start_session(response, settings_of(request), staff)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


async def logout(ctx: AdminContext) -> Response:
    await audit.record(ctx.actor, "logout", f"staff:{ctx.staff.username}")
    response = redirect("/admin/login")
    end_session(response, ctx.settings)
    return response


async def password_form(ctx: AdminContext) -> Response:
    return page(ctx, "password.html", {"error": "", "done": ctx.request.query_params.get("done") == "1"})


async def password_submit(ctx: AdminContext) -> Response:
    new = ctx.field("new_password")
    if new != ctx.field("repeat_password"):
        return page(ctx, "password.html", {"error": _("两次输入的新密码不一致"), "done": False}, 400)
    try:
        staff = await staff_service.change_password(
            ctx.staff, current=ctx.field("current_password"), new=new, actor=ctx.actor
        )
    except staff_service.StaffError as exc:
        return page(ctx, "password.html", {"error": _(exc.message), "done": False}, 400)
    response = redirect("/admin/password?done=1")
    start_session(response, ctx.settings, staff)  # this session goes on; others end with the old hash
    return response
