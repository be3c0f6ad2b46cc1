"""Read-only pages: the stock dashboard and revenue."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from admin.session import AdminContext
from admin.web import page
from registry import quotas, stock


async def dashboard(ctx: AdminContext) -> Response:
    now = datetime.now(UTC)
    rows = await stock.stock_by_kind_and_district()
    current = await quotas.current_quota()
    sales = await stock.quota_sales_today_and_week(current, now) if current is not None else None
    return page(
        ctx,
        "dashboard.html",
        {
            "rows": rows,
            "totals": stock.totals_by_kind(rows),
            "current": current,
            "sales": sales,
            "stats": await quotas.quota_stats(current) if current is not None else None,
            "work": await stock.workload(),
        },
    )


async def revenue(ctx: AdminContext) -> Response:
    count, total = await stock.revenue_total()
    return page(
        ctx,
        "revenue.html",
        {
            "days": await stock.revenue_by_day(datetime.now(UTC)),
            "count": count,
            "total": total,
        },
    )
