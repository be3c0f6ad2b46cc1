"""The register view (filters, serial ranges, CSV/XLSX export) and holder statements (page and PDF)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

from admin.session import AdminContext
from admin.statement_pdf import statement_pdf
from admin.web import PAGE_SIZE, date_field, get_or_404, int_field, page, path_id
from linpiao import inputs
from registry import clock
from registry import register_view as view
from registry.models import Batch, EntryKind, Holder, TicketKind

EXPORT_LIMIT = 100_000


def _filters(params: QueryParams) -> tuple[view.EntryFilter, dict[str, str]]:
    raw = {name: params.get(name, "").strip()[:40] for name in ("batch", "holder", "kind", "entry", "from", "to")}
    kind = raw["kind"] if raw["kind"] in set(TicketKind) else ""
    entry = raw["entry"] if raw["entry"] in set(EntryKind) else ""
    date_from, date_to = date_field(raw["from"]), date_field(raw["to"])
    flt = view.EntryFilter(
        batch_id=int_field(raw["batch"]),
        holder_id=int_field(raw["holder"]),
        ticket_kind=TicketKind(kind) if kind else None,
        entry_kind=EntryKind(entry) if entry else None,
        date_from=date_from,
        date_to=date_to,
    )
    shown = {
        "batch": str(flt.batch_id or ""),
        "holder": str(flt.holder_id or ""),
        "kind": kind,
        "entry": entry,
        "from": date_from.isoformat() if date_from else "",
        "to": date_to.isoformat() if date_to else "",
    }
    return flt, shown


async def register_page(ctx: AdminContext) -> Response:
    flt, shown = _filters(ctx.request.query_params)
    number = inputs.page_number(ctx.request.query_params.get("page"))
    total = await view.count_entries(flt)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(number, pages)
    rows = await view.find_entries(flt, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    query = "&".join(f"{k}={v}" for k, v in shown.items() if v)
    return page(
        ctx,
        "trades/register.html",
        {
            "rows": rows,
            "paged": {"page": number, "pages": pages, "total": total},
            "filters": shown,
            "query": query,
            "batches": await Batch.all().order_by("-id").limit(500),
            "kinds": list(TicketKind),
            "entry_kinds": list(EntryKind),
        },
    )


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _stamp() -> str:
    return clock.local_now().strftime("%Y%m%d-%H%M")


async def register_csv(ctx: AdminContext) -> Response:
    flt, _shown = _filters(ctx.request.query_params)
    rows = await view.find_entries(flt, limit=EXPORT_LIMIT)
    return _download(view.export_csv(rows), "text/csv; charset=utf-8", f"register-{_stamp()}.csv")


async def register_xlsx(ctx: AdminContext) -> Response:
    flt, _shown = _filters(ctx.request.query_params)
    rows = await view.find_entries(flt, limit=EXPORT_LIMIT)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(view.export_xlsx(rows), media, f"register-{_stamp()}.xlsx")


async def _statement(ctx: AdminContext) -> tuple[view.Statement, dict[str, Any]]:
    holder = await get_or_404(Holder, path_id(ctx))
    params = ctx.request.query_params
    date_from, date_to = date_field(params.get("from", "")), date_field(params.get("to", ""))
    batch_id = int_field(params.get("batch", ""))
    batch = await Batch.get_or_none(id=batch_id) if batch_id is not None else None
    statement = await view.holder_statement(holder, date_from=date_from, date_to=date_to, batch=batch)
    shown = {
        "from": date_from.isoformat() if date_from else "",
        "to": date_to.isoformat() if date_to else "",
        "batch": str(batch.id) if batch else "",
    }
    return statement, shown


async def statement_page(ctx: AdminContext) -> Response:
    statement, shown = await _statement(ctx)
    query = "&".join(f"{k}={v}" for k, v in shown.items() if v)
    return page(ctx, "trades/statement.html", {"statement": statement, "filters": shown, "query": query})


async def statement_download(ctx: AdminContext) -> Response:
    statement, _shown = await _statement(ctx)
    body = statement_pdf(statement, printed_on=clock.today(), printed_by=ctx.staff.username)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="statement-{statement.holder.id}-{_stamp()}.pdf"',
            "Cache-Control": "no-store",
        },
    )
