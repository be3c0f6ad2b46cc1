"""A register with every kind of retirement, made through the register's own functions, with people whose names
and ID numbers are known, so the public pages can be checked for what they show and for what they must not."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from certificates import service
from factories import make_batch, make_holder, make_parcel
from factories.trades import make_actor, state_batch, token
from kernel import clock
from planting.domain.rules import retirement_purpose
from registry import notices, register
from registry.applications import submit_application
from registry.dividends import record_dividend
from registry.models import Batch, Certificate, Holder, HolderKind, Order, Parcel, RegisterEntry, StaffRole, TicketKind
from registry.offsets import (
    Offence,
    OffsetType,
    apply_offset,
    approve_offset,
    complete_offset,
    open_case,
    order_compensation,
    record_compensation_payment,
)
from registry.quotas import open_quota, pool_holder

CASE_NUMBER = "银林罚决字〔2026〕第12号"
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[106.20, 38.50], [106.21, 38.50], [106.21, 38.51], [106.20, 38.51], [106.20, 38.50]]],
}


@dataclass
class World:
    quota: Batch
    people: list[Holder] = field(default_factory=list)  # every individual the register knows, by name and ID
    names: list[str] = field(default_factory=list)  # every person's name printed on a certificate
    certificates: dict[str, Certificate] = field(default_factory=dict)
    entries: dict[str, RegisterEntry] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    land: Batch | None = None
    state: Batch | None = None


LABELS = {"travel": "出行", "meeting": "会议", "event": "大型活动", "daily": "日常生活", "other": "其他"}


async def shop_order(
    quantity: int, *, name: str, batch: Batch, purpose: str = "travel", buyer: Holder | None = None
) -> tuple[Order, RegisterEntry]:
    """An order reserved and retired as the shop does it: the register records the purpose's label (出行, or
    义务植树尽责（Y年度） for tree planting), the order keeps its code."""
    buyer = buyer or await make_holder(name)
    order = await Order.create(
        token=secrets.token_urlsafe(16),
        batch=batch,
        quantity=quantity,
        amount_fen=quantity * int(batch.price_fen or 100),
        purpose=purpose,
        certificate_name=name,
        buyer=buyer,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    await register.reserve_units(
        batch=batch, holder=await pool_holder(), quantity=quantity, order=order, expires_at=order.expires_at
    )
    label = retirement_purpose(clock.today().year) if purpose == "planting" else LABELS[purpose]
    entry = await register.retire_units(order=order, buyer=buyer, purpose=label, actor="shop")
    return order, entry


async def person(world: World, name: str) -> Holder:
    holder = await make_holder(name)
    world.people.append(holder)
    return holder


async def build() -> World:
    quota = await open_quota(units=100_000)
    world = World(quota=quota)
    # a citizen's carbon offset, printed under her own name
    buyer = await person(world, "张三丰")
    order, entry = await shop_order(10, name="张三丰", buyer=buyer, batch=quota, purpose="meeting")
    world.names.append("张三丰")
    world.certificates["carbon"] = await service.issue_carbon_certificate(order, entry)
    world.entries["carbon"], world.orders["carbon"] = entry, order
    # an association's offset: a body's name is public
    association = await make_holder("宁夏绿色出行协会", kind=HolderKind.ENTERPRISE)
    order, entry = await shop_order(20, name="宁夏绿色出行协会", buyer=association, batch=quota, purpose="travel")
    world.certificates["body"] = await service.issue_carbon_certificate(order, entry)
    world.entries["body"] = entry
    # a refunded order: the certificate is void, the tickets stay retired
    refunded = await person(world, "欧阳小明")
    order, entry = await shop_order(5, name="欧阳小明", buyer=refunded, batch=quota, purpose="travel")
    world.names.append("欧阳小明")
    world.certificates["refunded"] = await service.issue_carbon_certificate(order, entry)
    await service.mark_refunded(order)
    world.entries["refunded"] = entry
    # a lost certificate reissued under a new code
    lost = await person(world, "司马懿")
    order, entry = await shop_order(7, name="司马懿", buyer=lost, batch=quota, purpose="daily")
    world.names.append("司马懿")
    original = await service.issue_carbon_certificate(order, entry)
    world.certificates["reissued_old"] = original
    world.certificates["reissued_new"] = await service.reissue(original, actor="staff:forestry", reason="遗失")
    world.entries["reissued"] = entry
    # a citizen's tree-planting duty
    planter = await person(world, "李四光")
    order, entry = await shop_order(30, name="李四光", buyer=planter, batch=quota, purpose="planting")
    world.names.append("李四光")
    world.certificates["planting"] = await service.issue_planting_certificate(
        planter, name="李四光", year=2026, trees=3, entries=[entry], order=order
    )
    world.entries["planting"] = entry
    # an organisation's roster: one retirement, one certificate per person, each with its own serials
    organisation = await make_holder("银川市某局", kind=HolderKind.GOVERNMENT)
    order, entry = await shop_order(60, name="银川市某局", buyer=organisation, batch=quota, purpose="planting")
    first, last = entry.ranges[0]
    for name, share in (("王小二", [[first, first + 29]]), ("赵六", [[first + 30, last]])):
        staff = await person(world, name)
        world.names.append(name)
        world.certificates[f"roster-{name}"] = await service.issue_planting_certificate(
            None, name=name, year=2026, trees=3, entries=[entry], order=order, share=share
        )
        del staff  # on the roster by name and ID; the certificate carries the name only
    world.entries["roster"] = entry
    # land: a collective batch with a household holder, a parcel outline
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE)
    world.land = await make_batch(TicketKind.COLLECTIVE, units=1000, holder=village)
    parcel = await Parcel.get(id=world.land.parcel_id)
    parcel.boundary_geojson = SQUARE
    await parcel.save(update_fields=["boundary_geojson"])
    household = await person(world, "马建国")
    await register.transfer_units(batch=world.land, from_holder=village, to_holder=household, quantity=100)
    # its dividend and a collective issuance applied for by a forestry household, both on the notice board
    issuer = await make_actor(StaffRole.ISSUER, "640104")
    dividend = await record_dividend(
        batch=world.land, income_fen=120_000, record_date=clock.today(), source="绿源合作社经营收入", actor=issuer
    )
    await notices.publish_dividend_notice(dividend, actor=issuer)
    grower = await person(world, "欧阳建华")
    parcel = await make_parcel("640104", area_mu="37.5")
    parcel.owner = grower
    await parcel.save(update_fields=["owner_id"])
    application = await submit_application(kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=grower, actor=issuer)
    await notices.publish_issuance_notice(application, actor=issuer)
    # state tickets: a green-land offset for a company and an ecological compensation case
    state, _unit = await state_batch(units=3000)
    world.state = state
    company = await make_holder("银川某某置业有限公司", kind=HolderKind.ENTERPRISE)
    greening = await make_actor(StaffRole.GREENING, "640106")
    offset = await apply_offset(
        company=company,
        offset_type=OffsetType.OCCUPATION,
        project="阅海湾商住小区二期",
        location="金凤区阅海湾中央商务区",
        district_code="640106",
        lacking_area_m2="1500.50",
        planning_approval_ref="银规建字第2026-031号",
        actor=greening,
    )
    await approve_offset(offset, actor=await make_actor(StaffRole.LANDSCAPING), comment="同意")
    forestry = await make_actor(StaffRole.FORESTRY)
    offset = await complete_offset(offset, batch=state, unit_price_fen=20_000, actor=forestry, form_token=token())
    world.entries["green_land"] = await RegisterEntry.get(id=offset.entry_id)
    offender = await person(world, "钱七")
    case = await open_case(
        case_number=CASE_NUMBER,
        offence=Offence.ILLEGAL_LOGGING,
        deciding_body="银川市自然资源局",
        offender=offender,
        decided_on=date(2026, 5, 1),
        actor=forestry,
    )
    await order_compensation(case, batch=state, area_m2="2000", unit_price_fen=30_000, actor=forestry)
    case = await record_compensation_payment(
        case, payment_ref="非税收入缴款书 0001", actor=forestry, form_token=token()
    )
    world.entries["compensation"] = await RegisterEntry.get(id=case.entry_id)
    return world
