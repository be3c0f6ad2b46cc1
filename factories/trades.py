"""Helpers for the trade, dividend and offset tests: staff actors and a snapshot of everything they write."""

from __future__ import annotations

import itertools
from decimal import Decimal

from factories import make_batch, make_holder, make_parcel
from registry import audit, register
from registry.dividends import Dividend, DividendShare
from registry.idempotency import FormSubmission, new_form_token
from registry.models import AuditLog, Holder, HolderKind, Holding, RegisterEntry, StaffRole, StaffUser, TicketKind
from registry.offsets import CompensationCase, GreenLandOffset, StateRevenue
from registry.trades import InheritanceCase, Trade, TradeFiling, TradeLeg

_n = itertools.count(1)


async def make_actor(role: StaffRole = StaffRole.ISSUER, district: str | None = None) -> audit.Actor:
    """A staff actor. Issuers and greening offices act for a district (兴庆区 unless told); a forestry actor is the
    city's forestry department unless given a district (then that county/district's)."""
    if district is None and role in (StaffRole.ISSUER, StaffRole.GREENING):
        district = "640104"
    staff = await StaffUser.create(
        username=f"{role}-{next(_n)}",
        password_hash="not-a-hash",
        role=role,
        district_code=district if role in (StaffRole.ISSUER, StaffRole.GREENING, StaffRole.FORESTRY) else None,
    )
    return audit.Actor(staff, ip="127.0.0.1")


async def register_snapshot() -> tuple:
    """Everything a refused action must leave as it was."""
    holdings = sorted(
        (h.batch_id, h.holder_id, h.first_no, h.last_no, str(h.state), h.retirement_id) for h in await Holding.all()
    )
    counts = [
        await model.all().count()
        for model in (
            RegisterEntry,
            Trade,
            TradeLeg,
            TradeFiling,
            InheritanceCase,
            Dividend,
            DividendShare,
            GreenLandOffset,
            CompensationCase,
            StateRevenue,
            FormSubmission,
            AuditLog,
        )
    ]
    deceased = sorted((h.id, h.deceased_on) for h in await Holder.all())
    return holdings, counts, deceased


async def village_batch(units: int = 1000):
    """A collective batch of district 640104 held by a village collective."""
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE)
    batch = await make_batch(TicketKind.COLLECTIVE, units=units, holder=village)
    return batch, village


async def state_batch(units: int = 3000, unit_area_m2: str = "666.6667", district: str = ""):
    """A state batch held by a state forest farm; one unit is 666.6667 m² (about one mu) unless told; of a
    parcel in ``district`` when given (the batch's district, which a county/district forestry department keeps)."""
    unit = await make_holder("银川市国有林场", kind=HolderKind.STATE_UNIT, region="640100")
    batch = await register.issue_batch(
        kind=TicketKind.STATE,
        holder=unit,
        total_units=units,
        serial_prefix=f"T-GY-{next(_n)}",
        parcel=await make_parcel(district or "640104"),
        unit_area_m2=Decimal(unit_area_m2),
        district_code=district,
    )
    return batch, unit


def token() -> str:
    return new_form_token()
