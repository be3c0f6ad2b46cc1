"""Revenue for finance: figures by stream, receiving body, Beijing day and month, summed by the database."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from tortoise.transactions import in_transaction

from factories import make_batch
from kernel import clock
from planting.domain.models import DutyBasis, PlantingPurchase, PlantingRule
from planting.domain.rules import ORDER_PURPOSE, set_rule
from registry import finance
from registry.chain import append_entry, lock_register
from registry.finance import FINANCE_BUREAU, Period, Stream
from registry.models import Batch, EntryKind, Order, OrderStatus, TicketKind
from registry.offsets import RevenueSource, StateRevenue

pytestmark = pytest.mark.usefixtures("db")

# 23:59 on 31 March and 00:01 on 1 April 2026 in Yinchuan
BEFORE_MIDNIGHT = datetime(2026, 3, 31, 15, 59, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 31, 16, 1, tzinfo=UTC)


async def _order(
    batch: Batch, paid_at: datetime, units: int, *, status: OrderStatus = OrderStatus.FULFILLED, purpose: str = "travel"
) -> Order:
    return await Order.create(
        token=secrets.token_urlsafe(16),
        batch=batch,
        quantity=units,
        amount_fen=units * 100,
        purpose=purpose,
        certificate_name="买家",
        status=status,
        expires_at=paid_at + timedelta(minutes=30),
        paid_at=paid_at,
    )


async def _planting_order(batch: Batch, paid_at: datetime, units: int, rule: PlantingRule) -> Order:
    order = await _order(batch, paid_at, units, purpose=ORDER_PURPOSE)
    for name in ("甲", "乙"):  # two people in one order: counted once, under the rule's body
        await PlantingPurchase.create(
            year=rule.year,
            rule=rule,
            order=order,
            name=name,
            trees=3,
            tickets=units // 2,
            amount_fen=units * 50,
            owes_duty=True,
            duty_basis=DutyBasis.DECLARED,
        )
    return order


async def _state_revenue(batch: Batch, at: datetime, units: int, amount_fen: int, source: RevenueSource) -> None:
    async with in_transaction():
        await lock_register()
        entry = await append_entry(EntryKind.RETIREMENT, batch=batch, quantity=units, ranges=[[1, units]])
    row = await StateRevenue.create(source=source, amount_fen=amount_fen, batch=batch, entry=entry, reference="项目")
    await StateRevenue.filter(id=row.id).update(recorded_at=at)


async def _seed() -> None:
    carbon = await make_batch(TicketKind.CARBON, units=100_000)
    state = await make_batch(TicketKind.STATE, units=1000)
    rule_2026 = await set_rule(year=2026, tickets_per_tree=10, receiving_body="银川市绿化基金会", source="通知")
    rule_2025 = await set_rule(year=2025, tickets_per_tree=10, receiving_body="宁夏绿化基金会", source="通知")
    await _order(carbon, BEFORE_MIDNIGHT, 10)  # ¥10 on 31 March
    await _order(carbon, AFTER_MIDNIGHT, 20)  # ¥20 on 1 April
    await _order(carbon, AFTER_MIDNIGHT + timedelta(hours=1), 5, status=OrderStatus.PAID)  # paid, not yet fulfilled
    await _order(carbon, AFTER_MIDNIGHT, 999, status=OrderStatus.REFUNDED)  # refunded: never revenue
    await _order(carbon, AFTER_MIDNIGHT, 999, status=OrderStatus.PENDING)
    await _order(carbon, datetime(2026, 2, 28, 12, tzinfo=UTC), 40)  # February
    await _planting_order(carbon, BEFORE_MIDNIGHT, 30, rule_2026)  # ¥30 to the city's foundation on 31 March
    await _planting_order(carbon, AFTER_MIDNIGHT, 60, rule_2025)  # ¥60 to the region's foundation on 1 April
    await _state_revenue(state, BEFORE_MIDNIGHT, 4, 800_000, RevenueSource.GREEN_LAND_OFFSET)
    await _state_revenue(state, AFTER_MIDNIGHT, 2, 300_000, RevenueSource.ECOLOGICAL_COMPENSATION)


async def test_days_split_at_beijing_midnight_by_stream_and_body():
    await _seed()
    report = await finance.revenue_report(date(2026, 3, 31), date(2026, 4, 1), Period.DAY)
    lines = {(line.period, line.stream, line.receiving_body): line for line in report.lines}
    assert {k: (v.count, v.units, v.amount_fen) for k, v in lines.items()} == {
        ("2026-03-31", Stream.CARBON, FINANCE_BUREAU): (1, 10, 1000),
        ("2026-03-31", Stream.PLANTING, "银川市绿化基金会"): (1, 30, 3000),
        ("2026-03-31", Stream.GREEN_LAND_OFFSET, FINANCE_BUREAU): (1, 4, 800_000),
        ("2026-04-01", Stream.CARBON, FINANCE_BUREAU): (2, 25, 2500),
        ("2026-04-01", Stream.PLANTING, "宁夏绿化基金会"): (1, 60, 6000),
        ("2026-04-01", Stream.ECOLOGICAL_COMPENSATION, FINANCE_BUREAU): (1, 2, 300_000),
    }
    assert [(p.period, p.carbon_fen, p.planting_fen, p.state_fen) for p in report.periods] == [
        ("2026-03-31", 1000, 3000, 800_000),
        ("2026-04-01", 2500, 6000, 300_000),
    ]
    assert report.total_fen == 1000 + 3000 + 800_000 + 2500 + 6000 + 300_000
    assert report.by_body == {
        FINANCE_BUREAU: 1000 + 2500 + 800_000 + 300_000,
        "宁夏绿化基金会": 6000,
        "银川市绿化基金会": 3000,
    }
    totals = {(t.stream, t.receiving_body): t.amount_fen for t in report.totals}
    assert totals[(Stream.CARBON, FINANCE_BUREAU)] == 3500
    assert {t.ticket_kind for t in report.totals if t.stream is Stream.PLANTING} == {TicketKind.CARBON}
    assert {t.ticket_kind for t in report.totals if t.stream is Stream.GREEN_LAND_OFFSET} == {TicketKind.STATE}


async def test_one_day_and_months():
    await _seed()
    march_31 = await finance.revenue_report(date(2026, 3, 31), date(2026, 3, 31), Period.DAY)
    assert [(p.period, p.carbon_fen) for p in march_31.periods] == [("2026-03-31", 1000)]
    months = await finance.revenue_report(date(2026, 2, 1), date(2026, 4, 30), Period.MONTH)
    assert [(p.period, p.carbon_fen, p.planting_fen, p.state_fen) for p in months.periods] == [
        ("2026-02", 4000, 0, 0),
        ("2026-03", 1000, 3000, 800_000),
        ("2026-04", 2500, 6000, 300_000),
    ]
    empty = await finance.revenue_report(date(2026, 5, 1), date(2026, 5, 3), Period.DAY)
    assert [p.period for p in empty.periods] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    assert empty.total_fen == 0 and empty.lines == []


async def test_a_report_is_one_grouped_query_per_stream(monkeypatch):
    """The database sums: three queries whatever the number of orders, none reading orders one by one."""
    from tortoise import connections

    await _seed()
    conn = connections.get("default")
    seen: list[str] = []
    original = conn.execute_query_dict

    async def spy(query, values=None):  # type: ignore[no-untyped-def]
        seen.append(query)
        return await original(query, values)

    monkeypatch.setattr(conn, "execute_query_dict", spy)
    await finance.revenue_report(date(2026, 3, 1), date(2026, 4, 30), Period.DAY)
    assert len(seen) == 3 and all("GROUP BY" in q for q in seen)


def test_ranges_and_defaults():
    with pytest.raises(finance.RangeError):
        finance.check_range(date(2026, 4, 2), date(2026, 4, 1), Period.DAY)
    with pytest.raises(finance.RangeError):
        finance.check_range(date(2025, 1, 1), date(2026, 1, 2), Period.DAY)  # 367 days
    finance.check_range(date(2025, 1, 1), date(2025, 12, 31), Period.DAY)
    with pytest.raises(finance.RangeError):
        finance.check_range(date(2010, 1, 1), date(2020, 1, 1), Period.MONTH)  # 121 months
    with clock.use(clock.FixedClock(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))):  # 00:30 on New Year's Day
        assert finance.default_range(Period.DAY) == (date(2027, 1, 1), date(2027, 1, 1))
        assert finance.default_range(Period.MONTH) == (date(2027, 1, 1), date(2027, 1, 1))
    with clock.use(clock.FixedClock(datetime(2026, 3, 31, 15, 59, tzinfo=UTC))):
        assert finance.default_range(Period.DAY) == (date(2026, 3, 1), date(2026, 3, 31))
        assert finance.default_range(Period.MONTH) == (date(2026, 1, 1), date(2026, 3, 31))


def test_exports_neutralise_formulas_and_keep_numbers():
    rows = [["2026-03-31", '=HYPERLINK("http://evil")', 3, 12.5], ["+1", "@SUM(A1)", -1, "-2"]]
    text = finance.export_csv(["期间", "机构", "笔数", "金额"], rows).decode("utf-8")
    assert text.startswith("\ufeff")
    read = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert read[1][1] == '\'=HYPERLINK("http://evil")' and read[2][:2] == ["'+1", "'@SUM(A1)"]
    assert read[2][3] == "'-2"  # text that looks like a formula; the number -1 stays a number
    assert read[2][2] == "-1"
    book = load_workbook(io.BytesIO(finance.export_xlsx([("明细", ["期间", "机构", "笔数", "金额"], rows)])))
    sheet = book["明细"]
    assert sheet["B2"].value == '\'=HYPERLINK("http://evil")' and sheet["B2"].data_type == "s"
    assert sheet["C2"].value == 3 and sheet["D2"].value == 12.5
