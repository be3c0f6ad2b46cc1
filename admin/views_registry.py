"""Holders and parcels: the registries the issuance workflows stand on.

Which holders and parcels an account lists, reads and edits is :mod:`registry.access`'s: an issuer (or a
county/district forestry department) those of its own district — a holder is in the districts of its residence
and of the tickets it holds or held — and every record it asks about is checked again by the workflow.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.responses import Response
from tortoise.expressions import Q

from admin import sealed_search
from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.web import get_or_404, keyset_paginate, page, paginate, path_id, readable_or_404, redirect
from kernel.i18n import current_locale
from linpiao.downloads import stored_response
from linpiao.errors import status_of
from registry import access, residence
from registry import holders as holder_service
from registry import parcels as parcel_service
from registry.access import Action
from registry.applications import IssuanceApplication
from registry.errors import HolderKindMismatch, RegisterError
from registry.models import Batch, Holder, HolderKind, Holding, Parcel, RegisterEntry, StaffUser
from registry.storage import storage_of

HOLDER_FIELDS = ("kind", "name", "id_number", "contact")
RESIDENCE_FIELDS = ("residence_district", "residence_evidence")
PARCEL_FIELDS = (
    "district_code",
    "area_mu",
    "township",
    "village",
    "boundary_east",
    "boundary_south",
    "boundary_west",
    "boundary_north",
    "species",
    "forest_right_cert_no",
    "afforested_on",
    "accepted_on",
    "boundary_geojson",
    "owner_id",
)

# --------------------------------------------------------------------------------------------- holders

# the holders list's column sorts (?sort=)
HOLDER_SORTS = Sorting(
    {
        "name": ("name",),
        "kind": ("kind", "name"),
        "residence": ("residence_district", "name"),
        "created": ("created_at",),
    },
    default="name",
)


# the holders list's filters besides the search text: kept in the URL by the search form's POST
HOLDER_FILTERS = ("kind", "district", "residence", "buyers", "sort")


async def holder_list(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    kind_text = params.get("kind", "")
    kind = HolderKind(kind_text) if kind_text in set(HolderKind) else None
    text = params.get("q", "")
    sealed = params.get("s", "")
    expired = False
    if sealed:  # a whole ID number, sealed by holder_search: never in the URL itself
        opened = sealed_search.unseal(ctx.settings.secret_key, sealed[:400])
        text, expired = (opened, False) if opened is not None else ("", True)
    filters = {
        "q": text.strip()[:100],
        "kind": kind_text if kind else "",
        "district": params.get("district", "")[:8],
        "residence": "to_confirm" if params.get("residence") == "to_confirm" else "",
        # the shop's buyers are hidden unless asked for (registry.holders.shop_buyer_condition)
        "buyers": params.get("buyers", "") if params.get("buyers") in ("show", "only") else "",
    }
    sort = HOLDER_SORTS.of(ctx.request)
    query = holder_service.search_holders(
        text=filters["q"],
        kind=kind,
        district=filters["district"],
        to_confirm=bool(filters["residence"]),
        shop_buyers=holder_service.ShopBuyers(filters["buyers"] or "hide"),
    )
    paged = await keyset_paginate(ctx, access.scope_holders(ctx.actor, query), sort.order)
    return page(
        ctx,
        "holders.html",
        {
            "paged": paged,
            "filters": filters,
            "sort": sort,
            "kinds": list(HolderKind),
            "elsewhere": await _found_elsewhere(ctx, filters["q"], paged.items),
            "search_expired": expired,
            **_residence_context(),
        },
    )


async def holder_search(ctx: AdminContext) -> Response:
    """``POST /admin/holders/search``: the list's search form. A name or the last digits go on to the bookmarkable
    ``?q=``; a whole resident ID number goes as a sealed, short-lived token (:mod:`admin.sealed_search`), so it
    never lands in a server's or a proxy's log."""
    params = {name: ctx.field(name)[:40] for name in HOLDER_FILTERS if ctx.field(name)}
    return redirect(_holder_list_url(ctx, ctx.field("q").strip()[:100], params))


def _holder_list_url(ctx: AdminContext, text: str, params: dict[str, str] | None = None) -> str:
    params = dict(params or {})
    if sealed_search.is_full_id(text):
        params["s"] = sealed_search.seal(ctx.settings.secret_key, text)
    elif text:
        params["q"] = text
    return "/admin/holders" + (f"?{urlencode(params)}" if params else "")


async def _found_elsewhere(ctx: AdminContext, text: str, listed: list[Holder]) -> Holder | None:
    """A holder of another district named by its full identifier: the clerk has the document in hand and may name
    the holder as the other party of a trade by its number, but its page stays with its own district."""
    if not text or len(text) > 32:
        return None
    found = await holder_service.holder_by_identifier(text)
    if found is None or found.id in {h.id for h in listed}:
        return None
    if access.may(ctx.actor, Action.HOLDER_READ, await access.holder_target(found)):
        return None  # listed under the other filters' terms, or on another page
    return found


def _residence_context() -> dict[str, object]:
    """What the holder pages need to show and pick a residence (registry.residence owns the rule)."""
    return {
        "residence_districts": residence.district_choices(),
        "person_evidence": [(str(e), residence.EVIDENCE_LABELS[e]) for e in residence.PERSON_EVIDENCE],
        "body_evidence": [(str(e), residence.EVIDENCE_LABELS[e]) for e in residence.BODY_EVIDENCE],
        "evidence_labels": {str(e): label for e, label in residence.EVIDENCE_LABELS.items()},
        "residence_label": residence.residence_label,
        "residence_to_confirm": residence.needs_confirmation,
    }


def _holder_form(
    ctx: AdminContext, values: dict[str, str], holder: Holder | None, error: str = "", status: int = 200
) -> Response:
    data = {"values": values, "holder": holder, "error": error, "kinds": list(HolderKind), **_residence_context()}
    return page(ctx, "holder_form.html", data, status)


def _holder_input(ctx: AdminContext) -> tuple[dict[str, str], holder_service.HolderInput | None]:
    values = {name: ctx.field(name) for name in (*HOLDER_FIELDS, *RESIDENCE_FIELDS, "informed")}
    if values["kind"] not in set(HolderKind):
        return values, None
    return values, holder_service.HolderInput(
        kind=HolderKind(values["kind"]),
        name=values["name"],
        id_number=values["id_number"],
        contact=values["contact"],
        residence_district=values["residence_district"],
        residence_evidence=values["residence_evidence"],
        informed=values["informed"] == "1",
    )


def _holder_refusal(exc: RegisterError) -> str:
    """The translated reason; a kind that contradicts the credit code also says what the code shows."""
    if isinstance(exc, HolderKindMismatch):
        shown = exc.category_zh if current_locale.get().startswith("zh") else exc.category_en
        return _("%(reason)s（代码所示：%(category)s）", reason=_(exc.message), category=shown)
    return _(exc.message)


async def holder_new(ctx: AdminContext) -> Response:
    return _holder_form(ctx, {"kind": HolderKind.INDIVIDUAL}, None)


async def holder_create(ctx: AdminContext) -> Response:
    values, data = _holder_input(ctx)
    if data is None:
        return _holder_form(ctx, values, None, _("持有人信息不完整或无效"), 400)
    try:
        holder = await holder_service.create_holder(data, actor=ctx.actor)
    except access.NotPermitted:
        raise
    except RegisterError as exc:
        return _holder_form(ctx, values, None, _holder_refusal(exc), status_of(exc))
    if not access.may(ctx.actor, Action.HOLDER_READ, await access.holder_target(holder)):
        # registered for another district: found there by the identifier the clerk typed
        return redirect(_holder_list_url(ctx, data.id_number.strip()))
    return redirect(f"/admin/holders/{holder.id}")


async def _holder_to_edit(ctx: AdminContext) -> Holder:
    """The holder in the path: 404 when the account may not read it, 403 with the reason when it may read but
    not edit it (another district's holder of tickets here, the carbon pool)."""
    holder = await get_or_404(Holder, path_id(ctx))
    target = await access.holder_target(holder)
    readable_or_404(ctx, Action.HOLDER_READ, target)
    access.check(ctx.actor, Action.HOLDER_EDIT, target)
    return holder


async def holder_edit(ctx: AdminContext) -> Response:
    holder = await _holder_to_edit(ctx)
    # a person's ID number is never put back in the form (it is stored encrypted): left empty, it stays as on file
    values = {name: str(getattr(holder, name) or "") for name in HOLDER_FIELDS}
    # the residence on file; the evidence is offered again only once a clerk has checked it
    values["residence_district"] = holder.residence_district
    values["residence_evidence"] = str(holder.residence_evidence) if holder.residence_confirmed else ""
    return _holder_form(ctx, values, holder)


async def holder_update(ctx: AdminContext) -> Response:
    holder = await _holder_to_edit(ctx)
    values, data = _holder_input(ctx)
    if data is None:
        return _holder_form(ctx, values, holder, _("持有人信息不完整或无效"), 400)
    try:
        await holder_service.update_holder(holder, data, actor=ctx.actor)
    except access.NotPermitted:
        raise
    except RegisterError as exc:
        return _holder_form(ctx, values, holder, _holder_refusal(exc), status_of(exc))
    return redirect(f"/admin/holders/{holder.id}")


async def holder_detail(ctx: AdminContext) -> Response:
    """The holder's page: holdings by batch and state, and its statement (对账单) from the register — of the
    batches the account may read (an issuer sees what the holder has in its own district)."""
    holder = await get_or_404(Holder, path_id(ctx))
    target = await access.holder_target(holder)
    readable_or_404(ctx, Action.HOLDER_READ, target)
    within = await access.readable_batch_ids(ctx.actor)
    holdings_query = Holding.filter(holder_id=holder.id)
    entries_query = RegisterEntry.filter(Q(from_holder_id=holder.id) | Q(to_holder_id=holder.id))
    if within is not None:
        holdings_query = holdings_query.filter(batch_id__in=sorted(within))
        entries_query = entries_query.filter(batch_id__in=sorted(within))
    holdings = await holdings_query.order_by("batch_id", "state", "first_no")
    batches = {b.id: b for b in await Batch.filter(id__in={h.batch_id for h in holdings})}
    summary: dict[tuple[int, str], dict[str, object]] = {}
    for h in holdings:
        key = (h.batch_id, str(h.state))
        batch = batches[h.batch_id]
        row = summary.setdefault(key, {"batch": batch, "state": str(h.state), "quantity": 0, "ranges": []})
        row["quantity"] = int(row["quantity"]) + h.quantity  # type: ignore[call-overload]
        row["ranges"].append(batch.serial_range(h.first_no, h.last_no))
    entries = await entries_query.order_by("-seq").limit(100).prefetch_related("batch")
    clerk = await StaffUser.get_or_none(id=holder.residence_checked_by_id)
    return page(
        ctx,
        "holder_detail.html",
        {
            "holder": holder,
            "summary": list(summary.values()),
            "entries": entries,
            "residence_clerk": clerk,
            "may_edit": access.may(ctx.actor, Action.HOLDER_EDIT, target),
            **_residence_context(),
        },
    )


# --------------------------------------------------------------------------------------------- parcels

PARCEL_SORTS = Sorting(
    {
        "id": ("id",),
        "district": ("district_code", "township"),
        "township": ("township", "village"),
        "village": ("village",),
        "area": ("area_mu",),
        "cert": ("forest_right_cert_no",),
        "owner": ("owner__name",),
    },
    default="-id",
)


async def parcel_list(ctx: AdminContext) -> Response:
    district = ctx.request.query_params.get("district", "")[:6]
    query = access.scope(ctx.actor, Action.PARCEL_READ, Parcel.all(), kind=None)
    sort = PARCEL_SORTS.of(ctx.request)
    query = query.order_by(*sort.order).prefetch_related("owner")
    if district:
        query = query.filter(district_code=district)
    return page(ctx, "parcels.html", {"paged": await paginate(ctx, query), "district": district, "sort": sort})


def _parcel_form(
    ctx: AdminContext, values: dict[str, str], parcel: Parcel | None, error: str = "", status: int = 200
) -> Response:
    return page(ctx, "parcel_form.html", {"values": values, "parcel": parcel, "error": error}, status)


def _parcel_values(parcel: Parcel) -> dict[str, str]:
    import json

    values = {name: str(getattr(parcel, name) or "") for name in PARCEL_FIELDS if hasattr(parcel, name)}
    values["species"] = parcel_service.species_text(parcel.species)
    values["boundary_geojson"] = (
        json.dumps(parcel.boundary_geojson, ensure_ascii=False) if parcel.boundary_geojson else ""
    )
    values["owner_id"] = str(parcel.owner_id or "")
    return values


def _same_decimal(text: str, value: Decimal) -> bool:
    try:
        return Decimal(text.strip()) == value
    except InvalidOperation:
        return False


def _check_district(ctx: AdminContext, district: str) -> None:
    """A parcel is created in, kept in and moved to the account's own district only (403 with the reason)."""
    access.check(ctx.actor, Action.PARCEL_EDIT, access.place(district))


async def _parcel_to_edit(ctx: AdminContext) -> Parcel:
    parcel = await get_or_404(Parcel, path_id(ctx))
    readable_or_404(ctx, Action.PARCEL_READ, access.parcel_target(parcel))
    _check_district(ctx, parcel.district_code)
    return parcel


async def parcel_new(ctx: AdminContext) -> Response:
    return _parcel_form(ctx, {"district_code": ctx.staff.district_code or ""}, None)


async def parcel_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in PARCEL_FIELDS}
    _check_district(ctx, values["district_code"])
    try:
        parcel = await parcel_service.create_parcel(parcel_service.ParcelInput(**values), actor=ctx.actor)
    except RegisterError as exc:
        return _parcel_form(ctx, values, None, _(exc.message), status_of(exc))
    return redirect(f"/admin/parcels/{parcel.id}")


async def parcel_edit(ctx: AdminContext) -> Response:
    parcel = await _parcel_to_edit(ctx)
    return _parcel_form(ctx, _parcel_values(parcel), parcel)


async def parcel_update(ctx: AdminContext) -> Response:
    parcel = await _parcel_to_edit(ctx)
    values = {name: ctx.field(name) for name in PARCEL_FIELDS}
    _check_district(ctx, values["district_code"])
    if await Batch.filter(parcel_id=parcel.id).exists() and (
        not _same_decimal(values["area_mu"], parcel.area_mu) or values["district_code"] != parcel.district_code
    ):
        return _parcel_form(ctx, values, parcel, _("已发放林票的林地不能修改面积或区县"), 400)
    try:
        await parcel_service.update_parcel(parcel, parcel_service.ParcelInput(**values), actor=ctx.actor)
    except RegisterError as exc:
        return _parcel_form(ctx, values, parcel, _(exc.message), status_of(exc))
    return redirect(f"/admin/parcels/{parcel.id}")


async def parcel_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    parcel = await get_or_404(Parcel, path_id(ctx))
    readable_or_404(ctx, Action.PARCEL_READ, access.parcel_target(parcel))
    await parcel.fetch_related("owner")
    return page(
        ctx,
        "parcel_detail.html",
        {
            "parcel": parcel,
            "outline": parcel_service.boundary_svg_paths(parcel.boundary_geojson),
            "documents": await parcel_service.ParcelDocument.filter(parcel_id=parcel.id).order_by("id"),
            "applications": await IssuanceApplication.filter(parcel_id=parcel.id)
            .order_by("-id")
            .prefetch_related("applicant"),
            "batches": await Batch.filter(parcel_id=parcel.id).order_by("id"),
            "may_edit": access.may(ctx.actor, Action.PARCEL_EDIT, access.parcel_target(parcel)),
            "may_publish": access.may(ctx.actor, Action.DOCUMENT_PUBLISH, access.parcel_target(parcel)),
            "error": error,
            "max_mb": parcel_service.MAX_DOCUMENT_BYTES // (1024 * 1024),
        },
        status,
    )


async def document_upload(ctx: AdminContext) -> Response:
    parcel = await _parcel_to_edit(ctx)
    assert ctx.form is not None
    upload = ctx.form.get("file")
    if upload is None or isinstance(upload, str):
        return await parcel_detail(ctx, _("请选择要上传的文件"), 400)
    content = await upload.read(parcel_service.MAX_DOCUMENT_BYTES + 1)
    try:
        await parcel_service.attach_document(
            parcel,
            title=ctx.field("title"),
            filename=upload.filename or "",
            content=content,
            storage=storage_of(ctx.settings),
            actor=ctx.actor,
        )
    except RegisterError as exc:
        return await parcel_detail(ctx, _(exc.message), status_of(exc))
    return redirect(f"/admin/parcels/{parcel.id}")


async def document_download(ctx: AdminContext) -> Response:
    document = await get_or_404(parcel_service.ParcelDocument, path_id(ctx, "doc"))
    if document.parcel_id != path_id(ctx):
        raise HTTPException(404)
    parcel = await get_or_404(Parcel, document.parcel_id)
    readable_or_404(ctx, Action.PARCEL_READ, access.parcel_target(parcel))  # another district's documents: 404
    download = await storage_of(ctx.settings).open(parcel_service.document_key(document))
    if download is None:
        raise HTTPException(404)
    content_type = parcel_service.served_type(download.head)  # what the bytes are, not what was claimed or stored
    await parcel_service.record_download(document, ctx.actor)
    name = parcel_service.download_name(document, content_type)
    return stored_response(download, media_type=content_type, filename=name)


async def _document_to_publish(ctx: AdminContext) -> parcel_service.ParcelDocument:
    document = await get_or_404(parcel_service.ParcelDocument, path_id(ctx, "doc"))
    if document.parcel_id != path_id(ctx):
        raise HTTPException(404)
    parcel = await get_or_404(Parcel, document.parcel_id)
    readable_or_404(ctx, Action.PARCEL_READ, access.parcel_target(parcel))
    return document


async def document_publish(ctx: AdminContext) -> Response:
    """Forestry shows a document on /forests (``publish=1``) or takes it off (``publish=0``); audited."""
    document = await _document_to_publish(ctx)
    change = parcel_service.publish_document if ctx.field("publish") == "1" else parcel_service.withdraw_document
    try:
        await change(document, storage=storage_of(ctx.settings), actor=ctx.actor)
    except RegisterError as exc:
        return await parcel_detail(ctx, _(exc.message), status_of(exc))
    return redirect(f"/admin/parcels/{document.parcel_id}")
