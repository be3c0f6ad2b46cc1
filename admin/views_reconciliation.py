"""Provider reconciliation (对账): each direct provider's bills of chosen Beijing days against the register.

The comparison is the one ``linpiao bills`` prints (:mod:`shop.bills`), asked through the
:class:`registry.reconciliation.BillReader` the composition root hands over (``app.state.bill_reader``); this module
reads the dates, labels the differences in the reader's language and writes the CSV.
"""

from __future__ import annotations

from datetime import date, timedelta

from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.web import PAGE_SIZE, Paged, date_field, page
from kernel import clock
from kernel.money import yuan_text
from linpiao import inputs
from registry import finance, reconciliation
from registry.reconciliation import BillReader, Difference, RangeReport


def provider_label(provider: str) -> str:
    return {"alipay": _("支付宝"), "wechat_pay": _("微信支付")}.get(provider, provider)


def reason_label(kind: str) -> str:
    return {
        "paid_not_fulfilled": _("登记簿缺失：支付机构已收款，订单未履行或不存在"),
        "fulfilled_not_paid": _("支付机构缺失：订单已付款履行，对账单中没有"),
        "amount_mismatch": _("金额不符"),
        "refund_not_recorded": _("已退款：支付机构已退款，登记簿未记录"),
    }.get(kind, kind)


def _filters(ctx: AdminContext) -> tuple[date, date, str]:
    """The days asked for (yesterday by default: a day's bills are ready the next morning) and an error message."""
    params = ctx.request.query_params
    yesterday = clock.today() - timedelta(days=1)
    typed_from, typed_to = params.get("from", "").strip()[:10], params.get("to", "").strip()[:10]
    date_from = date_field(typed_from) if typed_from else yesterday
    date_to = date_field(typed_to) if typed_to else (date_from or yesterday)
    if date_from is None or date_to is None:
        return yesterday, yesterday, _("日期格式应为 YYYY-MM-DD")
    if date_from > date_to:
        return yesterday, yesterday, _("开始日期不能晚于结束日期")
    if (date_to - date_from).days + 1 > reconciliation.MAX_DAYS:
        return yesterday, yesterday, _("一次最多核对 %(n)s 天", n=reconciliation.MAX_DAYS)
    return date_from, date_to, ""


async def _report(ctx: AdminContext) -> tuple[RangeReport | None, date, date, str]:
    date_from, date_to, error = _filters(ctx)
    reader: BillReader = ctx.request.app.state.bill_reader
    if error or not reader.providers():
        return None, date_from, date_to, error
    return await reconciliation.reconcile_range(reader, date_from, date_to), date_from, date_to, ""


def _paged(ctx: AdminContext, differences: list[Difference]) -> Paged:
    number = inputs.page_number(ctx.request.query_params.get("page"))
    pages = max(1, -(-len(differences) // PAGE_SIZE))
    number = min(max(number, 1), pages)
    return Paged(differences[(number - 1) * PAGE_SIZE : number * PAGE_SIZE], number, pages, len(differences))


async def reconciliation_page(ctx: AdminContext) -> Response:
    report, date_from, date_to, error = await _report(ctx)
    shown = {"from": date_from.isoformat(), "to": date_to.isoformat()}
    return page(
        ctx,
        "reconciliation.html",
        {
            "report": report,
            "filters": shown,
            "error": error,
            "paged": _paged(ctx, report.differences if report else []),
            "providers": [provider_label(p) for p in ctx.request.app.state.bill_reader.providers()],
            "provider_label": provider_label,
            "reason_label": reason_label,
            "query": "&".join(f"{k}={v}" for k, v in shown.items()),
        },
        status=400 if error else 200,
    )


def _amount(fen: int | None) -> str:
    return "" if fen is None else yuan_text(fen)


async def reconciliation_csv(ctx: AdminContext) -> Response:
    report, date_from, date_to, error = await _report(ctx)
    if error:
        return Response(error, status_code=400, media_type="text/plain; charset=utf-8")
    header = [
        _("日期"),
        _("支付机构"),
        _("差异原因"),
        _("商户订单号"),
        _("订单"),
        _("对账单金额（元）"),
        _("登记簿金额（元）"),
    ]
    rows = [
        [
            d.day.isoformat() if d.day else "",
            provider_label(d.provider),
            reason_label(d.kind),
            d.out_trade_no,
            d.order_id or "",
            _amount(d.bill_fen),
            _amount(d.register_fen),
        ]
        for d in (report.differences if report else [])
    ]
    name = f"reconciliation-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    return Response(
        finance.export_csv(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
