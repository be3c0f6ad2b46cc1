"""A realistic demo: a carbon quota, collective and state parcels with batches and holders, one staff account
per role. Seeding is idempotent: a second run changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from stdnum.cn import ric, uscc

from registry import register
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
    DemoStaff("landscaping", "landscaping", None, "demo-landscaping-2026"),
    DemoStaff("finance", "finance", None, "demo-finance-2026"),
    DemoStaff("auditor", "auditor", None, "demo-auditor-2026"),
]


def _uscc(body17: str) -> str:
    return body17 + uscc.calc_check_digit(body17)


def _ric(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


VILLAGE_CODE = _uscc("N2640104MF0000001")


async def _holder(kind: HolderKind, name: str, id_number: str, region: str, contact: str = "") -> Holder:
    holder, _ = await Holder.get_or_create(
        id_number=id_number, defaults={"kind": kind, "name": name, "region_code": region, "contact": contact}
    )
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
        await open_quota(units=100_000, price_fen=100, kg_co2e_per_ticket=10, actor="demo")
    if await Holder.exists(id_number=VILLAGE_CODE):
        return STAFF  # the land demo is there already

    village = await _holder(
        HolderKind.VILLAGE_COLLECTIVE,
        "兴庆区掌政镇春林村股份经济合作社",
        VILLAGE_CODE,
        "640104",
        "0951-5000001",
    )
    household = await _holder(HolderKind.INDIVIDUAL, "马建国", _ric("64012119700312001"), "640121", "13900000001")
    enterprise = await _holder(
        HolderKind.ENTERPRISE,
        "宁夏贺兰山林业发展有限公司",
        _uscc("91640122MA0000002"),
        "640122",
        "0951-8000002",
    )
    forest_farm = await _holder(
        HolderKind.STATE_UNIT, "银川市国有林场", _uscc("12640100MB0000003"), "640100", "0951-6000003"
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
    await register.transfer_units(
        batch=collective,
        from_holder=village,
        to_holder=enterprise,
        quantity=300,
        price_fen=300 * 12_000,
        actor="demo",
        details={"operating_form": "入股经营", "note": "演示认购"},
    )
    return STAFF


def print_credentials(staff: list[DemoStaff]) -> None:
    print("Demo staff accounts (log in at /admin/login):")
    for account in staff:
        district = f" district {account.district}" if account.district else ""
        print(f"  {account.username:<14} {account.role:<12}{district:<17} password: {account.password}")
