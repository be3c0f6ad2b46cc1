"""Back-office pages for trades, dividends, offsets, compensation, the register and statements: the role matrix
of their routes, each workflow through its forms, refusals that write nothing, exports and the statement PDF."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from certificates import service as certificate_service
from factories import make_holder, make_parcel
from kernel import clock
from registry import register
from registry.audit import Actor
from registry.models import Certificate, HolderKind, StaffRole, TicketKind
from registry.offsets import CompensationCase, GreenLandOffset, StateRevenue
from registry.trades import Trade, TradeStatus, record_transfer
from tests.admin.conftest import confirm_step, make_staff
from tests.admin.test_permissions import snapshot
from tests.threads import in_file_pool, watch_threads

A, ISS, F, L, G, N, U = (
    StaffRole.ADMIN,
    StaffRole.ISSUER,
    StaffRole.FORESTRY,
    StaffRole.LANDSCAPING,
    StaffRole.GREENING,
    StaffRole.FINANCE,
    StaffRole.AUDITOR,
)
TODAY = clock.today().isoformat()
TOKEN_RE = re.compile(r'name="form_token" value="([^"]+)"')


def form_token(html: str) -> str:
    match = TOKEN_RE.search(html)
    assert match, "no form token on the page"
    return match.group(1)


async def _collective(units: int = 1000):  # type: ignore[no-untyped-def]
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE)
    batch = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=units,
        serial_prefix="YC-JT-640104-2026-001",
        parcel=await make_parcel("640104"),
        unit_area_m2=Decimal("100"),
        district_code="640104",
    )
    return batch, village


async def _state(units: int = 1000):  # type: ignore[no-untyped-def]
    unit = await make_holder("银川市国有林场", kind=HolderKind.STATE_UNIT, region="640105")
    batch = await register.issue_batch(
        kind=TicketKind.STATE,
        holder=unit,
        total_units=units,
        serial_prefix="YC-GY-2026-001",
        parcel=await make_parcel("640105"),
        unit_area_m2=Decimal("666.6667"),
    )
    return batch, unit


async def _seed() -> dict[str, int]:
    batch, village = await _collective()
    state, _unit = await _state()
    buyer = await make_holder("李四")
    company = await make_holder("银川某某置业有限公司", kind=HolderKind.ENTERPRISE)
    issuer = await make_staff(ISS, "trades-seed-issuer")
    trade = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=10, price_fen=1000, actor=Actor(issuer)
    )
    from registry import dividends, offsets

    dividend = await dividends.record_dividend(
        batch=batch, income_fen=100, record_date=clock.today(), source="x", actor=Actor(issuer)
    )
    greening = await make_staff(G, "trades-seed-greening", "640104")
    offset = await offsets.apply_offset(
        company=company,
        offset_type="occupation",
        project="项目",
        location="兴庆区",
        district_code="640104",
        lacking_area_m2="100",
        planning_approval_ref="规-1",
        actor=Actor(greening),
    )
    forestry = await make_staff(F, "trades-seed-forestry")
    case = await offsets.open_case(
        case_number="案-1",
        offence="fire",
        deciding_body="市检察院",
        offender=buyer,
        decided_on=clock.today(),
        actor=Actor(forestry),
    )
    from registry.trades import InheritanceCase

    inheritance = await InheritanceCase.create(deceased=buyer, died_on=clock.today())
    return {
        "trade": trade.id,
        "dividend": dividend.id,
        "offset": offset.id,
        "case": case.id,
        "holder": buyer.id,
        "inheritance": inheritance.id,
        "batch": batch.id,
        "state": state.id,
    }


def trade_routes(ids: dict[str, int]) -> list[tuple[str, str, dict[str, str], frozenset[StaffRole]]]:
    """Every route of these pages, with a request each role may or may not make (bad data on purpose)."""
    t, d, o, c, h, i = ids["trade"], ids["dividend"], ids["offset"], ids["case"], ids["holder"], ids["inheritance"]
    return [
        ("GET", "/admin/trades", {}, frozenset({ISS, F, U})),
        # transfers: collective tickets by the district's issuer, state tickets by the forestry department
        ("GET", "/admin/trades/transfer/new", {}, frozenset({ISS, F})),
        ("POST", "/admin/trades/transfer", {"batch_id": "", "form_token": "x" * 20}, frozenset({ISS, F})),
        ("GET", "/admin/trades/subscription/new", {}, frozenset({ISS})),
        ("POST", "/admin/trades/subscription", {"batch_id": ""}, frozenset({ISS})),
        ("GET", f"/admin/trades/{t}", {}, frozenset({ISS, F, U})),
        ("POST", f"/admin/trades/{t}/filings", {"authority": "city_forestry", "filed_on": "x"}, frozenset({ISS, F})),
        # inheritance: collective tickets by the district's issuer, state tickets by the forestry department
        ("GET", "/admin/inheritance/new", {}, frozenset({ISS, F})),
        ("POST", "/admin/inheritance", {"deceased_id": ""}, frozenset({ISS, F})),
        ("GET", f"/admin/inheritance/{i}", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/dividends", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/dividends/new", {}, frozenset({ISS})),
        ("POST", "/admin/dividends", {"batch_id": ""}, frozenset({ISS})),
        ("GET", f"/admin/dividends/{d}", {}, frozenset({ISS, F, U})),
        # the district's greening committee office receives, the landscaping bureau decides, forestry sells
        ("GET", "/admin/offsets", {}, frozenset({L, G, F, N, U})),
        ("GET", "/admin/offsets/new", {}, frozenset({G})),
        ("POST", "/admin/offsets", {"company_id": ""}, frozenset({G})),
        ("GET", f"/admin/offsets/{o}", {}, frozenset({L, G, F, N, U})),
        ("POST", f"/admin/offsets/{o}/reject", {"reason": ""}, frozenset({L})),
        ("POST", f"/admin/offsets/{o}/complete", {"batch_id": ""}, frozenset({F})),
        ("POST", f"/admin/offsets/{o}/approve", {"comment": "x"}, frozenset({L})),
        ("GET", "/admin/compensation", {}, frozenset({F, N, U})),
        ("GET", "/admin/compensation/new", {}, frozenset({F})),
        ("POST", "/admin/compensation", {"case_number": ""}, frozenset({F})),
        ("GET", f"/admin/compensation/{c}", {}, frozenset({F, N, U})),
        ("POST", f"/admin/compensation/{c}/order", {"batch_id": ""}, frozenset({F})),
        # finance is read-only on the register: recording the payment that retires units is forestry's
        ("POST", f"/admin/compensation/{c}/pay", {"payment_ref": ""}, frozenset({F})),
        ("GET", "/admin/register", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/register.csv", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/register.xlsx", {}, frozenset({ISS, F, U})),
        ("GET", f"/admin/holders/{h}/statement", {}, frozenset({ISS, F, U})),
        ("GET", f"/admin/holders/{h}/statement.pdf", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/revenue/state", {}, frozenset({N, U})),
    ]


@pytest.mark.parametrize("role", list(StaffRole), ids=str)
async def test_role_matrix_of_the_trade_pages(role, sign_in):
    ids = await _seed()
    staff = await sign_in(role, f"trades-matrix-{role}")
    routes = trade_routes(ids)
    before = await snapshot()
    for method, url, data, roles in routes:
        if role in roles:
            continue
        response = await (staff.get(url) if method == "GET" else staff.post(url, data))
        assert response.status_code == 403, (role, method, url, response.status_code)
    assert await snapshot() == before
    for method, url, data, roles in routes:
        if role not in roles:
            continue
        response = await (staff.get(url) if method == "GET" else staff.post(url, data))
        assert response.status_code not in (401, 403), (role, method, url, response.status_code)
        assert response.status_code < 500, (role, method, url)


async def test_issuer_records_a_transfer_and_its_three_filings(sign_in):
    batch, village = await _collective()
    village_certificate = await certificate_service.issue_holding_certificate(batch, village)
    buyer = await make_holder("李四")
    issuer = await sign_in(ISS, "issuer-trades")
    form = await issuer.get("/admin/trades/transfer/new")
    assert form.status_code == 200
    data = {
        "batch_id": str(batch.id),
        "seller_id": str(village.id),
        "buyer_id": str(buyer.id),
        "quantity": "120",
        "price": "3600.50",
        "note": "协议转让",
        "form_token": form_token(form.text),
    }
    created = await issuer.post("/admin/trades/transfer", {**data, "step": "confirm"})
    assert created.status_code == 303, created.text
    again = await issuer.post("/admin/trades/transfer", {**data, "step": "confirm"})  # the same form sent twice
    assert again.status_code == 303 and again.headers["location"] == created.headers["location"]
    assert await Trade.all().count() == 1
    trade = await Trade.get()
    assert trade.price_fen == 360_050 and await register.holder_total(buyer, batch=batch) == 120
    page = await issuer.get(created.headers["location"])
    assert "备案未完成，尚未生效" in page.text and "YC-JT-640104-2026-001-00000001" in page.text
    for authority, reference in (("village_committee", "村备1"), ("district_government", "区备2")):
        response = await issuer.post(
            f"/admin/trades/{trade.id}/filings",
            {"authority": authority, "filed_on": TODAY, "reference": reference, "step": "confirm"},
        )
        assert response.status_code == 303
    forestry = await sign_in(F, "forestry-trades")
    response = await forestry.post(
        f"/admin/trades/{trade.id}/filings",
        {"authority": "city_forestry", "filed_on": TODAY, "reference": "市备3", "step": "confirm"},
    )
    assert response.status_code == 303
    page = await issuer.get(f"/admin/trades/{trade.id}")
    assert "已生效" in page.text and "市备3" in page.text
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.EFFECTIVE
    # the buyer's holding certificate comes with the trade taking effect, once
    certificate = await Certificate.get(holder_id=buyer.id)
    assert certificate.quantity == 120 and certificate.kind == "collective_holding"
    assert f"/verify/{certificate.code}" in page.text
    await forestry.post(
        f"/admin/trades/{trade.id}/filings",
        {"authority": "city_forestry", "filed_on": TODAY, "reference": "市备3", "step": "confirm"},
    )
    assert await Certificate.filter(holder_id=buyer.id).count() == 1
    # the seller's certificate for 1,000 units is revoked and replaced by one for the 880 left
    await village_certificate.refresh_from_db()
    assert village_certificate.status == "revoked"
    renewed = await Certificate.get(holder_id=village.id, status="valid")
    assert renewed.quantity == 880


async def test_forestry_records_a_state_transfer_and_its_one_filing_through_the_form(sign_in):
    batch, unit = await _state(units=100)  # a state parcel of 西夏区
    collective, _village = await _collective()
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    forestry = await sign_in(F, "forestry-state-transfer")
    form = await forestry.get("/admin/trades/transfer/new")
    assert form.status_code == 200
    assert "YC-GY-2026-001" in form.text and "YC-JT-640104-2026-001" not in form.text  # its own batches only
    data = {
        "batch_id": str(batch.id),
        "seller_id": str(unit.id),
        "buyer_id": str(buyer.id),
        "quantity": "30",
        "price": "6000",
        "note": "",
        "form_token": form_token(form.text),
    }
    created = await forestry.post("/admin/trades/transfer", {**data, "step": "confirm"})
    assert created.status_code == 303, created.text
    trade = await Trade.get()
    assert trade.batch_id == batch.id and await register.holder_total(buyer, batch=batch) == 30
    page = await forestry.get(created.headers["location"])
    assert "备案未完成，尚未生效" in page.text
    response = await forestry.post(
        f"/admin/trades/{trade.id}/filings",
        {"authority": "city_forestry", "filed_on": TODAY, "reference": "市林备1", "step": "confirm"},
    )
    assert response.status_code == 303
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.EFFECTIVE  # one filing makes a state trade effective
    certificate = await Certificate.get(holder_id=buyer.id)
    assert certificate.kind == "state_holding" and certificate.quantity == 30
    # the forestry department records no collective transfer, and 兴庆区's forestry department no 西夏区 one
    xingqing = await sign_in(F, "forestry-xingqing-trades", "640104")
    other_form = await xingqing.get("/admin/trades/transfer/new")
    before = await snapshot()
    refused = await forestry.post(
        "/admin/trades/transfer",
        {**data, "batch_id": str(collective.id), "seller_id": str(_village.id), "form_token": form_token(form.text)},
    )
    assert refused.status_code == 403
    assert "YC-GY-2026-001" not in other_form.text
    refused = await xingqing.post("/admin/trades/transfer", {**data, "form_token": form_token(other_form.text)})
    assert refused.status_code == 403
    assert await snapshot() == before


async def test_a_refused_transfer_shows_why_and_writes_nothing(sign_in):
    batch, village = await _collective(units=10)
    outsider = await make_holder("外地人", region="110101")
    issuer = await sign_in(ISS, "issuer-refused")
    form = await issuer.get("/admin/trades/transfer/new")
    before = await snapshot()
    data = {
        "batch_id": str(batch.id),
        "seller_id": str(village.id),
        "buyer_id": str(outsider.id),
        "quantity": "5",
        "price": "1",
        "form_token": form_token(form.text),
    }
    response = await issuer.post("/admin/trades/transfer", data)
    assert response.status_code == 400 and "持有人的居住地（住所）须在本市" in response.text
    response = await issuer.post("/admin/trades/transfer", {**data, "buyer_id": str(village.id), "quantity": "50"})
    assert response.status_code == 400
    assert await snapshot() == before
    other = await sign_in(ISS, "issuer-xixia-trades", "640105")
    buyer = await make_holder()
    response = await other.post("/admin/trades/transfer", {**data, "buyer_id": str(buyer.id)})
    assert response.status_code == 403


async def test_a_buyer_whose_residence_no_clerk_recorded_is_refused_with_what_to_do(sign_in):
    batch, village = await _collective(units=10)
    unrecorded = await make_holder("未核实居住地的人", region="640104", residence="")
    issuer = await sign_in(ISS, "issuer-residence")
    form = await issuer.get("/admin/trades/transfer/new")
    before = await snapshot()
    data = {
        "batch_id": str(batch.id),
        "seller_id": str(village.id),
        "buyer_id": str(unrecorded.id),
        "quantity": "5",
        "price": "1",
        "form_token": form_token(form.text),
    }
    response = await issuer.post("/admin/trades/transfer", data)
    assert response.status_code == 400 and "请先记录居住地及其依据" in response.text
    english = await issuer.post("/admin/trades/transfer?lang=en", data)
    assert english.status_code == 400 and "record the residence and its evidence first" in english.text
    assert await snapshot() == before


async def test_subscription_form(sign_in):
    batch, _village = await _collective()
    coop = await make_holder("绿源林业合作社", kind=HolderKind.ENTERPRISE)
    issuer = await sign_in(ISS, "issuer-subscription")
    form = await issuer.get("/admin/trades/subscription/new")
    response = await issuer.post(
        "/admin/trades/subscription",
        {
            "batch_id": str(batch.id),
            "subscriber_id": str(coop.id),
            "share": "30",
            "price": "10000",
            "operating_form": "cooperation",
            "term_years": "15",
            "agreement_ref": "协议-7",
            "form_token": form_token(form.text),
            "step": "confirm",
        },
    )
    assert response.status_code == 303, response.text
    page = await issuer.get(response.headers["location"])
    assert "合作经营" in page.text and "协议-7" in page.text and "30%" in page.text
    assert await register.holder_total(coop, batch=batch) == 300


async def test_dividend_form_and_the_holders_statement_and_pdf(sign_in, monkeypatch):
    import admin.views_register

    drawn = watch_threads(monkeypatch, admin.views_register, "statement_pdf")
    batch, village = await _collective(units=100)
    buyer = await make_holder("长名字" * 30)
    issuer = await sign_in(ISS, "issuer-dividend")
    await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=40, price_fen=0, actor=Actor(issuer.user))
    form = await issuer.get("/admin/dividends/new")
    response = await issuer.post(
        "/admin/dividends",
        {
            "batch_id": str(batch.id),
            "income": "1000.01",
            "record_date": TODAY,
            "source": "合作社经营收入",
            "form_token": form_token(form.text),
            "step": "confirm",
        },
    )
    assert response.status_code == 303, response.text
    detail = await issuer.get(response.headers["location"])
    assert "600.01" in detail.text and "400.00" in detail.text and "归村集体所有" in detail.text
    statement = await issuer.get(f"/admin/holders/{buyer.id}/statement")
    assert statement.status_code == 200 and "400.00" in statement.text and "分红" in statement.text
    pdf = await issuer.get(f"/admin/holders/{buyer.id}/statement.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "林票持有人对账单" in text and "400.00" in text and "YC-JT-640104-2026-001" in text
    assert in_file_pool(drawn)  # drawn off the event loop
    fresh = form_token((await issuer.get("/admin/dividends/new")).text)
    refused = await issuer.post(
        "/admin/dividends", {"batch_id": str(batch.id), "income": "1", "record_date": "2000-01-01", "form_token": fresh}
    )
    assert refused.status_code == 400 and "没有持有人" in refused.text


async def test_register_filters_and_exports(sign_in):
    batch, village = await _collective(units=100)
    evil = await make_holder('=HYPERLINK("http://x")')
    auditor = await sign_in(U, "auditor-register")
    await record_transfer(
        batch=batch, seller=village, buyer=evil, quantity=5, price_fen=500, actor=Actor(await make_staff(ISS))
    )
    page = await auditor.get(f"/admin/register?entry=transfer&batch={batch.id}")
    assert page.status_code == 200 and "YC-JT-640104-2026-001-00000001" in page.text
    assert page.text.count("<tr>") == 2  # header and the one transfer
    csv_response = await auditor.get(f"/admin/register.csv?batch={batch.id}")
    assert csv_response.headers["content-disposition"].startswith("attachment")
    assert "'=HYPERLINK" in csv_response.content.decode("utf-8-sig")
    xlsx = await auditor.get("/admin/register.xlsx?entry=transfer")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][6] == "'" + evil.name and rows[1][7] == 5


async def test_green_land_offset_through_the_pages(sign_in):
    batch, _unit = await _state(units=100)
    company = await make_holder("银川某某置业有限公司", kind=HolderKind.ENTERPRISE)
    greening = await sign_in(G, "greening-jinfeng", "640106")  # 金凤区绿委办 receives the application
    form = await greening.get("/admin/offsets/new")
    assert 'value="640106" selected' in form.text  # its own district is proposed
    response = await greening.post(
        "/admin/offsets",
        {
            "company_id": str(company.id),
            "offset_type": "ratio_swap",
            "project": "阅海湾商住小区",
            "location": "阅海湾",
            "district_code": "640106",
            "lacking_area_m2": "1000",
            "planning_approval_ref": "银规-9",
            "form_token": form_token(form.text),
        },
    )
    assert response.status_code == 303, response.text
    offset = await GreenLandOffset.get()
    assert offset.applied_by == "staff:greening-jinfeng"
    # another district's greening office neither sees it nor receives for 金凤区; the desk does not approve
    xixia = await sign_in(G, "greening-xixia-pages", "640105")
    assert (await xixia.get(f"/admin/offsets/{offset.id}")).status_code == 404
    assert f"/admin/offsets/{offset.id}" not in (await xixia.get("/admin/offsets")).text
    before = await snapshot()
    assert (await greening.post(f"/admin/offsets/{offset.id}/approve", {"comment": "同意"})).status_code == 403
    assert await snapshot() == before
    landscaping = await sign_in(L, "landscaping-pages")
    assert (await landscaping.post(f"/admin/offsets/{offset.id}/approve", {"comment": "同意"})).status_code == 303
    forestry = await sign_in(F, "forestry-pages")
    detail = await forestry.get(f"/admin/offsets/{offset.id}")
    response = await forestry.post(
        f"/admin/offsets/{offset.id}/complete",
        {"batch_id": str(batch.id), "unit_price": "200", "form_token": form_token(detail.text), "step": "confirm"},
    )
    assert response.status_code == 303
    page = await forestry.get(f"/admin/offsets/{offset.id}")
    assert "已购买并注销" in page.text and "YC-GY-2026-001-00000001" in page.text
    finance = await sign_in(N, "finance-pages")
    revenue = await finance.get("/admin/revenue/state")
    assert "400.00" in revenue.text  # 2 units × ¥200
    assert await StateRevenue.all().count() == 1


async def test_compensation_case_through_the_pages(sign_in):
    batch, _unit = await _state(units=100)
    offender = await make_holder("王某某")
    forestry = await sign_in(F, "forestry-case")
    response = await forestry.post(
        "/admin/compensation",
        {
            "case_number": "银林罚〔2026〕12号",
            "offence": "illegal_logging",
            "deciding_body": "银川市自然资源局",
            "offender_id": str(offender.id),
            "decided_on": TODAY,
        },
    )
    assert response.status_code == 303, response.text
    case = await CompensationCase.get()
    response = await forestry.post(
        f"/admin/compensation/{case.id}/order",
        {"batch_id": str(batch.id), "area_m2": "700", "unit_price": "300", **confirm_step()},
    )
    assert response.status_code == 303
    finance = await sign_in(N, "finance-case")
    detail = await finance.get(f"/admin/compensation/{case.id}")
    assert "王某某" in detail.text  # the back office sees the offender
    assert f"/admin/compensation/{case.id}/pay" not in detail.text  # finance reads; it offers no payment form
    before = await snapshot()
    refused = await finance.post(f"/admin/compensation/{case.id}/pay", {"payment_ref": "缴款书001"})
    assert refused.status_code == 403 and await snapshot() == before
    detail = await forestry.get(f"/admin/compensation/{case.id}")
    response = await forestry.post(
        f"/admin/compensation/{case.id}/pay",
        {"payment_ref": "缴款书001", "form_token": form_token(detail.text), "step": "confirm"},
    )
    assert response.status_code == 303
    await case.refresh_from_db()
    assert case.status == "completed" and case.ordered_units == 2
    listing = await finance.get("/admin/compensation")
    assert "银林罚〔2026〕12号" in listing.text


async def test_pages_in_english(sign_in):
    await _collective(units=10)
    issuer = await sign_in(ISS, "issuer-english")
    page = await issuer.get("/admin/trades/transfer/new?lang=en")
    assert page.status_code == 200 and "Record a transfer" in page.text


async def test_inheritance_through_the_form_with_documents_and_certificates(sign_in):
    batch, village = await _collective(units=100)
    father, son, daughter = await make_holder("张老汉"), await make_holder("张大"), await make_holder("张二")
    issuer = await sign_in(ISS, "issuer-inheritance")
    await record_transfer(batch=batch, seller=village, buyer=father, quantity=30, price_fen=0, actor=Actor(issuer.user))
    form = await issuer.get(f"/admin/inheritance/new?deceased={father.id}")
    data = {
        "deceased_id": str(father.id),
        "died_on": TODAY,
        "heir_0": str(son.id),
        "share_0": "50",
        "heir_1": str(daughter.id),
        "share_1": "40",  # 90 %: refused
        "doc_death_certificate": "死亡证明 001",
        "doc_notarial_certificate": "(2026)宁银证字第1号",
        "form_token": form_token(form.text),
    }
    before = await snapshot()
    refused = await issuer.post("/admin/inheritance", data)
    assert refused.status_code == 400 and "份额之和必须等于100%" in refused.text
    assert await snapshot() == before
    response = await issuer.post("/admin/inheritance", {**data, "share_1": "50", "step": "confirm"})
    assert response.status_code == 303, response.text
    page = await issuer.get(response.headers["location"])
    assert "(2026)宁银证字第1号" in page.text and "张大" in page.text
    assert (
        await register.holder_total(son, batch=batch) == 15 and await register.holder_total(daughter, batch=batch) == 15
    )
    assert await Certificate.filter(holder_id__in=[son.id, daughter.id]).count() == 2


async def test_inheritance_with_a_death_date_before_a_later_acquisition_is_refused_in_words(sign_in):
    batch, village = await _collective(units=100)
    father, son = await make_holder("孙老汉"), await make_holder("孙大")
    issuer = await sign_in(ISS, "issuer-death-date")
    await record_transfer(batch=batch, seller=village, buyer=father, quantity=20, price_fen=0, actor=Actor(issuer.user))
    form = await issuer.get(f"/admin/inheritance/new?deceased={father.id}")
    yesterday = (clock.today() - timedelta(days=1)).isoformat()  # he bought today: he was alive today
    data = {
        "deceased_id": str(father.id),
        "died_on": yesterday,
        "heir_0": str(son.id),
        "share_0": "100",
        "doc_death_certificate": "死亡证明 002",
        "doc_notarial_certificate": "(2026)宁银证字第2号",
        "form_token": form_token(form.text),
    }
    before = await snapshot()
    refused = await issuer.post("/admin/inheritance", data)
    assert refused.status_code == 400 and "死亡日期早于被继承人此后在登记簿中取得林票的日期" in refused.text
    english = await issuer.post("/admin/inheritance?lang=en", data)
    assert english.status_code == 400 and "earlier than a later acquisition of tickets by the deceased" in english.text
    assert await snapshot() == before
    await issuer.get("/admin/?lang=zh_CN")


def test_every_string_of_the_trade_pages_has_an_english_translation():
    from pathlib import Path

    from kernel.i18n import translations

    root = Path(__file__).resolve().parents[2]
    call = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    sources = [
        *sorted((root / "admin/templates/trades").glob("*.html")),
        *(root / "admin" / name for name in ("views_trades.py", "views_offsets.py", "views_register.py")),
        root / "admin/statement_pdf.py",
    ]
    used = {a or b for path in sources for a, b in call.findall(path.read_text(encoding="utf-8"))}
    english = translations("en", "admin")
    assert len(used) > 150
    assert sorted(s for s in used if english.gettext(s) == s) == []


async def test_an_issuer_sees_only_its_own_districts_trades(sign_in):
    ids = await _seed()
    other = await sign_in(ISS, "issuer-xixia-view", "640105")
    assert (await other.get(f"/admin/trades/{ids['trade']}")).status_code == 404
    assert (await other.get(f"/admin/dividends/{ids['dividend']}")).status_code == 404
    listing = await other.get("/admin/trades")
    assert f"/admin/trades/{ids['trade']}" not in listing.text
    before = await snapshot()
    response = await other.post(
        f"/admin/trades/{ids['trade']}/filings",
        {"authority": "village_committee", "filed_on": TODAY, "reference": "x"},
    )
    assert response.status_code == 404 and await snapshot() == before
    own = await sign_in(ISS, "issuer-xingqing-view", "640104")
    assert f"/admin/trades/{ids['trade']}" in (await own.get("/admin/trades")).text
