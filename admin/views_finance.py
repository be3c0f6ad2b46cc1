"""Finance (财务): revenue by ticket kind and receiving body, by Beijing day or month, with a chart and exports.

The figures come from :func:`registry.finance.revenue_report`, summed by the database; this module only reads the
filters, draws the chart and writes the files in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from starlette.responses import Response

from admin.charts import Series, stacked_bars
from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.web import date_field, page
from kernel.money import yuan_text
from registry import finance
from registry.finance import Period, Report, RevenueLine, Stream

COLOURS = {"carbon": "#2e7d32", "planting": "#f9a825", "state": "#1565c0"}


def stream_label(stream: Stream) -> str:
    return {
        Stream.CARBON: _("碳汇林票收入"),
        Stream.PLANTING: _("义务植树尽责捐资"),
        Stream.GREEN_LAND_OFFSET: _("绿地占补平衡"),
        Stream.ECOLOGICAL_COMPENSATION: _("生态补偿"),
    }[stream]


def kind_label(line: RevenueLine) -> str:
    return _("碳汇林票") if line.ticket_kind == "carbon" else _("国有林地林票")


def body_label(body: str) -> str:
    if body == finance.FINANCE_BUREAU:
        return _("财政部门")
    return body or _("未记录受赠机构")


def _filters(ctx: AdminContext) -> tuple[date, date, Period, dict[str, str], str]:
    """The report's range and period; an error message (and the defaults) when they cannot be used."""
    params = ctx.request.query_params
    period = Period.MONTH if params.get("period") == "month" else Period.DAY
    default_from, default_to = finance.default_range(period)
    typed_from, typed_to = params.get("from", "").strip()[:10], params.get("to", "").strip()[:10]
    date_from = date_field(typed_from) if typed_from else default_from
    date_to = date_field(typed_to) if typed_to else default_to
    error = ""
    if date_from is None or date_to is None:
        error = _("日期格式应为 YYYY-MM-DD")
    else:
        try:
            finance.check_range(date_from, date_to, period)
        except finance.RangeError:
            if date_from > date_to:
                error = _("开始日期不能晚于结束日期")
            elif period is Period.DAY:
                error = _("按日统计最长 %(n)s 天，更长的区间请按月统计", n=finance.MAX_DAYS)
            else:
                error = _("按月统计最长 %(n)s 个月", n=finance.MAX_MONTHS)
    if error or date_from is None or date_to is None:
        date_from, date_to = default_from, default_to
    shown = {"from": date_from.isoformat(), "to": date_to.isoformat(), "period": str(period)}
    return date_from, date_to, period, shown, error


def revenue_chart(report: Report) -> Markup:
    """The report's money per period, stacked by stream (also on the dashboard)."""
    keys = [row.period for row in report.periods]
    series = [
        Series(_("碳汇林票收入"), COLOURS["carbon"], [row.carbon_fen for row in report.periods]),
        Series(_("义务植树尽责捐资"), COLOURS["planting"], [row.planting_fen for row in report.periods]),
        Series(_("国有林地林票收入"), COLOURS["state"], [row.state_fen for row in report.periods]),
    ]
    title = _("%(from)s 至 %(to)s 收入", **{"from": report.date_from.isoformat(), "to": report.date_to.isoformat()})
    return Markup(stacked_bars(keys, series, title=title))  # noqa: S704 - every label is escaped by stacked_bars


async def finance_page(ctx: AdminContext) -> Response:
    date_from, date_to, period, shown, error = _filters(ctx)
    report = await finance.revenue_report(date_from, date_to, period)
    return page(
        ctx,
        "finance.html",
        {
            "report": report,
            "filters": shown,
            "error": error,
            "chart": revenue_chart(report),
            "stream_label": stream_label,
            "kind_label": kind_label,
            "body_label": body_label,
            "query": "&".join(f"{k}={v}" for k, v in shown.items()),
        },
        status=400 if error else 200,
    )


def _header() -> list[str]:
    return [_("期间"), _("林票种类"), _("收入类别"), _("收款或受赠机构"), _("笔数"), _("张数"), _("金额（元）")]


def _rows(lines: list[RevenueLine], *, numeric: bool) -> Iterator[list[Any]]:
    for line in lines:
        amount: Any = Decimal(line.amount_fen) / 100 if numeric else yuan_text(line.amount_fen)
        yield [
            line.period or _("合计"),
            kind_label(line),
            stream_label(line.stream),
            body_label(line.receiving_body),
            line.count,
            line.units,
            amount,
        ]


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def _report_or_400(ctx: AdminContext) -> tuple[Report | None, str]:
    date_from, date_to, period, _shown, error = _filters(ctx)
    if error:
        return None, error
    return await finance.revenue_report(date_from, date_to, period), ""


def _name(report: Report, extension: str) -> str:
    return f"revenue-{report.period}-{report.date_from.isoformat()}-{report.date_to.isoformat()}.{extension}"


async def finance_csv(ctx: AdminContext) -> Response:
    report, error = await _report_or_400(ctx)
    if report is None:
        return Response(error, status_code=400, media_type="text/plain; charset=utf-8")
    rows = [*_rows(report.lines, numeric=False), *_rows(report.totals, numeric=False)]
    return _download(finance.export_csv(_header(), rows), "text/csv; charset=utf-8", _name(report, "csv"))


async def finance_xlsx(ctx: AdminContext) -> Response:
    report, error = await _report_or_400(ctx)
    if report is None:
        return Response(error, status_code=400, media_type="text/plain; charset=utf-8")
    by_period = [
        [row.period, *(Decimal(fen) / 100 for fen in (row.carbon_fen, row.planting_fen, row.state_fen, row.total_fen))]
        for row in report.periods
    ]
    period_header = [_("期间"), _("碳汇林票收入"), _("义务植树尽责捐资"), _("国有林地林票收入"), _("合计（元）")]
    body = finance.export_xlsx(
        [
            (_("明细"), _header(), list(_rows(report.lines, numeric=True))),
            (_("按种类和机构合计"), _header(), list(_rows(report.totals, numeric=True))),
            (_("按期间"), period_header, by_period),
        ]
    )
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(body, media, _name(report, "xlsx"))
