"""Back-office pages for trades of land tickets: transfers (collective and state), subscriptions, filings,
inheritance, dividends.

Handlers parse the form, call one :mod:`registry.trades` / :mod:`registry.dividends` function and render; the
rules (who may record, what is refused, when a trade takes effect) live there. Every form carries a fresh form
token, so sending it twice records the action once; a refused form is shown again with the same token.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin.session import AdminContext
from admin.web import date_field, fen_field, get_or_404, int_field, page, paginate, path_id, redirect, refusal_message
from certificates import service as certificate_service
from linpiao.i18n import gettext as _
from registry import clock, register
from registry import dividends as dividend_service
from registry import trades as trade_service
from registry.errors import RegisterError
from registry.idempotency import new_form_token
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    CertificateStatus,
    Holder,
    HoldingState,
    RegisterEntry,
    StaffRole,
    TicketKind,
)

MAX_HEIRS = 6


async def _holder(ctx: AdminContext, name: str) -> Holder | None:
    ident = int_field(ctx.field(name))
    return await Holder.get_or_none(id=ident) if ident is not None else None


async def _batch(
    ctx: AdminContext, name: str = "batch_id", kinds: tuple[TicketKind, ...] = (TicketKind.COLLECTIVE,)
) -> Batch | None:
    ident = int_field(ctx.field(name))
    return await Batch.get_or_none(id=ident, kind__in=kinds) if ident is not None else None


async def _transfer_batches(ctx: AdminContext) -> list[Batch]:
    """The batches whose transfers the signed-in staff member records (:func:`registry.trades.may_record`)."""
    query = Batch.filter(kind__in=trade_service.TRANSFERABLE_KINDS).order_by("-id").limit(500)
    return [b for b in await query if trade_service.may_record(ctx.staff, b)][:200]


async def _collective_batches(ctx: AdminContext) -> list[Batch]:
    query = Batch.filter(kind=TicketKind.COLLECTIVE).order_by("-id").limit(200)
    if ctx.staff.role is StaffRole.ISSUER:
        query = query.filter(district_code=ctx.staff.district_code)
    return list(await query)


# ------------------------------------------------------------------------------------------------ trades


async def trade_list(ctx: AdminContext) -> Response:
    status = ctx.request.query_params.get("status", "")
    query = trade_service.Trade.filter(**trade_service.visible_to(ctx.staff))
    if status in set(trade_service.TradeStatus):
        query = query.filter(status=status)
    else:
        status = ""
    paged = await paginate(ctx, query.order_by("-id").prefetch_related("batch", "buyer", "seller"))
    return page(ctx, "trades/trades.html", {"paged": paged, "status": status})


async def _visible_trade(ctx: AdminContext) -> trade_service.Trade:
    trade = await trade_service.Trade.filter(id=path_id(ctx), **trade_service.visible_to(ctx.staff)).first()
    if trade is None:
        raise HTTPException(404)
    return trade


async def trade_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    trade = await _visible_trade(ctx)
    await trade.fetch_related("batch", "buyer", "seller")
    legs = await trade_service.TradeLeg.filter(trade_id=trade.id).prefetch_related("seller", "entry")
    certificates = await Certificate.filter(
        entry_id__in=[leg.entry.id for leg in legs],
        holder_id=trade.buyer_id,  # type: ignore[attr-defined]
    )
    return page(
        ctx,
        "trades/trade_detail.html",
        {
            "trade": trade,
            "legs": [(leg, trade.batch.serial_range(a, b)) for leg in legs for a, b in leg.entry.ranges],
            "filings": await trade_service.filings_of(trade),
            "certificates": certificates,
            "today": clock.today().isoformat(),
            "error": error,
        },
        status,
    )


HOLDING_KINDS = (CertificateKind.COLLECTIVE_HOLDING, CertificateKind.STATE_HOLDING)


async def _renew_holding_certificate(batch: Batch, holder: Holder, entry: RegisterEntry | None, always: bool) -> None:
    """Replace ``holder``'s holding certificate of ``batch`` by one for what it holds now (林票凭证).

    The old one is revoked with the reason shown publicly; a holder left with nothing gets no new one, and a
    holder who never had one gets one only when ``always`` (the buyer)."""
    old = await Certificate.filter(
        holder_id=holder.id, batch_id=batch.id, status=CertificateStatus.VALID, kind__in=HOLDING_KINDS
    )
    for certificate in old:
        await certificate_service.revoke(certificate, reason="林票交易生效，持有数量变动")
    held = await register.holder_total(holder, batch=batch, state=HoldingState.HELD)
    if held and (old or always):
        await certificate_service.issue_holding_certificate(batch, holder, entry=entry)


async def _certificates_on_effect(trade: trade_service.Trade) -> None:
    """When a trade takes effect the buyer gets a holding certificate for what it now holds, and a seller's
    certificate is replaced by one for what is left; all in the transaction of the last filing."""
    batch = await Batch.get(id=trade.batch_id)  # type: ignore[attr-defined]
    legs = await trade_service.TradeLeg.filter(trade_id=trade.id).order_by("id").prefetch_related("entry", "seller")
    for leg in legs:
        await _renew_holding_certificate(batch, leg.seller, leg.entry, always=False)
    buyer = await Holder.get(id=trade.buyer_id)  # type: ignore[attr-defined]
    await _renew_holding_certificate(batch, buyer, legs[-1].entry if legs else None, always=True)


async def filing_record(ctx: AdminContext) -> Response:
    trade = await _visible_trade(ctx)
    authority = ctx.field("authority")
    filed_on = date_field(ctx.field("filed_on"))
    if authority not in set(trade_service.FilingAuthority) or filed_on is None:
        return await trade_detail(ctx, _("备案日期或备案文号无效"), 400)
    try:
        await trade_service.record_filing(
            trade=trade,
            authority=authority,
            filed_on=filed_on,
            reference=ctx.field("reference"),
            actor=ctx.actor,
            on_effective=_certificates_on_effect,
        )
    except RegisterError as exc:
        return await trade_detail(ctx, refusal_message(exc), 400)
    return redirect(f"/admin/trades/{trade.id}")


TRANSFER_FIELDS = ("batch_id", "seller_id", "buyer_id", "quantity", "price", "first_no", "note", "form_token")


async def _transfer_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/transfer_form.html",
        {"values": values, "error": error, "batches": await _transfer_batches(ctx)},
        status,
    )


async def transfer_new(ctx: AdminContext) -> Response:
    values = {name: ctx.request.query_params.get(name, "") for name in TRANSFER_FIELDS}
    values["form_token"] = new_form_token()
    return await _transfer_form(ctx, values)


async def transfer_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in TRANSFER_FIELDS}
    batch = await _batch(ctx, kinds=trade_service.TRANSFERABLE_KINDS)
    seller, buyer = await _holder(ctx, "seller_id"), await _holder(ctx, "buyer_id")
    quantity, price = int_field(values["quantity"]), fen_field(values["price"])
    first = int_field(values["first_no"]) if values["first_no"].strip() else None
    if batch is None or seller is None or buyer is None:
        return await _transfer_form(ctx, values, _("请选择批次、转让方和受让方"), 400)
    if quantity is None or price is None or (values["first_no"].strip() and first is None):
        return await _transfer_form(ctx, values, _("数量、价格或起始编号无效"), 400)
    try:
        trade = await trade_service.record_transfer(
            batch=batch,
            seller=seller,
            buyer=buyer,
            quantity=quantity,
            price_fen=price,
            serials=(first, first + quantity - 1) if first is not None else None,
            note=values["note"],
            actor=ctx.actor,
            form_token=values["form_token"],
        )
    except RegisterError as exc:
        return await _transfer_form(ctx, values, refusal_message(exc), 400)
    return redirect(f"/admin/trades/{trade.id}")


SUBSCRIPTION_FIELDS = (
    "batch_id",
    "subscriber_id",
    "from_id",
    "share",
    "price",
    "operating_form",
    "term_years",
    "agreement_ref",
    "note",
    "form_token",
)


async def _subscription_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/subscription_form.html",
        {"values": values, "error": error, "batches": await _collective_batches(ctx)},
        status,
    )


async def subscription_new(ctx: AdminContext) -> Response:
    values = {name: ctx.request.query_params.get(name, "") for name in SUBSCRIPTION_FIELDS}
    values["form_token"] = new_form_token()
    values["operating_form"] = values["operating_form"] or trade_service.OperatingForm.EQUITY
    return await _subscription_form(ctx, values)


async def subscription_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in SUBSCRIPTION_FIELDS}
    batch = await _batch(ctx)
    subscriber = await _holder(ctx, "subscriber_id")
    source = await _holder(ctx, "from_id") if values["from_id"].strip() else None
    price = fen_field(values["price"])
    term = int_field(values["term_years"]) if values["term_years"].strip() else None
    if batch is None or subscriber is None or (values["from_id"].strip() and source is None):
        return await _subscription_form(ctx, values, _("请选择批次和认购方"), 400)
    if price is None or values["operating_form"] not in set(trade_service.OperatingForm):
        return await _subscription_form(ctx, values, _("价格或经营方式无效"), 400)
    if values["term_years"].strip() and term is None:
        return await _subscription_form(ctx, values, _("期限无效"), 400)
    try:
        trade = await trade_service.record_subscription(
            batch=batch,
            subscriber=subscriber,
            share=trade_service.parse_share(values["share"]),
            price_fen=price,
            operating_form=values["operating_form"],
            from_holder=source,
            term_years=term,
            agreement_ref=values["agreement_ref"],
            note=values["note"],
            actor=ctx.actor,
            form_token=values["form_token"],
        )
    except RegisterError as exc:
        return await _subscription_form(ctx, values, refusal_message(exc), 400)
    return redirect(f"/admin/trades/{trade.id}")


# -------------------------------------------------------------------------------------------- inheritance

DOCUMENT_KINDS = list(trade_service.DocumentKind)


async def _inheritance_form(ctx: AdminContext, values: dict[str, Any], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/inheritance_form.html",
        {"values": values, "error": error, "documents": DOCUMENT_KINDS, "heir_rows": range(MAX_HEIRS)},
        status,
    )


async def inheritance_new(ctx: AdminContext) -> Response:
    values: dict[str, Any] = {"deceased_id": ctx.request.query_params.get("deceased", ""), "died_on": ""}
    values["form_token"] = new_form_token()
    return await _inheritance_form(ctx, values)


async def _heir_certificates(case: trade_service.InheritanceCase) -> None:
    """Each heir's holding certificate (林票凭证) for every batch it inherited from; the deceased's are revoked."""
    deceased = await Holder.get(id=case.deceased_id)  # type: ignore[attr-defined]
    for entry in await RegisterEntry.filter(id__in=case.entry_ids).order_by("seq").prefetch_related("batch"):
        await _renew_holding_certificate(entry.batch, deceased, entry, always=False)
        for move in entry.details.get("moves", []):
            heir = await Holder.get(id=int(move["to"]))
            await _renew_holding_certificate(entry.batch, heir, entry, always=True)


async def inheritance_create(ctx: AdminContext) -> Response:
    names = ["deceased_id", "died_on", "form_token"]
    names += [f"heir_{i}" for i in range(MAX_HEIRS)] + [f"share_{i}" for i in range(MAX_HEIRS)]
    names += [f"doc_{k}" for k in DOCUMENT_KINDS]
    values: dict[str, Any] = {name: ctx.field(name) for name in names}
    deceased = await _holder(ctx, "deceased_id")
    died_on = date_field(values["died_on"])
    if deceased is None or died_on is None or died_on > clock.today():
        return await _inheritance_form(ctx, values, _("请填写被继承人和死亡日期"), 400)
    heirs: list[register.Heir] = []
    try:
        for i in range(MAX_HEIRS):
            if not values[f"heir_{i}"].strip():
                continue
            heir = await _holder(ctx, f"heir_{i}")
            if heir is None:
                return await _inheritance_form(ctx, values, _("继承人编号无效"), 400)
            heirs.append(register.Heir(heir, trade_service.parse_share(values[f"share_{i}"] or "0")))
        documents = [
            trade_service.SupportingDocument(kind, values[f"doc_{kind}"])
            for kind in DOCUMENT_KINDS
            if values[f"doc_{kind}"].strip()
        ]
        case = await trade_service.record_inheritance(
            deceased=deceased,
            heirs=heirs,
            died_on=died_on,
            documents=documents,
            actor=ctx.actor,
            form_token=values["form_token"],
            on_recorded=_heir_certificates,
        )
    except RegisterError as exc:
        return await _inheritance_form(ctx, values, refusal_message(exc), 400)
    return redirect(f"/admin/inheritance/{case.id}")


async def inheritance_detail(ctx: AdminContext) -> Response:
    case = await get_or_404(trade_service.InheritanceCase, path_id(ctx))
    await case.fetch_related("deceased")
    entries = await RegisterEntry.filter(id__in=case.entry_ids).order_by("seq").prefetch_related("batch")
    moves = []
    names = {h["holder"]: h["name"] for h in case.heirs}
    for entry in entries:
        for move in entry.details.get("moves", []):
            ranges = "; ".join(entry.batch.serial_range(a, b) for a, b in move["ranges"])
            moves.append((entry, names.get(move["to"], ""), move["quantity"], ranges))
    certificates = await Certificate.filter(entry_id__in=case.entry_ids).order_by("id")
    return page(ctx, "trades/inheritance_detail.html", {"case": case, "moves": moves, "certificates": certificates})


# ---------------------------------------------------------------------------------------------- dividends

DIVIDEND_FIELDS = ("batch_id", "income", "record_date", "source", "form_token")


async def dividend_list(ctx: AdminContext) -> Response:
    query = dividend_service.Dividend.all()
    if ctx.staff.role is StaffRole.ISSUER:
        query = query.filter(batch__district_code=ctx.staff.district_code)
    paged = await paginate(ctx, query.order_by("-id").prefetch_related("batch"))
    return page(ctx, "trades/dividends.html", {"paged": paged})


async def _dividend_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/dividend_form.html",
        {"values": values, "error": error, "batches": await _collective_batches(ctx)},
        status,
    )


async def dividend_new(ctx: AdminContext) -> Response:
    values = {name: "" for name in DIVIDEND_FIELDS}
    values["record_date"] = clock.today().isoformat()
    values["form_token"] = new_form_token()
    return await _dividend_form(ctx, values)


async def dividend_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in DIVIDEND_FIELDS}
    batch = await _batch(ctx)
    income = fen_field(values["income"])
    record_date = date_field(values["record_date"])
    if batch is None or income is None or record_date is None:
        return await _dividend_form(ctx, values, _("请选择批次并填写收益金额和登记日"), 400)
    try:
        dividend = await dividend_service.record_dividend(
            batch=batch,
            income_fen=income,
            record_date=record_date,
            source=values["source"],
            actor=ctx.actor,
            form_token=values["form_token"],
        )
    except RegisterError as exc:
        return await _dividend_form(ctx, values, refusal_message(exc), 400)
    return redirect(f"/admin/dividends/{dividend.id}")


async def dividend_detail(ctx: AdminContext) -> Response:
    query = dividend_service.Dividend.filter(id=path_id(ctx))
    if ctx.staff.role is StaffRole.ISSUER:
        query = query.filter(batch__district_code=ctx.staff.district_code)
    dividend = await query.prefetch_related("batch").first()
    if dividend is None:
        raise HTTPException(404)
    shares = await dividend_service.DividendShare.filter(dividend_id=dividend.id).prefetch_related("holder")
    return page(
        ctx,
        "trades/dividend_detail.html",
        {
            "dividend": dividend,
            "shares": shares,
            "totals": await dividend_service.dividend_totals(dividend),
            "share_of": lambda s: Fraction(int(s.units), sum(int(x.units) for x in shares)),
        },
    )
