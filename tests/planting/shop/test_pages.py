"""Tree-planting pages end to end with the demo provider: a citizen's fulfilment (and the honour
certificate), an organisation's roster (upload, preview, pay, certificates, zip, report as page, PDF, CSV),
late staff, a second upload while unpaid, and refusals that store nothing."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from factories import credit_code, resident_id
from planting.domain.models import PlantingOutcome, PlantingPurchase, PurchaseStatus, RosterMember, RosterSubmission
from planting.domain.purchases import already_fulfilled, counted_trees
from planting.domain.report import fulfilment_report
from planting.domain.rules import set_rule
from registry import idcrypt
from registry.models import (
    Certificate,
    CertificateKind,
    Holding,
    HoldingState,
    Order,
    OrderStatus,
    RegisterEntry,
)
from registry.quotas import open_quota
from tests.threads import in_file_pool, watch_threads

YEAR = 2026


def man(birth: str = "19800101", seq: int = 11) -> str:
    return resident_id("640121", birth, seq=seq)


@pytest.fixture
async def on_sale(db):
    await open_quota(units=100_000)
    return await set_rule(
        year=YEAR,
        tickets_per_tree=10,
        trees_per_duty=3,
        receiving_body="银川市绿化基金会",
        source="银川市绿化委员会办公室 2026 年第 1 号通知",
    )


async def pay_demo(client, location: str):
    """Follow the demo payment page to its confirmation; returns the final response."""
    assert location.startswith("http://testserver/pay/demo/")
    path = location.removeprefix("http://testserver")
    page = await client.get(path)
    assert page.status_code == 200 and "义务植树尽责（2026年度）" in page.text
    done = await client.post(path, data={"action": "confirm"})
    assert done.status_code == 303
    response = await client.get(done.headers["location"])  # the shop's order page sends planting orders on
    assert response.status_code == 303 and response.headers["location"].startswith("/planting/")
    response = await client.get(response.headers["location"])
    if response.status_code == 303:  # an organisation's order: its management page
        response = await client.get(response.headers["location"])
    return response


# --- citizens -----------------------------------------------------------------------------------------------


async def test_citizen_page_states_the_rule_and_prices(client, on_sale):
    page = await client.get("/planting")
    assert page.status_code == 200
    text = page.text
    assert "2026年度折算标准" in text and "银川市绿化基金会" in text and "2026 年第 1 号通知" in text
    assert "¥30.00" in text and "¥40.00" in text and "¥50.00" in text
    english = await client.get("/planting?lang=en")
    assert "Conversion for 2026" in english.text and "Receiving body" in english.text


async def test_no_rule_no_sale_page(client, db):
    await open_quota(units=1000)
    page = await client.get("/planting")
    assert page.status_code == 200 and 'id="no-rule"' in page.text
    refused = await client.post("/planting", data={"year": "2026", "trees": "3", "name": "张三", "declared": "owes"})
    assert refused.status_code == 400 and "尚未设定" in refused.text
    assert await Order.all().count() == 0


async def test_citizen_fulfils_the_duty_with_the_demo_provider(client, on_sale):
    person = man()
    response = await client.post(
        "/planting",
        data={"year": "2026", "trees": "4", "name": "张三", "id_number": person, "contact": "", "id_consent": "1"},
    )
    assert response.status_code == 303
    page = await pay_demo(client, response.headers["location"])
    assert page.status_code == 200
    assert "全民义务植树尽责证书" in page.text and 'id="certificate-pdf"' in page.text
    assert person not in page.text and person[:4] + "**********" + person[-4:] in page.text
    order = await Order.get()
    assert order.status is OrderStatus.FULFILLED and order.quantity == 40 and order.amount_fen == 4000
    holdings = await Holding.filter(order_id=order.id)
    assert {h.state for h in holdings} == {HoldingState.RETIRED}
    assert {h.purpose for h in holdings} == {"义务植树尽责（2026年度）"}
    entry = await RegisterEntry.get(kind="retirement")
    assert entry.purpose == "义务植树尽责（2026年度）" and entry.quantity == 40
    certificate = await Certificate.get(order_id=order.id)
    assert certificate.kind is CertificateKind.PLANTING and certificate.data["year"] == 2026
    assert certificate.data["trees"] == "4" and certificate.quantity == 40
    assert person not in str(certificate.data)
    assert await already_fulfilled(person, YEAR)
    pdf = await client.get(f"/certificates/{certificate.code}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_already_fulfilled_is_told_before_paying_not_prevented(client, on_sale):
    person = man()
    first = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "张三", "id_number": person, "id_consent": "1"}
    )
    await pay_demo(client, first.headers["location"])
    again = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "张三", "id_number": person, "id_consent": "1"}
    )
    assert again.status_code == 303 and again.headers["location"].startswith("/planting/orders/")
    notice = await client.get(again.headers["location"])
    assert 'id="already-fulfilled"' in notice.text and 'id="continue-payment"' in notice.text
    assert person not in notice.text
    order = await Order.filter(status=OrderStatus.PENDING).get()
    page = await pay_demo(client, order.details["checkout_url"])
    assert "国土绿化荣誉证书" in page.text
    second = await PlantingPurchase.get(order_id=order.id)
    assert second.outcome is PlantingOutcome.BEYOND_DUTY


async def test_outside_the_duty_by_declaration_gets_honour(client, on_sale):
    response = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "李奶奶", "declared": "outside"}
    )
    page = await pay_demo(client, response.headers["location"])
    assert "国土绿化荣誉证书" in page.text
    certificate = await Certificate.get()
    assert certificate.kind is CertificateKind.HONOUR


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"trees": "2", "name": "张三", "declared": "owes"}, "3至5株"),
        ({"trees": "6", "name": "张三", "declared": "owes"}, "3至5株"),
        ({"trees": "3", "name": "", "declared": "owes"}, "姓名"),
        ({"trees": "3", "name": "张三", "id_number": "640121198001011234", "id_consent": "1"}, "身份证号码"),
        ({"trees": "3", "name": "张三", "declared": ""}, "声明"),
    ],
)
async def test_bad_citizen_input_is_refused_and_writes_nothing(client, on_sale, data, message):
    response = await client.post("/planting", data={"year": "2026", **data})
    assert response.status_code == 400 and message in response.text
    assert "640121198001011234" not in response.text  # a typed ID number is never echoed back
    assert await Order.all().count() == 0 and await PlantingPurchase.all().count() == 0


# --- organisations ------------------------------------------------------------------------------------------


def roster_csv(*rows: str, encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join(["姓名,身份证号码,工号,植树株数", *rows]).encode(encoding)


def org_form(code: str | None = None) -> dict[str, str]:
    return {
        "organisation_name": "银川市某局",
        "credit_code": code or credit_code("640104"),
        "contact": "王科长 0951-1234567",
        "year": "2026",
        "id_consent": "1",  # the uploader confirms each person's consent
    }


async def upload(client, data: bytes, name: str = "名单.csv", form: dict[str, str] | None = None):
    return await client.post("/planting/org", data=form or org_form(), files={"roster": (name, data, "text/csv")})


async def test_a_village_collective_pays_for_its_roster_with_its_n2_code(client, on_sale):
    """An N2 code (村级集体经济组织) is a valid credit code: the village is registered as a village collective."""
    from registry.identity import uscc_check_char
    from registry.models import Holder, HolderKind

    code = "N2640104MF0000005"
    code += uscc_check_char(code)
    response = await upload(client, roster_csv(f"甲,{man('19800101', 21)},E1,"), form=org_form(code.lower()))
    assert response.status_code == 303, response.text
    token = response.headers["location"].rsplit("/", 1)[1]
    pay = await client.post(f"/planting/org/{token}/pay")
    await pay_demo(client, pay.headers["location"])
    order = await Order.get()
    assert order.status is OrderStatus.FULFILLED
    village = await Holder.get(id=order.buyer_id)  # type: ignore[attr-defined]
    assert (
        village.id_number == code
        and village.id_digest == idcrypt.digest(code)
        and village.kind is HolderKind.VILLAGE_COLLECTIVE
    )


async def test_organisation_path_end_to_end(client, on_sale, monkeypatch):
    import planting.shop.pages

    drawn = watch_threads(monkeypatch, planting.shop.pages, "report_pdf")
    rows = [
        f"甲,{man('19800101', 11)},E1,",
        f"乙,{man('19850101', 13)},E2,5",
        f"丙,{resident_id('640121', '19600101', seq=14)},E3,",  # a woman of 66: honour certificate
        f"甲,{man('19800101', 11)},E1,",  # duplicate
        "丁,6.40121E+17,E4,",  # Excel-mangled
        '"=HYPERLINK(""http://evil.example"",""x"")",,E5,',  # a formula as a name
    ]
    response = await upload(client, roster_csv(*rows).decode("utf-8-sig").encode("gbk"))
    assert response.status_code == 303
    manage_url = response.headers["location"]
    manage = await client.get(manage_url)
    assert manage.status_code == 200
    assert 'data-code="duplicate"' in manage.text and 'data-code="id_scientific"' in manage.text
    assert 'data-code="formula"' in manage.text and 'data-code="outside_duty"' in manage.text
    # payable: 甲 (3 trees) 乙 (5) 丙 (3) and the formula-named row (3): 14 trees × 10 tickets × ¥1
    assert 'id="roster-amount">¥140.00' in manage.text

    token = manage_url.rsplit("/", 1)[1]
    pay = await client.post(f"/planting/org/{token}/pay")
    assert pay.status_code == 303
    again = await client.post(f"/planting/org/{token}/pay")  # a second click: the same payment page
    assert again.headers["location"] == pay.headers["location"]
    assert await Order.all().count() == 1
    page = await pay_demo(client, pay.headers["location"])
    assert page.status_code == 200 and 'id="download-zip"' in page.text

    order = await Order.get()
    assert order.status is OrderStatus.FULFILLED and order.amount_fen == 14000
    certificates = await Certificate.filter(order_id=order.id).order_by("id")
    assert len(certificates) == 4
    kinds = sorted(str(c.kind) for c in certificates)
    assert kinds == ["honour", "planting", "planting", "planting"]
    entry = await RegisterEntry.get(kind="retirement")
    assert entry.quantity == 140 and entry.purpose == "义务植树尽责（2026年度）"

    zipped = await client.get(f"/planting/org/{token}/certificates.zip")
    assert zipped.status_code == 200 and zipped.headers["x-total-count"] == "4"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
        assert len([n for n in names if n.endswith(".pdf")]) == 4
        manifest = archive.read("清单.csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in manifest and ",=HYPERLINK" not in manifest  # the formula name is neutralised

    report = await client.get(f"/planting/org/{token}/report")
    # listed: 甲 乙 丙 丁 and the formula row (the duplicate is not a person); owing: all but 丙
    assert 'id="listed">5<' in report.text and 'id="owing">4<' in report.text
    assert 'id="fulfilled">3<' in report.text and 'id="rate">75.0%<' in report.text
    csv_response = await client.get(f"/planting/org/{token}/report.csv")
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows_out = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert ["尽责率", "75.0%"] in rows_out
    cells = [cell for row in rows_out for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)  # neutralised
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    pdf = await client.get(f"/planting/org/{token}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert in_file_pool(drawn)  # drawn off the event loop
    import pypdf

    printed = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "银川市某局" in printed and "75.0%" in printed and "甲" in printed
    for url in (f"/planting/org/{token}?lang=en", f"/planting/org/{token}/report", "/planting/org"):
        english = await client.get(url)
        assert english.status_code == 200 and '<html lang="en">' in english.text
        assert "Fulfilment rate" in english.text or "Upload and preview" in english.text
    await client.get("/planting?lang=zh_CN")


async def test_late_staff_make_a_second_payment_for_just_them(client, on_sale):
    first_rows = [f"甲,{man('19800101', 11)},E1,", f"乙,{man('19850101', 13)},E2,"]
    response = await upload(client, roster_csv(*first_rows))
    token = response.headers["location"].rsplit("/", 1)[1]
    await pay_demo(client, (await client.post(f"/planting/org/{token}/pay")).headers["location"])
    late = [*first_rows, f"丙,{man('19900101', 15)},E3,"]
    response = await client.post(
        f"/planting/org/{token}/upload",
        data={"id_consent": "1"},
        files={"roster": ("名单.csv", roster_csv(*late), "text/csv")},
    )
    assert response.status_code == 303
    manage = await client.get(f"/planting/org/{token}")
    assert manage.text.count('data-code="already_paid"') == 2 and 'id="roster-amount">¥30.00' in manage.text
    await pay_demo(client, (await client.post(f"/planting/org/{token}/pay")).headers["location"])
    orders = await Order.all().order_by("id")
    assert [o.amount_fen for o in orders] == [6000, 3000]
    assert all(o.status is OrderStatus.FULFILLED for o in orders)
    submission = await RosterSubmission.get(token=token)
    report = await fulfilment_report(submission)
    assert (report.listed, report.owing, report.fulfilled, report.paid) == (3, 3, 3, 3)


async def test_a_second_upload_while_the_first_is_unpaid(client, on_sale):
    response = await upload(client, roster_csv(f"甲,{man('19800101', 11)},E1,"))
    token = response.headers["location"].rsplit("/", 1)[1]
    first = await client.post(f"/planting/org/{token}/pay")
    assert first.status_code == 303
    response = await client.post(
        f"/planting/org/{token}/upload",
        data={"id_consent": "1"},
        files={"roster": ("名单.csv", roster_csv(f"乙,{man('19850101', 13)},E2,"), "text/csv")},
    )
    assert response.status_code == 303
    superseded = await Order.get()
    assert superseded.status is OrderStatus.FAILED  # its page closed, its tickets given back
    assert not await Holding.filter(order_id=superseded.id, state=HoldingState.RESERVED).exists()
    second = await client.post(f"/planting/org/{token}/pay")
    assert second.headers["location"] != first.headers["location"]
    await pay_demo(client, second.headers["location"])
    names = [p.name for p in await PlantingPurchase.filter(status=PurchaseStatus.COUNTED)]
    assert names == ["乙"]


@pytest.mark.parametrize(
    ("form", "data", "message"),
    [
        ({"credit_code": "91640104000000001A"}, None, "统一社会信用代码"),
        ({"organisation_name": ""}, None, "单位名称"),
        ({"year": "2031"}, None, "尚未设定"),
        ({}, b"", "没有人员"),
        ({}, b"\xd0\xcf\x11\xe0" + b"\x00" * 64, "XLSX"),
    ],
)
async def test_bad_organisation_uploads_store_nothing(client, on_sale, form, data, message):
    body = roster_csv(f"甲,{man()},E1,") if data is None else data
    response = await upload(client, body, form={**org_form(), **form})
    assert response.status_code == 400 and message in response.text
    assert await RosterSubmission.all().count() == 0 and await RosterMember.all().count() == 0


async def test_fifty_thousand_rows_are_refused_and_nothing_stored(client, on_sale):
    big = roster_csv(*[f"职工{i},,E{i}," for i in range(50_000)])
    response = await upload(client, big)
    assert response.status_code == 400 and "5,000" in response.text and "未保存" in response.text
    assert await RosterSubmission.all().count() == 0 and await RosterMember.all().count() == 0


async def test_rosters_are_read_off_the_event_loop_and_blank_rows_count(client, on_sale, monkeypatch):
    import threading

    from planting.shop import pages as planting_pages

    threads: list[threading.Thread] = []
    real = planting_pages.parse_roster

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(planting_pages, "parse_roster", recording)
    blanks = roster_csv(f"甲,{man()},E1,", *[""] * 5_000, f"乙,{man('19850101', 13)},E2,")
    response = await upload(client, blanks)
    assert response.status_code == 400 and "空行" in response.text and "未保存" in response.text
    assert await RosterSubmission.all().count() == 0 and await RosterMember.all().count() == 0
    assert threads and threading.main_thread() not in threads


async def test_management_link_is_private(client, on_sale):
    assert (await client.get("/planting/org/not-a-real-token")).status_code == 404
    assert (await client.get("/planting/org/not-a-real-token/report.csv")).status_code == 404
    assert (await client.get("/planting/orders/not-a-real-token")).status_code == 404


async def test_an_expired_roster_payment_can_be_paid_again(client, on_sale):
    from datetime import UTC, datetime, timedelta

    from registry import register

    response = await upload(client, roster_csv(f"甲,{man('19800101', 11)},E1,"))
    token = response.headers["location"].rsplit("/", 1)[1]
    first = await client.post(f"/planting/org/{token}/pay")
    await register.expire_reservations(now=datetime.now(UTC) + timedelta(hours=3))
    assert (await Order.get()).status is OrderStatus.EXPIRED
    manage = await client.get(f"/planting/org/{token}")
    assert 'id="roster-amount">¥30.00' in manage.text
    second = await client.post(f"/planting/org/{token}/pay")
    assert second.headers["location"] != first.headers["location"]
    page = await pay_demo(client, second.headers["location"])
    assert 'id="download-zip"' in page.text
    assert await Certificate.all().count() == 1


async def test_a_refunded_fulfilment_no_longer_counts(client, on_sale):
    from shop.orders import EventKind, PaymentEvent, apply_event

    person = man()
    response = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "张三", "id_number": person, "id_consent": "1"}
    )
    await pay_demo(client, response.headers["location"])
    assert await already_fulfilled(person, YEAR)
    order = await Order.get()
    await apply_event(order.id, PaymentEvent("demo", "refund-1", EventKind.REFUNDED))
    certificate = await Certificate.get(order_id=order.id)
    assert certificate.status.value == "refunded"
    assert not await already_fulfilled(person, YEAR)
    assert await counted_trees(person, YEAR) == 0


async def test_citizen_pays_through_stripe(stripe_client, fake_stripe, on_sale):
    import json

    from tests.fakestripe import FakeStripe

    response = await stripe_client.post(
        "/planting", data={"year": "2026", "trees": "5", "name": "张三", "id_number": man(), "id_consent": "1"}
    )
    assert response.status_code == 303
    order = await Order.get()
    assert response.headers["location"] == f"https://checkout.stripe.test/c/pay/{order.provider_ref}"
    created = next(r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions")
    item = created["params"]["line_items"][0]
    assert int(item["price_data"]["unit_amount"]) * int(item["quantity"]) == 5000
    assert "义务植树尽责（2026年度）" in item["price_data"]["product_data"]["description"]
    fake_stripe.pay(order.provider_ref)
    event = fake_stripe.session_event("checkout.session.completed", order.provider_ref)
    payload = json.dumps(event)
    webhook = await stripe_client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"stripe-signature": FakeStripe.sign(payload), "content-type": "application/json"},
    )
    assert webhook.json()["outcome"] == "fulfilled"
    certificate = await Certificate.get(order_id=order.id)
    assert certificate.kind is CertificateKind.PLANTING and certificate.data["trees"] == "5"
    back = await stripe_client.get(f"/orders/{order.token}?session_id={order.provider_ref}")
    assert back.status_code == 303 and back.headers["location"] == f"/planting/orders/{order.token}"


async def _paid_roster(client, *rows: str, code: str | None = None) -> str:
    """Upload a roster, pay for it with the demo provider; returns its management token."""
    response = await upload(client, roster_csv(*rows), form=org_form(code))
    assert response.status_code == 303
    token = response.headers["location"].rsplit("/", 1)[1]
    await pay_demo(client, (await client.post(f"/planting/org/{token}/pay")).headers["location"])
    return token


async def test_each_roster_certificate_carries_its_own_tickets_and_serials(client, on_sale):
    from certificates.codes import group_code
    from registry.models import Batch
    from tests.certificates.conftest import pdf_text

    old_woman = resident_id("640121", "19600101", seq=14)  # outside the duty: honour certificate
    await _paid_roster(client, f"甲,{man('19800101', 11)},E1,", f"乙,{man('19850101', 13)},E2,5", f"丙,{old_woman},E3,")
    entry = await RegisterEntry.get(kind="retirement")
    assert entry.quantity == 110 and entry.ranges == [[1, 110]]
    quota = await Batch.get(id=entry.batch_id)
    purchases = await PlantingPurchase.all().order_by("id").prefetch_related("certificate")
    certificates = [p.certificate for p in purchases]
    assert [str(c.kind) for c in certificates] == ["planting", "planting", "honour"]
    # each person's own tickets: consecutive serials of the organisation's one retirement, in roster order
    expected = [(30, quota.serial_range(1, 30)), (50, quota.serial_range(31, 80)), (30, quota.serial_range(81, 110))]
    assert [(c.quantity, c.serial_ranges) for c in certificates] == expected
    assert all(c.entry_id == entry.id for c in certificates)  # type: ignore[attr-defined]
    for certificate, (quantity, serials) in zip(certificates, expected, strict=True):
        api = (await client.get(f"/api/v1/certificates/{certificate.code}")).json()
        assert (api["quantity"], api["serial_ranges"]) == (quantity, [serials])
        page = await client.get(f"/verify/{group_code(certificate.code)}")
        assert f'<dd class="quantity">{quantity}</dd>' in page.text and serials in page.text
    printed = pdf_text((await client.get(f"/certificates/{certificates[1].code}.pdf")).content)
    assert "50张" in printed and quota.serial(31) in printed


async def test_the_zip_manifest_names_kinds_and_statuses_in_words(client, on_sale):
    token = await _paid_roster(
        client, f"甲,{man('19800101', 11)},E1,", f"丙,{resident_id('640121', '19600101', seq=14)},E3,"
    )
    rows = {}
    for lang in ("zh_CN", "en"):
        zipped = await client.get(f"/planting/org/{token}/certificates.zip?lang={lang}")
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            rows[lang] = list(csv.reader(io.StringIO(archive.read("清单.csv").decode("utf-8-sig"))))
    await client.get("/planting?lang=zh_CN")
    zh, en = rows["zh_CN"], rows["en"]
    assert zh[0] == ["文件", "验证码", "种类", "持有人", "数量", "林票序号", "状态"]
    assert [(r[2], r[4], r[6]) for r in zh[1:]] == [
        ("全民义务植树尽责证书", "30", "有效"),
        ("国土绿化荣誉证书", "30", "有效"),
    ]
    assert en[0] == ["File", "Verification code", "Kind", "Holder", "Quantity", "Ticket serial numbers", "Status"]
    assert [(r[2], r[6]) for r in en[1:]] == [
        ("Obligatory tree-planting fulfilment certificate", "Valid"),
        ("National greening certificate of honour", "Valid"),
    ]
    assert zh[1][5].endswith("00000030") and zh[2][5].endswith("00000060")  # each person's own serials
    cells = {cell for row in zh[1:] + en[1:] for cell in (row[2], row[6])}
    assert not cells & {"planting", "honour", "valid"}  # never the raw codes


def _row(html: str, line: int) -> str:
    import re

    match = re.search(rf'data-line="{line}">(.*?)</tr>', html, re.S)
    assert match, line
    return match.group(1)


async def test_the_preview_flags_people_who_already_fulfilled_the_year_before_paying(client, on_sale):
    himself, elsewhere, new = man("19800101", 11), man("19850101", 13), man("19900101", 15)
    # 甲 fulfilled the year on his own; 丙 through another organisation's roster
    bought = await client.post(
        "/planting", data={"year": "2026", "trees": "3", "name": "甲", "id_number": himself, "id_consent": "1"}
    )
    await pay_demo(client, bought.headers["location"])
    await _paid_roster(client, f"丙,{elsewhere},X1,", code=credit_code("640105"))
    response = await upload(client, roster_csv(f"甲,{himself},E1,", f"乙,{new},E2,", f"丙,{elsewhere},E3,"))
    token = response.headers["location"].rsplit("/", 1)[1]
    manage = await client.get(f"/planting/org/{token}")
    assert 'data-code="already_fulfilled"' in _row(manage.text, 2) and "本年度已经尽责" in _row(manage.text, 2)
    assert 'data-code="already_fulfilled"' not in _row(manage.text, 3)
    assert 'data-code="already_fulfilled"' in _row(manage.text, 4)
    assert 'id="already-fulfilled"' in manage.text
    # told, not stopped: all three can still be paid for
    assert 'id="roster-amount">¥90.00' in manage.text
    english = await client.get(f"/planting/org/{token}?lang=en")
    assert "Already fulfilled this year's duty" in english.text
    await client.get("/planting?lang=zh_CN")
    await pay_demo(client, (await client.post(f"/planting/org/{token}/pay")).headers["location"])
    submission = await RosterSubmission.get(token=token)
    purchases = await PlantingPurchase.filter(member__submission_id=submission.id).order_by("id")
    assert [p.outcome for p in purchases] == [
        PlantingOutcome.BEYOND_DUTY,
        PlantingOutcome.FULFILS,
        PlantingOutcome.BEYOND_DUTY,
    ]
    paid = await client.get(f"/planting/org/{token}")
    assert 'data-code="already_fulfilled"' not in paid.text  # once paid, the flag has done its work


async def _every_row() -> dict[str, list[dict[str, object]]]:
    """Every row of every table the ORM knows, to see that a request wrote nothing."""
    from tortoise import Tortoise

    tables = {}
    for model in Tortoise.apps["models"].values():
        tables[model._meta.db_table] = await model.all().order_by(model._meta.pk_attr).values()
    return tables


async def test_opening_the_organisation_page_writes_nothing(client, on_sale, settings):
    """A GET never writes: the rows of a payment whose order ran out show as unpaid on the page as they are, and
    go back to the roster when the expiry job sweeps (or the organisation pays again)."""
    from datetime import UTC, datetime, timedelta

    from planting.domain.models import MemberStatus, PaymentStatus, RosterPayment
    from registry import jobs, register
    from shop.jobs import expire_reservations

    response = await upload(client, roster_csv(f"甲,{man('19800101', 11)},E1,", f"乙,{man('19850101', 13)},E2,"))
    token = response.headers["location"].rsplit("/", 1)[1]
    await client.post(f"/planting/org/{token}/pay")
    await register.expire_reservations(now=datetime.now(UTC) + timedelta(hours=3))  # checkout's own expiry
    before = await _every_row()
    for path in (f"/planting/org/{token}", f"/planting/org/{token}?problems=1", f"/planting/org/{token}/report"):
        page = await client.get(path)
        assert page.status_code == 200
    assert 'id="roster-amount">¥60.00' in (await client.get(f"/planting/org/{token}")).text
    assert "付款中" not in (await client.get(f"/planting/org/{token}")).text  # shown as it will be once released
    assert await _every_row() == before
    assert await RosterMember.filter(status=MemberStatus.IN_PAYMENT).count() == 2

    await expire_reservations(jobs.JobContext(settings=settings, name="shop.expire_reservations"))
    assert (await RosterPayment.get()).status is PaymentStatus.CANCELLED
    assert await RosterMember.filter(status=MemberStatus.PENDING).count() == 2
    assert 'id="roster-amount">¥60.00' in (await client.get(f"/planting/org/{token}")).text


async def test_a_cancelled_roster_payment_gives_its_rows_back_at_once(client, on_sale):
    """Order side effects by purpose, after the commit: the demo's cancel ends the order, and the roster's rows are
    back on the roster before anyone opens its page."""
    from planting.domain.models import MemberStatus, PaymentStatus, RosterPayment

    response = await upload(client, roster_csv(f"甲,{man('19800101', 11)},E1,"))
    token = response.headers["location"].rsplit("/", 1)[1]
    paying = await client.post(f"/planting/org/{token}/pay")
    cancelled = await client.post(paying.headers["location"], data={"action": "cancel"})
    assert cancelled.status_code == 303
    assert (await Order.get()).status is OrderStatus.CANCELLED
    assert (await RosterPayment.get()).status is PaymentStatus.CANCELLED
    assert await RosterMember.filter(status=MemberStatus.PENDING).count() == 1
