"""Back-office pages for trades of land tickets: transfers (collective and state), subscriptions, filings,
inheritance, dividends.

Handlers parse the form, call one :mod:`registry.trades` / :mod:`registry.dividends` function and render; the
rules (what is refused, when a trade takes effect) live there, and who may record or read what for which batch is
:mod:`registry.access`'s table — asked here as soon as the batch is known, so a refusal answers 403 before the
form is judged, and again by the workflow. Every form carries a fresh form token, so sending it twice records the
action once; a refused form is shown again with the same token.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin import pickers
from admin.i18n import gettext as _
from admin.preview import preview_or_confirm, step
from admin.session import AdminContext
from admin.sorting import Sorting
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
from certificates import holdings
from kernel import clock
from linpiao.errors import status_of
from registry import access, register
from registry import dividends as dividend_service
from registry import trades as trade_service
from registry.access import Action
from registry.errors import RegisterError
from registry.idempotency import new_form_token
from registry.models import (
    Batch,
    Certificate,
    Holder,
    RegisterEntry,
)

MAX_HEIRS = 6


async def _holder(ctx: AdminContext, name: str) -> Holder | None:
    ident = int_field(ctx.field(name))
    return await Holder.get_or_none(id=ident) if ident is not None else None


async def _batch(ctx: AdminContext, action: Action, name: str = "batch_id") -> Batch | None:
    """The batch the form names, of any kind; one the account may not ``action`` is refused at once (403 with
    the reason: another district's batch, or a kind it does not keep)."""
    ident = int_field(ctx.field(name))
    batch = await Batch.get_or_none(id=ident) if ident is not None else None
    if batch is not None:
        access.check(ctx.actor, action, access.batch_target(batch))
    return batch


async def _batches(ctx: AdminContext, action: Action) -> list[Batch]:
    """The batches the signed-in account may ``action`` (transfer, subscription, dividend), newest first."""
    return list(await access.scope_batches(ctx.actor, action, Batch.all()).order_by("-id").limit(200))


# ------------------------------------------------------------------------------------------------ trades


TRADE_SORTS = Sorting(
    {
        "id": ("id",),
        "kind": ("kind",),
        "batch": ("batch__serial_prefix",),
        "seller": ("seller__name",),
        "buyer": ("buyer__name",),
        "quantity": ("quantity",),
        "price": ("price_fen",),
        "status": ("status",),
    },
    default="-id",
)


async def trade_list(ctx: AdminContext) -> Response:
    status = ctx.request.query_params.get("status", "")
    query = access.scope_batches(ctx.actor, Action.REGISTER_READ, trade_service.Trade.all(), prefix="batch__")
    if status in set(trade_service.TradeStatus):
        query = query.filter(status=status)
    else:
        status = ""
    sort = TRADE_SORTS.of(ctx.request)
    paged = await paginate(ctx, query.order_by(*sort.order).prefetch_related("batch", "buyer", "seller"))
    return page(ctx, "trades/trades.html", {"paged": paged, "status": status, "sort": sort})


async def _visible_trade(ctx: AdminContext) -> trade_service.Trade:
    trades = trade_service.Trade.filter(id=path_id(ctx))
    trade = await access.scope_batches(ctx.actor, Action.REGISTER_READ, trades, prefix="batch__").first()
    if trade is None:
        raise HTTPException(404)
    return trade


async def trade_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    trade = await _visible_trade(ctx)
    await trade.fetch_related("batch", "buyer", "seller")
    legs = await trade_service.TradeLeg.filter(trade_id=trade.id).prefetch_related("seller", "entry")
    certificates = await Certificate.filter(
        entry_id__in=[leg.entry.id for leg in legs],
        holder_id=trade.buyer_id,
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


async def filing_record(ctx: AdminContext) -> Response:
    trade = await _visible_trade(ctx)
    authority = ctx.field("authority")
    filed_on = date_field(ctx.field("filed_on"))
    if authority not in set(trade_service.FilingAuthority) or filed_on is None:
        return await trade_detail(ctx, _("备案日期或备案文号无效"), 400)
    reference = ctx.field("reference")

    async def record(token: str | None) -> trade_service.TradeFiling:  # the same filing twice changes nothing
        return await holdings.record_filing(
            trade=trade, authority=authority, filed_on=filed_on, reference=reference, actor=ctx.actor
        )

    async def describe(filing: trade_service.TradeFiling) -> dict[str, object]:
        await trade.refresh_from_db()
        await trade.fetch_related("batch", "buyer", "seller")
        pending = [f for f in await trade_service.filings_of(trade) if f.status is not trade_service.FilingStatus.FILED]
        return {"trade": trade, "filing": filing, "pending": pending}

    try:
        done = await preview_or_confirm(ctx.field("step"), "", record, describe)
    except RegisterError as exc:
        return await trade_detail(ctx, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        return page(ctx, "trades/filing_preview.html", done.preview)
    return redirect(f"/admin/trades/{trade.id}")


TRANSFER_FIELDS = ("batch_id", "seller_id", "buyer_id", "quantity", "price", "first_no", "note", "form_token")


async def _transfer_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/transfer_form.html",
        {
            "values": values,
            "error": error,
            "pickers": await pickers.pickers(
                ctx, {"batch_id": "batches:transfer", "seller_id": "holders", "buyer_id": "holders"}, values
            ),
        },
        status,
    )


async def transfer_new(ctx: AdminContext) -> Response:
    values = {name: ctx.request.query_params.get(name, "") for name in TRANSFER_FIELDS}
    values["form_token"] = new_form_token()
    return await _transfer_form(ctx, values)


async def transfer_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in TRANSFER_FIELDS}
    if pickers.wants_search(ctx) or step(ctx.field("step")) == "edit":
        return await _transfer_form(ctx, values)
    batch = await _batch(ctx, Action.TRANSFER_RECORD)
    seller, buyer = await _holder(ctx, "seller_id"), await _holder(ctx, "buyer_id")
    quantity, price = int_field(values["quantity"]), fen_field(values["price"])
    first = int_field(values["first_no"]) if values["first_no"].strip() else None
    if batch is None or seller is None or buyer is None:
        return await _transfer_form(ctx, values, _("请选择批次、转让方和受让方"), 400)
    if quantity is None or price is None or (values["first_no"].strip() and first is None):
        return await _transfer_form(ctx, values, _("数量、价格或起始编号无效"), 400)

    async def record(token: str | None) -> trade_service.Trade:
        return await trade_service.record_transfer(
            batch=batch,
            seller=seller,
            buyer=buyer,
            quantity=quantity,
            price_fen=price,
            serials=(first, first + quantity - 1) if first is not None else None,
            note=values["note"],
            actor=ctx.actor,
            form_token=token,
        )

    try:
        done = await preview_or_confirm(ctx.field("step"), values["form_token"], record, _describe_trade)
    except RegisterError as exc:
        return await _transfer_form(ctx, values, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        return _preview(ctx, "trades/trade_preview.html", values, done.preview, action="/admin/trades/transfer")
    assert done.result is not None
    return redirect(f"/admin/trades/{done.result.id}")


async def _describe_trade(trade: trade_service.Trade) -> dict[str, Any]:
    """What a rehearsed trade did: who gives which serials to whom, for what price (read before the rollback)."""
    await trade.fetch_related("batch", "buyer", "seller")
    legs = await trade_service.TradeLeg.filter(trade_id=trade.id).prefetch_related("seller", "entry")
    return {
        "trade": trade,
        "legs": [(leg, trade.batch.serial_range(a, b), b - a + 1) for leg in legs for a, b in leg.entry.ranges],
    }


def _preview(
    ctx: AdminContext, template: str, values: dict[str, Any], outcome: dict[str, Any], **extra: Any
) -> Response:
    """A form's preview page: what the rehearsal produced, and the form's fields and token for its confirm."""
    hidden = {name: value for name, value in values.items() if name != "form_token"}
    return page(ctx, template, {"hidden": hidden, "form_token": values["form_token"], **extra, **outcome})


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
        {
            "values": values,
            "error": error,
            "pickers": await pickers.pickers(
                ctx, {"batch_id": "batches:subscription", "subscriber_id": "holders", "from_id": "holders"}, values
            ),
        },
        status,
    )


async def subscription_new(ctx: AdminContext) -> Response:
    values = {name: ctx.request.query_params.get(name, "") for name in SUBSCRIPTION_FIELDS}
    values["form_token"] = new_form_token()
    values["operating_form"] = values["operating_form"] or trade_service.OperatingForm.EQUITY
    return await _subscription_form(ctx, values)


async def subscription_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in SUBSCRIPTION_FIELDS}
    if pickers.wants_search(ctx) or step(ctx.field("step")) == "edit":
        return await _subscription_form(ctx, values)
    batch = await _batch(ctx, Action.SUBSCRIPTION_RECORD)
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

    async def record(token: str | None) -> trade_service.Trade:
        return await trade_service.record_subscription(
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
            form_token=token,
        )

    try:
        done = await preview_or_confirm(ctx.field("step"), values["form_token"], record, _describe_trade)
    except RegisterError as exc:
        return await _subscription_form(ctx, values, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        return _preview(ctx, "trades/trade_preview.html", values, done.preview, action="/admin/trades/subscription")
    assert done.result is not None
    return redirect(f"/admin/trades/{done.result.id}")


# -------------------------------------------------------------------------------------------- inheritance

DOCUMENT_KINDS = list(trade_service.DocumentKind)


async def _inheritance_form(ctx: AdminContext, values: dict[str, Any], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/inheritance_form.html",
        {
            "values": values,
            "error": error,
            "documents": DOCUMENT_KINDS,
            "heir_rows": range(MAX_HEIRS),
            "pickers": await pickers.pickers(
                ctx, {name: "holders" for name in ("deceased_id", *(f"heir_{i}" for i in range(MAX_HEIRS)))}, values
            ),
        },
        status,
    )


async def inheritance_new(ctx: AdminContext) -> Response:
    values: dict[str, Any] = {"deceased_id": ctx.request.query_params.get("deceased", ""), "died_on": ""}
    values["form_token"] = new_form_token()
    return await _inheritance_form(ctx, values)


async def inheritance_create(ctx: AdminContext) -> Response:
    names = ["deceased_id", "died_on", "form_token"]
    names += [f"heir_{i}" for i in range(MAX_HEIRS)] + [f"share_{i}" for i in range(MAX_HEIRS)]
    names += [f"doc_{k}" for k in DOCUMENT_KINDS]
    values: dict[str, Any] = {name: ctx.field(name) for name in names}
    if pickers.wants_search(ctx) or step(ctx.field("step")) == "edit":
        return await _inheritance_form(ctx, values)
    deceased = await _holder(ctx, "deceased_id")
    if deceased is not None:  # the deceased's batches must all be this account's: 403 with the reason at once
        await trade_service.check_may_inherit(ctx.actor, deceased)
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

        async def record(token: str | None) -> trade_service.InheritanceCase:
            return await holdings.record_inheritance(
                deceased=deceased,
                heirs=heirs,
                died_on=died_on,
                documents=documents,
                actor=ctx.actor,
                form_token=token,
            )

        async def describe(case: trade_service.InheritanceCase) -> dict[str, Any]:
            return {"case": case, "moves": await _inheritance_moves(case)}

        done = await preview_or_confirm(ctx.field("step"), values["form_token"], record, describe)
    except RegisterError as exc:
        return await _inheritance_form(ctx, values, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        return _preview(ctx, "trades/inheritance_preview.html", values, done.preview, deceased=deceased)
    assert done.result is not None
    return redirect(f"/admin/inheritance/{done.result.id}")


async def inheritance_detail(ctx: AdminContext) -> Response:
    case = await get_or_404(trade_service.InheritanceCase, path_id(ctx))
    await case.fetch_related("deceased")
    entries = await RegisterEntry.filter(id__in=case.entry_ids).order_by("seq").prefetch_related("batch")
    # where its batches are (a case that moved nothing: where the deceased is); another district's is not shown
    batch_ids = [e.batch_id for e in entries if e.batch_id is not None]
    target = await access.batches_target(batch_ids) if batch_ids else await access.holder_target(case.deceased)
    readable_or_404(ctx, Action.REGISTER_READ, target)
    certificates = await Certificate.filter(entry_id__in=case.entry_ids).order_by("id")
    data = {"case": case, "moves": await _inheritance_moves(case, entries), "certificates": certificates}
    return page(ctx, "trades/inheritance_detail.html", data)


async def _inheritance_moves(
    case: trade_service.InheritanceCase, entries: list[RegisterEntry] | None = None
) -> list[tuple[RegisterEntry, str, int, str]]:
    """Each heir's part of each batch: (entry, heir's name, units, serial ranges) — the case's page and its preview."""
    if entries is None:
        entries = list(await RegisterEntry.filter(id__in=case.entry_ids).order_by("seq").prefetch_related("batch"))
    moves = []
    names = {h["holder"]: h["name"] for h in case.heirs}
    for entry in entries:
        batch = entry.batch
        if batch is None:
            continue
        for move in entry.details.get("moves", []):
            ranges = "; ".join(batch.serial_range(a, b) for a, b in move["ranges"])
            moves.append((entry, names.get(move["to"], ""), int(move["quantity"]), ranges))
    return moves


# ---------------------------------------------------------------------------------------------- dividends

DIVIDEND_FIELDS = ("batch_id", "income", "record_date", "source", "form_token")


# the dividends list's column sorts: a few dividends a year per collective batch
DIVIDEND_SORTS = Sorting(
    {
        "id": ("id",),
        "batch": ("batch__serial_prefix",),
        "date": ("record_date",),
        "income": ("income_fen",),
        "source": ("source",),
    },
    default="-id",
)


async def dividend_list(ctx: AdminContext) -> Response:
    query = access.scope_batches(ctx.actor, Action.REGISTER_READ, dividend_service.Dividend.all(), prefix="batch__")
    sort = DIVIDEND_SORTS.of(ctx.request)
    paged = await paginate(ctx, query.order_by(*sort.order).prefetch_related("batch"))
    return page(ctx, "trades/dividends.html", {"paged": paged, "sort": sort})


async def _dividend_form(ctx: AdminContext, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    return page(
        ctx,
        "trades/dividend_form.html",
        {"values": values, "error": error, "batches": await _batches(ctx, Action.DIVIDEND_RECORD)},
        status,
    )


async def dividend_new(ctx: AdminContext) -> Response:
    values = {name: "" for name in DIVIDEND_FIELDS}
    values["record_date"] = clock.today().isoformat()
    values["form_token"] = new_form_token()
    return await _dividend_form(ctx, values)


async def dividend_create(ctx: AdminContext) -> Response:
    values = {name: ctx.field(name) for name in DIVIDEND_FIELDS}
    if step(ctx.field("step")) == "edit":
        return await _dividend_form(ctx, values)
    batch = await _batch(ctx, Action.DIVIDEND_RECORD)
    income = fen_field(values["income"])
    record_date = date_field(values["record_date"])
    if batch is None or income is None or record_date is None:
        return await _dividend_form(ctx, values, _("请选择批次并填写收益金额和登记日"), 400)

    async def record(token: str | None) -> dividend_service.Dividend:
        return await dividend_service.record_dividend(
            batch=batch,
            income_fen=income,
            record_date=record_date,
            source=values["source"],
            actor=ctx.actor,
            form_token=token,
        )

    async def describe(dividend: dividend_service.Dividend) -> dict[str, Any]:
        return {"dividend": dividend, "batch": batch, **await dividend_parts(dividend)}

    try:
        done = await preview_or_confirm(ctx.field("step"), values["form_token"], record, describe)
    except RegisterError as exc:
        return await _dividend_form(ctx, values, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        return _preview(ctx, "trades/dividend_preview.html", values, done.preview)
    assert done.result is not None
    return redirect(f"/admin/dividends/{done.result.id}")


async def dividend_parts(dividend: dividend_service.Dividend) -> dict[str, Any]:
    """The table of parts (each holder's units, share and amount) and the totals: the page and its preview."""
    shares = list(await dividend_service.DividendShare.filter(dividend_id=dividend.id).prefetch_related("holder"))
    total_units = sum(int(s.units) for s in shares)
    return {
        "shares": shares,
        "totals": await dividend_service.dividend_totals(dividend),
        "share_of": lambda s: Fraction(int(s.units), total_units),
    }


async def dividend_detail(ctx: AdminContext) -> Response:
    query = dividend_service.Dividend.filter(id=path_id(ctx))
    query = access.scope_batches(ctx.actor, Action.REGISTER_READ, query, prefix="batch__")
    dividend = await query.prefetch_related("batch").first()
    if dividend is None:
        raise HTTPException(404)
    return page(ctx, "trades/dividend_detail.html", {"dividend": dividend, **await dividend_parts(dividend)})
