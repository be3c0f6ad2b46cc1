"""Back-office screens of public notices (公示, :mod:`registry.notices`): the notices of the clerk's district, open
and closed; publishing a collective issuance application or a dividend for a period (7 days by default);
recording an objection received during the period and settling it with its outcome (upheld or not); recording a
dividend's payment once its notice closed. Every rule — who may, when, what is refused — is the register's;
every action is audited there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.responses import Response
from tortoise.expressions import Subquery

from admin.i18n import gettext as _
from admin.preview import confirm_token, preview_or_confirm
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.views_trades import dividend_parts
from admin.web import get_or_404, keyset_paginate, page, path_id, readable_or_404, redirect, refusal_message
from kernel import clock
from linpiao.errors import status_of
from registry import access, notices
from registry.access import Action
from registry.applications import ApplicationStatus, IssuanceApplication
from registry.dividends import Dividend
from registry.errors import RegisterError
from registry.models import Batch, TicketKind

OUTCOMES = {"dismissed": False, "upheld": True}


async def _publishable(ctx: AdminContext) -> list[tuple[str, str]]:
    """What the account may publish and has not yet: ``(value, label)`` for the publish form."""
    choices: list[tuple[str, str]] = []
    applications = access.scope(
        ctx.actor,
        Action.APPLICATION_READ,
        IssuanceApplication.filter(
            kind=TicketKind.COLLECTIVE,
            status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED],
        ).exclude(id__in=Subquery(notices.PublicNotice.filter(application_id__isnull=False).values("application_id"))),
    )
    for application in await applications.order_by("-id").limit(100).prefetch_related("parcel"):
        if access.may(ctx.actor, Action.APPLICATION_HANDLE, access.place(application.district_code, application.kind)):
            parcel = application.parcel
            choices.append(
                (
                    f"application:{application.id}",
                    f"{_('发放申请')} #{application.id} {parcel.township}{parcel.village}",
                )
            )
    published = Subquery(notices.PublicNotice.filter(dividend_id__isnull=False).values("dividend_id"))
    for dividend in await Dividend.exclude(id__in=published).order_by("-id").limit(100).prefetch_related("batch"):
        if access.may(ctx.actor, Action.DIVIDEND_RECORD, access.batch_target(dividend.batch)):
            choices.append((f"dividend:{dividend.id}", f"{_('分红')} #{dividend.id} {dividend.batch.serial_prefix}"))
    return choices


# the notices' own columns; the objections and the result are counted per notice and do not sort. Without a
# chosen sort the open ones close soonest first and the closed ones latest first.
NOTICE_SORTS = Sorting(
    {"title": ("title",), "district": ("district_code", "title"), "period": ("closes_at",)}, default="period"
)


# the page's two tables page on their own (keyset, :func:`admin.web.keyset_paginate`): each its position parameter
NOTICE_POSITIONS = ("open_after", "closed_after")


async def notice_list(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    now = clock.now()
    mine = access.scope(ctx.actor, Action.NOTICE_READ, notices.PublicNotice.all())
    sort = NOTICE_SORTS.of(ctx.request)
    closed_sort = sort if ctx.request.query_params.get("sort") == sort.key else NOTICE_SORTS.choose("-period")
    open_ = await keyset_paginate(ctx, mine.filter(closes_at__gt=now), sort.order, NOTICE_POSITIONS[0])
    closed = await keyset_paginate(ctx, mine.filter(closes_at__lte=now), closed_sort.order, NOTICE_POSITIONS[1])
    objections: dict[int, list[notices.NoticeObjection]] = {}
    ids = [n.id for n in (*open_.items, *closed.items)]
    for objection in await notices.NoticeObjection.filter(notice_id__in=ids).order_by("id"):
        objections.setdefault(objection.notice_id, []).append(objection)
    return page(
        ctx,
        "notices.html",
        {
            "open_notices": open_,
            "closed_notices": closed,
            "sort": sort,
            "closed_sort": closed_sort,
            "positions": NOTICE_POSITIONS,
            "objections": objections,
            "publishable": await _publishable(ctx),
            "values": {"subject": ctx.field("subject"), "period_days": ctx.field("period_days")},
            "default_days": notices.DEFAULT_DAYS,
            "error": error,
        },
        status,
    )


def _days(text: str) -> int | str:
    text = text.strip()
    if not text:
        return notices.DEFAULT_DAYS
    return int(text) if text.isdigit() and len(text) < 4 else text  # the register refuses anything else


async def notice_publish(ctx: AdminContext) -> Response:
    kind, _sep, ident = ctx.field("subject").partition(":")
    period = _days(ctx.field("period_days"))
    try:
        if kind == "application" and ident.isdigit():
            application = await get_or_404(IssuanceApplication, int(ident))
            readable_or_404(ctx, Action.APPLICATION_READ, access.place(application.district_code, application.kind))
            notice = await notices.publish_issuance_notice(application, actor=ctx.actor, period_days=period)  # type: ignore[arg-type]
        elif kind == "dividend" and ident.isdigit():
            dividend = await get_or_404(Dividend, int(ident))
            batch = await Batch.get(id=dividend.batch_id)
            readable_or_404(ctx, Action.REGISTER_READ, access.batch_target(batch))
            notice = await notices.publish_dividend_notice(dividend, actor=ctx.actor, period_days=period)  # type: ignore[arg-type]
        else:
            return await notice_list(ctx, _("请选择要公示的发放申请或分红"), 400)
    except RegisterError as exc:
        return await notice_list(ctx, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/notices/{notice.id}")


async def _visible_notice(ctx: AdminContext) -> notices.PublicNotice:
    notice = await get_or_404(notices.PublicNotice, path_id(ctx))
    readable_or_404(ctx, Action.NOTICE_READ, access.place(notice.district_code))
    return notice


async def notice_detail(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    notice = await _visible_notice(ctx)
    objections = await notices.NoticeObjection.filter(notice_id=notice.id).order_by("id")
    return page(
        ctx,
        "notice_detail.html",
        {
            "notice": notice,
            "objections": objections,
            "today": clock.today(),
            "error": error,
            "values": {name: ctx.field(name) for name in ("received_on", "summary", "payment_ref")},
        },
        status,
    )


async def objection_record(ctx: AdminContext) -> Response:
    notice = await _visible_notice(ctx)
    try:
        received_on = date.fromisoformat(ctx.field("received_on").strip())
    except ValueError:
        return await notice_detail(ctx, _(notices.InvalidNotice.message), 400)
    try:
        await notices.record_objection(notice, received_on=received_on, summary=ctx.field("summary"), actor=ctx.actor)
    except RegisterError as exc:
        return await notice_detail(ctx, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/notices/{notice.id}")


async def objection_resolve(ctx: AdminContext) -> Response:
    notice = await _visible_notice(ctx)
    objection = await notices.NoticeObjection.get_or_none(id=path_id(ctx, "objection"), notice_id=notice.id)
    if objection is None:
        return await notice_detail(ctx, _("没有这条异议"), 404)
    outcome = ctx.field("outcome")
    if outcome not in OUTCOMES:
        return await notice_detail(ctx, _("请选择异议是否成立"), 400)
    try:
        await notices.resolve_objection(
            objection, resolution=ctx.field("resolution"), upheld=OUTCOMES[outcome], actor=ctx.actor
        )
    except RegisterError as exc:
        return await notice_detail(ctx, refusal_message(exc), status_of(exc))
    return redirect(f"/admin/notices/{notice.id}")


async def dividend_pay(ctx: AdminContext) -> Response:
    """Record a dividend's payment: ``step=preview`` (the notice page's button) rehearses it and shows the table of
    parts — who receives how much; the confirm checks the notice and its objections again and records the payment
    once (the preview's token: a second confirm leads to the same notice and pays nothing more)."""
    notice = await _visible_notice(ctx)
    if notice.dividend_id is None:
        return await notice_detail(ctx, _("这不是分红公示"), 400)
    dividend = await Dividend.get(id=notice.dividend_id).prefetch_related("batch")
    payment_ref = ctx.field("payment_ref")

    async def pay(token: str | None) -> notices.PublicNotice:
        return await notices.record_dividend_payment(
            dividend, payment_ref=payment_ref, actor=ctx.actor, form_token=token
        )

    async def describe(paid: notices.PublicNotice) -> dict[str, Any]:
        return {
            "notice": paid,
            "dividend": dividend,
            "payment_ref": payment_ref.strip(),
            **await dividend_parts(dividend),
        }

    try:
        done = await preview_or_confirm(ctx.field("step"), ctx.field("form_token"), pay, describe)
    except RegisterError as exc:
        return await notice_detail(ctx, refusal_message(exc), status_of(exc))
    if done.preview is not None:
        done.preview["form_token"] = confirm_token(ctx.field("form_token"))
        return page(ctx, "dividend_pay_preview.html", done.preview)
    return redirect(f"/admin/notices/{notice.id}")
