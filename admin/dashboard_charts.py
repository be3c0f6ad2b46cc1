"""The dashboard's charts (概览图表): sales per day, tickets by purpose, issuance by district, work waiting per desk.

Each is a server-side SVG from :func:`admin.charts.stacked_bars` with the same figures as a table beside it (for
screen readers, and for anyone who wants the numbers). The figures are what the register already adds up: the
finance report's daily revenue (one ``GROUP BY``), the public retirement totals by purpose, the stock by kind and
district, and the applications waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup

from admin.charts import Series, stacked_bars
from admin.i18n import gettext as _
from admin.views_finance import revenue_chart
from kernel import clock
from kernel.money import format_yuan
from registry import finance, retirements
from registry.districts import DISTRICTS, district_name
from registry.models import TicketKind
from registry.stock import StockRow, Workload

SALES_DAYS = 30
KIND_COLOURS = {TicketKind.CARBON: "#2e7d32", TicketKind.COLLECTIVE: "#8d6e63", TicketKind.STATE: "#1565c0"}


def purpose_label(code: str) -> str:
    return {
        "travel": _("出行"),
        "meeting": _("会议"),
        "event": _("大型活动"),
        "daily": _("日常生活"),
        "other": _("其他"),
        "planting": _("义务植树尽责"),
        "green_land_offset": _("绿地占补平衡"),
        "compensation": _("生态补偿"),
    }.get(code, code or _("其他"))


def kind_label(kind: TicketKind) -> str:
    return {
        TicketKind.CARBON: _("碳汇林票"),
        TicketKind.COLLECTIVE: _("集体林地林票"),
        TicketKind.STATE: _("国有林地林票"),
    }[kind]


@dataclass(frozen=True)
class Chart:
    """One chart and its table: a caption, the SVG, the column headers and the rows (first cell the category)."""

    key: str
    caption: str
    svg: Markup
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


def _svg(categories: list[str], series: list[Series], title: str, *, money: bool = False) -> Markup:
    return Markup(stacked_bars(categories, series, title=title, money=money))  # noqa: S704 - escaped by stacked_bars


async def sales_per_day() -> Chart:
    today = clock.today()
    report = await finance.revenue_report(today - timedelta(days=SALES_DAYS - 1), today, finance.Period.DAY)
    rows = [
        [row.period, *(f"¥{format_yuan(fen)}" for fen in (row.carbon_fen, row.planting_fen, row.state_fen))]
        for row in report.periods
    ]
    header = [_("日期"), _("碳汇林票收入"), _("义务植树尽责捐资"), _("国有林地林票收入")]
    return Chart("sales", _("近 %(n)s 天每日销售", n=SALES_DAYS), revenue_chart(report), header, rows[::-1])


async def tickets_by_purpose() -> Chart:
    totals = await retirements.totals_by("purpose")
    labels = [purpose_label(t.key) for t in totals]
    title = _("按用途注销的林票（张）")
    svg = _svg(labels, [Series(_("张数"), "#2e7d32", [t.quantity for t in totals])], title)
    rows = [[label, f"{t.quantity:,}", f"{t.retirements:,}"] for label, t in zip(labels, totals, strict=True)]
    return Chart("purpose", title, svg, [_("用途"), _("张数"), _("注销笔数")], rows)


def issuance_by_district(stock: list[StockRow]) -> Chart:
    codes = sorted({r.district_code for r in stock})
    issued = {(r.kind, r.district_code): r.issued for r in stock}
    labels = [_(district_name(code)) if code else _("全市") for code in codes]
    series = [Series(kind_label(k), KIND_COLOURS[k], [issued.get((k, c), 0) for c in codes]) for k in TicketKind]
    title = _("各区县已发放林票（张）")
    rows = [[label, *(f"{s.values[i]:,}" for s in series)] for i, label in enumerate(labels)]
    return Chart("district", title, _svg(labels, series, title), [_("区县"), *(s.label for s in series)], rows)


def work_per_desk(work: Workload) -> Chart:
    desks = [
        (_("区县发放机关") + " · " + _(name), work.collective_review.get(code, 0), work.collective_issue.get(code, 0))
        for code, name in DISTRICTS.items()
    ]
    desks.append((_("林草主管部门"), work.state_review, work.state_issue))
    labels = [_(name) for name in DISTRICTS.values()] + [_("林草主管部门")]  # the issuer's district, or forestry
    series = [
        Series(_("待审核"), "#f9a825", [d[1] for d in desks]),
        Series(_("待发放"), "#1565c0", [d[2] for d in desks]),
    ]
    title = _("各办理人待办申请")
    rows = [[label, f"{review:,}", f"{issue:,}"] for label, review, issue in desks]
    return Chart("work", title, _svg(labels, series, title), [_("办理人"), _("待审核"), _("待发放")], rows)


async def dashboard_charts(stock: list[StockRow], work: Workload) -> list[Chart]:
    return [await sales_per_day(), await tickets_by_purpose(), issuance_by_district(stock), work_per_desk(work)]
