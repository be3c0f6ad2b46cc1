"""Holders: identifiers validated and masked, search, pagination, the holder page and its statement."""

from __future__ import annotations

from decimal import Decimal

from registry import register
from registry.models import AuditLog, Holder, HolderKind, StaffRole, TicketKind
from tests.admin.conftest import village_with_parcel
from tests.factories import credit_code, make_holder, resident_id


async def test_issuer_registers_a_person_with_a_valid_id(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    number = resident_id("640121", seq=7)
    response = await issuer.post(
        "/admin/holders",
        {
            "kind": "individual",
            "name": "张建国",
            "id_number": number.lower(),
            "contact": "13900000000",
        },
    )
    assert response.status_code == 303
    holder = await Holder.get(name="张建国")
    assert holder.id_number == number and holder.region_code == "640121"
    assert await AuditLog.filter(action="holder.create", target=f"holder:{holder.id}", username="issuer-user").exists()


async def test_invalid_identifiers_are_refused_and_nothing_is_written(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    bad = resident_id("640121", seq=8)[:-1] + ("0" if resident_id("640121", seq=8)[-1] != "0" else "1")
    for data in (
        {"kind": "individual", "name": "李四", "id_number": bad},
        {"kind": "enterprise", "name": "某公司", "id_number": "91640104MA76XXXXX"},
        {"kind": "individual", "name": "", "id_number": resident_id("640121", seq=9)},
        {"kind": "alien", "name": "王五", "id_number": resident_id("640121", seq=9)},
    ):
        response = await issuer.post("/admin/holders", data)
        assert response.status_code == 400, data
    assert (
        "身份证号码或统一社会信用代码无效"
        in (await issuer.post("/admin/holders", {"kind": "individual", "name": "李四", "id_number": bad})).text
    )
    assert await Holder.all().count() == 0


async def test_duplicate_identifier_is_refused(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    holder = await make_holder("先登记的人")
    response = await issuer.post(
        "/admin/holders",
        {
            "kind": "individual",
            "name": "重复",
            "id_number": holder.id_number,
        },
    )
    assert response.status_code == 400 and "已登记" in response.text


async def test_list_masks_identifiers_and_searches(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    person = await make_holder("赵六", region="640121")
    firm = await make_holder("贺兰山林业公司", kind=HolderKind.ENTERPRISE, region="640122")
    listing = await forestry.get("/admin/holders")
    assert person.id_number not in listing.text and firm.id_number not in listing.text
    assert person.id_number[:4] + "*" in listing.text
    by_name = await forestry.get("/admin/holders", params={"q": "林业"})
    assert "贺兰山林业公司" in by_name.text and "赵六" not in by_name.text
    by_id = await forestry.get("/admin/holders", params={"q": person.id_number})
    assert "赵六" in by_id.text and "贺兰山林业公司" not in by_id.text
    by_kind = await forestry.get("/admin/holders", params={"kind": "enterprise"})
    assert "贺兰山林业公司" in by_kind.text and "赵六" not in by_kind.text
    by_district = await forestry.get("/admin/holders", params={"district": "640121"})
    assert "赵六" in by_district.text and "贺兰山林业公司" not in by_district.text


async def test_list_paginates(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    for n in range(30):
        await Holder.create(
            kind=HolderKind.ENTERPRISE, name=f"公司{n:02d}", id_number=credit_code(seq=900 + n), region_code="640104"
        )
    first = await forestry.get("/admin/holders")
    second = await forestry.get("/admin/holders", params={"page": "2"})
    assert "公司00" in first.text and "公司29" not in first.text
    assert "公司29" in second.text and "公司00" not in second.text
    assert "共 30 条" in first.text


async def test_edit_revalidates(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    holder = await make_holder("钱七")
    form = await issuer.get(f"/admin/holders/{holder.id}/edit")
    assert holder.id_number in form.text  # the full number only on the edit form
    response = await issuer.post(
        f"/admin/holders/{holder.id}",
        {
            "kind": "individual",
            "name": "钱七七",
            "id_number": holder.id_number,
            "contact": "",
        },
    )
    assert response.status_code == 303
    await holder.refresh_from_db()
    assert holder.name == "钱七七"
    refused = await issuer.post(f"/admin/holders/{holder.id}", {"kind": "individual", "name": "x", "id_number": "1"})
    assert refused.status_code == 400
    await holder.refresh_from_db()
    assert holder.name == "钱七七"


async def test_holder_page_shows_holdings_and_statement(sign_in):
    auditor = await sign_in(StaffRole.AUDITOR)
    village, parcel = await village_with_parcel()
    buyer = await make_holder("认购人")
    batch = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=1000,
        serial_prefix="YC-JT-T-1",
        parcel=parcel,
        unit_area_m2=Decimal("100"),
    )
    await register.transfer_units(batch=batch, from_holder=village, to_holder=buyer, quantity=250)
    page = await auditor.get(f"/admin/holders/{village.id}")
    assert page.status_code == 200
    assert "YC-JT-T-1-00000251 – YC-JT-T-1-00001000" in page.text
    assert "750" in page.text
    statement = page.text.split('data-testid="statement"')[1]
    assert "发放" in statement and "转让" in statement and "转出" in statement
    assert "转入" in (await auditor.get(f"/admin/holders/{buyer.id}")).text
