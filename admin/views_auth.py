"""Signing in and out, changing one's own password, and one's own sessions (登录会话)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AdminContext,
    check_login_csrf,
    end_session,
    load_session,
    login_csrf,
    session_limits,
    set_login_cookie,
    start_session,
)
from admin.web import page, redirect
from kernel import proxy
from kernel.templating import render
from linpiao.errors import status_of
from registry import sessions
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
    except (staff_service.LoginLocked, staff_service.LoginFailed) as exc:  # 429 while locked, else 400
        return _login_page(request, _(exc.message), status_of(exc), username)
    # a session this browser still had (another account, say) ends: one browser, one session
    await sessions.revoke_token(request.cookies.get(SESSION_COOKIE, ""), sessions.RevokeReason.REPLACED)
    response = redirect(target)
    await start_session(response, request, staff)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


async def logout(ctx: AdminContext) -> Response:
    await sessions.sign_out(ctx.session, ctx.actor)
    response = redirect("/admin/login")
    end_session(response, ctx.settings)
    return response


async def _password_page(ctx: AdminContext, error: str = "", status: int = 200, done: bool = False) -> Response:
    live = await sessions.live_sessions(ctx.staff.id, session_limits(ctx.settings))
    data = {
        "error": error,
        "done": done,
        "sessions": live,
        "current_session": ctx.session.id,
        "idle_minutes": ctx.settings.admin_idle_minutes,
        "session_hours": ctx.settings.admin_session_hours,
    }
    return page(ctx, "password.html", data, status)


async def password_form(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    return await _password_page(ctx, done=params.get("done") == "1")


async def password_submit(ctx: AdminContext) -> Response:
    new = ctx.field("new_password")
    if new != ctx.field("repeat_password"):
        return await _password_page(ctx, _("两次输入的新密码不一致"), 400)
    try:
        staff = await staff_service.change_password(
            ctx.staff, current=ctx.field("current_password"), new=new, actor=ctx.actor
        )
    except staff_service.StaffError as exc:
        return await _password_page(ctx, _(exc.message), status_of(exc))
    # every session of the account ended with the change, this one too: this browser goes on in a fresh one
    response = redirect("/admin/password?done=1")
    await start_session(response, ctx.request, staff)
    return response


async def session_revoke(ctx: AdminContext) -> Response:
    """End one of one's own sessions (``session`` = its id as listed), or every other one (``session=others``)."""
    target = ctx.field("session")
    if target == "others":
        await sessions.revoke_others(ctx.staff, ctx.session.id, ctx.actor)
        return redirect("/admin/password")
    if not await sessions.revoke_own(ctx.staff, target, ctx.actor):
        return await _password_page(ctx, _("该登录会话不存在或已结束"), 404)
    if target == ctx.session.id:
        response = redirect("/admin/login")
        end_session(response, ctx.settings)
        return response
    return redirect("/admin/password")
