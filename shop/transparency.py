"""The public face of the register (公开): retirements, the forests behind the tickets, impact figures, the daily
register digests, and the pages every Chinese public site carries (privacy notice, refund policy, contact).

Handlers parse the query, call :mod:`registry.retirements`, :mod:`registry.digests` or :mod:`registry.forests`,
and render; nothing here writes the register. Open data: ``/api/v1/retirements`` (JSON, keyset pages) and
``/api/v1/retirements.csv`` (every row, streamed) share one row shape, documented in :mod:`shop.openapi`. No
name of a person appears unmasked and no identifier at all (tests scan every response).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from certificates.codes import normalise_code
from certificates.routes import case_path, limiter
from kernel import clock
from kernel.proxy import client_ip
from kernel.templating import render
from linpiao import inputs
from linpiao.downloads import stored_response
from linpiao.errors import error_response
from registry import digests, forests, idcrypt, notices, retirements
from registry import parcels as parcel_service
from registry.districts import district_name
from registry.models import Certificate, TicketKind
from registry.parcels import ParcelDocument
from registry.register_view import neutralise
from registry.retirements import Retirement, RetirementKind, RetirementQuery
from registry.storage import storage_of
from shop.charts import Bar, bar_chart, outline_svg
from shop.i18n import gettext as _
from shop.openapi_public import RETIREMENT_FIELDS


def N_(message: str) -> str:
    """Mark a message for the catalog; it is translated where it is shown."""
    return message


KIND_LABELS = {
    "carbon": N_("碳汇抵消"),
    "planting": N_("义务植树尽责"),
    "green_land_offset": N_("绿地占补平衡"),
    "compensation": N_("生态补偿"),
    "other": N_("其他注销"),
}
PURPOSE_LABELS = {
    "travel": N_("出行"),
    "meeting": N_("会议"),
    "event": N_("大型活动"),
    "daily": N_("日常生活"),
    "other": N_("其他"),
    "planting": N_("义务植树尽责"),
    "green_land_offset": N_("绿地占补平衡"),
    "compensation": N_("生态补偿"),
    "": N_("其他"),
}
STATUS_LABELS = {
    "none": N_("无证书"),
    "valid": N_("有效"),
    "revoked": N_("已撤销"),
    "refunded": N_("已退款"),
    "mixed": N_("部分有效"),
}
TICKET_KIND_LABELS = {
    TicketKind.CARBON: N_("碳汇林票"),
    TicketKind.COLLECTIVE: N_("集体林地林票"),
    TicketKind.STATE: N_("国有林地林票"),
}
LAND_SHORT = {TicketKind.COLLECTIVE: N_("集体"), TicketKind.STATE: N_("国有"), TicketKind.CARBON: N_("碳汇")}
CSV_COLUMNS = RETIREMENT_FIELDS  # the JSON schema's fields (shop/openapi_public.py)
MONTHS_SHOWN = 12


def _page(request: Request, name: str, ctx: dict[str, Any], status_code: int = 200) -> Response:
    base = {"active": "", "kind_labels": KIND_LABELS, "purpose_labels": PURPOSE_LABELS}
    return render(request, f"shop/transparency/{name}", {**base, **ctx}, status_code=status_code)


def _district(code: str) -> str:
    return _(district_name(code)) if code else _("全市")


# --- the list of retirements ------------------------------------------------------------------------------


class _TooMany(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


async def _search(request: Request, text: str) -> tuple[int, ...]:
    """A serial number, a compensation case number, or a certificate's verification code. A code that names no
    certificate counts as a failed look-up of /verify (the same limit: codes cannot be guessed here either)."""
    found = await retirements.search(text)
    if found:
        return found
    code = normalise_code(text)
    if code is None:
        return ()
    key = client_ip(request) or "unknown"
    if await limiter(request).blocked(key):
        raise _TooMany(await limiter(request).retry_after(key))
    certificate = await Certificate.get_or_none(code=code)
    if certificate is None:
        await limiter(request).record(key)
        return ()
    return await retirements.retirement_of_certificate(certificate)


async def _query(request: Request) -> tuple[RetirementQuery, str]:
    params = request.query_params
    raw = params.get("q") or ""
    if len(raw) > retirements.MAX_QUERY:
        raise retirements.InvalidRetirementQuery(raw[:20])
    q = raw.strip()
    query = RetirementQuery(
        kind=retirements.parse_kind(params.get("kind")),
        purpose=retirements.parse_purpose(params.get("purpose")),
        month=retirements.parse_month(params.get("month")),
        batch=retirements.parse_batch(params.get("batch")),
        seqs=await _search(request, q) if q else None,
    )
    return query, q


def _too_many(request: Request, exc: _TooMany) -> Response:
    response = error_response(request, 429, "rate_limited", _("查询过于频繁，请稍后再试"))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def retirement_json(row: Retirement, proof: tuple[date, list[str]] | None) -> dict[str, Any]:
    """One retirement as the open data carry it (the schema ``Retirement`` of the OpenAPI document)."""
    return {
        "seq": row.seq,
        "date": row.day.isoformat(),
        "retired_at": clock.local(row.retired_at).isoformat(timespec="seconds"),
        "kind": str(row.kind),
        "purpose": row.purpose,
        "purpose_label": row.purpose_label,
        "batch": row.batch,
        "ticket_kind": str(row.ticket_kind),
        "district_code": row.district_code,
        "serial_ranges": row.serial_ranges,
        "quantity": row.quantity,
        "kg_co2e": row.kg_co2e,
        "beneficiary": row.beneficiary,
        "case_number": row.case_number or None,
        "certificate_status": row.certificate_status,
        "certificates": row.certificates,
        "hash": row.entry.hash,
        "prev_hash": row.entry.prev_hash,
        "entry": row.hashed_content,
        "digest_day": proof[0].isoformat() if proof else None,
        "proof": proof[1] if proof else None,
    }


def canonical_json(content: dict[str, Any]) -> str:
    """The entry's content as its hash covers it (:func:`registry.chain.entry_hash`)."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


async def retirements_page(request: Request) -> Response:
    try:
        query, q = await _query(request)
    except _TooMany as exc:
        return _too_many(request, exc)
    cursor = retirements.parse_cursor(request.query_params.get("cursor"))
    rows, next_cursor = await retirements.page(query, cursor=cursor, limit=retirements.parse_limit(None, 30))
    params = {k: v for k, v in request.query_params.items() if k in ("kind", "purpose", "month", "batch", "q") and v}
    return _page(
        request,
        "retirements.html",
        {
            "rows": rows,
            "q": q,
            "query": query,
            "filters": params,
            "next_cursor": next_cursor,
            "status_labels": STATUS_LABELS,
            "ticket_kind_labels": TICKET_KIND_LABELS,
            "district": _district,
            "kinds": [k.value for k in RetirementKind],
            "purposes": retirements.PURPOSES,
            "months": _recent_months(MONTHS_SHOWN),
            "case_path": case_path,
            "active": "public",
        },
    )


async def retirements_api(request: Request) -> Response:
    try:
        query, _q = await _query(request)
    except _TooMany as exc:
        return _too_many(request, exc)
    cursor = retirements.parse_cursor(request.query_params.get("cursor"))
    limit = retirements.parse_limit(request.query_params.get("limit"))
    rows, next_cursor = await retirements.page(query, cursor=cursor, limit=limit)
    trees = digests.DayTrees()
    items = [retirement_json(row, await trees.proof(row.entry)) for row in rows]
    return JSONResponse({"items": items, "next_cursor": str(next_cursor) if next_cursor else None})


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


async def retirements_csv(request: Request) -> Response:
    try:
        query, _q = await _query(request)
    except _TooMany as exc:
        return _too_many(request, exc)

    async def lines() -> AsyncIterator[bytes]:
        yield ("\ufeff" + _csv_line(CSV_COLUMNS)).encode()  # a BOM, so spreadsheets read UTF-8
        trees = digests.DayTrees()
        async for row in retirements.every(query):
            data = retirement_json(row, await trees.proof(row.entry))
            data["serial_ranges"] = "; ".join(row.serial_ranges)
            data["entry"] = canonical_json(row.hashed_content)
            data["proof"] = " ".join(data["proof"] or [])
            yield _csv_line([neutralise("" if data[c] is None else data[c]) for c in CSV_COLUMNS]).encode()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="linpiao-retirements.csv"'},
    )


# --- register digests -------------------------------------------------------------------------------------


def _day_param(value: str | None) -> date | None:
    """``YYYY-MM-DD``; absent: none (present but empty or anything else: a 400)."""
    if value is None:
        return None
    if len(value) != 10 or not value.isascii():
        raise retirements.InvalidRetirementQuery(value[:20])
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise retirements.InvalidRetirementQuery(value[:20]) from None


async def digests_api(request: Request) -> Response:
    """Every closed day's digest, newest first; a day that lacks one is published now (``on_demand``)."""
    before = _day_param(request.query_params.get("before"))
    limit = retirements.parse_limit(request.query_params.get("limit"), 31)
    await digests.publish_missing(published_by=digests.PublishedBy.ON_DEMAND)
    found = await digests.digests(before=before, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return JSONResponse(
        {
            "items": [digests.digest_json(d) for d in found],
            "next_before": found[-1].day.isoformat() if more and found else None,
            "pairing_rule": digests.PAIRING_RULE,
        }
    )


async def digest_api(request: Request) -> Response:
    day = _day_param(request.path_params["day"])
    digest = await digests.digest_of(day) if day is not None else None
    if digest is None:
        return error_response(request, 404, "not_found", _("该日没有摘要（尚未结束或早于登记簿的第一笔记录）"))
    return JSONResponse(digests.digest_json(digest))


# --- impact -----------------------------------------------------------------------------------------------


def _recent_months(count: int) -> list[str]:
    today = clock.today()
    months = []
    year, month = today.year, today.month
    for _i in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _kg_text(g: int) -> str:
    return f"{g // 1000:,}"


async def impact(request: Request) -> Response:
    await digests.publish_missing(published_by=digests.PublishedBy.ON_DEMAND)
    months = list(reversed(_recent_months(MONTHS_SHOWN)))
    by_kind = await retirements.totals_by("kind")
    by_purpose = await retirements.totals_by("purpose", ticket_kind=TicketKind.CARBON)
    month_rows = {t.key: t for t in await retirements.totals_by("month", month__gte=months[0])}
    by_district = await retirements.totals_by("district_code")
    sold = [t for t in by_kind if t.key in (RetirementKind.CARBON, RetirementKind.PLANTING)]
    year = clock.today().year
    land = await forests.land_issued_by_district()
    month_list = [(m, month_rows.get(m)) for m in months]
    charts = {
        "kind": bar_chart(
            [Bar(_(KIND_LABELS.get(t.key, t.key)), t.quantity) for t in by_kind],
            title=_("按注销类型的林票数量（张）"),
            chart_id="chart-kind",
        ),
        "purpose": bar_chart(
            [Bar(_(PURPOSE_LABELS.get(t.key, t.key)), t.g_co2e // 1000) for t in by_purpose],
            title=_("按用途的碳汇抵消量（千克二氧化碳当量）"),
            chart_id="chart-purpose",
        ),
        "month": bar_chart(
            [Bar(m, t.quantity if t else 0) for m, t in month_list],
            title=_("近12个月每月注销的林票数量（张）"),
            chart_id="chart-month",
            colour="#2f6b3a",
        ),
        "district": bar_chart(
            [Bar(_district(t.key), t.quantity) for t in by_district],
            title=_("按区县注销的林票数量（张）"),
            chart_id="chart-district",
        ),
        "land": bar_chart(
            [Bar(_(d.district) + " " + _(LAND_SHORT[d.kind]), d.units) for d in land],
            title=_("按区县发放的林地林票（张）"),
            chart_id="chart-land",
        ),
    }
    latest = await digests.latest_digest()
    return _page(
        request,
        "impact.html",
        {
            "sold_units": sum(t.quantity for t in sold),
            "kg_total": _kg_text(sum(t.g_co2e for t in by_kind)),
            "retirements_count": sum(t.retirements for t in by_kind),
            "by_kind": by_kind,
            "by_purpose": by_purpose,
            "by_month": month_list,
            "by_district": by_district,
            "land": land,
            "planting": await forests.planting_year(year),
            "charts": charts,
            "digest": digests.digest_json(latest) if latest else None,
            "district": _district,
            "ticket_kind_labels": TICKET_KIND_LABELS,
            "land_short": LAND_SHORT,
            "active": "public",
        },
    )


# --- forests ----------------------------------------------------------------------------------------------


async def forests_page(request: Request) -> Response:
    found = await forests.forests()
    outlines = {
        f.batch.id: outline_svg(f.outline, size=96, title=_("%(batch)s 地块轮廓", batch=f.batch.serial_prefix))
        for f in found
        if f.outline
    }
    return _page(
        request,
        "forests.html",
        {"forests": found, "outlines": outlines, "ticket_kind_labels": TICKET_KIND_LABELS, "active": "public"},
    )


async def forest_page(request: Request) -> Response:
    found = await forests.forest(request.path_params["batch"])
    outline = (
        outline_svg(found.outline, size=280, title=_("%(batch)s 地块轮廓", batch=found.batch.serial_prefix))
        if found.outline
        else None
    )
    return _page(
        request,
        "forest.html",
        {"forest": found, "outline": outline, "ticket_kind_labels": TICKET_KIND_LABELS, "active": "public"},
    )


async def _published_file(
    request: Request, key_of: Callable[[ParcelDocument], str], *, attachment: bool = False
) -> Response:
    """A file forestry published (:func:`registry.forests.published_document`: anything else is the same 404),
    streamed from the file storage whichever server stored it."""
    document_id = inputs.record_id(request.path_params["doc"]) or 0
    document = await forests.published_document(request.path_params["batch"], document_id)
    key = key_of(document)
    download = await storage_of(request.app.state.settings).open(key) if key else None
    if download is None:
        raise forests.ForestNotFound(str(document.id))
    return stored_response(
        download,
        media_type=document.content_type,
        filename=parcel_service.public_name(document) if attachment else "",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def forest_photo(request: Request) -> Response:
    """A published photo as re-encoded for the public (no EXIF, at most 1600 px): never the uploaded bytes."""
    return await _published_file(request, lambda d: d.public_image if d.is_photo else "")


async def forest_thumbnail(request: Request) -> Response:
    return await _published_file(request, lambda d: d.public_thumb if d.is_photo else "")


async def forest_document(request: Request) -> Response:
    """A published PDF, offered for saving under its title (never its uploaded file name)."""
    return await _published_file(
        request, lambda d: "" if d.is_photo else parcel_service.document_key(d), attachment=True
    )


# --- notices ----------------------------------------------------------------------------------------------

NOTICE_KIND_LABELS = {"dividend": N_("分红公示"), "collective_issuance": N_("集体林地林票发放公示")}


async def notices_page(request: Request) -> Response:
    open_, closed, objections = await notices.board()
    return _page(
        request,
        "notices.html",
        {
            "open_notices": open_,
            "closed_notices": closed,
            "objections": objections,
            "upheld": await notices.upheld_counts([n.id for n in (*open_, *closed)]),
            "notice_kind_labels": NOTICE_KIND_LABELS,
            "active": "public",
        },
    )


# --- trust pages ------------------------------------------------------------------------------------------


async def privacy(request: Request) -> Response:
    return _page(request, "privacy.html", {"notice_version": idcrypt.NOTICE_VERSION})


async def refunds(request: Request) -> Response:
    return _page(request, "refunds.html", {})


async def contact(request: Request) -> Response:
    return _page(request, "contact.html", {})


routes: list[BaseRoute] = [
    Route("/retirements", retirements_page, name="retirements"),
    Route("/impact", impact, name="impact"),
    Route("/forests", forests_page, name="forests"),
    Route("/forests/{batch}", forest_page, name="forest"),
    Route("/forests/{batch}/photos/{doc:id}", forest_photo, name="forest_photo"),
    Route("/forests/{batch}/photos/{doc:id}/thumb", forest_thumbnail, name="forest_thumbnail"),
    Route("/forests/{batch}/documents/{doc:id}", forest_document, name="forest_document"),
    Route("/notices", notices_page, name="notices"),
    Route("/privacy", privacy, name="privacy"),
    Route("/refunds", refunds, name="refunds"),
    Route("/contact", contact, name="contact"),
    Route("/api/v1/retirements", retirements_api, name="api_retirements"),
    Route("/api/v1/retirements.csv", retirements_csv, name="api_retirements_csv"),
    Route("/api/v1/register/digests", digests_api, name="api_digests"),
    Route("/api/v1/register/digests/{day}", digest_api, name="api_digest"),
]
