"""A realistic demo: a carbon quota, this year's tree-planting conversion, collective and state parcels with
batches and holders, an effective subscription with its three filings, one staff account per role. Seeding is
idempotent: a second run changes nothing (in a new year it adds that year's planting rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from certificates import holdings
from kernel import clock
from planting.domain.models import DEFAULT_TREES_PER_DUTY
from planting.domain.rules import rule_or_none, set_rule
from registry import audit, register, trades
from registry import residence as residence_rule
from registry.forests import record_carbon_basis
from registry.holders import holder_identifier_fields
from registry.identity import ric_check_char, uscc_check_char
from registry.models import Batch, Holder, HolderKind, Parcel, StaffRole, StaffUser, TicketKind
from registry.quotas import open_quota


@dataclass(frozen=True)
class DemoStaff:
    username: str
    role: str
    district: str | None
    password: str


STAFF = [
    DemoStaff("admin", "admin", None, "demo-admin-2026"),
    DemoStaff("issuer", "issuer", "640104", "demo-issuer-2026"),
    DemoStaff("issuer_helan", "issuer", "640122", "demo-issuer-2026"),
    DemoStaff("forestry", "forestry", None, "demo-forestry-2026"),
    DemoStaff("forestry_xixia", "forestry", "640105", "demo-forestry-2026"),
    DemoStaff("landscaping", "landscaping", None, "demo-landscaping-2026"),
    DemoStaff("greening_xixia", "greening", "640105", "demo-greening-2026"),
    DemoStaff("finance", "finance", None, "demo-finance-2026"),
    DemoStaff("auditor", "auditor", None, "demo-auditor-2026"),
]


def _uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


def _ric(body17: str) -> str:
    return body17 + ric_check_char(body17)


# N2: a village collective economic organisation (村级集体经济组织), coded by the district's agriculture and
# rural-affairs bureau (GB 32100-2015, authority N): the admin holder form accepts it as a village collective.
VILLAGE_CODE = _uscc("N2640104MF0000001")


async def _holder(
    kind: HolderKind, name: str, id_number: str, region: str, contact: str = "", *, residence: str = ""
) -> Holder:
    """A demo holder; ``residence`` is the district where the demo issuer checked its residence or office."""
    values: dict[str, object] = {"kind": kind, "name": name, "region_code": region, "contact": contact}
    if residence:
        # 户口簿 for people, 营业执照住所 for enterprises (codes 9…), 登记证书 for the village and the forest farm
        evidence = residence_rule.evidence_for(kind)[0 if kind is HolderKind.INDIVIDUAL or id_number[0] == "9" else 1]
        clerk = await StaffUser.get(username="issuer")
        values |= {
            "residence_district": residence,
            "residence_evidence": evidence,
            "residence_checked_by": clerk,
            "residence_checked_at": clock.now(),
            "residence_confirmed": True,
        }
    identifier = holder_identifier_fields(id_number, kind)  # a person's number encrypted (registry.idcrypt)
    holder = await Holder.filter(id_digest=identifier["id_digest"]).first()
    if holder is None:
        holder = await Holder.create(**{**identifier, **values})
    return holder


async def seed_demo() -> list[DemoStaff]:
    """Seed the demo once; returns the staff accounts (with passwords) to print."""
    from registry.staff import create_staff

    for staff in STAFF:
        if not await StaffUser.exists(username=staff.username):
            await create_staff(
                username=staff.username,
                role=StaffRole(staff.role),
                password=staff.password,
                district_code=staff.district,
                display_name=f"演示-{staff.role}",
            )
    if not await Batch.exists(kind=TicketKind.CARBON, is_open=True):
        quota = await open_quota(
            units=100_000, price_fen=100, kg_co2e_per_ticket=10, actor=audit.Actor(None, system="demo")
        )
        await record_carbon_basis(  # shown on /forests: where "10 kg CO2e a ticket" comes from
            quota,
            method="演示数据：按定额折算，每张林票10千克二氧化碳当量",
            source="演示数据，正式使用前须由林业部门登记核算方法和来源",
            year=clock.today().year,
        )
    await _seed_planting_rule()
    if await Holder.exists(id_number=VILLAGE_CODE):
        return STAFF  # the land demo is there already

    village = await _holder(
        HolderKind.VILLAGE_COLLECTIVE,
        "兴庆区掌政镇春林村股份经济合作社",
        VILLAGE_CODE,
        "640104",
        "0951-5000001",
        residence="640104",
    )
    household = await _holder(
        HolderKind.INDIVIDUAL, "马建国", _ric("64012119700312001"), "640121", "13900000001", residence="640121"
    )
    enterprise = await _holder(
        HolderKind.ENTERPRISE,
        "宁夏贺兰山林业发展有限公司",
        _uscc("91640122MA0000002"),
        "640122",
        "0951-8000002",
        residence="640122",
    )
    forest_farm = await _holder(
        HolderKind.STATE_UNIT,
        "银川市国有林场",
        _uscc("12640100MB0000003"),
        "640100",
        "0951-6000003",
        residence="640105",
    )

    chunlin = await Parcel.create(
        district_code="640104",
        township="掌政镇",
        village="春林村",
        area_mu=Decimal("150"),
        boundary_east="至唐徕渠",
        boundary_south="至掌政路",
        boundary_west="至防护林带",
        boundary_north="至春林村界",
        species=[{"species": "新疆杨", "count": 4500}, {"species": "国槐", "count": 1200}],
        forest_right_cert_no="宁(2023)兴庆区林权第0001号",
        afforested_on=date(2015, 4, 10),
        accepted_on=date(2018, 10, 20),
        owner=village,
    )
    yongning = await Parcel.create(
        district_code="640121",
        township="望洪镇",
        village="东和村",
        area_mu=Decimal("37.5"),
        boundary_east="至马家地",
        boundary_south="至农渠",
        boundary_west="至乡道",
        boundary_north="至林带",
        species=[{"species": "枸杞", "count": 3000}],
        forest_right_cert_no="宁(2023)永宁县林权第0107号",
        afforested_on=date(2017, 3, 15),
        accepted_on=date(2019, 9, 1),
        owner=household,
    )
    state_parcel = await Parcel.create(
        district_code="640105",
        township="镇北堡镇",
        village="",
        area_mu=Decimal("60"),
        boundary_east="至西夏陵保护区",
        boundary_south="至110国道",
        boundary_west="至贺兰山东麓",
        boundary_north="至林场界",
        species=[{"species": "樟子松", "count": 6000}, {"species": "山杏", "count": 2000}],
        forest_right_cert_no="宁(2024)西夏区林权第0012号",
        afforested_on=date(2021, 4, 1),
        accepted_on=date(2024, 6, 30),
        owner=forest_farm,
    )

    # 150 mu = 100,000 m² exactly: 1,000 units of 100 m²
    collective = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=1000,
        serial_prefix="YC-JT-640104-2026-001",
        parcel=chunlin,
        unit_area_m2=Decimal("100"),
        issuing_authority="银川市兴庆区人民政府",
        actor="demo",
    )
    await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=household,
        total_units=250,
        serial_prefix="YC-JT-640121-2026-001",
        parcel=yongning,
        unit_area_m2=Decimal("100"),
        issuing_authority="永宁县人民政府",
        actor="demo",
    )
    await register.issue_batch(
        kind=TicketKind.STATE,
        holder=forest_farm,
        total_units=400,
        serial_prefix="YC-GY-2026-001",
        parcel=state_parcel,
        unit_area_m2=Decimal("100"),
        issuing_authority="银川市自然资源局（林草）",
        actor="demo",
    )
    await _seed_subscription(collective, village, enterprise)
    return STAFF


async def _seed_planting_rule() -> None:
    """This year's tree-planting conversion (a demo value), so ``/planting`` sells right after ``serve --demo``;
    set by the demo forestry account only when the year has none (a rule set by staff is never replaced)."""
    year = clock.today().year
    if await rule_or_none(year) is not None:
        return
    await set_rule(
        year=year,
        tickets_per_tree=10,  # ¥10 a tree at ¥1 a ticket, as Ningxia's online channel prices a tree
        trees_per_duty=DEFAULT_TREES_PER_DUTY,
        receiving_body="银川市绿化基金会（演示）",
        source="演示数据：参照宁夏网络捐资尽责每株10元",
        notes="演示数据，正式使用前须由林业部门按本年度文件重新设定",
        actor=audit.Actor(await StaffUser.get(username="forestry"), "demo"),
    )


async def _seed_subscription(batch: Batch, village: Holder, enterprise: Holder) -> None:
    """The enterprise subscribes 30 % of the village's batch (认购, 入股经营) through the back-office's own
    workflow, and its three filings are recorded, so it is effective and the enterprise holds a certificate."""
    actor = audit.Actor(await StaffUser.get(username="issuer"), "demo")
    trade = await trades.record_subscription(
        batch=batch,
        subscriber=enterprise,
        share=Fraction(3, 10),
        price_fen=300 * 12_000,
        operating_form=trades.OperatingForm.EQUITY,
        from_holder=village,
        term_years=20,
        agreement_ref="春林村-贺兰山林业 入股经营协议（2026）第1号",
        note="演示认购",
        actor=actor,
    )

    references = {
        trades.FilingAuthority.VILLAGE_COMMITTEE: "春林村委会备字（2026）第1号",
        trades.FilingAuthority.DISTRICT_GOVERNMENT: "兴庆区政府林票备字（2026）第1号",
        trades.FilingAuthority.CITY_FORESTRY: "银川市林草局林票备字（2026）第1号",
    }
    for authority, reference in references.items():
        await holdings.record_filing(
            trade=trade, authority=authority, filed_on=clock.today(), reference=reference, actor=actor
        )


def print_credentials(staff: list[DemoStaff]) -> None:
    print("Demo staff accounts (log in at /admin/login):")
    for account in staff:
        district = f" district {account.district}" if account.district else ""
        print(f"  {account.username:<14} {account.role:<12}{district:<17} password: {account.password}")
