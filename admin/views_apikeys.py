"""Organisation API keys (机构 API 密钥), managed by the administrator: create (the key is shown once, on the page
that answers the form, and stored only as a hash), list and revoke. Rules and storage: :mod:`registry.apikeys`."""

from __future__ import annotations

from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.web import get_or_404, page, path_id, redirect
from linpiao import inputs
from linpiao.errors import status_of
from registry import apikeys

# every column but the actions: a few keys, read whole and sorted in Python (the default: active, then newest)
KEY_SORTS = Sorting(
    {
        "prefix": ("prefix",),
        "organisation": ("organisation",),
        "limit": ("max_pending_units",),
        "created": ("created_at",),
        "used": ("last_used_at",),
        "status": ("-revoked_at",),  # active (no revocation) first, then the latest revoked
    },
    default="status",
)


async def _keys_page(
    ctx: AdminContext, *, error: str = "", status: int = 200, created: tuple[apikeys.ApiKey, str] | None = None
) -> Response:
    sort = KEY_SORTS.of(ctx.request)
    keys = sort.arrange(await apikeys.all_keys())
    data = {"keys": keys, "error": error, "created": created, "form": ctx.form or {}, "sort": sort}
    return page(ctx, "apikeys.html", data, status)


async def key_list(ctx: AdminContext) -> Response:
    return await _keys_page(ctx)


async def key_create(ctx: AdminContext) -> Response:
    text = ctx.field("max_pending_units").strip()
    max_pending = inputs.whole_number(text) if text else None
    if text and not max_pending:
        return await _keys_page(ctx, error=_(apikeys.InvalidApiKeyRequest.message), status=400)
    try:
        created = await apikeys.create_key(
            organisation=ctx.field("organisation"),
            credit_code=ctx.field("credit_code"),
            contact=ctx.field("contact"),
            max_pending_units=max_pending,
            actor=ctx.actor,
        )
    except apikeys.ApiKeyError as exc:
        return await _keys_page(ctx, error=_(exc.message), status=status_of(exc))
    # answered with the page itself, never a redirect: the key exists only in this response (no-store)
    return await _keys_page(ctx, created=created)


async def key_revoke(ctx: AdminContext) -> Response:
    key = await get_or_404(apikeys.ApiKey, path_id(ctx))
    await apikeys.revoke_key(key, actor=ctx.actor)
    return redirect("/admin/apikeys")
