"""Reading the register for the back-office: stock by kind and district, quota sales, revenue, workload.

Tree-planting money (义务植树尽责 orders, ``Order.purpose == PLANTING_PURPOSE``) is not carbon revenue: it
is a donation that goes to the receiving body the year's rule names (:mod:`registry.donations`), so
every figure here keeps it apart — carbon revenue (managed by the finance bureau, as the plan says) excludes it,
and the planting money is shown by receiving body."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.queryset import QuerySet

from kernel import clock
from registry import counters, donations
from registry.applications import ApplicationStatus, IssuanceApplication
from registry.donations import PLANTING_PURPOSE
from registry.models import Batch, Order, OrderStatus, TicketKind


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
    """Units issued, held, reserved and retired (incl. withdrawn) for each (kind, district). A reservation past its
    expiry is counted as held: its order lapsed and the units are free to sell again, as the shop counts them
    (:func:`registry.quotas.quota_stats`), even before :func:`registry.register.expire_reservations` tidies it.
    Reads the counters (one row per batch and per stock block) and the lapsed reservations, never the holdings."""
    rows: dict[tuple[str, str], StockRow] = {}

    def row(kind: str, district: str) -> StockRow:
        key = (kind, district)
        if key not in rows:
            rows[key] = StockRow(TicketKind(kind), district)
        return rows[key]

    stocks = {int(s.batch_id): s for s in await counters.stocks()}
    lapsed = await counters.lapsed_by_batch()
    for batch in await Batch.all().values("id", "kind", "district_code", "total_units"):
        target = row(batch["kind"], batch["district_code"])
        target.issued += int(batch["total_units"])
        target.batches += 1
        stock = stocks.get(int(batch["id"])) or await counters.stock_of(int(batch["id"]))
        late = lapsed.get(int(batch["id"]), 0)
        target.held += int(stock.held) + late
        target.reserved += int(stock.reserved) - late
        target.retired += int(stock.retired)
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
    planting_units: int = 0  # tickets retired for tree-planting orders: counted apart
    planting_amount_fen: int = 0


async def quota_sales(batch: Batch, *, since: datetime) -> Sales:
    """Tickets of a quota sold (retired to buyers) from the Beijing day of ``since`` on (``since`` is a day's or a
    week's start); withdrawals do not count. Carbon sales and tree-planting sales (retirements of planting orders)
    are counted apart. Reads the day rows of the counters (:class:`registry.counters.BatchSales`)."""
    by_purpose = await counters.sales_by_purpose([batch.id], since=clock.local_date(since))
    trees = by_purpose.pop(PLANTING_PURPOSE, counters.SalesFigures())
    return Sales(
        units=sum(f.units for f in by_purpose.values()),
        amount_fen=sum(f.amount_fen for f in by_purpose.values()),
        entries=sum(f.entries for f in by_purpose.values()),
        planting_units=trees.units,
        planting_amount_fen=trees.amount_fen,
    )


async def quota_sales_today_and_week(batch: Batch, now: datetime) -> tuple[Sales, Sales]:
    day = clock.local_date(now)  # the week starts on Monday in Yinchuan
    return await quota_sales(batch, since=clock.day_start(day)), await quota_sales(batch, since=clock.week_start(day))


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


async def revenue_by_day(now: datetime, days: int = 30, *, planting_money: bool = False) -> list[RevenueRow]:
    """Paid carbon orders per local day over the last ``days`` days (refunded orders excluded); with
    ``planting_money`` the tree-planting orders instead, which are never carbon revenue."""
    since = clock.day_start(clock.local_date(now)) - timedelta(days=days - 1)
    orders = await _paid(planting_money).filter(paid_at__gte=since).values("paid_at", "quantity", "amount_fen")
    by_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in orders:
        key = clock.local_date(o["paid_at"]).isoformat()
        by_day[key][0] += 1
        by_day[key][1] += int(o["quantity"])
        by_day[key][2] += int(o["amount_fen"])
    return [RevenueRow(day, *values) for day, values in sorted(by_day.items(), reverse=True)]


def _paid(planting_money: bool) -> QuerySet[Order]:
    paid = Order.filter(status__in=PAID_STATUSES)
    if planting_money:
        return paid.filter(purpose=PLANTING_PURPOSE)
    return paid.exclude(purpose=PLANTING_PURPOSE)


async def revenue_total() -> tuple[int, int]:
    """Paid carbon orders and their amount in fen (tree-planting money is not carbon revenue)."""
    orders = await _paid(False).values("amount_fen")
    return len(orders), sum(int(o["amount_fen"]) for o in orders)


@dataclass(frozen=True)
class PlantingMoney:
    """Paid tree-planting money for one receiving body (受赠机构), as the year's rule named it."""

    receiving_body: str
    year: int
    orders: int
    units: int
    amount_fen: int


async def planting_money_by_body() -> list[PlantingMoney]:
    """Paid tree-planting orders by receiving body and year: the body is the one named by the rule each purchase
    was made under (kept on the purchase, so a later rule never moves money already paid)."""
    orders = await _paid(True).values("id", "quantity", "amount_fen", "details")
    purchases = await donations.book().receiving_bodies([o["id"] for o in orders])
    body_of = {order_id: (str(body), int(year)) for order_id, body, year in purchases}
    groups: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in orders:
        year = int((o["details"] or {}).get("planting", {}).get("year", 0)) if isinstance(o["details"], dict) else 0
        key = body_of.get(o["id"], ("", year))
        groups[key][0] += 1
        groups[key][1] += int(o["quantity"])
        groups[key][2] += int(o["amount_fen"])
    return [
        PlantingMoney(body, year, *values)
        for (body, year), values in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0]))
    ]
