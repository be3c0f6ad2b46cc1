"""Reading the register for the back-office: stock by kind and district, quota sales, revenue, workload."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from registry.applications import ApplicationStatus, IssuanceApplication
from registry.models import Batch, EntryKind, Holding, HoldingState, Order, OrderStatus, RegisterEntry, TicketKind

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class StockRow:
    kind: TicketKind
    district_code: str
    issued: int = 0
    held: int = 0
    reserved: int = 0
    retired: int = 0
    batches: int = 0


async def stock_by_kind_and_district() -> list[StockRow]:
    """Units issued, held, reserved and retired (incl. withdrawn) for each (kind, district)."""
    rows: dict[tuple[str, str], StockRow] = {}

    def row(kind: str, district: str) -> StockRow:
        key = (kind, district)
        if key not in rows:
            rows[key] = StockRow(TicketKind(kind), district)
        return rows[key]

    for batch in await Batch.all().values("kind", "district_code", "total_units"):
        target = row(batch["kind"], batch["district_code"])
        target.issued += int(batch["total_units"])
        target.batches += 1
    for holding in await Holding.all().values("state", "first_no", "last_no", "batch__kind", "batch__district_code"):
        target = row(holding["batch__kind"], holding["batch__district_code"])
        quantity = int(holding["last_no"]) - int(holding["first_no"]) + 1
        state = HoldingState(holding["state"])
        if state is HoldingState.HELD:
            target.held += quantity
        elif state is HoldingState.RESERVED:
            target.reserved += quantity
        else:
            target.retired += quantity
    order = {TicketKind.CARBON: 0, TicketKind.COLLECTIVE: 1, TicketKind.STATE: 2}
    return sorted(rows.values(), key=lambda r: (order[r.kind], r.district_code))


def totals_by_kind(rows: list[StockRow]) -> dict[TicketKind, StockRow]:
    totals: dict[TicketKind, StockRow] = {}
    for r in rows:
        t = totals.setdefault(r.kind, StockRow(r.kind, ""))
        t.issued += r.issued
        t.held += r.held
        t.reserved += r.reserved
        t.retired += r.retired
        t.batches += r.batches
    return totals


@dataclass(frozen=True)
class Sales:
    units: int
    amount_fen: int
    entries: int


def local_day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(LOCAL_TZ).date(), time.min, LOCAL_TZ)


async def quota_sales(batch: Batch, *, since: datetime) -> Sales:
    """Tickets of a quota sold (retired to buyers) since a moment; withdrawals do not count."""
    entries = await RegisterEntry.filter(batch_id=batch.id, kind=EntryKind.RETIREMENT, created_at__gte=since).values(
        "quantity", "price_fen"
    )
    return Sales(
        units=sum(int(e["quantity"]) for e in entries),
        amount_fen=sum(int(e["price_fen"] or 0) for e in entries),
        entries=len(entries),
    )


async def quota_sales_today_and_week(batch: Batch, now: datetime) -> tuple[Sales, Sales]:
    today = local_day_start(now)
    week = today - timedelta(days=today.weekday())  # the local week starts on Monday
    return await quota_sales(batch, since=today), await quota_sales(batch, since=week)


@dataclass
class Workload:
    """Applications waiting, by who must act: issuers per district (collective), forestry (state)."""

    collective_review: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    collective_issue: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    state_review: int = 0
    state_issue: int = 0


async def workload() -> Workload:
    result = Workload()
    waiting = await IssuanceApplication.filter(
        status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED]
    ).values("kind", "status", "district_code")
    for app in waiting:
        review = app["status"] == ApplicationStatus.SUBMITTED
        if app["kind"] == TicketKind.COLLECTIVE:
            target = result.collective_review if review else result.collective_issue
            target[app["district_code"]] += 1
        elif review:
            result.state_review += 1
        else:
            result.state_issue += 1
    return result


@dataclass(frozen=True)
class RevenueRow:
    day: str
    orders: int
    units: int
    amount_fen: int


PAID_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


async def revenue_by_day(now: datetime, days: int = 30) -> list[RevenueRow]:
    """Paid orders per local day over the last ``days`` days (refunded orders excluded)."""
    since = local_day_start(now) - timedelta(days=days - 1)
    orders = await Order.filter(status__in=PAID_STATUSES, paid_at__gte=since).values(
        "paid_at", "quantity", "amount_fen"
    )
    by_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in orders:
        key = o["paid_at"].astimezone(LOCAL_TZ).date().isoformat()
        by_day[key][0] += 1
        by_day[key][1] += int(o["quantity"])
        by_day[key][2] += int(o["amount_fen"])
    return [RevenueRow(day, *values) for day, values in sorted(by_day.items(), reverse=True)]


async def revenue_total() -> tuple[int, int]:
    orders = await Order.filter(status__in=PAID_STATUSES).values("amount_fen")
    return len(orders), sum(int(o["amount_fen"]) for o in orders)
