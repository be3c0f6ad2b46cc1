"""Holders: identifiers validated and masked, search, pagination, the holder page and its statement."""

from __future__ import annotations

import re
from decimal import Decimal

from factories import credit_code, id_of, make_holder, resident_id
from registry import idcrypt, register
from registry.models import AuditLog, Holder, HolderKind, ResidenceEvidence, StaffRole, TicketKind
from tests.admin.conftest import village_with_parcel


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
            "informed": "1",
        },
    )
    assert response.status_code == 303
    holder = await Holder.get(name="张建国")
    # stored encrypted with its blind index and last four, never in plain text; the notice recorded on the holder
    assert holder.id_number is None and holder.id_cipher and idcrypt.decrypt(holder.id_cipher) == number
    assert holder.id_digest == idcrypt.digest(number) and holder.id_last4 == number[-4:]
    assert holder.region_code == "640121" and holder.id_masked == number[:4] + "*" * 10 + number[-4:]
    assert holder.privacy_notice_version == idcrypt.NOTICE_VERSION and holder.privacy_informed_at is not None
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
            "id_number": id_of(holder).lower(),
            "informed": "1",
        },
    )
    assert response.status_code == 400 and "已登记" in response.text


async def test_list_masks_identifiers_and_searches(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    person = await make_holder("赵六", region="640121")
    firm = await make_holder("贺兰山林业公司", kind=HolderKind.ENTERPRISE, region="640122")
    listing = await forestry.get("/admin/holders")
    assert id_of(person) not in listing.text and id_of(firm) not in listing.text
    assert id_of(person)[:4] + "*" in listing.text
    by_name = await forestry.get("/admin/holders", params={"q": "林业"})
    assert "贺兰山林业公司" in by_name.text and "赵六" not in by_name.text
    by_id = await forestry.get("/admin/holders", params={"q": id_of(person)})
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
    assert "公司00" in first.text and "公司29" not in first.text
    # keyset pages (admin.web.keyset_paginate): the next page follows the last holder shown, by name then id
    after = re.search(r'href="\?after=(\d+)" data-testid="next-page"', first.text)
    assert after is not None
    second = await forestry.get("/admin/holders", params={"after": after.group(1)})
    assert "公司29" in second.text and "公司00" not in second.text
    assert 'data-testid="next-page"' not in second.text and "第一页" in second.text
    shown = re.findall(r"公司\d\d", first.text + second.text)
    assert sorted(set(shown)) == [f"公司{n:02d}" for n in range(30)]  # none lost, none twice


async def test_edit_revalidates(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    holder = await make_holder("钱七")
    form = await issuer.get(f"/admin/holders/{holder.id}/edit")
    # the number is stored encrypted and not put back whole in the form: left empty it stays as on file
    assert id_of(holder) not in form.text and holder.id_masked in form.text
    cipher = holder.id_cipher
    response = await issuer.post(
        f"/admin/holders/{holder.id}", {"kind": "individual", "name": "钱七七", "id_number": "", "contact": ""}
    )
    assert response.status_code == 303
    await holder.refresh_from_db()
    assert holder.name == "钱七七" and holder.id_cipher == cipher  # retyping nothing re-encrypts nothing
    retyped = {"kind": "individual", "name": "钱七七", "id_number": id_of(holder), "contact": ""}
    assert (await issuer.post(f"/admin/holders/{holder.id}", retyped)).status_code == 303  # the same number
    other = resident_id("640121", seq=77)
    changed = {"kind": "individual", "name": "钱七七", "id_number": other, "contact": ""}
    refused = await issuer.post(f"/admin/holders/{holder.id}", changed)  # a new number: the person must be told
    assert refused.status_code == 400 and "已告知本人" in refused.text
    assert (await issuer.post(f"/admin/holders/{holder.id}", {**changed, "informed": "1"})).status_code == 303
    await holder.refresh_from_db()
    assert holder.id_digest == idcrypt.digest(other) and holder.id_last4 == other[-4:]
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


def _uscc(body: str) -> str:
    """A credit code with its GB 32100 check character, computed here (weights 3^(i-1) mod 31)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(chars.index(c) * (3**i % 31) for i, c in enumerate(body))
    return body + chars[(31 - total % 31) % 31]


async def test_a_village_collective_registers_with_its_n2_code(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    code = _uscc("N2640104MF0000007")
    response = await issuer.post(
        "/admin/holders",
        {"kind": "village_collective", "name": "掌政镇强家庙村股份经济合作社", "id_number": code.lower()},
    )
    assert response.status_code == 303, response.text
    village = await Holder.get(id_number=code)
    assert village.kind is HolderKind.VILLAGE_COLLECTIVE and village.region_code == "640104"
    assert await AuditLog.filter(action="holder.create", target=f"holder:{village.id}").exists()


async def test_a_kind_that_contradicts_the_credit_code_is_refused_and_nothing_is_written(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    for kind, code, shown in (
        ("village_collective", _uscc("91640104MA7600001"), "企业（工商）"),
        ("enterprise", _uscc("N2640104MF0000007"), "村级集体经济组织（农业农村）"),
        ("government", _uscc("12640100MB0000003"), "事业单位（机构编制）"),
    ):
        response = await issuer.post("/admin/holders", {"kind": kind, "name": "某单位", "id_number": code})
        assert response.status_code == 400, kind
        assert "持有人类型与统一社会信用代码所示的机构类别不符" in response.text and shown in response.text
    english = await issuer.post(
        "/admin/holders?lang=en",
        {"kind": "enterprise", "name": "某单位", "id_number": _uscc("N2640104MF0000007")},
    )
    assert "does not match the organisation category" in english.text
    assert "Village collective economic organisation (agriculture and rural affairs)" in english.text
    assert await Holder.all().count() == 0
    assert not await AuditLog.filter(action="holder.create").exists()


async def test_editing_a_village_to_a_contradicting_kind_is_refused(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    code = _uscc("N3640121MF0000001")
    await issuer.post(
        "/admin/holders", {"kind": "village_collective", "name": "望洪镇集体经济联合社", "id_number": code}
    )
    village = await Holder.get(id_number=code)
    refused = await issuer.post(
        f"/admin/holders/{village.id}", {"kind": "enterprise", "name": "望洪镇某公司", "id_number": code}
    )
    assert refused.status_code == 400
    await village.refresh_from_db()
    assert village.kind is HolderKind.VILLAGE_COLLECTIVE and village.name == "望洪镇集体经济联合社"
    assert not await AuditLog.filter(action="holder.update").exists()


async def test_the_demo_village_can_be_saved_again_through_the_form(sign_in):
    from linpiao.demo import VILLAGE_CODE, seed_demo

    await seed_demo()
    issuer = await sign_in(StaffRole.ISSUER)
    village = await Holder.get(id_number=VILLAGE_CODE)
    assert VILLAGE_CODE.startswith("N2") and village.kind is HolderKind.VILLAGE_COLLECTIVE
    form = await issuer.get(f"/admin/holders/{village.id}/edit")
    assert VILLAGE_CODE in form.text
    response = await issuer.post(
        f"/admin/holders/{village.id}",
        {"kind": "village_collective", "name": village.name, "id_number": VILLAGE_CODE, "contact": "0951-5000009"},
    )
    assert response.status_code == 303, response.text
    await village.refresh_from_db()
    assert village.contact == "0951-5000009" and village.region_code == "640104"


# ---------------------------------------------------------------------------------------------------------
# Residence (居住地/住所): recorded by the clerk, flagged while only inferred from the identifier
# ---------------------------------------------------------------------------------------------------------


async def test_the_holder_form_records_the_residence_and_the_clerk_who_checked_it(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    number = resident_id("642125", birth="19750101")  # a Lingwu native's pre-2002 number
    response = await issuer.post(
        "/admin/holders",
        {
            "kind": "individual",
            "name": "马灵武",
            "id_number": number,
            "informed": "1",
            "residence_district": "640181",
            "residence_evidence": "household_register",
        },
    )
    assert response.status_code == 303
    holder = await Holder.get(name="马灵武")
    assert holder.region_code == "642125" and holder.residence_district == "640181"
    assert holder.residence_evidence is ResidenceEvidence.HOUSEHOLD_REGISTER and holder.residence_confirmed
    assert holder.residence_checked_by_id == issuer.user.id and holder.residence_checked_at is not None  # type: ignore[attr-defined]
    log = await AuditLog.get(action="holder.residence", target=f"holder:{holder.id}")
    assert log.username == "issuer-user" and log.details["district"] == "640181"
    # a holder of 灵武市 now: 兴庆区's issuer finds it by its number (to name it in a trade), 灵武市's reads it
    assert response.headers["location"].startswith("/admin/holders?s=") and number not in response.headers["location"]
    found = (await issuer.get(response.headers["location"])).text
    assert "马灵武" in found and f"/admin/holders/{holder.id}" not in found
    assert (await issuer.get(f"/admin/holders/{holder.id}")).status_code == 404
    lingwu = await sign_in(StaffRole.ISSUER, "issuer-lingwu", "640181")
    page = (await lingwu.get(f"/admin/holders/{holder.id}")).text
    detail = page.split('data-testid="residence"')[1].split("</dd>")[0]
    assert "灵武市" in detail and "户口簿" in detail and "issuer-user" in detail and "待核实" not in detail


async def test_a_residence_without_evidence_is_refused_and_nothing_is_written(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    response = await issuer.post(
        "/admin/holders",
        {
            "kind": "individual",
            "name": "无依据",
            "id_number": resident_id("640121"),
            "informed": "1",
            "residence_district": "640104",
        },
    )
    assert response.status_code == 400 and "居住地（住所）或其依据无效" in response.text
    assert not await Holder.exists(name="无依据") and not await AuditLog.filter(action__startswith="holder.").exists()


async def test_the_list_flags_inferred_residences_and_the_clerk_confirms_one(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    inferred = await make_holder("推定户", region="640104", residence="")
    inferred.residence_district, inferred.residence_evidence = "640104", ResidenceEvidence.INFERRED_FROM_ID
    await inferred.save()
    checked = await make_holder("已核实户", region="640104")
    listing = await issuer.get("/admin/holders")
    rows = {row.split("</a>")[0].rsplit(">", 1)[1]: row for row in listing.text.split("<tr>")[2:]}
    assert "待核实居住地" in rows["推定户"] and "待核实居住地" not in rows["已核实户"]
    flagged = await issuer.get("/admin/holders", params={"residence": "to_confirm"})
    assert "推定户" in flagged.text and "已核实户" not in flagged.text
    english = await issuer.get("/admin/holders", params={"residence": "to_confirm", "lang": "en"})
    assert "Residence to confirm" in english.text
    # saving the form with the residence as on file (no evidence chosen) is no check: the flag stays
    form = {"kind": "individual", "name": "推定户", "id_number": id_of(inferred), "contact": "139"}
    assert (
        await issuer.post(f"/admin/holders/{inferred.id}", {**form, "residence_district": "640104"})
    ).status_code == 303
    await inferred.refresh_from_db()
    assert inferred.contact == "139" and not inferred.residence_confirmed and inferred.residence_checked_by_id is None  # type: ignore[attr-defined]
    # choosing the evidence confirms it, stamped with the clerk
    confirm = {**form, "residence_district": "640104", "residence_evidence": "residence_permit"}
    assert (await issuer.post(f"/admin/holders/{inferred.id}", confirm)).status_code == 303
    await inferred.refresh_from_db()
    assert inferred.residence_confirmed and inferred.residence_evidence is ResidenceEvidence.RESIDENCE_PERMIT
    assert inferred.residence_checked_by_id == issuer.user.id  # type: ignore[attr-defined]
    assert "推定户" not in (await issuer.get("/admin/holders", params={"residence": "to_confirm"})).text
    # and a later edit that leaves the checked residence alone does not re-stamp it
    stamped = inferred.residence_checked_at
    other = await sign_in(StaffRole.ISSUER, "issuer-2")
    assert (await other.post(f"/admin/holders/{inferred.id}", {**confirm, "contact": "138"})).status_code == 303
    await inferred.refresh_from_db()
    assert inferred.residence_checked_at == stamped and inferred.residence_checked_by_id == issuer.user.id  # type: ignore[attr-defined]
    assert checked.residence_confirmed


async def test_a_persons_id_number_is_taken_only_once_the_clerk_records_they_were_informed(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    number = resident_id("640121", seq=31)
    form = {"kind": "individual", "name": "未告知", "id_number": number}
    refused = await issuer.post("/admin/holders", form)
    assert refused.status_code == 400 and "已告知本人" in refused.text  # what the clerk typed stays in the form
    assert not await Holder.exists(name="未告知") and not await AuditLog.filter(action__startswith="holder.").exists()
    assert 'name="informed"' in refused.text and 'href="/privacy"' in refused.text
    # a body's credit code is public registration data: no notice to record
    firm = {"kind": "enterprise", "name": "告知无关公司", "id_number": credit_code(seq=331)}
    assert (await issuer.post("/admin/holders", firm)).status_code == 303
