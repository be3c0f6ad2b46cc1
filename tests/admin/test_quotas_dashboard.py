"""Carbon quotas (open, close, withdraw unsold) and the stock dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from factories import make_holder
from kernel import clock
from registry import quotas, register, stock
from registry.applications import submit_application
from registry.audit import Actor
from registry.models import AuditLog, Batch, EntryKind, HoldingState, RegisterEntry, StaffRole, TicketKind
from tests.admin.conftest import confirm_step, make_staff, village_with_parcel


async def test_forestry_opens_a_quota_at_one_yuan_by_default(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    response = await forestry.post(
        "/admin/quotas", {"units": "100000", "price_yuan": "", "kg_co2e": "", "valid_until": "2099-12-31"}
    )
    assert response.status_code == 303
    batch = await Batch.get(kind=TicketKind.CARBON)
    assert (batch.total_units, batch.price_fen, batch.g_co2e_per_unit) == (100000, 100, 10_000)
    assert str(batch.valid_until) == "2099-12-31"
    assert await quotas.current_quota() == batch
    assert await AuditLog.filter(action="quota.open", username="forestry-user").exists()
    page = await forestry.get("/admin/quotas")
    assert batch.serial_prefix in page.text and "100,000" in page.text


async def test_the_quota_form_records_the_basis_the_public_forest_page_shows(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    form = {"units": "1000", "price_yuan": "1", "kg_co2e": "10", "valid_until": ""}
    basis = {"co2e_method": "CCER 造林碳汇方法学 AR-CM-001", "co2e_source": "宁夏林草局 2025 年核算报告"}
    refused = await forestry.post("/admin/quotas", {**form, **basis, "co2e_year": "1800"})
    assert refused.status_code == 400 and "核算依据无效" in refused.text
    assert await Batch.all().count() == 0  # a bad basis opens nothing
    assert (await forestry.post("/admin/quotas", {**form, **basis, "co2e_year": "2025"})).status_code == 303
    batch = await Batch.get(kind=TicketKind.CARBON)
    assert (batch.co2e_method, batch.co2e_source, batch.co2e_year) == (*basis.values(), 2025)
    log = await AuditLog.get(action="quota.open")
    assert log.details["co2e_year"] == 2025 and log.details["co2e_method"] == basis["co2e_method"]
    public = await forestry.client.get(f"/forests/{batch.serial_prefix}")
    assert 'id="basis-method">CCER 造林碳汇方法学 AR-CM-001<' in public.text and 'id="basis-year">2025<' in public.text


async def test_bad_quotas_are_refused(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    for data in (
        {"units": "0"},
        {"units": "-5"},
        {"units": "10", "price_yuan": "0.001"},
        {"units": "10", "kg_co2e": "0"},
        {"units": "10", "valid_until": "2000-01-01"},
        {"units": "x"},
    ):
        response = await forestry.post("/admin/quotas", {"price_yuan": "1", "kg_co2e": "10", "valid_until": "", **data})
        assert response.status_code == 400, data
    assert await Batch.all().count() == 0


async def test_close_then_withdraw_unsold(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    quota = await quotas.open_quota(units=1000)
    buyer = await make_holder("买家")
    await register.retire_held_units(
        batch=quota,
        holder=await quotas.pool_holder(),
        quantity=300,
        purpose="offset",
        beneficiary=buyer,
        price_fen=30000,
    )
    assert (await forestry.post(f"/admin/quotas/{quota.id}/close", confirm_step())).status_code == 303
    await quota.refresh_from_db()
    assert not quota.is_open and await quotas.current_quota() is None
    assert (await forestry.post(f"/admin/quotas/{quota.id}/close", confirm_step())).status_code == 400  # already closed
    assert (
        await forestry.post(f"/admin/quotas/{quota.id}/withdraw", {"reason": "年度结束", **confirm_step()})
    ).status_code == 303
    entry = await RegisterEntry.get(kind=EntryKind.WITHDRAWAL)
    assert entry.quantity == 700 and entry.actor == "staff:forestry-user"
    stats = await quotas.quota_stats(quota)
    assert (stats.available, stats.sold) == (0, 300)
    nothing_left = await forestry.post(f"/admin/quotas/{quota.id}/withdraw", confirm_step())
    assert nothing_left.status_code == 409  # InsufficientUnits: the same conflict the shop answers (linpiao.errors)
    assert set(await AuditLog.filter(action__startswith="quota.").values_list("action", flat=True)) == {
        "quota.open",  # by the test's set-up, as the system
        "quota.close",
        "quota.withdraw",
    }


async def test_land_batches_are_not_quotas(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    village, parcel = await village_with_parcel()
    batch = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=10,
        serial_prefix="L-1",
        parcel=parcel,
        unit_area_m2=Decimal("10000"),
    )
    assert (await forestry.post(f"/admin/quotas/{batch.id}/withdraw")).status_code == 404
    assert await register.holder_total(village, state=HoldingState.HELD) == 10


async def test_quota_sales_today_and_this_week(db):
    quota = await quotas.open_quota(units=1000)
    pool = await quotas.pool_holder()
    buyer = await make_holder("买家")
    await register.retire_held_units(
        batch=quota, holder=pool, quantity=40, purpose="p", beneficiary=buyer, price_fen=4000
    )
    now = datetime.now(UTC)
    today_start = clock.day_start(clock.local_date(now))
    # one sale a minute before today (Beijing): it still counts for the week when today is not a Monday; the
    # counters take the day from the register's clock, as the entry does
    with clock.use(clock.FixedClock(today_start - timedelta(minutes=1))):
        old = await register.retire_held_units(
            batch=quota, holder=pool, quantity=60, purpose="p", beneficiary=buyer, price_fen=6000
        )
    assert old.created_at < today_start
    today, week = await stock.quota_sales_today_and_week(quota, now)
    assert (today.units, today.amount_fen) == (40, 4000)
    expected_week = 40 if clock.local_date(now).weekday() == 0 else 100
    assert week.units == expected_week


async def test_dashboard_counts_by_kind_and_district_and_waiting_work(sign_in):
    auditor = await sign_in(StaffRole.AUDITOR)
    issuer = Actor(await make_staff(StaffRole.ISSUER, "issuer-xq", "640104"), "")
    village, parcel = await village_with_parcel("640104")
    await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=500,
        serial_prefix="J-1",
        parcel=parcel,
        unit_area_m2=Decimal("200"),
    )
    quota = await quotas.open_quota(units=2000)
    buyer = await make_holder("买家")
    await register.retire_held_units(
        batch=quota, holder=await quotas.pool_holder(), quantity=150, purpose="p", beneficiary=buyer, price_fen=15000
    )
    _v2, parcel2 = await village_with_parcel("640104")
    await parcel2.fetch_related("owner")
    await submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel2, applicant=parcel2.owner, actor=issuer)

    rows = {(r.kind, r.district_code): r for r in await stock.stock_by_kind_and_district()}
    carbon = rows[(TicketKind.CARBON, "640100")]
    assert (carbon.issued, carbon.held, carbon.retired) == (2000, 1850, 150)
    assert rows[(TicketKind.COLLECTIVE, "640104")].held == 500
    work = await stock.workload()
    assert work.collective_review["640104"] == 1 and work.state_review == 0

    page = await auditor.get("/admin/")
    assert page.status_code == 200
    assert "2,000" in page.text and "1,850" in page.text
    assert "150 张" in page.text.split('data-testid="sales-today"')[1][:200]
    workload = page.text.split('data-testid="workload"')[1]
    assert '兴庆区</td><td class="num">1</td>' in workload
    english = await auditor.get("/admin/", params={"lang": "en"})
    assert "Xingqing District" in english.text and "Applications waiting" in english.text


async def _paid_order(quota, quantity: int, purpose: str, buyer):  # type: ignore[no-untyped-def]
    """A paid order whose tickets were reserved from the quota and retired to the buyer, as the shop does."""
    import secrets

    from registry.models import Order, OrderStatus

    now = clock.now()
    order = await Order.create(
        token=secrets.token_hex(8),
        batch=quota,
        quantity=quantity,
        amount_fen=quantity * 100,
        purpose=purpose,
        certificate_name=buyer.name,
        status=OrderStatus.FULFILLED,
        expires_at=now + timedelta(minutes=30),
        paid_at=now,
    )
    await register.reserve_units(
        batch=quota, holder=await quotas.pool_holder(), quantity=quantity, order=order, expires_at=order.expires_at
    )
    await register.retire_units(order=order, buyer=buyer, purpose=purpose)
    return order


async def test_tree_planting_money_is_kept_apart_from_carbon_revenue_by_receiving_body(sign_in):
    from planting.domain.duty import assess_duty
    from planting.domain.purchases import create_purchase
    from planting.domain.rules import ORDER_PURPOSE, set_rule

    finance = await sign_in(StaffRole.FINANCE)
    quota = await quotas.open_quota(units=1000)
    buyer = await make_holder("买家")
    year = clock.today().year
    await _paid_order(quota, 5, "travel", buyer)  # carbon: ¥5
    owes = assess_duty(year, declared_owes=True)
    for body, tickets in (("银川市绿化基金会", 30), ("宁夏绿化基金会", 40)):  # the second rule supersedes the first
        rule = await set_rule(year=year, tickets_per_tree=10, receiving_body=body, source="通知")
        order = await _paid_order(quota, tickets, ORDER_PURPOSE, buyer)
        await create_purchase(rule=rule, name="张三", trees=tickets // 10, assessment=owes, price_fen=100, order=order)

    assert await stock.revenue_total() == (1, 500)  # carbon revenue only
    assert sum(r.amount_fen for r in await stock.revenue_by_day(clock.now())) == 500
    assert sum(r.amount_fen for r in await stock.revenue_by_day(clock.now(), planting_money=True)) == 7000
    money = {
        (m.receiving_body, m.year): (m.orders, m.units, m.amount_fen) for m in await stock.planting_money_by_body()
    }
    # each order's money goes to the body named by the rule it was bought under, even after a new rule
    assert money == {("银川市绿化基金会", year): (1, 30, 3000), ("宁夏绿化基金会", year): (1, 40, 4000)}
    today, _week = await stock.quota_sales_today_and_week(quota, clock.now())
    assert (today.units, today.amount_fen) == (5, 500)
    assert (today.planting_units, today.planting_amount_fen) == (70, 7000)

    page = await finance.get("/admin/revenue")
    assert page.status_code == 200
    assert "¥5.00" in page.text.split('data-testid="revenue-total"')[1][:40]
    planting_part = page.text.split('data-testid="planting-money"')[1]
    assert "¥70.00" in planting_part.split('data-testid="planting-total"')[1][:40]
    assert "银川市绿化基金会" in planting_part and "宁夏绿化基金会" in planting_part and "40.00" in planting_part
    dashboard = await finance.get("/admin/")
    assert "70 张" in dashboard.text.split('data-testid="planting-sales"')[1][:200]
    assert "5 张" in dashboard.text.split('data-testid="sales-today"')[1][:120]
    english = await finance.get("/admin/revenue", params={"lang": "en"})
    assert "Tree-planting duty donations" in english.text
