"""The customer-service desk (客服): find a shop order, read its timeline, resend its link, refund, reissue.

The rules live in :mod:`registry.service_desk`; refunds go through the shop's payment providers behind
:class:`registry.service_desk.RefundDesk` and messages through :class:`registry.service_desk.Messenger`, both
handed over by the composition root (``app.state``), so this package never imports the shop.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin import sealed_search
from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.web import date_field, fen_field, page, path_id, redirect
from certificates import service as certificate_service
from certificates.codes import group_code, normalise_code
from certificates.receipt import receipt_response
from kernel.i18n import current_locale
from linpiao import inputs
from linpiao.errors import status_of
from registry import access, receipts, service_desk
from registry.errors import RegisterError
from registry.models import Batch, Certificate, Holding, Order
from registry.service_desk import OrderSearch, RefundDesk, RefundFailed

MAX_TEXT = 100
DONE = {"resent", "refunded", "reissued"}


# the search's fields that may travel in a URL; the contact (a phone number or an e-mail address) never does: the
# form is POSTed and the contact goes on as a sealed, short-lived token ``?s=`` (admin/sealed_search.py)
PLAIN_FIELDS = ("code", "serial", "amount", "date")


def _search_form(ctx: AdminContext) -> tuple[dict[str, str], OrderSearch, list[str]]:
    params = ctx.request.query_params
    typed = {name: inputs.clean(params.get(name, "")).strip()[:MAX_TEXT] for name in ("code", "serial")}
    typed["amount"] = params.get("amount", "").strip()[:20]
    typed["date"] = params.get("date", "").strip()[:10]
    errors = []
    typed["contact"] = ""
    if params.get("s"):
        opened = sealed_search.unseal(ctx.settings.secret_key, params["s"][:400])
        if opened is None:
            errors.append(_("按联系方式的查找已过期，请重新填写。"))
        typed["contact"] = inputs.clean(opened or "").strip()[:MAX_TEXT]
    if params.get("contact"):  # typed into a URL by hand: not read, the form seals it
        errors.append(_("按联系方式查找请使用查找表单，联系方式不放在网址中。"))
    code = normalise_code(typed["code"]) if typed["code"] else None
    if typed["code"] and code is None:
        errors.append(_("验证码应为20位字母和数字（可带连字符）"))
    amount = fen_field(typed["amount"])
    if typed["amount"] and amount is None:
        errors.append(_("金额请填写元，最多两位小数，如 12.50"))
    day = date_field(typed["date"])
    if typed["date"] and day is None:
        errors.append(_("日期格式应为 YYYY-MM-DD"))
    search = OrderSearch(
        certificate_code=code, serial=typed["serial"], contact=typed["contact"], amount_fen=amount, day=day
    )
    return typed, search, errors


def _search_params(ctx: AdminContext, typed: dict[str, str]) -> dict[str, str]:
    """The query of a results page: the plain fields as typed, the contact sealed (the page's own token again)."""
    params = {name: typed[name] for name in PLAIN_FIELDS if typed[name]}
    if typed["contact"]:
        params["s"] = ctx.request.query_params.get("s", "")[:400]
    return params


async def order_search(ctx: AdminContext) -> Response:
    typed, search, errors = _search_form(ctx)
    before = inputs.record_id(ctx.request.query_params.get("before", ""))
    result = None
    if not errors and not search.empty:
        try:
            result = await service_desk.search_orders(search, before=before)
        except RegisterError as exc:
            errors.append(_(exc.message))
    next_url = ""
    params = _search_params(ctx, typed)
    if result is not None and result.next_before is not None:
        next_url = "?" + urlencode({**params, "before": result.next_before})
    first_url = "?" + urlencode(params) if before else ""
    return page(
        ctx,
        "service.html",
        {
            "typed": typed,
            "errors": errors,
            "result": result,
            "next_url": next_url,
            "first_url": first_url,
            "mask_contact": service_desk.mask_contact,
        },
        status=400 if errors else 200,
    )


async def order_search_post(ctx: AdminContext) -> Response:
    """``POST /admin/service/search``: the search form. The order number, certificate code, serial, amount and date
    go on to the bookmarkable list as typed; a contact goes sealed, so a phone number or an e-mail address never
    lands in a server's or a proxy's log."""
    params = {name: ctx.field(name).strip()[:MAX_TEXT] for name in PLAIN_FIELDS if ctx.field(name).strip()}
    contact = ctx.field("contact").strip()[:MAX_TEXT]
    if contact:
        params["s"] = sealed_search.seal(ctx.settings.secret_key, contact)
    return redirect("/admin/service" + (f"?{urlencode(params)}" if params else ""))


async def _order(ctx: AdminContext) -> Order:
    order = await Order.get_or_none(id=path_id(ctx))
    if order is None:
        raise HTTPException(404)
    return order


async def _detail(ctx: AdminContext, order: Order, error: str = "", status: int = 200) -> Response:
    batch = await Batch.get_or_none(id=order.batch_id)
    holdings = await Holding.filter(order_id=order.id).order_by("first_no")
    certificates = await service_desk.order_certificates(order)
    reach = service_desk.contact_channel(order.contact)
    messenger: service_desk.Messenger = ctx.request.app.state.messenger
    done = ctx.request.query_params.get("done", "")
    data: dict[str, Any] = {
        "order": order,
        "batch": batch,
        "serial_ranges": batch.serial_ranges((h.first_no, h.last_no) for h in holdings) if batch else [],
        "certificates": certificates,
        "group_code": group_code,
        "timeline": await service_desk.timeline(order),
        "channel": str(reach[0]) if reach else "",
        "channel_ready": bool(reach and messenger.available(reach[0])),
        "masked_to": service_desk.mask_contact(reach[1]) if reach else "",
        "refundable": service_desk.refundable(order),
        "receipt_ready": receipts.has_receipt(order) and access.may(ctx.actor, access.Action.ORDER_RECEIPT),
        "error": error,
        "done": done if done in DONE else "",
    }
    return page(ctx, "service_order.html", data, status=status)


async def order_detail(ctx: AdminContext) -> Response:
    return await _detail(ctx, await _order(ctx))


async def order_resend(ctx: AdminContext) -> Response:
    order = await _order(ctx)
    try:
        await service_desk.resend_link(
            order, messenger=ctx.request.app.state.messenger, base_url=ctx.settings.base_url, actor=ctx.actor
        )
    except RegisterError as exc:
        return await _detail(ctx, order, _(exc.message), status_of(exc))
    return redirect(f"/admin/service/orders/{order.id}?done=resent")


async def order_refund(ctx: AdminContext) -> Response:
    order = await _order(ctx)
    desk: RefundDesk = ctx.request.app.state.refund_desk
    try:
        await desk.refund(order, reason=ctx.field("reason"), actor=ctx.actor)
    except RegisterError as exc:
        await order.refresh_from_db()
        error = _(exc.message)
        if isinstance(exc, RefundFailed) and exc.detail:  # what the provider answered, for the clerk to act on
            error = f"{error}（{_('支付机构的答复')}：{exc.detail}）"
        return await _detail(ctx, order, error, status_of(exc))
    return redirect(f"/admin/service/orders/{order.id}?done=refunded")


async def order_reissue(ctx: AdminContext) -> Response:
    """Reissue (补发) one of the order's certificates under a fresh code, with the reason, audited."""
    order = await _order(ctx)
    certificate = await Certificate.get_or_none(code=normalise_code(ctx.field("certificate")) or "", order_id=order.id)
    if certificate is None:
        return await _detail(ctx, order, _("该订单没有这张证书"), 404)
    reason = ctx.field("reason").strip()[:200]
    if not reason:
        return await _detail(ctx, order, _("请填写补发原因"), 400)
    try:
        await certificate_service.reissue_for_staff(certificate, actor=ctx.actor, reason=reason, order=order.id)
    except RegisterError as exc:
        return await _detail(ctx, order, _(exc.message), status_of(exc))
    return redirect(f"/admin/service/orders/{order.id}?done=reissued")


async def order_receipt(ctx: AdminContext) -> Response:
    """The order's payment receipt (收款凭证), as the buyer downloads it, for a citizen or organisation asking the
    desk; who may print it is the rules table's (``order.receipt``)."""
    order = await _order(ctx)
    access.check(ctx.actor, access.Action.ORDER_RECEIPT)
    try:
        receipt = await receipts.payment_receipt(order)
    except RegisterError as exc:
        return await _detail(ctx, order, _(exc.message), status_of(exc))
    return await receipt_response(receipt, operator=ctx.settings.operator, locale=current_locale.get())
