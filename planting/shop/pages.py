"""Pages of obligatory tree planting (义务植树尽责): citizens at ``/planting``, organisations at ``/planting/org``.

Handlers parse the form, call :mod:`planting.domain` / :mod:`planting.shop.orders`, and render; the rules
(who owes the duty, how a year adds up, the report's formula) live in :mod:`planting.domain`.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from tortoise.transactions import in_transaction

from certificates.bulk import zip_response
from certificates.codes import group_code
from kernel import clock
from kernel.proxy import client_ip
from kernel.settings import Settings
from kernel.templating import render
from linpiao import inputs
from linpiao.errors import refusal_text, status_of
from planting.domain.duty import DUTY_MAX_AGE_FEMALE, DUTY_MAX_AGE_MALE, DUTY_MIN_AGE
from planting.domain.errors import RosterNotFound
from planting.domain.models import (
    MemberStatus,
    PaymentStatus,
    PlantingOutcome,
    PlantingRule,
    RosterMember,
    RosterPayment,
    RosterSubmission,
)
from planting.domain.purchases import already_fulfilled, fulfilled_digests, parse_citizen_request
from planting.domain.report import fulfilment_report
from planting.domain.rosters import (
    already_fulfilled_members,
    check_organisation,
    create_submission,
    lapsed_payments,
    store_roster,
    submission_by_token,
    unpaid_summary,
)
from planting.domain.rules import TREES_MAX, TREES_MIN, quote, rule_for, years_on_sale
from planting.shop.jobs import certificate_progress, stored_zip
from planting.shop.orders import (
    PLANTING_PURPOSE,
    create_citizen_order,
    create_roster_order,
    order_purchases,
    price_fen,
    submission_certificate_ids,
)
from planting.shop.report import report_csv, report_pdf
from planting.shop.roster import MAX_BYTES, PROBLEMS, RosterFileTooLarge, RosterPreview, parse_roster
from registry import apikeys, cpu
from registry.errors import RegisterError
from registry.models import Certificate, Order, OrderStatus
from shop import my_orders
from shop.checkout import start_checkout
from shop.errors import OrderNotFound
from shop.limits import Buyer
from shop.orders import fail_checkout, order_by_token
from shop.payments import provider_for_order, provider_name
from shop.views import quota_view

log = logging.getLogger("linpiao.shop.planting")
FORM_LIMITS = {"max_files": 0, "max_fields": 20}
UPLOAD_LIMITS = {"max_files": 1, "max_fields": 20}
TREE_CHOICES = range(TREES_MIN, TREES_MAX + 1)
OUTCOME_LABELS = {
    PlantingOutcome.FULFILS: "已完成本年度义务植树尽责，颁发全民义务植树尽责证书",
    PlantingOutcome.PARTIAL: "已计入本年度尽责株数，尚未达到每人应尽责株数，颁发国土绿化荣誉证书",
    PlantingOutcome.BEYOND_DUTY: "本年度已经尽责，本次为额外捐资，颁发国土绿化荣誉证书",
    PlantingOutcome.OUTSIDE_DUTY: "不在义务植树适龄范围内，颁发国土绿化荣誉证书",
}
ROWS_SHOWN = 500


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _page(request: Request, name: str, ctx: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, f"planting/shop/{name}", {"active": "planting", **ctx}, status_code=status_code)


def _ticked(value: object) -> bool:
    """A check box's value: ticked sends its value ("1"), unticked sends nothing."""
    return str(value or "").strip().lower() in ("1", "on", "yes", "true")


def _this_year() -> int:
    return clock.today().year


async def _years_and_rule(chosen: object) -> tuple[list[int], PlantingRule | None]:
    years = await years_on_sale()
    year = None
    if isinstance(chosen, str) and chosen.strip().isdigit() and int(chosen) in years:
        year = int(chosen)
    elif _this_year() in years:
        year = _this_year()
    elif years:
        year = years[0]
    return years, (await rule_for(year) if year is not None else None)


# --- citizens -----------------------------------------------------------------------------------------------


async def citizen(request: Request) -> Response:
    """``/planting``: choose the year and 3–5 trees, the name to print, optionally the ID number; pay."""
    settings = _settings(request)
    form: dict[str, Any] = dict(request.query_params)
    error = None
    status = 200
    if request.method == "POST":
        async with request.form(**FORM_LIMITS) as submitted:
            form = inputs.form_fields(submitted)
        try:
            declared = {"owes": True, "outside": False}.get(str(form.get("declared", "")))
            parsed = parse_citizen_request(
                year=form.get("year"),
                trees=form.get("trees"),
                name=form.get("name"),
                id_number=form.get("id_number"),
                declared_owes=declared,
                id_consent=_ticked(form.get("id_consent")),
            )
            fulfilled = await already_fulfilled(parsed.id_number, parsed.year)
            order = await create_citizen_order(
                settings,
                parsed,
                provider=provider_name(settings),
                buyer=Buyer.at_address(client_ip(request)),
                contact=str(form.get("contact", ""))[:100],
            )
            url = await start_checkout(settings, order)
            # told before paying, not prevented: the order page says so and links to payment
            placed = RedirectResponse(f"/planting/orders/{order.token}" if fulfilled else url, status_code=303)
            my_orders.remember(request, placed, settings, order.token)  # "my orders" on this device
            return placed
        except RegisterError as exc:
            error, status = refusal_text(exc), status_of(exc)
    years, rule = await _years_and_rule(form.get("year"))
    price = await price_fen()
    quotes = [quote(rule, trees, price) for trees in TREE_CHOICES] if rule else []
    trees = str(form.get("trees", "")).strip()
    chosen_trees = int(trees) if trees.isdigit() and int(trees) in TREE_CHOICES else TREES_MIN
    return _page(
        request,
        "citizen.html",
        {
            "years": years,
            "rule": rule,
            "quotes": quotes,
            "price_fen": price,
            "form": form,
            "chosen_trees": chosen_trees,
            "error": error,
            "ages": (DUTY_MIN_AGE, DUTY_MAX_AGE_MALE, DUTY_MAX_AGE_FEMALE),
        },
        status_code=status,
    )


async def citizen_order(request: Request) -> Response:
    """``/planting/orders/{token}``: a planting order's state, its certificate, and notices before paying."""
    order = await order_by_token(request.path_params["token"])
    if order.purpose != PLANTING_PURPOSE:
        raise OrderNotFound()
    roster_id = order.details.get("planting", {}).get("submission")
    if roster_id is not None:
        submission = await RosterSubmission.get(id=roster_id)
        return RedirectResponse(f"/planting/org/{submission.token}", status_code=303)
    [purchase] = await order_purchases(order)
    fulfilled_before = False
    if order.status is OrderStatus.PENDING and purchase.id_digest:
        fulfilled_before = bool(await fulfilled_digests([purchase.id_digest], purchase.year))
    certificate = purchase.certificate if purchase.certificate_id else None
    final = order.status not in (OrderStatus.PENDING, OrderStatus.PAID)
    response = _page(
        request,
        "order.html",
        {
            "order": order,
            "purchase": purchase,
            "certificate": certificate,
            "printed_code": group_code(certificate.code) if certificate else "",
            "fulfilled_before": fulfilled_before,
            "outcome_label": OUTCOME_LABELS.get(purchase.outcome) if purchase.outcome else "",
            "final": final,
        },
    )
    my_orders.remember(request, response, _settings(request), order.token)  # "my orders" on this device
    return response


# --- organisations ------------------------------------------------------------------------------------------


async def _read_upload(form: Any) -> tuple[bytes, str]:
    upload = form.get("roster")
    if not isinstance(upload, UploadFile):
        return b"", ""
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RosterFileTooLarge()
    return data, upload.filename or ""


async def org_start(request: Request) -> Response:
    """``/planting/org``: the organisation's details and its roster file; nothing is stored unless it reads."""
    form: dict[str, Any] = {}
    error = None
    status = 200
    if request.method == "POST":
        async with request.form(**UPLOAD_LIMITS) as submitted:
            form = inputs.form_fields(submitted)
            try:
                org = await check_organisation(
                    organisation_name=form.get("organisation_name"),
                    credit_code=form.get("credit_code"),
                    contact=form.get("contact"),
                    year=form.get("year"),
                )
                data, filename = await _read_upload(submitted)
                preview = await cpu.file_work(parse_roster, data, filename, year=org.year)
                async with in_transaction():
                    submission = await create_submission(
                        organisation_name=org.name, credit_code=org.credit_code, contact=org.contact, year=org.year
                    )
                    await store_roster(submission, preview.rows, consented=_ticked(form.get("id_consent")))
                return RedirectResponse(f"/planting/org/{submission.token}", status_code=303)
            except RegisterError as exc:
                error, status = refusal_text(exc), status_of(exc)
    years, rule = await _years_and_rule(form.get("year"))
    return _page(
        request,
        "org_start.html",
        {"years": years, "rule": rule, "form": form, "error": error, "max_rows": "5,000"},
        status_code=status,
    )


async def _submission(request: Request) -> RosterSubmission:
    try:
        return await submission_by_token(request.path_params["token"])
    except RosterNotFound as exc:
        raise HTTPException(status_of(exc)) from exc


async def _cancel_superseded(settings: Settings, payments: list[RosterPayment]) -> None:
    """Payments a new upload replaced: close their payment pages and give their tickets back."""
    for payment in payments:
        if payment.order_id is None:
            continue
        order = await Order.get(id=payment.order_id)
        if order.status is not OrderStatus.PENDING:
            continue
        provider = provider_for_order(settings, order)  # its own provider: Stripe, Alipay, WeChat Pay or the demo
        try:
            await provider.expire_checkout(order)
        except Exception:  # the page then simply runs out; its units are released below either way
            log.exception("closing the payment page of order %s failed", order.id)
        finally:
            await provider.aclose()
        await fail_checkout(order, "superseded_by_new_upload")


async def org_manage(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    """``/planting/org/{token}``: the private management page — preview, payment, certificates, report."""
    submission = await _submission(request)
    # Reading the page changes nothing: the rows of a payment whose order ended unpaid show as unpaid, and go back
    # to the roster when the order ends (shop.purposes), in the expiry job's sweep, or when the organisation pays.
    lapsed = {p.id for p in await lapsed_payments(submission)}
    rule = await rule_for(submission.year)
    price = await price_fen()
    unpaid = await unpaid_summary(submission, price_fen=price, lapsed=lapsed)
    latest = await RosterMember.filter(submission=submission, upload_no=submission.uploads).order_by("line_no", "id")
    for member in latest:
        if member.payment_id in lapsed:
            member.status = MemberStatus.PENDING  # shown as releasing its payment will make it (never saved here)
    # people who already fulfilled this year's duty elsewhere are flagged before the organisation pays (told,
    # not stopped: paying for them brings an honour certificate); read now, as it can change after the upload
    fulfilled = await already_fulfilled_members(latest, submission.year)
    for member in latest:
        if member.id in fulfilled:
            member.problems = [*member.problems, {"code": "already_fulfilled", "severity": "warning", "detail": ""}]
    only_problems = request.query_params.get("problems") == "1"
    shown = [m for m in latest if m.problems] if only_problems else latest
    waiting = await RosterPayment.filter(submission=submission, status=PaymentStatus.PENDING).first()
    waiting_order = await Order.get(id=waiting.order_id) if waiting and waiting.order_id else None
    if waiting_order is not None and waiting_order.status is not OrderStatus.PENDING:
        waiting_order = None
    paid_payments = await RosterPayment.filter(submission=submission, status=PaymentStatus.PAID).order_by("id")
    # each payment's order token: its payment receipt (收款凭证) is behind the order's private link
    paid_orders = [p.order_id for p in paid_payments if p.order_id is not None]
    order_tokens = dict(await Order.filter(id__in=paid_orders).values_list("id", "token")) if paid_orders else {}
    certificates = await submission_certificate_ids(submission)
    report = await fulfilment_report(submission)
    return _page(
        request,
        "org_manage.html",
        {
            "submission": submission,
            "rule": rule,
            "price_fen": price,
            "unpaid": unpaid,
            "latest": latest,
            "shown": shown[:ROWS_SHOWN],
            "hidden_rows": max(0, len(shown) - ROWS_SHOWN),
            "only_problems": only_problems,
            "counts": {
                "rows": len(latest),
                "errors": sum(1 for m in latest if not m.payable),
                "warnings": sum(
                    1 for m in latest if m.payable and any(p.get("severity") == "warning" for p in m.problems)
                ),
                "paid": sum(1 for m in latest if m.status is MemberStatus.PAID),
                "fulfilled": sum(1 for m in latest if m.id in fulfilled and m.payable),
            },
            "problem_messages": {code: message for code, (_severity, message) in PROBLEMS.items()},
            "waiting_order": waiting_order,
            "paid_payments": paid_payments,
            "order_tokens": order_tokens,
            "certificate_count": len(certificates),
            "progress": await certificate_progress(submission),  # certificates the job is still making
            "report": report,
            "error": error,
            "limits": (await quota_view(_settings(request))).limits,
        },
        status_code=status,
    )


async def org_manage_page(request: Request) -> Response:
    return await org_manage(request)


async def org_upload(request: Request) -> Response:
    """Upload a corrected roster or late staff: replaces the unpaid rows; paid people are not paid twice."""
    settings = _settings(request)
    submission = await _submission(request)
    async with request.form(**UPLOAD_LIMITS) as submitted:
        try:
            data, filename = await _read_upload(submitted)
            preview: RosterPreview = await cpu.file_work(parse_roster, data, filename, year=submission.year)
            consented = _ticked(submitted.get("id_consent"))
            result = await store_roster(submission, preview.rows, consented=consented)
        except RegisterError as exc:
            return await org_manage(request, error=refusal_text(exc), status=status_of(exc))
    await _cancel_superseded(settings, result.superseded_payments)
    return RedirectResponse(f"/planting/org/{submission.token}", status_code=303)


async def org_pay(request: Request) -> Response:
    """Pay once for every payable, unpaid row (a repeated click returns to the same payment page)."""
    settings = _settings(request)
    submission = await _submission(request)
    async with request.form(**FORM_LIMITS) as form:
        key = str(form.get("api_key") or "").strip()[:200]
    try:
        # an organisation's API key (optional) lifts the shop's limits for a large roster (shop/limits.py)
        buyer = Buyer.with_key(await apikeys.authenticate(key)) if key else Buyer.at_address(client_ip(request))
        order = await create_roster_order(settings, submission, provider=provider_name(settings), buyer=buyer)
        url = await start_checkout(settings, order)
    except RegisterError as exc:
        return await org_manage(request, error=refusal_text(exc), status=status_of(exc))
    paying = RedirectResponse(url, status_code=303)
    my_orders.remember(request, paying, settings, order.token)  # "my orders": it leads back to the roster's page
    return paying


async def org_zip(request: Request) -> Response:
    """Every certificate of the roster's paid people as one zip: the one the job ``planting.zip`` built when it is
    current, or streamed one PDF at a time."""
    submission = await _submission(request)
    ids = await submission_certificate_ids(submission)
    if not ids:
        raise HTTPException(404)
    filename = f"planting-{submission.year}-certificates.zip"
    stored = await stored_zip(_settings(request), submission, filename)
    return stored or zip_response(ids, str(_settings(request).base_url), filename)


async def _report_context(request: Request) -> dict[str, Any]:
    submission = await _submission(request)
    report = await fulfilment_report(submission)
    ids = [line.certificate_id for line in report.lines if line.certificate_id]
    codes = {c.id: c.code for c in await Certificate.filter(id__in=ids).only("id", "code")} if ids else {}
    return {"submission": submission, "report": report, "codes": codes, "outcomes": OUTCOME_LABELS}


async def org_report(request: Request) -> Response:
    return _page(request, "report.html", await _report_context(request))


async def org_report_csv(request: Request) -> Response:
    ctx = await _report_context(request)
    body = report_csv(ctx["report"], ctx["codes"])
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="planting-report-{ctx["submission"].year}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


async def org_report_pdf(request: Request) -> Response:
    ctx = await _report_context(request)
    return Response(
        await cpu.file_work(report_pdf, ctx["report"], ctx["codes"]),  # off the event loop (registry.cpu)
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="planting-report-{ctx["submission"].year}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


routes: list[BaseRoute] = [
    Route("/planting", citizen, methods=["GET", "POST"], name="planting"),
    Route("/planting/orders/{token}", citizen_order, name="planting_order"),
    Route("/planting/org", org_start, methods=["GET", "POST"], name="planting_org"),
    Route("/planting/org/{token}", org_manage_page, name="planting_org_manage"),
    Route("/planting/org/{token}/upload", org_upload, methods=["POST"], name="planting_org_upload"),
    Route("/planting/org/{token}/pay", org_pay, methods=["POST"], name="planting_org_pay"),
    Route("/planting/org/{token}/certificates.zip", org_zip, name="planting_org_zip"),
    Route("/planting/org/{token}/report", org_report, name="planting_org_report"),
    Route("/planting/org/{token}/report.csv", org_report_csv, name="planting_org_report_csv"),
    Route("/planting/org/{token}/report.pdf", org_report_pdf, name="planting_org_report_pdf"),
]
