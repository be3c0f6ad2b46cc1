"""Staff accounts (administrator) and the audit log (administrator, auditor)."""

from __future__ import annotations

from datetime import date

from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.web import get_or_404, keyset_paginate, page, path_id, redirect
from linpiao import inputs
from linpiao.errors import status_of
from registry import audit
from registry import staff as staff_service
from registry.models import StaffRole, StaffUser

# the staff accounts' column sorts: a few dozen accounts, read whole
STAFF_SORTS = Sorting(
    {
        "username": ("username",),
        "name": ("display_name",),
        "role": ("role", "username"),
        "district": ("district_code", "username"),
        "active": ("-is_active", "username"),
    },
    default="username",
)


async def _staff_page(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    sort = STAFF_SORTS.of(ctx.request)
    accounts = await StaffUser.all().order_by(*sort.order)
    data = {"accounts": accounts, "roles": list(StaffRole), "error": error, "sort": sort}
    return page(ctx, "staff.html", data, status)


async def staff_list(ctx: AdminContext) -> Response:
    return await _staff_page(ctx)


async def staff_create(ctx: AdminContext) -> Response:
    try:
        role = StaffRole(ctx.field("role"))
        await staff_service.create_staff(
            username=ctx.field("username"),
            role=role,
            password=ctx.field("password"),
            district_code=ctx.field("district_code") or None,
            display_name=ctx.field("display_name"),
            actor=ctx.actor,
        )
    except ValueError:
        return await _staff_page(ctx, _("用户名、角色或辖区无效"), 400)
    except staff_service.StaffError as exc:
        return await _staff_page(ctx, _(exc.message), status_of(exc))
    return redirect("/admin/staff")


async def staff_toggle(ctx: AdminContext) -> Response:
    account = await get_or_404(StaffUser, path_id(ctx))
    if account.id == ctx.staff.id:
        return await _staff_page(ctx, _("不能停用自己的账号"), 400)
    await staff_service.set_active(account, not account.is_active, actor=ctx.actor)
    return redirect("/admin/staff")


async def staff_password_reset(ctx: AdminContext) -> Response:
    """The administrator sets a new password for another account; every session of that account ends."""
    account = await get_or_404(StaffUser, path_id(ctx))
    try:
        await staff_service.reset_password(account, new=ctx.field("new_password"), actor=ctx.actor)
    except staff_service.StaffError as exc:
        return await _staff_page(ctx, _(exc.message), status_of(exc))
    return redirect("/admin/staff")


# the audit log grows without end: pages by keyset in an order ending with the id. The time (lines are numbered as
# they are written: the id order is the time order) and the user (the (username, id) index) are served by an index;
# the action, the target and the address want (action, id), (target, id) and (ip, id) indexes so that a page costs
# what the first does (asked of the coordinator: no migration here). The details do not sort.
AUDIT_SORTS = Sorting(
    {
        "time": ("id",),
        "username": ("username", "id"),
        "action": ("action", "id"),
        "target": ("target", "id"),
        "address": ("ip", "id"),
    },
    default="-time",
)


def _date(text: str) -> date | None:
    return inputs.day(text)


async def audit_log(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    filters = {
        "username": params.get("username", "").strip()[:64],
        "action": params.get("action", "").strip()[:64],
        "date_from": params.get("date_from", ""),
        "date_to": params.get("date_to", ""),
    }
    query = audit.search(
        username=filters["username"],
        action=filters["action"],
        date_from=_date(filters["date_from"]),
        date_to=_date(filters["date_to"]),
    )
    sort = AUDIT_SORTS.of(ctx.request)
    paged = await keyset_paginate(ctx, query, sort.order)
    # the names by the action index, never a DISTINCT over the whole log (registry.audit.actions)
    data = {"paged": paged, "filters": filters, "actions": await audit.actions(), "sort": sort}
    return page(ctx, "audit.html", data)
