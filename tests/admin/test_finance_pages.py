"""The finance page: figures across a Beijing midnight, the chart beside its table, CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from kernel import clock
from registry.models import Order, StaffRole
from tests.registry.test_finance import AFTER_MIDNIGHT, BEFORE_MIDNIGHT, _seed

RANGE = {"from": "2026-03-31", "to": "2026-04-01"}


async def _with_formula_name() -> None:
    """A receiving body a spreadsheet would run as a formula if it were not neutralised."""
    from planting.domain.models import PlantingRule

    rule = await PlantingRule.get(year=2025)
    await PlantingRule.filter(id=rule.id).update(receiving_body='=HYPERLINK("http://evil","x")')


async def test_the_page_splits_days_at_beijing_midnight(sign_in, db):
    await _seed()
    finance = await sign_in(StaffRole.FINANCE, "finance-page")
    page = await finance.get("/admin/finance", params=RANGE)
    assert page.status_code == 200
    periods = re.findall(r'<tr data-period="([\d-]+)">(.*?)</tr>', page.text)
    assert [p for p, _ in periods] == ["2026-03-31", "2026-04-01"]
    cells = [re.findall(r'<td class="num">([^<]*)</td>', row) for _, row in periods]
    assert cells == [["¥10.00", "¥30.00", "¥8,000.00", "¥8,040.00"], ["¥25.00", "¥60.00", "¥3,000.00", "¥3,085.00"]]
    assert 'data-testid="finance-total">¥11,125.00<' in page.text
    streams = re.findall(r'<tr data-stream="([a-z_]+)">', page.text)
    assert streams == ["carbon", "planting", "planting", "green_land_offset", "ecological_compensation"]
    assert "银川市绿化基金会" in page.text and "宁夏绿化基金会" in page.text
    # the chart is drawn on the server, beside the table: no script, a title on every bar
    svg = re.search(r"<svg .*?</svg>", page.text, re.S)
    assert svg and "<script" not in svg.group(0)
    assert svg.group(0).count("<rect") >= 6 and "2026-03-31 · " in svg.group(0)
    months = await finance.get("/admin/finance", params={"from": "2026-02-01", "to": "2026-04-30", "period": "month"})
    assert re.findall(r'<tr data-period="([\d-]+)">', months.text) == ["2026-02", "2026-03", "2026-04"]


async def test_the_default_range_is_this_month_in_beijing(sign_in, db):
    finance = await sign_in(StaffRole.FINANCE, "finance-page")
    with clock.use(clock.FixedClock(datetime(2026, 3, 31, 16, 30, tzinfo=UTC))):  # 00:30 on 1 April in Yinchuan
        page = await finance.get("/admin/finance")
        months = await finance.get("/admin/finance", params={"period": "month"})
    assert re.findall(r'<tr data-period="([\d-]+)">', page.text) == ["2026-04-01"]
    assert re.findall(r'<tr data-period="([\d-]+)">', months.text) == ["2026-01", "2026-02", "2026-03", "2026-04"]


async def test_csv_export(sign_in, db):
    await _seed()
    await _with_formula_name()
    finance = await sign_in(StaffRole.AUDITOR, "auditor-page")
    response = await finance.get("/admin/finance.csv", params=RANGE)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="revenue-day-2026-03-31-2026-04-01.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["期间", "林票种类", "收入类别", "收款或受赠机构", "笔数", "张数", "金额（元）"]
    assert ["2026-03-31", "碳汇林票", "碳汇林票收入", "财政部门", "1", "10", "10.00"] in rows
    assert ["2026-04-01", "国有林地林票", "生态补偿", "财政部门", "1", "2", "3000.00"] in rows
    assert ["2026-04-01", "碳汇林票", "义务植树尽责捐资", '\'=HYPERLINK("http://evil","x")', "1", "60", "60.00"] in rows
    assert ["合计", "碳汇林票", "碳汇林票收入", "财政部门", "3", "35", "35.00"] in rows[-5:]
    english = await finance.get("/admin/finance.csv", params={**RANGE, "lang": "en"})
    assert english.content.decode("utf-8-sig").splitlines()[0].startswith("Period,")


async def test_xlsx_export(sign_in, db):
    await _seed()
    await _with_formula_name()
    finance = await sign_in(StaffRole.FINANCE, "finance-page")
    response = await finance.get("/admin/finance.xlsx", params={**RANGE, "period": "day"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["明细", "按种类和机构合计", "按期间"]
    detail = [[c.value for c in row] for row in book["明细"].iter_rows()]
    assert detail[1] == ["2026-03-31", "碳汇林票", "碳汇林票收入", "财政部门", 1, 10, 10]
    evil = next(row for row in book["明细"].iter_rows() if row[3].value.startswith("'="))
    assert evil[3].data_type == "s"  # text, never a formula
    periods = [[c.value for c in row] for row in book["按期间"].iter_rows(min_row=2)]
    assert periods == [["2026-03-31", 10, 30, 8000, 8040], ["2026-04-01", 25, 60, 3000, 3085]]


async def test_refused_ranges_and_roles(sign_in, db):
    finance = await sign_in(StaffRole.FINANCE, "finance-page")
    backwards = await finance.get("/admin/finance", params={"from": "2026-04-02", "to": "2026-04-01"})
    assert backwards.status_code == 400 and "开始日期不能晚于结束日期" in backwards.text
    too_long = await finance.get("/admin/finance.csv", params={"from": "2025-01-01", "to": "2026-03-01"})
    assert too_long.status_code == 400 and "按月统计" in too_long.text
    assert (await finance.get("/admin/finance", params={"from": "yesterday"})).status_code == 400
    for role in (StaffRole.ISSUER, StaffRole.FORESTRY, StaffRole.ADMIN, StaffRole.LANDSCAPING):
        staff = await sign_in(role, f"no-finance-{role}")
        for url in ("/admin/finance", "/admin/finance.csv", "/admin/finance.xlsx"):
            assert (await staff.get(url)).status_code == 403, (role, url)


@pytest.mark.parametrize("moment", [BEFORE_MIDNIGHT, AFTER_MIDNIGHT])
async def test_an_order_paid_at_the_edge_counts_once(sign_in, db, moment):
    await _seed()
    total_before = await _total(sign_in)
    batch_id = (await Order.first()).batch_id  # type: ignore[union-attr]
    await Order.create(
        token=f"edge-{moment.minute}",
        batch_id=batch_id,
        quantity=1,
        amount_fen=100,
        purpose="travel",
        certificate_name="边界",
        status="fulfilled",
        expires_at=moment,
        paid_at=moment,
    )
    assert await _total(sign_in) == total_before + 100


_accounts = itertools.count()


async def _total(sign_in) -> int:  # type: ignore[no-untyped-def]
    staff = await sign_in(StaffRole.FINANCE, f"finance-{next(_accounts)}")
    page = await staff.get("/admin/finance", params=RANGE)
    match = re.search(r'data-testid="finance-total">¥([\d,.]+)<', page.text)
    assert match
    return int(match.group(1).replace(",", "").replace(".", ""))
