"""Issuance workflows: collective (issuer of the district) and state (forestry); exact unit counts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from factories import make_holder
from kernel import clock
from registry import applications as apps
from registry import notices
from registry.audit import Actor
from registry.chain import verify_chain
from registry.errors import HolderOutsideCity, InvalidState
from registry.models import (
    AuditLog,
    Batch,
    Certificate,
    CertificateKind,
    HolderKind,
    Holding,
    RegisterEntry,
    StaffRole,
    TicketKind,
)
from tests.admin.conftest import confirm_step, make_staff, state_unit_with_parcel, village_with_parcel


@pytest.mark.parametrize(
    ("area_mu", "unit_m2", "units"),
    [
        ("150", "100", 1000),
        ("1.5", "1000", 1),
        ("15", "666.6667", None),
        ("3", "2000", 1),
        ("0.0015", "1", 1),
        ("150", "0.5", 200000),
        ("7", "100", None),
    ],
)
def test_units_are_computed_exactly_from_the_area(area_mu, unit_m2, units):
    if units is None:
        with pytest.raises(apps.UnitAreaNotExact):
            apps.units_for_area(Decimal(area_mu), Decimal(unit_m2))
    else:
        assert apps.units_for_area(Decimal(area_mu), Decimal(unit_m2)) == units


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1.00001", "NaN", "Infinity", ""])
def test_unit_area_must_be_a_positive_number_with_four_decimals_at_most(text):
    with pytest.raises(apps.UnitAreaNotExact):
        apps.parse_unit_area(text)


async def test_collective_happy_path_over_http(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    village, parcel = await village_with_parcel("640104", "150")
    submitted = await issuer.post(
        "/admin/applications",
        {
            "kind": "collective",
            "parcel_id": str(parcel.id),
            "applicant_id": str(village.id),
            "note": "村民大会通过",
        },
    )
    assert submitted.status_code == 303
    url = submitted.headers["location"]
    application = await apps.IssuanceApplication.get()
    assert application.status is apps.ApplicationStatus.SUBMITTED and application.basis is apps.ApplicationBasis.OWNER

    refused = await issuer.post(url + "/issue", {"unit_area_m2": "100"})  # not approved yet
    assert refused.status_code == 400
    assert (await issuer.post(url + "/approve", {"comment": "材料齐全"})).status_code == 303
    unpublished = await issuer.post(url + "/issue", {"unit_area_m2": "100"})  # no public notice (公示) yet
    assert unpublished.status_code == 400 and "尚未公示" in unpublished.text
    with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):  # published ten days ago for 7 days
        await notices.publish_issuance_notice(application, actor=Actor(issuer.user, ""))
    not_exact = await issuer.post(url + "/issue", {"unit_area_m2": "666.6667"})
    assert not_exact.status_code == 400 and "单位面积必须能整除林地面积" in not_exact.text
    assert await Batch.all().count() == 0
    issued = await issuer.post(url + "/issue", {"unit_area_m2": "100", **confirm_step()})
    assert issued.status_code == 303

    batch = await Batch.get()
    assert batch.kind is TicketKind.COLLECTIVE and batch.total_units == 1000 and batch.unit_area_m2 == Decimal("100")
    assert batch.serial_prefix.startswith("YC-JT-640104-") and batch.issuing_authority == "兴庆区人民政府"
    holding = await Holding.get(batch_id=batch.id)
    assert (holding.holder_id, holding.first_no, holding.last_no) == (village.id, 1, 1000)
    entry = await RegisterEntry.get(batch_id=batch.id)
    assert entry.actor == "staff:issuer-user" and entry.details["application"] == application.id
    assert (await verify_chain()).ok

    certificate = await Certificate.get(batch_id=batch.id)  # the holding certificate, from certificates/
    assert certificate.kind is CertificateKind.COLLECTIVE_HOLDING and certificate.holder_id == village.id
    assert certificate.quantity == 1000

    page = await issuer.get(url)
    assert "已发放" in page.text and batch.serial_prefix in page.text
    assert f"/certificates/{certificate.code}.pdf" in page.text and f"/verify/{certificate.code}" in page.text
    steps = page.text.split('data-testid="steps"')[1]
    assert steps.index("受理申请") < steps.index("审核通过") < steps.index("发放林票")
    assert "材料齐全" in steps and "issuer-user" in steps
    assert await AuditLog.filter(action__startswith="application.").count() == 3
    assert (
        await issuer.post(url + "/issue", {"unit_area_m2": "100", **confirm_step()})
    ).status_code == 400  # only once


async def test_returned_application_is_superseded_not_deleted(db):
    issuer = Actor(await make_staff(StaffRole.ISSUER), "127.0.0.1")
    village, parcel = await village_with_parcel()
    first = await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer)
    with pytest.raises(apps.ReasonRequired):
        await apps.return_application(first, actor=issuer, reason="  ")
    await apps.return_application(first, actor=issuer, reason="缺少村民代表会议决议")
    second = await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer)
    await first.refresh_from_db()
    assert first.status is apps.ApplicationStatus.SUPERSEDED and second.supersedes_id == first.id
    actions = await apps.ApplicationStep.filter(application_id=first.id).values_list("action", flat=True)
    assert actions == ["submit", "return", "supersede"]
    with pytest.raises(InvalidState):
        await apps.approve_application(first, actor=issuer)


async def test_a_parcel_gets_one_live_application_and_one_issue(db):
    issuer = Actor(await make_staff(StaffRole.ISSUER), "")
    village, parcel = await village_with_parcel()
    application = await apps.submit_application(
        kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer
    )
    with pytest.raises(apps.AlreadyApplied):
        await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer)
    await apps.approve_application(application, actor=issuer)
    with clock.use(clock.FixedClock(clock.now() - timedelta(days=10))):
        await notices.publish_issuance_notice(application, actor=issuer)
    await apps.issue_application(application, unit_area_m2=Decimal("1000"), actor=issuer)
    with pytest.raises(apps.AlreadyApplied):
        await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer)


async def test_collective_eligibility(db):
    issuer = Actor(await make_staff(StaffRole.ISSUER), "")
    village, parcel = await village_with_parcel()
    stranger = await make_holder("外村村集体", kind=HolderKind.VILLAGE_COLLECTIVE)
    with pytest.raises(apps.NotEligible):  # not the parcel's owner, and no afforestation agreement
        await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=stranger, actor=issuer)
    parcel.forest_right_cert_no = ""
    await parcel.save()
    with pytest.raises(apps.NotEligible):  # forest rights not registered
        await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=issuer)
    outsider = await make_holder("外地人", region="110101")
    parcel.owner = outsider
    parcel.forest_right_cert_no = "x"
    await parcel.save()
    with pytest.raises(HolderOutsideCity):  # only holders whose residence is recorded in the city
        await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=outsider, actor=issuer)
    # a social entity whose new afforestation passed acceptance may apply
    firm = await make_holder("绿化公司", kind=HolderKind.ENTERPRISE)
    parcel.accepted_on = date(2024, 10, 1)
    await parcel.save()
    application = await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=firm, actor=issuer)
    assert application.basis is apps.ApplicationBasis.AFFORESTATION
    assert await apps.IssuanceApplication.all().count() == 1


async def test_only_the_issuer_of_the_parcels_district_handles_collective_tickets(db):
    village, parcel = await village_with_parcel("640104")
    for staff in (
        await make_staff(StaffRole.ISSUER, "xixia", "640105"),
        await make_staff(StaffRole.FORESTRY),
        await make_staff(StaffRole.ADMIN),
    ):
        with pytest.raises(apps.NotPermitted):
            await apps.submit_application(
                kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=Actor(staff, "")
            )
    assert await apps.IssuanceApplication.all().count() == 0


async def test_state_tickets_by_forestry(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY)
    unit, parcel = await state_unit_with_parcel()
    response = await forestry.post(
        "/admin/applications",
        {
            "kind": "state",
            "parcel_id": str(parcel.id),
            "applicant_id": str(unit.id),
            "note": "2022年春季造林",
        },
    )
    assert response.status_code == 303
    url = response.headers["location"]
    assert (await forestry.post(url + "/approve", {"comment": "同意"})).status_code == 303
    assert (await forestry.post(url + "/issue", {"unit_area_m2": "1000", **confirm_step()})).status_code == 303
    batch = await Batch.get()
    assert batch.kind is TicketKind.STATE and batch.total_units == 200 and batch.serial_prefix.startswith("YC-GY-")
    # issuers may not take state applications
    issuer = await sign_in(StaffRole.ISSUER, "issuer-2", "640105")
    refused = await issuer.post(
        "/admin/applications",
        {
            "kind": "state",
            "parcel_id": str(parcel.id),
            "applicant_id": str(unit.id),
        },
    )
    assert refused.status_code == 403


async def test_a_district_forestry_department_issues_state_tickets_of_its_own_district(sign_in):
    unit, parcel = await state_unit_with_parcel()  # a state parcel of 西夏区 (640105)
    xingqing = await sign_in(StaffRole.FORESTRY, "forestry-xingqing", "640104")
    before = await apps.IssuanceApplication.all().count()
    refused = await xingqing.post(
        "/admin/applications", {"kind": "state", "parcel_id": str(parcel.id), "applicant_id": str(unit.id)}
    )
    assert refused.status_code == 403 and await apps.IssuanceApplication.all().count() == before
    xixia = await sign_in(StaffRole.FORESTRY, "forestry-xixia", "640105")
    response = await xixia.post(
        "/admin/applications", {"kind": "state", "parcel_id": str(parcel.id), "applicant_id": str(unit.id)}
    )
    assert response.status_code == 303
    url = response.headers["location"]
    assert (await xingqing.get(url)).status_code in (403, 404)  # another district's forestry department
    assert url not in (await xingqing.get("/admin/applications")).text
    assert (await xingqing.post(url + "/approve", {"comment": "x"})).status_code == 404  # not there for it
    assert (await xixia.post(url + "/approve", {"comment": "同意"})).status_code == 303
    assert (await xixia.post(url + "/issue", {"unit_area_m2": "1000", **confirm_step()})).status_code == 303
    batch = await Batch.get()
    # issued by the forestry department of that level (本级林草主管部门), which the batch names
    assert batch.issuing_authority == "西夏区林草主管部门" and batch.serial_prefix.startswith("YC-GY-640105-")
    certificate = await Certificate.get(batch_id=batch.id)
    assert certificate.kind is CertificateKind.STATE_HOLDING
    # its state holding certificate is reissued by 西夏区's or the city's forestry department, not 兴庆区's
    assert (
        await xingqing.post(f"/admin/certificates/{certificate.code}/reissue", {"reason": "遗失"})
    ).status_code == 403
    assert (await Certificate.get(id=certificate.id)).status == "valid"
    reissued = await xixia.post(f"/admin/certificates/{certificate.code}/reissue", {"reason": "遗失"})
    assert reissued.status_code == 303


async def test_the_city_forestry_department_issues_in_every_district(db):
    city = Actor(await make_staff(StaffRole.FORESTRY, "forestry-city"), "")
    unit, parcel = await state_unit_with_parcel()
    application = await apps.submit_application(kind=TicketKind.STATE, parcel=parcel, applicant=unit, actor=city)
    await apps.approve_application(application, actor=city)
    batch = await apps.issue_application(application, unit_area_m2=Decimal("1000"), actor=city)
    assert batch.issuing_authority == "银川市自然资源局（林业）" and batch.serial_prefix.startswith("YC-GY-2026-")


async def test_state_application_needs_a_state_unit_and_complete_particulars(db):
    forestry = Actor(await make_staff(StaffRole.FORESTRY), "")
    unit, parcel = await state_unit_with_parcel()
    firm = await make_holder("某企业", kind=HolderKind.ENTERPRISE)
    with pytest.raises(apps.NotEligible):
        await apps.submit_application(kind=TicketKind.STATE, parcel=parcel, applicant=firm, actor=forestry)
    parcel.boundary_north = ""
    await parcel.save()
    with pytest.raises(apps.NotEligible):
        await apps.submit_application(kind=TicketKind.STATE, parcel=parcel, applicant=unit, actor=forestry)


async def test_return_over_http_needs_a_reason(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    village, parcel = await village_with_parcel()
    application = await apps.submit_application(
        kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=Actor(issuer.user, "")
    )
    url = f"/admin/applications/{application.id}/return"
    refused = await issuer.post(url, {"reason": ""})
    assert refused.status_code == 400 and "请填写退回理由" in refused.text
    assert (await issuer.post(url, {"reason": "四至不清"})).status_code == 303
    await application.refresh_from_db()
    assert application.status is apps.ApplicationStatus.RETURNED
    assert "四至不清" in (await issuer.get(f"/admin/applications/{application.id}")).text
