"""The finance reconciliation page: each provider's bill against the register, every kind of difference with its
reason, the matched payments, the CSV; the same comparison as ``linpiao bills`` (shop/bills.py)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from kernel import clock
from linpiao.app import create_app
from registry.models import StaffRole
from tests.shop.test_bills import bills_with_every_difference, paid_with_wechat


@pytest.fixture
def app(china_settings, db):  # type: ignore[no-untyped-def]
    """The back-office of an app configured for Alipay and WeChat Pay (the fakes)."""
    return create_app(china_settings, manage_db=False)


def rows_of(html: str) -> list[tuple[str, str]]:
    """(kind, order id) of every difference row on the page."""
    return re.findall(r'<tr data-kind="([a-z_]+)" data-order="(\d*)">', html)


async def test_every_kind_of_difference_appears_with_its_reason(sign_in, china_client, fake_alipay, fake_wechatpay):
    fine, missing, unsettled, wrong, refunded_there = await bills_with_every_difference(
        china_client, fake_alipay, fake_wechatpay
    )
    also_fine = await paid_with_wechat(china_client, fake_wechatpay, 3, "also fine")

    finance = await sign_in(StaffRole.FINANCE)
    today = clock.today().isoformat()
    response = await finance.get(f"/admin/reconciliation?from={today}&to={today}")
    assert response.status_code == 200, response.text
    html = response.text
    assert sorted(rows_of(html)) == sorted(
        [
            ("fulfilled_not_paid", str(missing.id)),
            ("paid_not_fulfilled", str(unsettled.id)),
            ("paid_not_fulfilled", ""),  # a trade the register does not know
            ("amount_mismatch", str(wrong.id)),
            ("refund_not_recorded", str(refunded_there.id)),
        ]
    )
    for reason in ("登记簿缺失", "支付机构缺失", "金额不符", "已退款"):
        assert reason in html
    assert "3.99" in html and "4.00" in html  # the bill's amount and the register's
    # matched: the one fine order of each provider (a trade named by a difference, its refund too, is not matched)
    assert 'data-testid="matched-alipay">1 笔' in html and 'data-testid="matched-wechat_pay">1 笔' in html
    assert "¥1.00" in html and "¥3.00" in html
    assert f'data-order="{fine.id}"' not in html and f'data-order="{also_fine.id}"' not in html

    exported = await finance.get(f"/admin/reconciliation.csv?from={today}&to={today}")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="reconciliation-{today}-{today}.csv"'
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["日期", "支付机构", "差异原因"]
    by_order = {line[4]: line for line in lines[1:]}
    assert len(lines) == 6
    assert by_order[str(wrong.id)][1:3] == ["微信支付", "金额不符"]
    assert by_order[str(wrong.id)][5:] == ["3.99", "4.00"]
    assert by_order[""][3] == "LP424242_deadbeef" and by_order[""][0] == today


async def test_a_range_reads_every_days_bill_and_refuses_a_bad_one(sign_in, fake_alipay, fake_wechatpay):
    finance = await sign_in(StaffRole.FINANCE)
    today = clock.today()
    first = today.replace(day=1)
    clean = await finance.get(f"/admin/reconciliation?from={first.isoformat()}&to={today.isoformat()}")
    assert clean.status_code == 200 and "没有差异" in clean.text
    assert 'data-testid="difference-count">0<' in clean.text
    for query, reason in (
        ("from=2026-13-01", "日期格式"),
        ("from=2026-03-02&to=2026-03-01", "开始日期不能晚于结束日期"),
        ("from=2026-01-01&to=2026-03-01", "一次最多核对 31 天"),
    ):
        refused = await finance.get(f"/admin/reconciliation?{query}")
        assert refused.status_code == 400 and reason in refused.text, query
        assert (await finance.get(f"/admin/reconciliation.csv?{query}")).status_code == 400


async def test_only_revenue_readers_see_it(sign_in):
    for role, status in ((StaffRole.FINANCE, 200), (StaffRole.AUDITOR, 200), (StaffRole.ISSUER, 403)):
        staff = await sign_in(role, f"{role}-reconciler")
        assert (await staff.get("/admin/reconciliation")).status_code == status, role


async def test_the_english_page_names_each_reason_in_english(sign_in, china_client, fake_alipay, fake_wechatpay):
    await bills_with_every_difference(china_client, fake_alipay, fake_wechatpay)
    finance = await sign_in(StaffRole.FINANCE)
    await finance.get("/lang/en")
    html = (await finance.get(f"/admin/reconciliation?from={clock.today().isoformat()}")).text
    for text in ("Provider reconciliation", "Missing in the register", "Missing at the provider", "Amount differs"):
        assert text in html
    assert "Refunded: the provider refunded it" in html and "登记簿缺失" not in html
    exported = await finance.get(f"/admin/reconciliation.csv?from={clock.today().isoformat()}")
    assert exported.content.decode("utf-8-sig").splitlines()[0].startswith("Date,Provider,Reason")
