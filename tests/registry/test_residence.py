"""Residence is a recorded fact, not a birthplace: the circulation rule reads the residence a clerk checked.

Land tickets circulate only within the city (仅限在银川市内流通交易). Where the identifier was first issued says
nothing about that: a Lingwu native born before 2002 carries 642125…, an enterprise registered with the
autonomous region carries 91640000…, and someone born in the city may live elsewhere.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from factories import credit_code, make_batch, make_holder, make_parcel, resident_id
from factories.trades import make_actor, register_snapshot, village_batch
from kernel import clock
from registry import applications as apps
from registry import register, residence
from registry.audit import Actor
from registry.errors import HolderOutsideCity, InvalidResidence, ResidenceNotConfirmed
from registry.holders import HolderInput, create_holder
from registry.models import AuditLog, Holder, HolderKind, ResidenceEvidence, StaffRole, TicketKind
from registry.trades import (
    DocumentKind,
    FilingAuthority,
    SupportingDocument,
    record_filing,
    record_inheritance,
    record_subscription,
    record_transfer,
)

LINGWU = "640181"
JINFENG = "640106"
DOCS = [
    SupportingDocument(DocumentKind.DEATH_CERTIFICATE, "死亡证明 No.640181-2026-009"),
    SupportingDocument(DocumentKind.NOTARIAL_CERTIFICATE, "(2026)宁灵证字第9号"),
]


async def _person(name: str, id_number: str, actor, district: str = "", evidence: str = "") -> Holder:  # type: ignore[no-untyped-def]
    """A person registered through the holder form's service, with the residence the clerk recorded (if any)."""
    data = HolderInput(
        kind=HolderKind.INDIVIDUAL,
        name=name,
        id_number=id_number,
        residence_district=district,
        residence_evidence=evidence,
        informed=True,
    )
    return await create_holder(data, actor=actor)


async def _filed_transfer(batch, seller, buyer, quantity, actor):  # type: ignore[no-untyped-def]
    trade = await record_transfer(batch=batch, seller=seller, buyer=buyer, quantity=quantity, price_fen=0, actor=actor)
    forestry = await make_actor(StaffRole.FORESTRY)
    for authority in FilingAuthority:
        who = forestry if authority is FilingAuthority.CITY_FORESTRY else actor
        await record_filing(trade=trade, authority=authority, filed_on=clock.today(), reference="备", actor=who)
    return trade


async def test_a_lingwu_native_with_an_old_642125_number_receives_and_inherits(db):
    batch, village = await village_batch(units=100)
    clerk = await make_actor()
    number = resident_id("642125", birth="19750101")  # old Lingwu county code, issued before 2002
    native = await _person("马灵武", number, clerk, LINGWU, "household_register")
    assert native.region_code == "642125" and native.residence_district == LINGWU
    await _filed_transfer(batch, village, native, 40, clerk)
    assert await register.holder_total(native, batch=batch) == 40
    # and his heir, another pre-2002 Lingwu number, inherits from him
    heir = await _person("马小灵", resident_id("642125", birth="19980705"), clerk, LINGWU, "household_register")
    await record_inheritance(
        deceased=native,
        heirs=[register.Heir(heir, Fraction(1))],
        died_on=clock.today(),
        documents=DOCS,
        actor=clerk,
    )
    assert await register.holder_total(heir, batch=batch) == 40
    assert await register.holder_total(native, batch=batch) == 0


async def test_a_migrant_with_a_residence_permit_in_yongning_receives(db):
    batch, village = await village_batch(units=100)
    clerk = await make_actor()
    migrant = await _person("生态移民", resident_id("642222", birth="19800101"), clerk, "640121", "residence_permit")
    await register.transfer_units(batch=batch, from_holder=village, to_holder=migrant, quantity=5)
    assert await register.holder_total(migrant, batch=batch) == 5


async def test_a_city_born_holder_living_outside_the_city_is_refused_and_nothing_changes(db):
    batch, village = await village_batch(units=100)
    clerk = await make_actor()
    moved_away = await _person(
        "李出城", resident_id("640121", birth="19800101"), clerk, "outside", "household_register"
    )
    before = await register_snapshot()
    with pytest.raises(HolderOutsideCity):
        await record_transfer(batch=batch, seller=village, buyer=moved_away, quantity=10, price_fen=1, actor=clerk)
    with pytest.raises(HolderOutsideCity):
        await register.transfer_units(batch=batch, from_holder=village, to_holder=moved_away, quantity=10)
    assert await register_snapshot() == before
    # carbon tickets are not land tickets: anyone may hold them
    seller = await make_holder("碳汇卖方")
    carbon = await make_batch(TicketKind.CARBON, units=10, holder=seller)
    await register.transfer_units(batch=carbon, from_holder=seller, to_holder=moved_away, quantity=1)
    assert await register.holder_total(moved_away, batch=carbon) == 1


async def test_a_regional_enterprise_with_its_office_in_jinfeng_subscribes_and_applies(db):
    batch, village = await village_batch(units=1000)
    clerk = await make_actor()
    code = credit_code("640000")  # registered with the autonomous region's market regulator
    firm = await create_holder(
        HolderInput(
            kind=HolderKind.ENTERPRISE,
            name="宁夏林业发展集团有限公司",
            id_number=code,
            residence_district=JINFENG,
            residence_evidence="business_licence",
        ),
        actor=clerk,
    )
    assert firm.region_code == "640000" and residence.in_city(firm)
    trade = await record_subscription(
        batch=batch,
        subscriber=firm,
        share=Fraction(1, 10),
        price_fen=10_000,
        operating_form="equity",
        from_holder=village,
        actor=clerk,
    )
    assert trade.quantity == 100 and await register.holder_total(firm, batch=batch) == 100
    parcel = await make_parcel()  # 兴庆区, the clerk's district
    parcel.accepted_on = date(2025, 10, 1)
    await parcel.save()
    application = await apps.submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=firm, actor=clerk)
    assert application.basis is apps.ApplicationBasis.AFFORESTATION


async def test_an_unrecorded_or_inferred_residence_is_refused_until_a_clerk_records_it(db):
    batch, village = await village_batch(units=100)
    clerk = await make_actor()
    unknown = await _person("未登记居住地", resident_id("640121", birth="19800101"), clerk)
    inferred = await make_holder("推定居住地", region="640104", residence="")
    inferred.residence_district, inferred.residence_evidence = "640104", ResidenceEvidence.INFERRED_FROM_ID
    await inferred.save()
    assert not residence.needs_confirmation(unknown) and residence.needs_confirmation(inferred)
    before = await register_snapshot()
    for holder in (unknown, inferred):
        with pytest.raises(ResidenceNotConfirmed) as refused:
            await record_transfer(batch=batch, seller=village, buyer=holder, quantity=1, price_fen=1, actor=clerk)
        assert "请先记录居住地" in str(refused.value)
    assert await register_snapshot() == before
    await residence.record_residence(inferred, district="640104", evidence="household_register", actor=clerk)
    assert not residence.needs_confirmation(inferred)
    await record_transfer(batch=batch, seller=village, buyer=inferred, quantity=1, price_fen=1, actor=clerk)
    assert await register.holder_total(inferred, batch=batch) == 1


async def test_recording_a_residence_names_the_clerk_and_writes_one_audit_line(db):
    clerk = await make_actor()
    holder = await make_holder("王核实", residence="")
    moment = clock.now()
    with clock.use(clock.FixedClock(moment)):
        await residence.record_residence(holder, district=LINGWU, evidence="residence_permit", actor=clerk)
    stored = await Holder.get(id=holder.id)
    assert stored.residence_district == LINGWU and stored.residence_evidence is ResidenceEvidence.RESIDENCE_PERMIT
    assert stored.residence_confirmed and stored.residence_checked_at == moment
    assert stored.residence_checked_by_id == clerk.staff.id  # type: ignore[attr-defined,union-attr]
    log = await AuditLog.get(action="holder.residence")
    assert log.target == f"holder:{holder.id}" and log.username == clerk.username
    assert log.details["district"] == LINGWU and log.details["previous_district"] == ""


async def test_invalid_residences_are_refused_and_nothing_is_written(db):
    clerk = await make_actor()
    person = await make_holder("张三", residence="")
    firm = await make_holder("某公司", kind=HolderKind.ENTERPRISE, residence="")
    for holder, district, evidence in (
        (person, "640199", "household_register"),  # not a district of the city
        (person, "", "household_register"),
        (person, "640104", ""),  # no evidence
        (person, "640104", "inferred_from_id"),  # a clerk records what a document shows, never an inference
        (person, "640104", "business_licence"),  # a person has no business licence
        (firm, "640104", "household_register"),  # an enterprise has no household register
    ):
        with pytest.raises(InvalidResidence):
            await residence.record_residence(holder, district=district, evidence=evidence, actor=clerk)
    with pytest.raises(InvalidResidence):  # only a clerk checks a residence
        await residence.record_residence(person, district="640104", evidence="household_register", actor=Actor(None))
    for holder in (person, firm):
        stored = await Holder.get(id=holder.id)
        assert stored.residence_district == "" and not stored.residence_confirmed
    assert not await AuditLog.filter(action="holder.residence").exists()


async def test_a_holder_form_with_a_bad_residence_creates_nothing(db):
    clerk = await make_actor()
    data = HolderInput(
        kind=HolderKind.INDIVIDUAL,
        name="半途而废",
        id_number=resident_id("640121"),
        residence_district="640104",
        residence_evidence="",
        informed=True,
    )
    with pytest.raises(InvalidResidence):
        await create_holder(data, actor=clerk)
    assert not await Holder.filter(name="半途而废").exists()
    assert not await AuditLog.exists()
