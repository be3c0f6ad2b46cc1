"""What the public may see of the forests behind the tickets (/forests) and the figures of /impact.

Units held, reserved and retired per batch come from the register's stock counters (one row a batch); the other
figures from one aggregate query over indexed columns, never from a loop over holdings or orders.
No holder is named: a parcel's owner and a batch's holders stay in the back-office.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.functions import Count, Sum

from kernel import clock
from registry import counters, donations
from registry.districts import district_name
from registry.donations import PlantingYear
from registry.errors import NotFound, RegisterError
from registry.models import Batch, Parcel, TicketKind
from registry.parcels import InvalidBoundary, ParcelDocument, boundary_svg_paths

M2_PER_MU = Decimal(10000) / Decimal(15)
KIND_ORDER = {TicketKind.CARBON: 0, TicketKind.COLLECTIVE: 1, TicketKind.STATE: 2}


class ForestNotFound(NotFound):
    code = "not_found"
    message = "没有这个批次"


@dataclass
class Units:
    held: int = 0
    reserved: int = 0
    retired: int = 0


async def units_by_batch(batch_ids: Iterable[int] | None = None) -> dict[int, Units]:
    """Units held, reserved and retired per batch, from the register's stock counters (:mod:`registry.counters`:
    one row a batch and one per stock block, kept in the register's own transactions)."""
    return {
        int(row.batch_id): Units(held=int(row.held), reserved=int(row.reserved), retired=int(row.retired))
        for row in await counters.stocks(batch_ids)
    }


@dataclass
class Forest:
    """One batch as the public sees it."""

    batch: Batch
    parcel: Parcel | None
    units: Units
    outline: list[str] = field(default_factory=list)  # SVG path data of the parcel's GeoJSON outline
    published: list[ParcelDocument] = field(default_factory=list)  # what forestry chose to show (forest() only)

    @property
    def photos(self) -> list[ParcelDocument]:
        return [d for d in self.published if d.is_photo and d.public_image]

    @property
    def documents(self) -> list[ParcelDocument]:
        return [d for d in self.published if not d.is_photo]

    @property
    def kind(self) -> TicketKind:
        return TicketKind(self.batch.kind)

    @property
    def district(self) -> str:
        code = self.parcel.district_code if self.parcel else self.batch.district_code
        return district_name(code)

    @property
    def place(self) -> str:
        if self.parcel is None:
            return self.district
        return "".join(p for p in (self.district, self.parcel.township, self.parcel.village) if p)

    @property
    def issued_on(self) -> date:
        return clock.local_date(self.batch.issued_at)

    @property
    def species(self) -> list[dict[str, Any]]:
        rows = self.parcel.species if self.parcel and isinstance(self.parcel.species, list) else []
        return [r for r in rows if isinstance(r, dict)]

    @property
    def area_mu(self) -> str:
        return _text(Decimal(self.parcel.area_mu)) if self.parcel else ""

    @property
    def unit_area_m2(self) -> str:
        return _text(Decimal(self.batch.unit_area_m2)) if self.batch.unit_area_m2 is not None else ""

    @property
    def kg_per_ticket(self) -> str:
        return _text(Decimal(int(self.batch.g_co2e_per_unit or 0)) / 1000)

    @property
    def has_basis(self) -> bool:
        return bool(self.batch.co2e_method or self.batch.co2e_source or self.batch.co2e_year)


def _text(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.0001")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _outline(parcel: Parcel | None, size: int) -> list[str]:
    if parcel is None or not parcel.boundary_geojson:
        return []
    try:
        return boundary_svg_paths(parcel.boundary_geojson, size=size)
    except (InvalidBoundary, ValueError, TypeError):  # an outline that no longer parses is not drawn
        return []


async def forests(*, outline_size: int = 96) -> list[Forest]:
    """Every batch, carbon quotas first, then collective and state batches by district and issue."""
    batches = await Batch.all().order_by("id")
    parcels = {p.id: p for p in await Parcel.filter(id__in={b.parcel_id for b in batches if b.parcel_id})}
    units = await units_by_batch()
    found = []
    for batch in batches:
        parcel = parcels.get(batch.parcel_id)
        found.append(Forest(batch, parcel, units.get(batch.id, Units()), _outline(parcel, outline_size)))
    return sorted(found, key=lambda f: (KIND_ORDER[f.kind], f.batch.district_code, f.batch.id))


async def forest(serial_prefix: str, *, outline_size: int = 280) -> Forest:
    batch = await Batch.get_or_none(serial_prefix=serial_prefix) if len(serial_prefix) <= 40 else None
    if batch is None:
        raise ForestNotFound(serial_prefix[:40])
    parcel = await Parcel.get_or_none(id=batch.parcel_id) if batch.parcel_id else None
    units = (await units_by_batch([batch.id])).get(batch.id, Units())
    published = (
        await ParcelDocument.filter(parcel_id=parcel.id, public=True).order_by("published_at", "id") if parcel else []
    )
    return Forest(batch, parcel, units, _outline(parcel, outline_size), list(published))


async def published_document(serial_prefix: str, document_id: int) -> ParcelDocument:
    """A document forestry published on the parcel of this batch; anything else — unpublished, of another
    parcel, no such batch — is :class:`ForestNotFound`, the same for all, so nothing tells them apart."""
    batch = await Batch.get_or_none(serial_prefix=serial_prefix) if len(serial_prefix) <= 40 else None
    document = (
        await ParcelDocument.get_or_none(id=document_id, parcel_id=batch.parcel_id, public=True)
        if batch is not None and batch.parcel_id
        else None
    )
    if document is None:
        raise ForestNotFound(serial_prefix[:40])
    return document


# --- /impact: land tickets and tree planting ----------------------------------------------------------------


@dataclass(frozen=True)
class LandIssued:
    kind: TicketKind
    district_code: str
    units: int
    batches: int
    area_m2: Decimal

    @property
    def district(self) -> str:
        return district_name(self.district_code)

    @property
    def area_mu(self) -> str:
        return _text((self.area_m2 / M2_PER_MU).quantize(Decimal("0.01")))


async def land_issued_by_district() -> list[LandIssued]:
    """Collective and state tickets issued, per kind and district (one aggregate query)."""
    rows = (
        await Batch.filter(kind__in=[TicketKind.COLLECTIVE, TicketKind.STATE])
        .annotate(units=Sum("total_units"), batches=Count("id"))
        .group_by("kind", "district_code", "unit_area_m2")
        .values("kind", "district_code", "unit_area_m2", "units", "batches")
    )
    merged: dict[tuple[str, str], list[Any]] = {}
    for row in rows:  # one row per (kind, district, unit area): a handful
        key = (str(row["kind"]), str(row["district_code"]))
        units = int(row["units"] or 0)
        total = merged.setdefault(key, [0, 0, Decimal(0)])
        total[0] += units
        total[1] += int(row["batches"] or 0)
        total[2] += Decimal(row["unit_area_m2"] or 0) * units
    return sorted(
        (LandIssued(TicketKind(k), d, u, b, a) for (k, d), (u, b, a) in merged.items()),
        key=lambda r: (KIND_ORDER[r.kind], r.district_code),
    )


async def planting_year(year: int) -> PlantingYear:
    """The tree-planting duty fulfilled in ``year``, as the planting package counts it (refunded or revoked
    certificates do not count)."""
    return await donations.book().year(year)


# --- the basis of a carbon quota ----------------------------------------------------------------------------


class InvalidBasis(RegisterError):
    code = "invalid_basis"
    message = "核算依据无效：方法和来源不超过200字，年份为1900至2999年"


async def record_carbon_basis(batch: Batch, *, method: str, source: str, year: int | None) -> Batch:
    """Record how a carbon quota's kg CO2e per ticket was reached (method, source, year), as /forests shows it."""
    method, source = method.strip(), source.strip()
    if batch.kind is not TicketKind.CARBON:
        raise InvalidBasis(batch.serial_prefix)
    if len(method) > 200 or len(source) > 200 or (year is not None and not 1900 <= year <= 2999):
        raise InvalidBasis()
    batch.co2e_method, batch.co2e_source, batch.co2e_year = method, source, year
    await batch.save(update_fields=["co2e_method", "co2e_source", "co2e_year"])
    return batch
