"""State tickets: green-land offsets (sold and retired in one step) and ecological compensation cases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from factories import id_of, make_holder
from factories.trades import make_actor, register_snapshot, state_batch, token, village_batch
from kernel import clock
from registry import register
from registry.chain import verify_chain
from registry.errors import HolderOutsideCity, InsufficientUnits, InvalidState, NonPositiveQuantity, WrongKind
from registry.models import AuditLog, EntryKind, HolderKind, Holding, HoldingState, RegisterEntry, StaffRole
from registry.offsets import (
    CompensationCase,
    CompensationStatus,
    DuplicateCase,
    InvalidCase,
    InvalidOffset,
    Offence,
    OffsetStatus,
    OffsetType,
    RevenueSource,
    StateRevenue,
    apply_offset,
    approve_offset,
    complete_offset,
    open_case,
    order_compensation,
    public_compensation,
    record_compensation_payment,
    reject_offset,
    revenue_totals,
    units_needed,
)
from registry.trades import NotPermitted


def test_units_needed_rounds_up():
    assert units_needed(Decimal("1000"), Decimal("666.6667")) == 2
    assert units_needed(Decimal("1333.33"), Decimal("666.6667")) == 2
    assert units_needed(Decimal("1333.34"), Decimal("666.6667")) == 3
    assert units_needed(Decimal("0.01"), Decimal("100")) == 1
    assert units_needed(Decimal("500"), Decimal("100")) == 5


async def _approved_offset(area: str = "1500.50"):  # type: ignore[no-untyped-def]
    company = await make_holder("银川某某置业有限公司", kind=HolderKind.ENTERPRISE)
    greening = await make_actor(StaffRole.GREENING, "640106")  # 金凤区绿委办 receives
    landscaping = await make_actor(StaffRole.LANDSCAPING)
    offset = await apply_offset(
        company=company,
        offset_type=OffsetType.OCCUPATION,
        project="阅海湾商住小区二期",
        location="金凤区阅海湾中央商务区",
        district_code="640106",
        lacking_area_m2=area,
        planning_approval_ref="银规建字第2026-031号",
        actor=greening,
    )
    await approve_offset(offset, actor=landscaping, comment="同意")
    return offset, company


async def test_green_land_offset_sells_and_retires_in_one_step(db):
    batch, unit = await state_batch(units=3000)
    offset, company = await _approved_offset("1500.50")
    assert offset.status is OffsetStatus.APPROVED and offset.reviewed_by.startswith("staff:")
    forestry = await make_actor(StaffRole.FORESTRY)
    done = await complete_offset(offset, batch=batch, unit_price_fen=20_000, actor=forestry, form_token=token())
    assert done.status is OffsetStatus.COMPLETED
    assert done.units == 3  # 1500.50 ÷ 666.6667 = 2.25…, rounded up
    assert done.amount_fen == 60_000
    entry = await RegisterEntry.get(id=done.entry_id)
    assert entry.kind is EntryKind.RETIREMENT and entry.from_holder_id == unit.id and entry.to_holder_id == company.id
    assert entry.price_fen == 60_000 and entry.ranges == [[1, 3]]
    assert entry.details["project"] == "阅海湾商住小区二期"
    retired = await Holding.get(batch_id=batch.id, state=HoldingState.RETIRED)
    assert retired.holder_id == company.id and retired.retirement_id == entry.id
    assert await register.holder_total(unit, batch=batch, state=HoldingState.HELD) == 2997
    revenue = await StateRevenue.get(entry_id=entry.id)
    assert revenue.source is RevenueSource.GREEN_LAND_OFFSET and revenue.amount_fen == 60_000
    assert (await revenue_totals())["green_land_offset"] == 60_000
    actions = [a.action for a in await AuditLog.all().order_by("id")]
    assert actions[-3:] == ["offset.apply", "offset.approve", "offset.complete"]
    assert (await verify_chain()).ok


async def test_offset_refusals_write_nothing(db):
    batch, _unit = await state_batch(units=2)
    collective, _village = await village_batch(units=10)
    offset, _company = await _approved_offset("1500")  # needs 3 units, the batch has 2
    forestry = await make_actor(StaffRole.FORESTRY)
    before = await register_snapshot()
    with pytest.raises(InsufficientUnits):
        await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry)
    with pytest.raises(WrongKind):
        await complete_offset(offset, batch=collective, unit_price_fen=100, actor=forestry)
    with pytest.raises(NonPositiveQuantity):
        await complete_offset(offset, batch=batch, unit_price_fen=0, actor=forestry)
    with pytest.raises(NotPermitted):
        await complete_offset(offset, batch=batch, unit_price_fen=100, actor=await make_actor(StaffRole.LANDSCAPING))
    assert await register_snapshot() == before
    await offset.refresh_from_db()
    assert offset.status is OffsetStatus.APPROVED


async def test_applications_are_received_by_the_districts_greening_office_and_only_landscaping_decides(db):
    landscaping = await make_actor(StaffRole.LANDSCAPING)
    greening = await make_actor(StaffRole.GREENING, "640104")
    company = await make_holder(kind=HolderKind.ENTERPRISE)
    outsider = await make_holder(kind=HolderKind.ENTERPRISE, region="110105")
    person = await make_holder()
    good = {
        "company": company,
        "offset_type": "ratio_swap",
        "project": "项目",
        "location": "兴庆区",
        "district_code": "640104",
        "lacking_area_m2": "100",
        "planning_approval_ref": "规-1",
        "actor": greening,
    }
    before = await register_snapshot()
    for error, changes in [
        (InvalidOffset, {"lacking_area_m2": "0"}),
        (InvalidOffset, {"lacking_area_m2": "1.234"}),
        (InvalidOffset, {"lacking_area_m2": "abc"}),
        (InvalidOffset, {"project": " "}),
        (InvalidOffset, {"planning_approval_ref": ""}),
        (InvalidOffset, {"district_code": "640121"}),  # not in the built-up city
        (InvalidOffset, {"company": person}),
        (HolderOutsideCity, {"company": outsider}),
        (NotPermitted, {"actor": await make_actor(StaffRole.FORESTRY)}),
        # the landscaping bureau approves; it does not receive applications
        (NotPermitted, {"actor": landscaping}),
        # 西夏区绿委办 receives the applications of 西夏区 only
        (NotPermitted, {"actor": await make_actor(StaffRole.GREENING, "640105")}),
    ]:
        with pytest.raises(error):
            await apply_offset(**{**good, **changes})
    assert await register_snapshot() == before
    offset = await apply_offset(**good)
    assert offset.applied_by == greening.label
    assert (await AuditLog.get(action="offset.apply")).username == greening.username
    for not_landscaping in (await make_actor(StaffRole.FORESTRY), greening):
        with pytest.raises(NotPermitted):
            await approve_offset(offset, actor=not_landscaping)
    with pytest.raises(InvalidOffset):
        await reject_offset(offset, actor=landscaping, reason=" ")
    rejected = await reject_offset(offset, actor=landscaping, reason="缺少规划批复")
    assert rejected.status is OffsetStatus.REJECTED
    with pytest.raises(InvalidState):
        await approve_offset(offset, actor=landscaping)
    batch, _unit = await state_batch(units=10)
    with pytest.raises(InvalidState):  # a rejected application is never sold
        await complete_offset(offset, batch=batch, unit_price_fen=1, actor=await make_actor(StaffRole.FORESTRY))


async def test_units_bought_in_a_state_transfer_not_yet_effective_are_not_sold_for_an_offset(db):
    from registry.trades import FilingAuthority, UnitsNotYetEffective, record_filing, record_transfer

    batch, farm = await state_batch(units=10)
    other_unit = await make_holder("银川市另一国有林场", kind=HolderKind.STATE_UNIT)
    forestry = await make_actor(StaffRole.FORESTRY)
    trade = await record_transfer(batch=batch, seller=farm, buyer=other_unit, quantity=10, price_fen=1, actor=forestry)
    offset, _company = await _approved_offset("1000")  # needs 2 units; the only holder bought them, unfiled
    before = await register_snapshot()
    with pytest.raises(UnitsNotYetEffective):
        await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry, form_token=token())
    assert await register_snapshot() == before
    await record_filing(
        trade=trade, authority=FilingAuthority.CITY_FORESTRY, filed_on=clock.today(), reference="备1", actor=forestry
    )
    done = await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry, form_token=token())
    assert done.status is OffsetStatus.COMPLETED and done.units == 2


async def test_double_submission_of_an_offset_sale_sells_once(db):
    batch, unit = await state_batch(units=100)
    offset, _company = await _approved_offset("700")
    forestry = await make_actor(StaffRole.FORESTRY)
    form = token()
    await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry, form_token=form)
    snap = await register_snapshot()
    again = await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry, form_token=form)
    assert again.id == offset.id and await register_snapshot() == snap
    with pytest.raises(InvalidState):  # a new form for a completed offset is refused
        await complete_offset(offset, batch=batch, unit_price_fen=100, actor=forestry, form_token=token())
    assert await register.holder_total(unit, batch=batch, state=HoldingState.HELD) == 98


async def test_double_submission_of_an_application_records_it_once(db):
    greening = await make_actor(StaffRole.GREENING, "640105")
    company = await make_holder(kind=HolderKind.ENTERPRISE)
    form = token()
    kwargs = {
        "company": company,
        "offset_type": OffsetType.OCCUPATION,
        "project": "项目",
        "location": "西夏区",
        "district_code": "640105",
        "lacking_area_m2": Decimal("10"),
        "planning_approval_ref": "规-2",
        "actor": greening,
        "form_token": form,
    }
    first = await apply_offset(**kwargs)
    assert (await apply_offset(**kwargs)).id == first.id


# ---------------------------------------------------------------------------------------------------------
# Ecological compensation
# ---------------------------------------------------------------------------------------------------------


async def test_compensation_case_ordered_by_area_then_paid_retires_units_against_the_case(db):
    batch, unit = await state_batch(units=100)
    offender = await make_holder("王某某")
    forestry = await make_actor(StaffRole.FORESTRY)
    case = await open_case(
        case_number="银林罚决字〔2026〕第12号",
        offence=Offence.ILLEGAL_LOGGING,
        deciding_body="银川市自然资源局",
        offender=offender,
        decided_on=date(2026, 5, 1),
        actor=forestry,
    )
    assert case.status is CompensationStatus.OPEN
    await order_compensation(case, batch=batch, area_m2="2000", unit_price_fen=30_000, actor=forestry)
    assert case.status is CompensationStatus.ORDERED and case.ordered_units == 3 and case.amount_fen == 90_000
    assert await public_compensation(case.case_number) is None  # not paid yet
    # finance is read-only on the register: the payment that retires units is recorded by forestry
    before = await register_snapshot()
    with pytest.raises(NotPermitted):
        await record_compensation_payment(
            case, payment_ref="非税收入缴款书 0001", actor=await make_actor(StaffRole.FINANCE), form_token=token()
        )
    assert await register_snapshot() == before
    await case.refresh_from_db()
    assert case.status is CompensationStatus.ORDERED
    await record_compensation_payment(case, payment_ref="非税收入缴款书 0001", actor=forestry, form_token=token())
    assert case.status is CompensationStatus.COMPLETED
    entry = await RegisterEntry.get(id=case.entry_id)
    assert entry.kind is EntryKind.RETIREMENT and entry.purpose == "生态补偿：银林罚决字〔2026〕第12号"
    # the register does not name the offender: the units stay, retired, with the state unit
    assert entry.from_holder_id == unit.id and entry.to_holder_id == unit.id
    assert offender.name not in str(entry.details) and id_of(offender) not in str(entry.details)
    revenue = await StateRevenue.get(entry_id=entry.id)
    assert revenue.source is RevenueSource.ECOLOGICAL_COMPENSATION and revenue.amount_fen == 90_000
    public = await public_compensation(case.case_number)
    assert public is not None
    assert public["case_number"] == "银林罚决字〔2026〕第12号" and public["units"] == 3
    assert public["offence_label"] == "盗伐林木" and public["serial_ranges"] == [batch.serial_range(1, 3)]
    # the area the three retired tickets of 666.6667 m² stand for, and the area the decision ordered
    assert (public["area_m2"], public["area_mu"], public["ordered_area_m2"]) == ("2000", "3", "2000")
    assert public["deciding_body"] == "银川市自然资源局" and public["retired_on"] == clock.today().isoformat()
    assert await public_compensation(" 银林罚决字〔2026〕第12号 ") == public  # typed with spaces around
    flat = str(public)
    assert offender.name not in flat and id_of(offender) not in flat
    assert await register.holder_total(unit, batch=batch, state=HoldingState.HELD) == 97


async def test_compensation_ordered_in_units_and_its_refusals(db):
    batch, _unit = await state_batch(units=5)
    offender = await make_holder()
    forestry = await make_actor(StaffRole.FORESTRY)
    kwargs = {
        "case_number": "案-1",
        "offence": "fire",
        "deciding_body": "兴庆区人民法院",
        "offender": offender,
        "decided_on": date(2026, 1, 2),
        "actor": forestry,
    }
    with pytest.raises(InvalidCase):
        await open_case(**{**kwargs, "case_number": " "})
    with pytest.raises(ValueError):
        await open_case(**{**kwargs, "offence": "speeding"})
    with pytest.raises(NotPermitted):
        await open_case(**{**kwargs, "actor": await make_actor(StaffRole.LANDSCAPING)})
    case = await open_case(**kwargs)
    assert (await open_case(**kwargs)).id == case.id  # the same form twice
    with pytest.raises(DuplicateCase):
        await open_case(**{**kwargs, "offender": await make_holder()})
    with pytest.raises(InvalidCase):  # neither units nor area
        await order_compensation(case, batch=batch, unit_price_fen=100, actor=forestry)
    with pytest.raises(InvalidCase):  # both
        await order_compensation(case, batch=batch, unit_price_fen=100, actor=forestry, units=1, area_m2="1")
    with pytest.raises(InvalidState):  # payment before the order
        await record_compensation_payment(case, payment_ref="x", actor=forestry)
    await order_compensation(case, batch=batch, unit_price_fen=100, actor=forestry, units=6)
    before = await register_snapshot()
    with pytest.raises(InsufficientUnits):  # ordered 6, the state holds 5: nothing is retired
        await record_compensation_payment(case, payment_ref="x", actor=forestry)
    with pytest.raises(InvalidCase):
        await record_compensation_payment(case, payment_ref=" ", actor=forestry)
    assert await register_snapshot() == before
    await case.refresh_from_db()
    assert case.status is CompensationStatus.ORDERED


async def test_double_submission_of_a_compensation_payment_retires_once(db):
    batch, unit = await state_batch(units=50)
    forestry = await make_actor(StaffRole.FORESTRY)
    case = await open_case(
        case_number="案-2",
        offence=Offence.ILLEGAL_OCCUPATION,
        deciding_body="市检察院",
        offender=await make_holder(),
        decided_on=date(2026, 1, 2),
        actor=forestry,
    )
    await order_compensation(case, batch=batch, unit_price_fen=100, actor=forestry, units=4)
    form = token()
    await record_compensation_payment(case, payment_ref="p", actor=forestry, form_token=form)
    snap = await register_snapshot()
    again = await record_compensation_payment(case, payment_ref="p", actor=forestry, form_token=form)
    assert again.id == case.id and await register_snapshot() == snap
    assert await register.holder_total(unit, batch=batch, state=HoldingState.HELD) == 46
    assert await CompensationCase.filter(status=CompensationStatus.COMPLETED).count() == 1
