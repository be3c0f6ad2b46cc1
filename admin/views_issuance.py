"""Issuance: applications for collective and state tickets, and the carbon quotas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin import pickers
from admin.i18n import gettext as _
from admin.permissions import Perm
from admin.preview import confirm_token, preview_or_confirm
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.web import get_or_404, page, paginate, path_id, readable_or_404, redirect
from certificates import holdings
from kernel import clock
from kernel.money import parse_yuan
from linpiao.errors import status_of
from registry import access, quotas, stock
from registry import applications as app_service
from registry.access import Action
from registry.errors import RegisterError
from registry.idempotency import new_form_token
from registry.models import (
    Batch,
    Certificate,
    CertificateStatus,
    Holder,
    Parcel,
    RegisterEntry,
    TicketKind,
)

# ---------------------------------------------------------------------------------------- applications


def _kinds_for(ctx: AdminContext) -> list[TicketKind]:
    kinds = []
    if ctx.may(Perm.COLLECTIVE_ISSUE):
        kinds.append(TicketKind.COLLECTIVE)
    if ctx.may(Perm.STATE_ISSUE):
        kinds.append(TicketKind.STATE)
    return kinds


APPLICATION_SORTS = Sorting(
    {
        "id": ("id",),
        "kind": ("kind",),
        "applicant": ("applicant__name",),
        "parcel": ("district_code", "parcel_id"),
        "status": ("status",),
        "updated": ("updated_at",),
    },
    default="-id",
)


async def application_list(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    # issuers the collective applications of their district, a county forestry department its state ones
    query = access.scope(ctx.actor, Action.APPLICATION_READ, app_service.IssuanceApplication.all())
    status = params.get("status", "")
    if status in set(app_service.ApplicationStatus):
        query = query.filter(status=status)
    else:
        status = ""
    kind = params.get("kind", "")
    if kind in (TicketKind.COLLECTIVE, TicketKind.STATE):
        query = query.filter(kind=kind)
    else:
        kind = ""
    sort = APPLICATION_SORTS.of(ctx.request)
    paged = await paginate(ctx, query.order_by(*sort.order).prefetch_related("applicant", "parcel"))
    return page(
        ctx,
        "applications.html",
        {
            "paged": paged,
            "sort": sort,
            "status": status,
            "kind": kind,
            "statuses": list(app_service.ApplicationStatus),
            "can_submit": bool(_kinds_for(ctx)),
        },
    )


async def _application_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "application_form.html",
        {
            "values": values,
            "error": error,
            "kinds": _kinds_for(ctx),
            "pickers": await pickers.pickers(ctx, {"parcel_id": "parcels", "applicant_id": "holders"}, values),
        },
        status,
    )


async def application_new(ctx: AdminContext) -> Response:
    kinds = _kinds_for(ctx)
    if not kinds:
        raise HTTPException(403)
    values = {"kind": kinds[0], "parcel_id": ctx.request.query_params.get("parcel", ""), "applicant_id": "", "note": ""}
    if values["parcel_id"].isdigit():
        parcel = await Parcel.get_or_none(id=int(values["parcel_id"]))
        if parcel is not None and not access.may(ctx.actor, Action.PARCEL_READ, access.parcel_target(parcel)):
            parcel = None
        if parcel is not None and parcel.owner_id:
            values["applicant_id"] = str(parcel.owner_id)
    return await _application_form(ctx, values)


async def application_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in ("kind", "parcel_id", "applicant_id", "note")}
    if values["kind"] not in _kinds_for(ctx):
        raise HTTPException(403)
    if pickers.wants_search(ctx):
        return await _application_form(ctx, values)
    parcel = await Parcel.get_or_none(id=int(values["parcel_id"])) if values["parcel_id"].isdigit() else None
    applicant = await Holder.get_or_none(id=int(values["applicant_id"])) if values["applicant_id"].isdigit() else None
    if parcel is not None:  # another district's parcel, or a kind the account does not issue: 403 with the reason
        access.check(ctx.actor, Action.APPLICATION_HANDLE, access.place(parcel.district_code, values["kind"]))
    if parcel is None or applicant is None:
        return await _application_form(ctx, values, _("请选择林地和申请人"), 400)
    try:
        application = await app_service.submit_application(
            kind=TicketKind(values["kind"]),
            parcel=parcel,
            applicant=applicant,
            actor=ctx.actor,
            note=values["note"],
        )
    except app_service.NotPermitted:
        raise
    except RegisterError as exc:
        return await _application_form(ctx, values, _(exc.message), status_of(exc))
    return redirect(f"/admin/applications/{application.id}")


async def _visible_application(ctx: AdminContext) -> app_service.IssuanceApplication:
    application = await get_or_404(app_service.IssuanceApplication, path_id(ctx))
    # an issuer or a county forestry department of another district does not see it: 404
    readable_or_404(ctx, Action.APPLICATION_READ, access.place(application.district_code, application.kind))
    return application


async def application_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    application = await _visible_application(ctx)
    await application.fetch_related("parcel", "applicant", "batch", "supersedes")
    steps = await app_service.ApplicationStep.filter(application_id=application.id).order_by("id")
    later = await app_service.IssuanceApplication.filter(supersedes_id=application.id).first()
    from registry.parcels import species_text

    return page(
        ctx,
        "application_detail.html",
        {
            "application": application,
            "steps": steps,
            "superseded_by": later,
            "error": error,
            "may_act": access.may(
                ctx.actor, Action.APPLICATION_HANDLE, access.place(application.district_code, application.kind)
            ),
            "species_text": species_text(application.parcel.species),
            "unit_area": ctx.field("unit_area_m2") if ctx.form is not None else "",
            "certificate": await _certificate_of(application),
            "form_token": new_form_token(),
        },
        status,
    )


async def application_approve(ctx: AdminContext) -> Response:
    application = await _visible_application(ctx)
    await app_service.approve_application(application, actor=ctx.actor, comment=ctx.field("comment"))
    return redirect(f"/admin/applications/{application.id}")


async def application_return(ctx: AdminContext) -> Response:
    application = await _visible_application(ctx)
    try:
        await app_service.return_application(application, actor=ctx.actor, reason=ctx.field("reason"))
    except app_service.ReasonRequired as exc:
        return await application_detail(ctx, _(exc.message), status_of(exc))
    return redirect(f"/admin/applications/{application.id}")


async def _certificate_of(application: app_service.IssuanceApplication) -> Certificate | None:
    if application.batch_id is None:
        return None
    return (
        await Certificate.filter(
            batch_id=application.batch_id,
            holder_id=application.applicant_id,
            status=CertificateStatus.VALID,
        )
        .order_by("-id")
        .first()
    )


async def application_issue(ctx: AdminContext) -> Response:
    """Issue an approved application: the preview shows the units computed from the area, the serial range and who
    receives them; the confirm issues once (:mod:`admin.preview`)."""
    application = await _visible_application(ctx)
    unit_area_text = ctx.field("unit_area_m2")

    async def issue(token: str | None) -> Batch:
        unit_area = app_service.parse_unit_area(unit_area_text)
        return await holdings.issue_application(application, unit_area_m2=unit_area, actor=ctx.actor, form_token=token)

    async def describe(batch: Batch) -> dict[str, object]:
        await batch.fetch_related("parcel")
        return {
            "batch": batch,
            "holder": await Holder.get(id=application.applicant_id),
            "serials": batch.serial_range(1, int(batch.total_units)),
            "area_m2": int(batch.total_units) * (batch.unit_area_m2 or 0),  # the parcel's, exactly (units divide it)
        }

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), issue, describe)
    except app_service.NotPermitted:
        raise
    except RegisterError as exc:
        return await application_detail(ctx, _(exc.message), status_of(exc))
    if done.preview is not None:
        data = {
            "application": application,
            "unit_area_m2": unit_area_text,
            "form_token": confirm_token(ctx.field("form_token")),
            **done.preview,
        }
        return page(ctx, "issue_preview.html", data)
    return redirect(f"/admin/applications/{application.id}")


# -------------------------------------------------------------------------------------------- quotas


@dataclass(frozen=True)
class QuotaRow:
    """One quota of the list with what the register counts for it: its stock and its sales today and this week."""

    batch: Batch
    stats: quotas.QuotaStats
    today: stock.Sales
    week: stock.Sales

    @property
    def id(self) -> int:
        return int(self.batch.id)


# a few quotas a year: read whole with their counts and sorted in Python, so the stock (available, reserved) and
# sales (sold, today/this week) columns sort as well as the quotas' own
QUOTA_SORTS = Sorting(
    {
        "quota": ("batch__serial_prefix",),
        "price": ("batch__price_fen",),
        "carbon": ("batch__g_co2e_per_unit",),
        "valid": ("batch__valid_until",),
        "total": ("batch__total_units",),
        "available": ("stats__available",),
        "reserved": ("stats__reserved",),
        "sold": ("stats__sold",),
        "recent": ("today__units", "week__units"),
        "status": ("-batch__is_open",),
    },
    default="-quota",
)


async def quota_list(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    now = clock.now()
    rows = []
    for batch in await Batch.filter(kind=TicketKind.CARBON):
        today, week = await stock.quota_sales_today_and_week(batch, now)
        rows.append(QuotaRow(batch, await quotas.quota_stats(batch), today, week))
    sort = QUOTA_SORTS.of(ctx.request)
    current = await quotas.current_quota()
    names = ("units", "price_yuan", "kg_co2e", "valid_until", "co2e_method", "co2e_source", "co2e_year")
    values = {name: ctx.field(name) for name in names}
    data = {"rows": sort.arrange(rows), "current": current, "error": error, "values": values, "sort": sort}
    return page(ctx, "quotas.html", data, status)


def _positive_int(text: str) -> int:
    text = text.strip().replace(",", "")
    if not text.isdigit() or len(text) > 13:
        raise ValueError(text)
    return int(text)


async def quota_open(ctx: AdminContext) -> Response:
    try:
        units = _positive_int(ctx.field("units"))
        price_fen = parse_yuan(ctx.field("price_yuan") or "1")
        kg = _positive_int(ctx.field("kg_co2e") or "10")
        valid_text = ctx.field("valid_until").strip()
        valid_until = date.fromisoformat(valid_text) if valid_text else None
        year_text = ctx.field("co2e_year").strip()
        co2e_year = _positive_int(year_text) if year_text else None  # the basis: checked by the register
    except ValueError:
        return await quota_list(ctx, _("请填写有效的数量、价格、碳量和有效期"), 400)
    try:
        await quotas.open_quota(
            units=units,
            price_fen=price_fen,
            kg_co2e_per_ticket=kg,
            valid_until=valid_until,
            co2e_method=ctx.field("co2e_method"),
            co2e_source=ctx.field("co2e_source"),
            co2e_year=co2e_year,
            actor=ctx.actor,
        )
    except RegisterError as exc:
        return await quota_list(ctx, _(exc.message), status_of(exc))
    return redirect("/admin/quotas")


async def _carbon_batch(ctx: AdminContext) -> Batch:
    batch = await get_or_404(Batch, path_id(ctx))
    if batch.kind is not TicketKind.CARBON:
        raise HTTPException(404)
    return batch


async def quota_close(ctx: AdminContext) -> Response:
    """Close a quota: ``step=preview`` (the list's button) rehearses the close and shows what stays with the pool;
    the confirm closes it (a second confirm finds it closed and changes nothing)."""
    batch = await _carbon_batch(ctx)

    async def close(token: str | None) -> Batch:  # closing twice is refused by the quota's state, not a token
        return await quotas.close_quota(batch, actor=ctx.actor)

    async def describe(closed: Batch) -> dict[str, object]:
        return {"batch": closed, "stats": await quotas.quota_stats(closed)}

    try:
        done = await preview_or_confirm(ctx.field("step"), "", close, describe)
    except RegisterError as exc:
        return await quota_list(ctx, _(exc.message), status_of(exc))
    if done.preview is not None:
        return page(ctx, "quota_close_preview.html", done.preview)
    return redirect("/admin/quotas")


async def quota_withdraw(ctx: AdminContext) -> Response:
    """Withdraw a quota's unsold tickets (收回): the preview shows how many and which serials leave the pool for
    good; the confirm withdraws them once."""
    batch = await _carbon_batch(ctx)
    reason = ctx.field("reason")

    async def withdraw(token: str | None) -> RegisterEntry:
        return await quotas.withdraw_unsold(batch, actor=ctx.actor, reason=reason, form_token=token)

    async def describe(entry: RegisterEntry) -> dict[str, object]:
        return {
            "batch": batch,
            "entry": entry,
            "serials": [batch.serial_range(a, b) for a, b in entry.ranges],
            "stats": await quotas.quota_stats(batch),
        }

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), withdraw, describe)
    except RegisterError as exc:
        return await quota_list(ctx, _(exc.message), status_of(exc))
    if done.preview is not None:
        data = {"reason": reason, "form_token": confirm_token(ctx.field("form_token")), **done.preview}
        return page(ctx, "quota_withdraw_preview.html", data)
    return redirect("/admin/quotas")
