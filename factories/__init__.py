"""Factories of sample data for the tests and the benchmarks: valid identifiers in and outside the city, holders,
parcels, batches (submodules: certificates, trades, shop). Not part of the application: nothing in it is installed."""

from __future__ import annotations

import itertools
from decimal import Decimal

from stdnum.cn import ric, uscc

from kernel import clock
from registry import idcrypt, register
from registry.districts import DISTRICTS
from registry.holders import holder_identifier_fields
from registry.models import Batch, Holder, HolderKind, Parcel, ResidenceEvidence, TicketKind
from registry.residence import OUTSIDE_CITY

_counter = itertools.count(1)


def resident_id(region: str = "640121", birth: str = "19800101", seq: int | None = None) -> str:
    """A valid 18-digit resident ID number with the given region and birth date (any region code of a province
    is accepted, retired ones too: registry/identity.py)."""
    body = f"{region}{birth}{(seq if seq is not None else next(_counter)) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def credit_code(region: str = "640104", seq: int | None = None) -> str:
    """A valid unified social credit code registered in ``region``."""
    n = seq if seq is not None else next(_counter)
    body = f"91{region}{n:09d}"[:17]
    body = body[:8] + f"{n:09d}"
    return body + uscc.calc_check_digit(body)


def id_of(holder: Holder) -> str:
    """The whole identifier of a sample holder, for tests that look for it where it must not be (a person's is
    stored encrypted: registry.idcrypt)."""
    if holder.id_number:
        return holder.id_number
    assert holder.id_cipher, "a holder without an identifier"
    return idcrypt.decrypt(holder.id_cipher)


def _id_region(region: str) -> str:
    return "640121" if region.startswith("6401") else region


def _residence_of(region: str) -> str:
    """The residence a factory holder has recorded: its region's district, a city-level code's 兴庆区, else 市外."""
    if region in DISTRICTS:
        return region
    return "640104" if region.startswith("6401") else OUTSIDE_CITY


async def make_holder(
    name: str | None = None,
    *,
    kind: HolderKind = HolderKind.INDIVIDUAL,
    region: str = "640104",
    residence: str | None = None,
) -> Holder:
    """A holder whose identifier was issued in ``region`` and whose residence a clerk has checked: ``residence``
    (a district code, ``"outside"``, or ``""`` for none recorded) or, by default, the one its region implies."""
    n = next(_counter)
    id_number = resident_id(_id_region(region), seq=n) if kind is HolderKind.INDIVIDUAL else credit_code(region, seq=n)
    district = _residence_of(region) if residence is None else residence
    evidence = ResidenceEvidence.NONE
    if district:
        evidence = (
            ResidenceEvidence.HOUSEHOLD_REGISTER
            if kind is HolderKind.INDIVIDUAL
            else ResidenceEvidence.BUSINESS_LICENCE
        )
    identifier = holder_identifier_fields(id_number, kind)  # as the register stores it: a person's encrypted
    return await Holder.create(
        kind=kind,
        name=name or f"持有人{n}",
        **{**identifier, "region_code": region},
        residence_district=district,
        residence_evidence=evidence,
        residence_confirmed=bool(district),
        residence_checked_at=clock.now() if district else None,
    )


async def make_parcel(district: str = "640104", area_mu: str = "150") -> Parcel:
    return await Parcel.create(
        district_code=district,
        township="掌政镇",
        village="春林村",
        area_mu=Decimal(area_mu),
        boundary_east="至渠",
        boundary_south="至路",
        boundary_west="至林带",
        boundary_north="至村界",
        species=[{"species": "新疆杨", "count": 1200}],
        forest_right_cert_no=f"宁(2023)兴庆区林权第{next(_counter)}号",
    )


async def make_batch(
    kind: TicketKind = TicketKind.COLLECTIVE, *, units: int = 1000, holder: Holder | None = None
) -> Batch:
    holder = holder or await make_holder(kind=HolderKind.VILLAGE_COLLECTIVE)
    prefix = f"T-{kind}-{next(_counter)}"
    if kind is TicketKind.CARBON:
        return await register.issue_batch(
            kind=kind,
            holder=holder,
            total_units=units,
            serial_prefix=prefix,
            price_fen=100,
            g_co2e_per_unit=10_000,
        )
    parcel = await make_parcel(area_mu=str(Decimal(units) * Decimal("0.15")))  # units of 100 m² exactly
    return await register.issue_batch(
        kind=kind,
        holder=holder,
        total_units=units,
        serial_prefix=prefix,
        parcel=parcel,
        unit_area_m2=Decimal("100"),
    )
