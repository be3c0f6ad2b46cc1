"""Read-only pages: the stock dashboard and revenue (carbon revenue, and tree-planting money apart from it)."""

from __future__ import annotations

from starlette.responses import Response

from admin.dashboard_charts import dashboard_charts
from admin.session import AdminContext
from admin.web import page
from kernel import clock
from registry import quotas, stock


async def dashboard(ctx: AdminContext) -> Response:
    now = clock.now()
    rows = await stock.stock_by_kind_and_district()
    current = await quotas.current_quota()
    sales = await stock.quota_sales_today_and_week(current, now) if current is not None else None
    work = await stock.workload()
    return page(
        ctx,
        "dashboard.html",
        {
            "rows": rows,
            "totals": stock.totals_by_kind(rows),
            "current": current,
            "sales": sales,
            "stats": await quotas.quota_stats(current) if current is not None else None,
            "work": work,
            "charts": await dashboard_charts(rows, work),
        },
    )


async def revenue(ctx: AdminContext) -> Response:
    count, total = await stock.revenue_total()
    now = clock.now()
    planting_money = await stock.planting_money_by_body()
    return page(
        ctx,
        "revenue.html",
        {
            "days": await stock.revenue_by_day(now),
            "count": count,
            "total": total,
            "planting": planting_money,
            "planting_total": sum(p.amount_fen for p in planting_money),
            "planting_days": await stock.revenue_by_day(now, planting_money=True),
        },
    )
