"""Revenue for the finance bureau (财务报表): by ticket kind and receiving body, by Beijing day or month.

Three streams reach public hands, and each has its receiving body:

* **carbon revenue** (碳汇林票收入) — paid shop orders other than tree planting — is managed by the finance bureau
  (财政部门), as the plan says;
* **tree-planting money** (义务植树尽责捐资) — paid orders of the obligatory tree-planting duty — is a donation to
  the receiving body named by the year's rule each purchase was made under (the planting package tells it:
  :mod:`registry.donations`);
* **state-ticket revenue** (国有林地林票收入) — green-land offsets and ecological compensation
  (:class:`registry.offsets.StateRevenue`) — is managed by the finance bureau too.

Collective tickets bring no public revenue: a transfer's price goes to the seller, a dividend to the holders.

An order counts on the Beijing date it was paid, and not once it is refunded; state revenue on the date it was
recorded. Every figure is summed by the database (``GROUP BY`` the Beijing day or month), so a report costs the
same however many orders there are; only the grouped rows come back to Python.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from tortoise import connections

from kernel import clock
from registry import donations
from registry.donations import PLANTING_PURPOSE
from registry.models import Order, OrderStatus, TicketKind
from registry.offsets import RevenueSource
from registry.register_view import neutralise

FINANCE_BUREAU = "财政部门"
PAID = (OrderStatus.PAID, OrderStatus.FULFILLED)
MAX_DAYS = 366  # a daily report longer than a year is a monthly one
MAX_MONTHS = 120


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


class Stream(StrEnum):
    CARBON = "carbon"  # 碳汇林票收入
    PLANTING = "planting"  # 义务植树尽责捐资
    GREEN_LAND_OFFSET = "green_land_offset"  # 绿地占补平衡
    ECOLOGICAL_COMPENSATION = "ecological_compensation"  # 生态补偿


STREAM_KIND: dict[Stream, TicketKind] = {
    Stream.CARBON: TicketKind.CARBON,
    Stream.PLANTING: TicketKind.CARBON,
    Stream.GREEN_LAND_OFFSET: TicketKind.STATE,
    Stream.ECOLOGICAL_COMPENSATION: TicketKind.STATE,
}
STREAM_ORDER = list(Stream)


async def order_stream(order: Order) -> tuple[Stream, str]:
    """The stream a shop order's money belongs to and its receiving body, as this report counts it (the payment
    receipt prints the same): carbon revenue to the finance bureau; tree-planting money to the receiving body of
    the rule its purchases were made under (``""`` when none is recorded)."""
    if order.purpose != PLANTING_PURPOSE:
        return Stream.CARBON, FINANCE_BUREAU
    bodies = [body for _, body, _ in await donations.book().receiving_bodies([order.id])]
    return Stream.PLANTING, str(max(bodies, default="") or "")


@dataclass(frozen=True)
class RevenueLine:
    """One stream's takings for one receiving body in one period (``period`` ``""`` in totals)."""

    period: str
    stream: Stream
    receiving_body: str
    count: int  # orders, or revenue records of state tickets
    units: int
    amount_fen: int

    @property
    def ticket_kind(self) -> TicketKind:
        return STREAM_KIND[self.stream]


@dataclass(frozen=True)
class PeriodRow:
    """One day or month across the streams: carbon revenue, tree-planting money, state-ticket revenue."""

    period: str
    carbon_fen: int = 0
    planting_fen: int = 0
    state_fen: int = 0

    @property
    def total_fen(self) -> int:
        return self.carbon_fen + self.planting_fen + self.state_fen


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    period: Period
    lines: list[RevenueLine]  # by period, stream and body
    totals: list[RevenueLine]  # by stream and body over the whole range
    periods: list[PeriodRow]  # every day or month of the range, empty ones included

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.totals)

    @property
    def by_body(self) -> dict[str, int]:
        bodies: dict[str, int] = defaultdict(int)
        for line in self.totals:
            bodies[line.receiving_body] += line.amount_fen
        return dict(sorted(bodies.items(), key=lambda kv: (kv[0] != FINANCE_BUREAU, kv[0])))


class RangeError(ValueError):
    """The date range cannot be reported (from after to, or too long for the period)."""


# ---------------------------------------------------------------------------------------------------------
# SQL in the connection's dialect
# ---------------------------------------------------------------------------------------------------------


class _Sql:
    """Placeholders and the Beijing day/month of a UTC timestamp, for SQLite and PostgreSQL."""

    def __init__(self) -> None:
        self.conn = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"
        self.values: list[Any] = []

    def param(self, value: Any) -> str:
        if isinstance(value, datetime) and not self.postgres:
            value = clock.utc(value).isoformat(sep=" ")  # how SQLite stores aware datetimes: compared as text
        self.values.append(value)
        return f"${len(self.values)}" if self.postgres else "?"

    def local_period(self, column: str, period: Period) -> str:
        if self.postgres:
            pattern = "YYYY-MM-DD" if period is Period.DAY else "YYYY-MM"
            return f"to_char({column} AT TIME ZONE '{clock.CITY_TZ.key}', '{pattern}')"
        # SQLite has no time zones: shift by the city's offset (UTC+8 all year since 1991, no daylight saving)
        offset = datetime.now(UTC).astimezone(clock.CITY_TZ).utcoffset() or timedelta(0)
        hours = int(offset.total_seconds() // 3600)
        pattern = "%Y-%m-%d" if period is Period.DAY else "%Y-%m"
        return f"strftime('{pattern}', {column}, '{hours:+d} hours')"

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        return list(await self.conn.execute_query_dict(sql, self.values))


def _bounds(sql: _Sql, column: str, date_from: date, date_to: date) -> str:
    return f"{column} >= {sql.param(clock.day_start(date_from))} AND {column} < {sql.param(clock.day_end(date_to))}"


async def _carbon(date_from: date, date_to: date, period: Period) -> list[RevenueLine]:
    sql = _Sql()
    key = sql.local_period("o.paid_at", period)
    statuses = ", ".join(sql.param(str(s)) for s in PAID)
    query = (
        f"SELECT {key} AS period, COUNT(*) AS n, COALESCE(SUM(o.quantity), 0) AS units, "  # noqa: S608
        f'COALESCE(SUM(o.amount_fen), 0) AS amount FROM "order" o '
        f"WHERE o.status IN ({statuses}) AND o.purpose <> {sql.param(PLANTING_PURPOSE)} "
        f"AND {_bounds(sql, 'o.paid_at', date_from, date_to)} GROUP BY 1"
    )
    return [
        RevenueLine(r["period"], Stream.CARBON, FINANCE_BUREAU, int(r["n"]), int(r["units"]), int(r["amount"]))
        for r in await sql.rows(query)
    ]


async def _planting(date_from: date, date_to: date, period: Period) -> list[RevenueLine]:
    """Each tree-planting order under the receiving body of the rule its purchases were made under (one order's
    purchases share a year and so a rule)."""
    sql = _Sql()
    key = sql.local_period("o.paid_at", period)
    statuses = ", ".join(sql.param(str(s)) for s in PAID)
    query = (
        f"SELECT {key} AS period, COALESCE(b.body, '') AS body, COUNT(*) AS n, "  # noqa: S608
        "COALESCE(SUM(o.quantity), 0) AS units, COALESCE(SUM(o.amount_fen), 0) AS amount "
        f'FROM "order" o LEFT JOIN ({donations.book().receiving_bodies_sql}) b '
        f"ON b.order_id = o.id WHERE o.status IN ({statuses}) AND o.purpose = {sql.param(PLANTING_PURPOSE)} "
        f"AND {_bounds(sql, 'o.paid_at', date_from, date_to)} GROUP BY 1, 2"
    )
    return [
        RevenueLine(r["period"], Stream.PLANTING, str(r["body"]), int(r["n"]), int(r["units"]), int(r["amount"]))
        for r in await sql.rows(query)
    ]


async def _state(date_from: date, date_to: date, period: Period) -> list[RevenueLine]:
    sql = _Sql()
    key = sql.local_period("s.recorded_at", period)
    query = (
        f"SELECT {key} AS period, s.source AS source, COUNT(*) AS n, "  # noqa: S608
        "COALESCE(SUM(e.quantity), 0) AS units, COALESCE(SUM(s.amount_fen), 0) AS amount "
        "FROM state_revenue s JOIN register_entry e ON e.id = s.entry_id "
        f"WHERE {_bounds(sql, 's.recorded_at', date_from, date_to)} GROUP BY 1, 2"
    )
    streams = {
        str(RevenueSource.GREEN_LAND_OFFSET): Stream.GREEN_LAND_OFFSET,
        str(RevenueSource.ECOLOGICAL_COMPENSATION): Stream.ECOLOGICAL_COMPENSATION,
    }
    return [
        RevenueLine(r["period"], streams[r["source"]], FINANCE_BUREAU, int(r["n"]), int(r["units"]), int(r["amount"]))
        for r in await sql.rows(query)
    ]


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------


def period_keys(date_from: date, date_to: date, period: Period) -> list[str]:
    """Every day (``2026-03-01``) or month (``2026-03``) from ``date_from`` to ``date_to``, both included."""
    if period is Period.DAY:
        return [(date_from + timedelta(days=n)).isoformat() for n in range((date_to - date_from).days + 1)]
    keys = []
    year, month = date_from.year, date_from.month
    while (year, month) <= (date_to.year, date_to.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def check_range(date_from: date, date_to: date, period: Period) -> None:
    if date_from > date_to:
        raise RangeError("from after to")
    if period is Period.DAY and (date_to - date_from).days + 1 > MAX_DAYS:
        raise RangeError("too many days")
    if period is Period.MONTH and len(period_keys(date_from, date_to, period)) > MAX_MONTHS:
        raise RangeError("too many months")


def default_range(period: Period, today: date | None = None) -> tuple[date, date]:
    """This month so far (by day) or this year so far (by month), in Beijing."""
    today = today or clock.today()
    return (today.replace(day=1) if period is Period.DAY else today.replace(month=1, day=1)), today


def _sort_key(line: RevenueLine) -> tuple[str, int, str]:
    return line.period, STREAM_ORDER.index(line.stream), line.receiving_body


def _totals(lines: Iterable[RevenueLine]) -> list[RevenueLine]:
    groups: dict[tuple[Stream, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        group = groups[(line.stream, line.receiving_body)]
        group[0] += line.count
        group[1] += line.units
        group[2] += line.amount_fen
    return sorted((RevenueLine("", s, b, *values) for (s, b), values in groups.items()), key=_sort_key)


def _periods(keys: Sequence[str], lines: Iterable[RevenueLine]) -> list[PeriodRow]:
    sums: dict[str, list[int]] = {key: [0, 0, 0] for key in keys}
    column = {Stream.CARBON: 0, Stream.PLANTING: 1, Stream.GREEN_LAND_OFFSET: 2, Stream.ECOLOGICAL_COMPENSATION: 2}
    for line in lines:
        if line.period in sums:
            sums[line.period][column[line.stream]] += line.amount_fen
    return [PeriodRow(key, *sums[key]) for key in keys]


async def revenue_report(date_from: date, date_to: date, period: Period) -> Report:
    """Revenue from ``date_from`` to ``date_to`` (Beijing dates, both included) by ``period``."""
    check_range(date_from, date_to, period)
    lines = [
        *await _carbon(date_from, date_to, period),
        *await _planting(date_from, date_to, period),
        *await _state(date_from, date_to, period),
    ]
    lines.sort(key=_sort_key)
    return Report(
        date_from=date_from,
        date_to=date_to,
        period=period,
        lines=lines,
        totals=_totals(lines),
        periods=_periods(period_keys(date_from, date_to, period), lines),
    )


# ---------------------------------------------------------------------------------------------------------
# Export (headers and labels come from the caller, in the reader's language)
# ---------------------------------------------------------------------------------------------------------


def export_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark; text a spreadsheet would run as a formula is neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """One worksheet per ``(title, header, rows)``; numbers stay numbers, text is stored as text (never a
    formula) and neutralised as in the CSV."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.append([neutralise(h) for h in header])
        for row in rows:
            sheet.append([neutralise(v) for v in row])
        for row_cells in sheet.iter_rows():
            for cell in row_cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
