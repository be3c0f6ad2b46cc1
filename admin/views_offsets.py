"""Back-office pages for state tickets: green-land offsets, ecological compensation cases, state revenue.

The district's greening committee office (区绿委办) receives offset applications of its district, the
landscaping bureau decides them; the forestry department sells and retires
the units (one step) and keeps compensation cases, recording the offender's payment that retires the ordered
units; finance only reads cases and revenue (it never changes the register).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admin import pickers
from admin.i18n import gettext as _
from admin.preview import confirm_token, preview_or_confirm
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.views_trades import _holder
from admin.web import (
    date_field,
    fen_field,
    get_or_404,
    int_field,
    page,
    paginate,
    path_id,
    readable_or_404,
    redirect,
    refusal_message,
)
from kernel import clock
from linpiao.errors import status_of
from registry import access
from registry import offsets as offset_service
from registry.access import Action
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.idempotency import new_form_token
from registry.models import Batch, RegisterEntry, TicketKind

OFFSET_FIELDS = (
    "company_id",
    "offset_type",
    "project",
    "location",
    "district_code",
    "lacking_area_m2",
    "planning_approval_ref",
    "form_token",
)


async def _state_batches() -> list[Batch]:
    return list(await Batch.filter(kind=TicketKind.STATE).order_by("-id").limit(200))


# the offsets list's column sorts (?sort=): a district's applications, a few a month
OFFSET_SORTS = Sorting(
    {
        "id": ("id",),
        "type": ("offset_type",),
        "company": ("company__name",),
        "project": ("project",),
        "area": ("lacking_area_m2",),
        "status": ("status",),
    },
    default="-id",
)
# the compensation cases' column sorts: cases decided by the courts and agencies, a small table
CASE_SORTS = Sorting(
    {
        "number": ("case_number",),
        "offence": ("offence",),
        "body": ("deciding_body",),
        "units": ("ordered_units",),
        "status": ("status",),
    },
    default="-number",
)


async def offset_list(ctx: AdminContext) -> Response:
    status = ctx.request.query_params.get("status", "")
    # a district's greening office sees its own district's applications (registry.access)
    query = access.scope(ctx.actor, Action.OFFSET_READ, offset_service.GreenLandOffset.all(), kind=None)
    if status in set(offset_service.OffsetStatus):
        query = query.filter(status=status)
    else:
        status = ""
    sort = OFFSET_SORTS.of(ctx.request)
    paged = await paginate(ctx, query.order_by(*sort.order).prefetch_related("company"))
    return page(ctx, "trades/offsets.html", {"paged": paged, "status": status, "sort": sort})


async def _offset_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/offset_form.html",
        {
            "values": values,
            "error": error,
            "built_up": offset_service.BUILT_UP_DISTRICTS,
            "pickers": await pickers.pickers(ctx, {"company_id": "holders"}, values),
        },
        status,
    )


async def offset_new(ctx: AdminContext) -> Response:
    values = {name: "" for name in OFFSET_FIELDS}
    values["offset_type"] = offset_service.OffsetType.OCCUPATION
    values["district_code"] = ctx.staff.district_code or ""  # the greening office's own district
    values["form_token"] = new_form_token()
    return await _offset_form(ctx, values)


async def offset_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in OFFSET_FIELDS}
    if pickers.wants_search(ctx):
        return await _offset_form(ctx, values)
    if values["district_code"] in DISTRICTS:  # another district's project: 403 with the reason at once
        access.check(ctx.actor, Action.OFFSET_RECEIVE, access.place(values["district_code"]))
    company = await _holder(ctx, "company_id")
    if company is None or values["offset_type"] not in set(offset_service.OffsetType):
        return await _offset_form(ctx, values, _("请填写申请企业（持有人编号）和申请类型"), 400)
    try:
        offset = await offset_service.apply_offset(
            company=company,
            offset_type=values["offset_type"],
            project=values["project"],
            location=values["location"],
            district_code=values["district_code"],
            lacking_area_m2=values["lacking_area_m2"],
            planning_approval_ref=values["planning_approval_ref"],
            actor=ctx.actor,
            form_token=values["form_token"],
        )
    except RegisterError as exc:
        return await _offset_form(ctx, values, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/offsets/{offset.id}")


async def _visible_offset(ctx: AdminContext) -> offset_service.GreenLandOffset:
    offset = await get_or_404(offset_service.GreenLandOffset, path_id(ctx))
    readable_or_404(ctx, Action.OFFSET_READ, access.place(offset.district_code))
    return offset


async def offset_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    offset = await _visible_offset(ctx)
    await offset.fetch_related("company", "batch", "entry")
    ranges = ""
    if offset.entry is not None and offset.batch is not None:
        ranges = "; ".join(offset.batch.serial_range(a, b) for a, b in offset.entry.ranges)
    return page(
        ctx,
        "trades/offset_detail.html",
        {
            "offset": offset,
            "ranges": ranges,
            "batches": await _state_batches(),
            "error": error,
            "form_token": new_form_token(),
        },
        status,
    )


async def offset_approve(ctx: AdminContext) -> Response:
    offset = await _visible_offset(ctx)
    try:
        await offset_service.approve_offset(offset, actor=ctx.actor, comment=ctx.field("comment"))
    except RegisterError as exc:
        return await offset_detail(ctx, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/offsets/{offset.id}")


async def offset_reject(ctx: AdminContext) -> Response:
    offset = await _visible_offset(ctx)
    try:
        await offset_service.reject_offset(offset, actor=ctx.actor, reason=ctx.field("reason"))
    except RegisterError as exc:
        return await offset_detail(ctx, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/offsets/{offset.id}")


async def offset_complete(ctx: AdminContext) -> Response:
    offset = await _visible_offset(ctx)
    batch_id = int_field(ctx.field("batch_id"))
    batch = await Batch.get_or_none(id=batch_id) if batch_id is not None else None
    price = fen_field(ctx.field("unit_price"))
    if batch is None or price is None:
        return await offset_detail(ctx, _("请选择国有林地林票批次并填写单价"), 400)

    async def complete(token: str | None) -> offset_service.GreenLandOffset:
        return await offset_service.complete_offset(
            offset, batch=batch, unit_price_fen=price, actor=ctx.actor, form_token=token
        )

    async def describe(done: offset_service.GreenLandOffset) -> dict[str, Any]:
        await done.fetch_related("company")
        return await _retirement(done, batch)

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), complete, describe)
    except RegisterError as exc:
        return await offset_detail(ctx, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        fields = {"batch_id": ctx.field("batch_id"), "unit_price": ctx.field("unit_price")}
        data = {
            "offset": offset,
            "hidden": fields,
            "form_token": confirm_token(ctx.field("form_token")),
            **done.preview,
        }
        return page(ctx, "trades/offset_preview.html", data)
    return redirect(f"/admin/offsets/{offset.id}")


async def _retirement(record: Any, batch: Batch) -> dict[str, Any]:
    """What a rehearsed offset or compensation payment retired: units, serials, from whom, the amount."""
    entry = await RegisterEntry.get(id=record.entry_id)
    await entry.fetch_related("from_holder")
    return {
        "batch": batch,
        "entry": entry,
        "serials": [batch.serial_range(a, b) for a, b in entry.ranges],
        "units": int(entry.quantity),
        "amount_fen": int(record.amount_fen or 0),
    }


# ----------------------------------------------------------------------------------- ecological compensation

CASE_FIELDS = ("case_number", "offence", "deciding_body", "offender_id", "decided_on")


async def case_list(ctx: AdminContext) -> Response:
    access.check(ctx.actor, Action.CASE_READ)
    sort = CASE_SORTS.of(ctx.request)
    query = offset_service.CompensationCase.all().order_by(*sort.order).prefetch_related("offender")
    return page(ctx, "trades/cases.html", {"paged": await paginate(ctx, query), "sort": sort})


async def _case_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/case_form.html",
        {
            "values": values,
            "error": error,
            "labels": offset_service.OFFENCE_LABELS,
            "pickers": await pickers.pickers(ctx, {"offender_id": "holders"}, values),
        },
        status,
    )


async def case_new(ctx: AdminContext) -> Response:
    return await _case_form(ctx, {name: "" for name in CASE_FIELDS})


async def case_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in CASE_FIELDS}
    if pickers.wants_search(ctx):
        return await _case_form(ctx, values)
    offender = await _holder(ctx, "offender_id")
    decided_on = date_field(values["decided_on"])
    if offender is None or decided_on is None or values["offence"] not in set(offset_service.Offence):
        return await _case_form(ctx, values, _("请填写案号、违法行为、被处罚人和决定日期"), 400)
    try:
        case = await offset_service.open_case(
            case_number=values["case_number"],
            offence=values["offence"],
            deciding_body=values["deciding_body"],
            offender=offender,
            decided_on=decided_on,
            actor=ctx.actor,
        )
    except RegisterError as exc:
        return await _case_form(ctx, values, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/compensation/{case.id}")


async def case_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    case = await get_or_404(offset_service.CompensationCase, path_id(ctx))
    readable_or_404(ctx, Action.CASE_READ, access.NOWHERE)
    await case.fetch_related("offender", "batch")
    entry = await RegisterEntry.get_or_none(id=case.entry_id) if case.entry_id else None
    ranges = "; ".join(case.batch.serial_range(a, b) for a, b in entry.ranges) if entry and case.batch else ""
    return page(
        ctx,
        "trades/case_detail.html",
        {
            "case": case,
            "entry": entry,
            "ranges": ranges,
            "labels": offset_service.OFFENCE_LABELS,
            "batches": await _state_batches(),
            "error": error,
            "form_token": new_form_token(),
        },
        status,
    )


async def case_order(ctx: AdminContext) -> Response:
    case = await get_or_404(offset_service.CompensationCase, path_id(ctx))
    batch_id = int_field(ctx.field("batch_id"))
    batch = await Batch.get_or_none(id=batch_id) if batch_id is not None else None
    price = fen_field(ctx.field("unit_price"))
    units_text, area_text = ctx.field("units").strip(), ctx.field("area_m2").strip()
    units = int_field(units_text) if units_text else None
    if batch is None or price is None or (units_text and units is None):
        return await case_detail(ctx, _("请选择国有林地林票批次并填写单价和数量"), 400)
    kwargs: dict[str, Any] = {"units": units} if units_text else {"area_m2": area_text or None}

    async def order(token: str | None) -> offset_service.CompensationCase:
        return await offset_service.order_compensation(
            case, batch=batch, unit_price_fen=price, actor=ctx.actor, form_token=token, **kwargs
        )

    async def describe(ordered: offset_service.CompensationCase) -> dict[str, Any]:
        return {"ordered": ordered, "batch": batch}

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), order, describe)
    except RegisterError as exc:
        return await case_detail(ctx, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        names = ("batch_id", "unit_price", "units", "area_m2")
        data = {
            "case": case,
            "hidden": {n: ctx.field(n) for n in names},
            "form_token": confirm_token(ctx.field("form_token")),
            **done.preview,
        }
        return page(ctx, "trades/case_order_preview.html", data)
    return redirect(f"/admin/compensation/{case.id}")


async def case_pay(ctx: AdminContext) -> Response:
    case = await get_or_404(offset_service.CompensationCase, path_id(ctx))
    reference = ctx.field("payment_ref")

    async def pay(token: str | None) -> offset_service.CompensationCase:
        return await offset_service.record_compensation_payment(
            case, payment_ref=reference, actor=ctx.actor, form_token=token
        )

    async def describe(paid: offset_service.CompensationCase) -> dict[str, Any]:
        return await _retirement(paid, await Batch.get(id=paid.batch_id))

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), pay, describe)
    except RegisterError as exc:
        return await case_detail(ctx, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        data = {
            "case": case,
            "hidden": {"payment_ref": reference},
            "form_token": confirm_token(ctx.field("form_token")),
            **done.preview,
        }
        return page(ctx, "trades/case_pay_preview.html", data)
    return redirect(f"/admin/compensation/{case.id}")


async def state_revenue(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    date_from, date_to = date_field(params.get("from", "")), date_field(params.get("to", ""))
    query = offset_service.StateRevenue.all().order_by("-id").prefetch_related("batch", "entry")
    if date_from is not None:
        query = query.filter(recorded_at__gte=clock.day_start(date_from))
    if date_to is not None:
        query = query.filter(recorded_at__lt=clock.day_end(date_to))
    return page(
        ctx,
        "trades/state_revenue.html",
        {
            "paged": await paginate(ctx, query),
            "totals": await offset_service.revenue_totals(date_from, date_to),
            "filters": {
                "from": date_from.isoformat() if date_from else "",
                "to": date_to.isoformat() if date_to else "",
            },
        },
    )
