"""Helpers shared by the back-office pages: rendering with the signed-in context, paging, ids from paths."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from admin.i18n import gettext as _
from admin.permissions import Perm
from admin.session import AdminContext
from kernel.money import parse_yuan
from kernel.templating import render
from linpiao import inputs
from registry import access
from registry.applications import NotPermitted
from registry.districts import DISTRICTS, district_name
from registry.errors import RegisterError
from registry.identity import mask

PAGE_SIZE = 25
M = TypeVar("M", bound=Model)


def json_text(value: Any) -> str:
    """Details as readable JSON (Chinese left as it is; the template escapes it)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def page(
    ctx: AdminContext, template: str, data: dict[str, Any] | None = None, status: int = 200, *, folder: str = "admin"
) -> HTMLResponse:
    """A back-office page: ``template`` under ``folder`` (another package's page in the back-office names its own:
    ``planting/admin``), with what every back-office template uses."""
    context = {
        "staff": ctx.staff,
        "csrf": ctx.csrf,
        "may": ctx.may,
        "Perm": Perm,
        "districts": DISTRICTS,
        "district_name": district_name,
        "mask": mask,
        "json_text": json_text,
        **(data or {}),
    }
    return render(ctx.request, f"{folder}/{template}", context, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def path_id(ctx: AdminContext, name: str = "id") -> int:
    """A record id from the path (1 to 2^31 - 1, :func:`linpiao.inputs.record_id`); anything else is a 404."""
    ident = inputs.record_id(ctx.request.path_params.get(name, ""))
    if ident is None:
        raise HTTPException(404)
    return ident


async def get_or_404(model: type[M], ident: int) -> M:
    obj = await model.get_or_none(id=ident)
    if obj is None:
        raise HTTPException(404)
    return obj


def readable_or_404(ctx: AdminContext, action: access.Action, target: access.Target) -> None:
    """A record the signed-in account may not read is, for it, not there: 404 (:mod:`registry.access`)."""
    if not access.may(ctx.actor, action, target):
        raise HTTPException(404)


@dataclass
class Paged:
    items: list[Any]
    page: int
    pages: int
    total: int


@dataclass
class KeysetPaged:
    """One page of a list that grows with sales, found by the last row shown (``?after=<id>``), never by an offset
    or a count: the hundredth page costs what the first does."""

    items: list[Any]
    next_after: int | None  # the ``after`` of the next page; None on the last
    first: bool  # the first page (no ``after``)
    param: str = "after"  # the query parameter of the position: each table of a page with several has its own


async def keyset_paginate(
    ctx: AdminContext, query: QuerySet[Any], order: tuple[str, ...] = ("-id",), param: str = "after"
) -> KeysetPaged:
    """The page after the row ``?after=<id>`` of ``query`` in ``order`` (fields, ``-`` for descending, ending with
    ``id`` or ``-id`` so the order is total). The row's own sort values are read by its id; an unknown or
    malformed ``after`` is the first page. A page with several lists names each one's position ``param``."""
    after = inputs.record_id(ctx.request.query_params.get(param, ""))
    anchor = None
    if after is not None:
        fields = [name.lstrip("-") for name in order]
        anchor = await query.model.filter(id=after).values(*fields)
    if anchor:
        query = query.filter(_after(order, anchor[0]))
    items = list(await query.order_by(*order).limit(PAGE_SIZE + 1))
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    return KeysetPaged(items, int(items[-1].id) if more and items else None, not anchor, param)


def _after(order: tuple[str, ...], values: dict[str, Any]) -> Q:
    """Rows after ``values`` in ``order``: (a > x) or (a = x and b > y) or … (``<`` for descending fields)."""
    equal: dict[str, Any] = {}
    alternatives = []
    for name in order:
        field = name.lstrip("-")
        op = "lt" if name.startswith("-") else "gt"
        alternatives.append(Q(**equal, **{f"{field}__{op}": values[field]}))
        equal[field] = values[field]
    return Q(*alternatives, join_type=Q.OR)


async def paginate(ctx: AdminContext, query: QuerySet[Any]) -> Paged:
    number = inputs.page_number(ctx.request.query_params.get("page"))
    total = await query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(number, 1), pages)
    items = await query.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    return Paged(items, number, pages, total)


# form fields and filters (linpiao.inputs): None for what does not parse, so handlers answer 400 with their own
# message or leave the filter out


def int_field(text: str) -> int | None:
    """A whole number or record id (0 to 2^31 - 1; larger would overflow the database's integer)."""
    return inputs.whole_number(text)


def date_field(text: str) -> date | None:
    """An ISO date from 1900 to 2999 (a filter "to 9999-12-31" would overflow the day after it)."""
    return inputs.day(text)


def fen_field(text: str) -> int | None:
    try:
        return parse_yuan(text) if text.strip() else None
    except ValueError:
        return None


def refusal_message(exc: RegisterError) -> str:
    """The translated reason of a refusal; a permission refusal goes on to the guard, which answers 403."""
    if isinstance(exc, NotPermitted):
        raise exc  # the guard answers 403
    return _(exc.message)
