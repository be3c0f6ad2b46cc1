"""Pickers (选择器): a form names a holder, a batch or a parcel by searching for it, never by its internal number.

A picker is a search box and a group of radio buttons named after the form's field (``seller_id``…), so the form
submits the chosen record's id as before. With JavaScript, htmx (static/vendor/htmx) POSTs
``/admin/pick/<kind>?field=<field>`` as the clerk types, the typed text in the body (it may be a whole ID number,
which must not land in a server's or proxy's log), and swaps in the radio buttons; without it, the picker's
"查找" button submits the form with ``_pick``, and the view shows the form again with every picker's results
(:func:`wants_search`) instead of acting on it. Either way the results are only the records
:mod:`registry.access` lets the signed-in account read; a holder of another district is offered only when its
full identifier was typed, as the holders list does (the other party of a trade).

Search terms: a name or part of it, the last four or more characters of an identifier (or the whole one), a
district's name, a batch's serial prefix, a parcel's township, village or forest-right certificate number.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from tortoise.expressions import Q

from admin.session import AdminContext
from admin.web import page
from linpiao import inputs
from registry import access
from registry import holders as holder_service
from registry.access import Action
from registry.districts import DISTRICTS
from registry.models import Batch, Holder, HolderKind, Parcel

LIMIT = 10  # results per search: a clerk narrows the terms rather than scrolls
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ID_TAIL_RE = re.compile(r"^[0-9A-Za-z]{4,18}$")

# the action a batch picker offers batches for (?action=): what the form will do with the batch
BATCH_ACTIONS: dict[str, Action] = {
    "read": Action.REGISTER_READ,
    "transfer": Action.TRANSFER_RECORD,
    "subscription": Action.SUBSCRIPTION_RECORD,
    "dividend": Action.DIVIDEND_RECORD,
    "offset": Action.OFFSET_COMPLETE,
    "case": Action.CASE_MANAGE,
}


@dataclass
class Choice:
    id: int
    record: Any
    elsewhere: bool = False  # a holder of another district, found by its full identifier


@dataclass
class Picker:
    """One picker of a form: its field, what it picks, the typed search, the chosen id and the radio buttons."""

    field: str
    kind: str  # holders, batches, parcels
    q: str = ""
    chosen: str = ""
    action: str = "read"
    choices: list[Choice] = dataclasses.field(default_factory=list)
    searched: bool = False


def _districts_named(text: str) -> list[str]:
    return [code for code, name in DISTRICTS.items() if text in name] if text else []


def _text(value: str) -> str:
    return inputs.clean(value).strip()[:100]


async def holder_choices(ctx: AdminContext, q: str, chosen: str = "") -> list[Choice]:
    readable = access.scope_holders(ctx.actor, Holder.all())
    found: list[Choice] = []
    ident = inputs.record_id(chosen) if chosen else None
    if ident is not None:
        found += [Choice(h.id, h) for h in await readable.filter(id=ident)]
    text = _text(q)
    if text:
        condition = Q(name__icontains=text)
        if (by_identifier := holder_service.identifier_condition(text)) is not None:
            condition |= by_identifier
        if ID_TAIL_RE.match(text):
            # the last digits of an ID: a body's code is on file whole; of a person's only the last four are
            # (registry.idcrypt), so a person is found by exactly four
            condition |= Q(id_number__endswith=text.upper())
            if len(text) == 4:
                condition |= Q(kind=HolderKind.INDIVIDUAL, id_last4=text.upper())
        if districts := _districts_named(text):
            condition |= Q(residence_district__in=districts)
        query = readable.filter(condition).exclude(holder_service.shop_buyer_condition())
        found += [Choice(h.id, h) for h in await query.order_by("name", "id").limit(LIMIT)]
        if len(text) <= 32:  # the other party of a trade, named by the document the clerk holds
            other = await holder_service.holder_by_identifier(text)
            if other is not None and not access.may(ctx.actor, Action.HOLDER_READ, await access.holder_target(other)):
                found.append(Choice(other.id, other, elsewhere=True))
    return _unique(found)


async def batch_choices(ctx: AdminContext, q: str, chosen: str = "", action: str = "read") -> list[Choice]:
    scoped = access.scope_batches(ctx.actor, BATCH_ACTIONS.get(action, Action.REGISTER_READ), Batch.all())
    found: list[Choice] = []
    ident = inputs.record_id(chosen) if chosen else None
    if ident is not None:
        found += [Choice(b.id, b) for b in await scoped.filter(id=ident)]
    text = _text(q)
    if text:
        condition = Q(serial_prefix__icontains=text) | Q(issuing_authority__icontains=text)
        if districts := _districts_named(text):
            condition |= Q(district_code__in=districts)
        found += [Choice(b.id, b) for b in await scoped.filter(condition).order_by("-id").limit(LIMIT)]
    elif not found:  # nothing typed or chosen yet: the newest batches the account may use, to start from
        found += [Choice(b.id, b) for b in await scoped.order_by("-id").limit(LIMIT)]
    return _unique(found)


async def parcel_choices(ctx: AdminContext, q: str, chosen: str = "") -> list[Choice]:
    readable = access.scope(ctx.actor, Action.PARCEL_READ, Parcel.all(), kind=None)
    found: list[Choice] = []
    ident = inputs.record_id(chosen) if chosen else None
    if ident is not None:
        found += [Choice(p.id, p) for p in await readable.filter(id=ident).prefetch_related("owner")]
    text = _text(q)
    if text:
        condition = (
            Q(township__icontains=text)
            | Q(village__icontains=text)
            | Q(forest_right_cert_no__icontains=text)
            | Q(owner__name__icontains=text)
        )
        if districts := _districts_named(text):
            condition |= Q(district_code__in=districts)
        query = readable.filter(condition).prefetch_related("owner").order_by("-id").limit(LIMIT)
        found += [Choice(p.id, p) for p in await query]
    return _unique(found)


def _unique(choices: list[Choice]) -> list[Choice]:
    seen: set[int] = set()
    result = []
    for choice in choices:
        if choice.id not in seen:
            seen.add(choice.id)
            result.append(choice)
    return result


async def _choices(ctx: AdminContext, picker: Picker) -> list[Choice]:
    if picker.kind == "holders":
        return await holder_choices(ctx, picker.q, picker.chosen)
    if picker.kind == "batches":
        return await batch_choices(ctx, picker.q, picker.chosen, picker.action)
    return await parcel_choices(ctx, picker.q, picker.chosen)


def _submitted(ctx: AdminContext, name: str) -> str:
    if ctx.form is not None:
        return ctx.field(name)
    return inputs.clean(ctx.request.query_params.get(name, ""))


def wants_search(ctx: AdminContext) -> bool:
    """The form came back by a picker's "查找" button (no JavaScript): show it again with the results, do nothing."""
    return bool(_submitted(ctx, "_pick"))


async def pickers(ctx: AdminContext, fields: Mapping[str, str], values: Mapping[str, str]) -> dict[str, Picker]:
    """The pickers of a form, ``fields`` mapping each field to its kind (``"holders"``, ``"batches:transfer"``,
    ``"parcels"``): the chosen record (from ``values``) and, when something was typed, what it finds."""
    result = {}
    for name, spec in fields.items():
        kind, _, action = spec.partition(":")
        picker = Picker(name, kind, _text(_submitted(ctx, f"{name}__q")), values.get(name, ""), action or "read")
        picker.searched = bool(picker.q)
        picker.choices = await _choices(ctx, picker)
        result[name] = picker
    return result


async def pick_holders(ctx: AdminContext) -> Response:
    return await _pick(ctx, "holders")


async def pick_batches(ctx: AdminContext) -> Response:
    return await _pick(ctx, "batches")


async def pick_parcels(ctx: AdminContext) -> Response:
    return await _pick(ctx, "parcels")


async def _pick(ctx: AdminContext, kind: str) -> Response:
    """``POST /admin/pick/<kind>?field=…`` with ``<field>__q`` (and the chosen ``<field>``) in the form: the radio
    buttons of a picker (an HTML fragment). The search text travels in the body, never in the URL, since it may be
    a whole ID number (server and proxy logs keep URLs); ``GET`` with ``?<field>__q=`` still answers (links)."""
    params = ctx.request.query_params
    name = params.get("field", "")
    if not FIELD_RE.match(name):
        raise HTTPException(404)
    action = params.get("action", "read")
    action = action if action in BATCH_ACTIONS else "read"
    typed = _submitted(ctx, f"{name}__q") or _submitted(ctx, "q")
    chosen = ctx.field(name) if ctx.form is not None else params.get(name, "")
    picker = Picker(name, kind, _text(typed), chosen, action)
    picker.searched = bool(picker.q)
    picker.choices = await _choices(ctx, picker)
    return page(ctx, "_pick_options.html", {"picker": picker, "required": params.get("required") == "1"})
