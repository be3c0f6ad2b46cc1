"""The back-office lists show figures as a reader wants them: thousands separators, money as ¥ with two decimals,
areas as trimmed decimals (150 亩, not 150.0000), times in Beijing time (kernel.templating's filters)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from factories import make_batch, make_holder, make_parcel
from registry.apikeys import ApiKey
from registry.applications import ApplicationBasis, ApplicationStatus, IssuanceApplication
from registry.dividends import Dividend
from registry.models import HolderKind, Parcel, StaffRole, TicketKind
from registry.offsets import GreenLandOffset, OffsetType
from registry.trades import Trade, TradeKind, TradeStatus


async def _parcel(owner, area: str) -> Parcel:
    parcel = await make_parcel(area_mu=area)
    await Parcel.filter(id=parcel.id).update(owner=owner)
    return parcel


async def test_the_main_lists_format_large_figures(sign_in):
    village = await make_holder("村集体", kind=HolderKind.VILLAGE_COLLECTIVE)
    large = await _parcel(village, "1234567.5000")
    await _parcel(village, "150.0000")
    await IssuanceApplication.create(
        kind=TicketKind.COLLECTIVE,
        basis=ApplicationBasis.OWNER,
        status=ApplicationStatus.SUBMITTED,
        parcel=large,
        applicant=village,
        district_code="640104",
    )
    batch = await make_batch(TicketKind.COLLECTIVE, units=1000)
    buyer = await make_holder("受让人")
    await Trade.create(
        kind=TradeKind.TRANSFER,
        status=TradeStatus.EFFECTIVE,
        batch=batch,
        buyer=buyer,
        seller=village,
        quantity=1234567,
        price_fen=123456789,
    )
    await Dividend.create(batch=batch, record_date=date(2026, 1, 1), income_fen=987654321, source="合作社")
    company = await make_holder("企业", kind=HolderKind.ENTERPRISE)
    await GreenLandOffset.create(
        offset_type=OffsetType(next(iter(OffsetType))),
        company=company,
        project="项目",
        location="x",
        district_code="640104",
        lacking_area_m2=Decimal("7654321.50"),
        planning_approval_ref="p",
    )
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    parcels = (await issuer.get("/admin/parcels")).text
    assert "1,234,567.5<" in parcels and ">150<" in parcels
    assert "150.0000" not in parcels and "1234567.5" not in parcels
    applications = (await issuer.get("/admin/applications")).text
    assert "1,234,567.5 亩" in applications and "1234567.5000" not in applications
    trades = (await issuer.get("/admin/trades")).text
    assert ">1,234,567<" in trades and ">¥1,234,567.89<" in trades
    dividends = (await issuer.get("/admin/dividends")).text
    assert ">¥9,876,543.21<" in dividends
    auditor = await sign_in(StaffRole.AUDITOR)
    offsets = (await auditor.get("/admin/offsets")).text
    assert ">7,654,321.5<" in offsets and "7654321.50" not in offsets


async def test_times_are_shown_in_beijing_time(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    await ApiKey.create(
        prefix="lp_test", key_hash="0" * 64, organisation="单位", created_at=datetime(2026, 1, 1, 20, 30, tzinfo=UTC)
    )
    keys = (await admin.get("/admin/apikeys")).text
    assert "2026-01-02 04:30" in keys and "2026-01-01 20:30" not in keys  # UTC+8
