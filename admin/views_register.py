"""The register view (filters, serial ranges, CSV/XLSX export) and holder statements (page and PDF)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin import exports
from admin.session import AdminContext
from admin.statement_pdf import statement_pdf
from admin.web import PAGE_SIZE, date_field, get_or_404, int_field, page, path_id, readable_or_404, redirect
from kernel import clock
from linpiao import inputs
from linpiao.downloads import stored_response
from registry import access, cpu
from registry import register_view as view
from registry.access import Action
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


async def _scoped_filters(ctx: AdminContext) -> tuple[view.EntryFilter, dict[str, str]]:
    """The filters of the request, narrowed to the batches the account may read (:mod:`registry.access`: an
    issuer reads its own district's register)."""
    flt, shown = _filters(ctx.request.query_params)
    within = await access.readable_batch_ids(ctx.actor)
    return (replace(flt, within=frozenset(within)) if within is not None else flt), shown


async def register_page(ctx: AdminContext) -> Response:
    flt, shown = await _scoped_filters(ctx)
    # keyset on seq (``?after=`` the last entry shown): a page deep in a register of millions costs what the first does
    after = inputs.whole_number(ctx.request.query_params.get("after", ""))
    rows = await view.find_entries(flt, limit=PAGE_SIZE + 1, after_seq=after)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    query = "&".join(f"{k}={v}" for k, v in shown.items() if v)
    return page(
        ctx,
        "trades/register.html",
        {
            "rows": rows,
            "paged": {"first": after is None, "next_after": rows[-1].seq if more and rows else None},
            "filters": shown,
            "query": query,
            "batches": await access.scope_batches(ctx.actor, Action.REGISTER_READ, Batch.all())
            .order_by("-id")
            .limit(500),
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


async def _background_export(ctx: AdminContext, flt: view.EntryFilter, fmt: str) -> Response | None:
    """More than ``exports.INLINE_ROWS`` rows: a background job writes the file (admin/exports.py)."""
    rows = await view.count_entries(flt)
    if rows <= exports.INLINE_ROWS:
        return None
    token = await exports.start(ctx.settings, ctx.staff.id, flt, fmt, f"register-{_stamp()}.{fmt}", rows)
    return redirect(f"/admin/register/exports/{token}")


async def export_page(ctx: AdminContext) -> Response:
    """A background export: a page that reloads itself until the file is written, then the file."""
    token = str(ctx.request.path_params.get("token", ""))
    about = await exports.ticket(ctx.settings, ctx.staff.id, token)  # another account's token finds nothing
    if about is None:
        raise HTTPException(404)
    if ctx.request.query_params.get("download") == "1":
        download = await exports.open_result(ctx.settings, ctx.staff.id, token, about["format"])
        if download is not None:
            return stored_response(
                download,
                media_type=exports.FORMATS[about["format"]],
                filename=about["filename"],
                headers={"Cache-Control": "no-store"},
            )
    ready = await exports.ready(ctx.settings, ctx.staff.id, token, about["format"])
    return page(ctx, "export.html", {"about": about, "ready": ready, "token": token})


async def register_csv(ctx: AdminContext) -> Response:
    flt, _shown = await _scoped_filters(ctx)
    if (queued := await _background_export(ctx, flt, "csv")) is not None:
        return queued
    rows = await view.find_entries(flt, limit=EXPORT_LIMIT)
    return _download(view.export_csv(rows), "text/csv; charset=utf-8", f"register-{_stamp()}.csv")


async def register_xlsx(ctx: AdminContext) -> Response:
    flt, _shown = await _scoped_filters(ctx)
    if (queued := await _background_export(ctx, flt, "xlsx")) is not None:
        return queued
    rows = await view.find_entries(flt, limit=EXPORT_LIMIT)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(view.export_xlsx(rows), media, f"register-{_stamp()}.xlsx")


async def _statement(ctx: AdminContext) -> tuple[view.Statement, dict[str, Any]]:
    holder = await get_or_404(Holder, path_id(ctx))
    readable_or_404(ctx, Action.HOLDER_READ, await access.holder_target(holder))  # another district's: 404
    within = await access.readable_batch_ids(ctx.actor)  # and only what it holds in batches the account reads
    params = ctx.request.query_params
    date_from, date_to = date_field(params.get("from", "")), date_field(params.get("to", ""))
    batch_id = int_field(params.get("batch", ""))
    batch = await Batch.get_or_none(id=batch_id) if batch_id is not None else None
    statement = await view.holder_statement(
        holder,
        date_from=date_from,
        date_to=date_to,
        batch=batch,
        within=frozenset(within) if within is not None else None,
    )
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
    # drawn in the file pool (registry.cpu): reportlab holds the thread for as long as the statement is long
    body = await cpu.file_work(statement_pdf, statement, printed_on=clock.today(), printed_by=ctx.staff.username)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="statement-{statement.holder.id}-{_stamp()}.pdf"',
            "Cache-Control": "no-store",
        },
    )
