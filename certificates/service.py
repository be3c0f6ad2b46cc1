"""Creating and changing certificates: the one place other packages call.

A certificate's printed content is fixed when it is created: everything the PDF and the verification page
show comes from ``Certificate.data`` plus ``holder_name``, ``quantity`` and ``serial_ranges``, so the page
and the paper can never disagree, and printing again yields the same bytes. Identity numbers are stored
masked only (first four and last four characters).

Kinds: carbon offset (碳汇林票认购证书), obligatory tree-planting fulfilment (全民义务植树尽责证书), honour
(国土绿化荣誉证书), and collective / state forest-ticket holding (林票凭证).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from certificates.codes import group_code, new_code, normalise_code
from kernel import clock
from registry import audit, register, sqlrows
from registry.districts import CITY_CODE, DISTRICTS, district_name
from registry.errors import InsufficientUnits, InvalidState, WrongKind
from registry.identity import mask_name
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    CertificateStatus,
    Holder,
    HolderKind,
    Holding,
    HoldingState,
    Order,
    Parcel,
    RegisterEntry,
    TicketKind,
)
from registry.names import visible_text

M2_PER_MU = Decimal(10000) / Decimal(15)

KIND_TITLES: dict[CertificateKind, str] = {
    CertificateKind.CARBON: "碳汇林票认购证书",
    CertificateKind.PLANTING: "全民义务植树尽责证书",
    CertificateKind.HONOUR: "国土绿化荣誉证书",
    CertificateKind.COLLECTIVE_HOLDING: "林票凭证",
    CertificateKind.STATE_HOLDING: "林票凭证",
}
KIND_LABELS: dict[CertificateKind, str] = {
    CertificateKind.CARBON: "碳汇林票认购证书",
    CertificateKind.PLANTING: "全民义务植树尽责证书",
    CertificateKind.HONOUR: "国土绿化荣誉证书",
    CertificateKind.COLLECTIVE_HOLDING: "集体林地林票凭证",
    CertificateKind.STATE_HOLDING: "国有林地林票凭证",
}
STATUS_LABELS: dict[CertificateStatus, str] = {
    CertificateStatus.VALID: "有效",
    CertificateStatus.REISSUED: "已补发（本证书作废）",
    CertificateStatus.REVOKED: "已撤销",
    CertificateStatus.REFUNDED: "已退款（本证书作废）",
}
# Purposes the shop is known to use; anything else is printed as given.
PURPOSE_LABELS = {
    "travel": "出行碳排放抵消",
    "meeting": "会议碳中和",
    "event": "大型活动碳中和",
    "daily": "日常生活碳排放抵消",
    "planting": "义务植树尽责",
    "duty": "义务植树尽责",
    "donation": "公益捐赠",
    "offset": "自愿碳排放抵消",
    "other": "自愿碳排放抵消",
}
DUTY_FORM = "捐资尽责（认购碳汇林票）"
GREENING_OFFICE = "银川市绿化委员会办公室"
MAX_PRINTED_RANGES = 12


def _date_text(moment: datetime) -> str:
    return clock.local_date(moment).isoformat()


def _decimal_text(value: Decimal, places: str = "0.01") -> str:
    text = format(value.quantize(Decimal(places)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _holder_facts(holder: Holder | None) -> dict[str, Any]:
    if holder is None:
        return {"holder_kind": str(HolderKind.INDIVIDUAL), "id_number_masked": ""}
    return {"holder_kind": str(holder.kind), "id_number_masked": holder.id_masked}


def _serial_lines(batch: Batch, ranges: Sequence[Sequence[int]]) -> str:
    return "\n".join(batch.serial_ranges(ranges))


async def _create(**values: Any) -> Certificate:
    """Create with a fresh code; 100 random bits make a clash practically impossible, but check anyway."""
    values["holder_name"] = visible_text(values.get("holder_name") or "")  # as printed: no invisible characters
    code = new_code()
    while await _code_taken(code):  # pragma: no cover - astronomically rare
        code = new_code()
    return await Certificate.create(code=code, **values)


async def _code_taken(code: str) -> bool:
    # hand-written: every paid order asks, and building the ORM's query costs more than running it
    return bool(await sqlrows.rows('SELECT 1 FROM "certificate" WHERE "code" = ? LIMIT 1', [code]))


# ---------------------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------------------


async def issue_carbon_certificate(
    order: Order,
    entry: RegisterEntry,
    *,
    purpose_text: str | None = None,
    batch: Batch | None = None,
    buyer: Holder | None = None,
    just_retired: bool = False,
) -> Certificate:
    """The carbon offset certificate for an order whose units ``entry`` retired.

    Call it in the same transaction as fulfilment. Calling it again for the same order and entry returns
    the certificate already made, so a replayed fulfilment never makes a second one. ``just_retired``: the caller
    appended ``entry`` in this very transaction, so no certificate can name it yet (nothing to look up), and the
    certificate joins that transaction as it is (no savepoint); ``batch`` and ``buyer`` (the entry's batch and the
    holder it retired to), when the caller has them."""
    async with contextlib.nullcontext() if just_retired else in_transaction():
        if not just_retired:
            existing = await Certificate.get_or_none(order_id=order.id, entry_id=entry.id)
            if existing is not None:
                return existing
        if batch is None or batch.id != entry.batch_id:
            batch = await Batch.get(id=entry.batch_id)
        if batch.kind is not TicketKind.CARBON:
            raise WrongKind(batch.serial_prefix)
        if buyer is None or buyer.id != entry.to_holder_id:
            buyer = await Holder.get_or_none(id=entry.to_holder_id)
        quantity = int(entry.quantity)
        kg = Decimal(int(batch.g_co2e_per_unit or 0) * quantity) / 1000
        purpose = purpose_text or PURPOSE_LABELS.get(order.purpose, order.purpose)
        data = {
            **_holder_facts(buyer),
            "batch": batch.serial_prefix,
            "kg_co2e": _decimal_text(kg, "0.001"),
            "kg_co2e_per_ticket": _decimal_text(Decimal(int(batch.g_co2e_per_unit or 0)) / 1000, "0.001"),
            "purpose": purpose,
            "purpose_note": order.purpose_note,
            "amount_fen": int(order.amount_fen),
            "issuer": batch.issuing_authority or "银川市自然资源局（林业）",
            "date": _date_text(entry.created_at),
        }
        return await _create(
            kind=CertificateKind.CARBON,
            holder=buyer,
            order=order,
            batch=batch,
            entry=entry,
            holder_name=order.certificate_name or (buyer.name if buyer else ""),
            quantity=quantity,
            serial_ranges=_serial_lines(batch, entry.ranges),
            data=data,
            issued_at=entry.created_at,
        )


async def _issue_duty(
    kind: CertificateKind,
    holder: Holder | None,
    *,
    name: str | None,
    year: int,
    trees: int | Decimal,
    entries: Sequence[RegisterEntry],
    order: Order | None,
    form: str,
    issuer: str,
    issued_at: datetime | None,
    share: Sequence[Sequence[int]] | None = None,
) -> Certificate:
    if not name and holder is None:
        raise InvalidState("a certificate needs a name")
    if Decimal(trees) <= 0:
        raise InvalidState(f"trees {trees}")
    if share is not None and (len(entries) != 1 or not _within(share, entries[0].ranges)):
        raise InvalidState("a share must lie inside the one entry that retired it")
    moment = issued_at or (entries[-1].created_at if entries else clock.now())
    async with in_transaction():
        batch: Batch | None = None
        ranges: list[str] = []
        quantity = 0
        for entry in entries:
            entry_batch = await Batch.get(id=entry.batch_id)
            batch = batch or entry_batch
            ranges.append(_serial_lines(entry_batch, share if share is not None else entry.ranges))
            quantity += sum(int(b) - int(a) + 1 for a, b in share) if share is not None else int(entry.quantity)
        data = {
            **_holder_facts(holder),
            "year": int(year),
            "trees": _decimal_text(Decimal(trees)),
            "form": form,
            "issuer": issuer,
            "date": _date_text(moment),
        }
        return await _create(
            kind=kind,
            holder=holder,
            order=order,
            batch=batch,
            entry=entries[0] if entries else None,
            holder_name=name or (holder.name if holder else ""),
            quantity=quantity,
            serial_ranges="\n".join(r for r in ranges if r),
            data=data,
            issued_at=moment,
        )


def _within(share: Sequence[Sequence[int]], ranges: Sequence[Sequence[int]]) -> bool:
    """Every range of ``share`` lies inside one of ``ranges``."""
    return all(
        int(a) <= int(b) and any(int(first) <= int(a) and int(b) <= int(last) for first, last in ranges)
        for a, b in share
    )


async def issue_planting_certificate(
    holder: Holder | None,
    *,
    year: int,
    trees: int | Decimal,
    name: str | None = None,
    entries: Sequence[RegisterEntry] = (),
    order: Order | None = None,
    form: str = DUTY_FORM,
    issuer: str = GREENING_OFFICE,
    issued_at: datetime | None = None,
    share: Sequence[Sequence[int]] | None = None,
) -> Certificate:
    """The obligatory tree-planting fulfilment certificate (全民义务植树尽责证书) for ``year``.

    ``entries`` are the retirements that fulfilled the duty (one order, or a year's small donations added
    up); their tickets and serials are printed. When one entry retired the tickets of many people (an
    organisation's roster), ``share`` names this person's own serial ranges inside it, and only those count."""
    return await _issue_duty(
        CertificateKind.PLANTING,
        holder,
        name=name,
        year=year,
        trees=trees,
        entries=entries,
        order=order,
        form=form,
        issuer=issuer,
        issued_at=issued_at,
        share=share,
    )


async def issue_honour_certificate(
    holder: Holder | None,
    *,
    year: int,
    trees: int | Decimal,
    name: str | None = None,
    entries: Sequence[RegisterEntry] = (),
    order: Order | None = None,
    form: str = DUTY_FORM,
    issuer: str = GREENING_OFFICE,
    issued_at: datetime | None = None,
    share: Sequence[Sequence[int]] | None = None,
) -> Certificate:
    """The honour certificate (国土绿化荣誉证书): for people outside the duty's ages or giving beyond it
    (``share`` as for :func:`issue_planting_certificate`)."""
    return await _issue_duty(
        CertificateKind.HONOUR,
        holder,
        name=name,
        year=year,
        trees=trees,
        entries=entries,
        order=order,
        form=form,
        issuer=issuer,
        issued_at=issued_at,
        share=share,
    )


def _location(parcel: Parcel) -> str:
    district = district_name(parcel.district_code) if parcel.district_code != CITY_CODE else ""
    return f"银川市{district}{parcel.township}{parcel.village}"


def _species(parcel: Parcel) -> str:
    parts = []
    for item in parcel.species or []:
        if isinstance(item, dict):
            count = item.get("count")
            parts.append(f"{item.get('species', '')} {count}株" if count else str(item.get("species", "")))
        else:
            parts.append(str(item))
    return "、".join(p for p in parts if p)


def _default_issuer(batch: Batch) -> str:
    # collective tickets are issued by the district (county) government, state ones by the forestry department
    if batch.kind is TicketKind.COLLECTIVE:
        return f"银川市{DISTRICTS.get(batch.district_code, '')}人民政府"
    return "银川市自然资源局（林业）"


async def issue_holding_certificate(
    batch: Batch,
    holder: Holder,
    *,
    entry: RegisterEntry | None = None,
    issuer: str | None = None,
    issued_at: datetime | None = None,
) -> Certificate:
    """The holding certificate (林票凭证) for what ``holder`` holds of a collective or state batch now."""
    if batch.kind is TicketKind.CARBON:
        raise WrongKind(batch.serial_prefix)
    async with in_transaction():
        held = await Holding.filter(batch_id=batch.id, holder_id=holder.id, state=HoldingState.HELD).order_by(
            "first_no"
        )
        quantity = sum(h.quantity for h in held)
        if quantity == 0:
            raise InsufficientUnits(holder.name)
        parcel = await Parcel.get(id=batch.parcel_id)
        unit_m2 = Decimal(batch.unit_area_m2 or 0)
        area_m2 = unit_m2 * quantity
        moment = issued_at or (entry.created_at if entry else clock.now())
        collective = batch.kind is TicketKind.COLLECTIVE
        data = {
            **_holder_facts(holder),
            "ticket_kind": "集体林地林票" if collective else "国有林地林票",
            "batch": batch.serial_prefix,
            "batch_units": int(batch.total_units),
            "location": _location(parcel),
            "parcel_area_mu": _decimal_text(Decimal(parcel.area_mu), "0.0001"),
            "unit_area_m2": _decimal_text(unit_m2, "0.0001"),
            "area_m2": _decimal_text(area_m2),
            "area_mu": _decimal_text(area_m2 / M2_PER_MU),
            "share_percent": _decimal_text(Decimal(quantity * 100) / Decimal(int(batch.total_units)), "0.0001"),
            "boundaries": {
                "east": parcel.boundary_east,
                "south": parcel.boundary_south,
                "west": parcel.boundary_west,
                "north": parcel.boundary_north,
            },
            "species": _species(parcel),
            "forest_right_cert_no": parcel.forest_right_cert_no,
            "valid_until": batch.valid_until.isoformat() if batch.valid_until else "",
            "issuer": issuer or batch.issuing_authority or _default_issuer(batch),
            "date": _date_text(moment),
        }
        return await _create(
            kind=CertificateKind.COLLECTIVE_HOLDING if collective else CertificateKind.STATE_HOLDING,
            holder=holder,
            batch=batch,
            entry=entry,
            holder_name=holder.name,
            quantity=quantity,
            serial_ranges=_serial_lines(batch, [(h.first_no, h.last_no) for h in held]),
            data=data,
            issued_at=moment,
        )


# ---------------------------------------------------------------------------------------------------------
# Changing status
# ---------------------------------------------------------------------------------------------------------


async def reissue(certificate: Certificate, *, actor: str, reason: str) -> Certificate:
    """Reissue (补发) a lost certificate under a fresh code; the register records it.

    The old code then verifies as reissued (with no pointer to the new one), the new one as valid."""
    async with in_transaction():
        replacement = await register.reissue_certificate(
            certificate=certificate, new_code=new_code(), actor=actor, reason=reason
        )
        replacement.data = {**replacement.data, "reissued_on": _date_text(replacement.issued_at)}
        await replacement.save(update_fields=["data"])
    await certificate.refresh_from_db()
    return replacement


async def reissue_for_staff(
    certificate: Certificate, *, actor: audit.Actor, reason: str, **context: Any
) -> Certificate:
    """:func:`reissue` by a member of staff: the reissue and its audit line (with ``context``, e.g. the order it
    was asked for from) in one transaction."""
    async with in_transaction():
        replacement = await reissue(certificate, actor=actor.label, reason=reason)
        await audit.record(
            actor,
            "certificate.reissue",
            f"certificate:{certificate.id}",
            replacement=replacement.id,
            reason=reason,
            **context,
        )
    return replacement


async def _end(certificate: Certificate, status: CertificateStatus, reason: str) -> Certificate:
    changed = await Certificate.filter(id=certificate.id, status=CertificateStatus.VALID).update(
        status=status, status_reason=reason[:200]
    )
    await certificate.refresh_from_db()
    if not changed:
        raise InvalidState(f"certificate is {certificate.status}")
    return certificate


async def revoke(certificate: Certificate, *, reason: str) -> Certificate:
    """Revoke (撤销) a valid certificate, e.g. issued in error; the reason is shown publicly."""
    if not reason.strip():
        raise InvalidState("a revocation needs a reason")
    return await _end(certificate, CertificateStatus.REVOKED, reason.strip())


async def mark_refunded(order: Order, *, reason: str = "订单已退款") -> int:
    """Mark every valid certificate of a refunded order as refunded. Returns how many changed."""
    return await Certificate.filter(order_id=order.id, status=CertificateStatus.VALID).update(
        status=CertificateStatus.REFUNDED, status_reason=reason[:200]
    )


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


async def find_certificate(typed: str | None) -> Certificate | None:
    """The certificate a typed or linked code names, or ``None``."""
    code = normalise_code(typed)
    if code is None:
        return None
    return await Certificate.get_or_none(code=code)


def public_name(certificate: Certificate) -> str:
    """The holder's name as a stranger may see it: people's names masked, bodies' names in full."""
    if certificate.data.get("holder_kind", HolderKind.INDIVIDUAL) == HolderKind.INDIVIDUAL:
        return mask_name(certificate.holder_name)
    return certificate.holder_name


def public_record(certificate: Certificate) -> dict[str, Any]:
    """What verification shows (the page and the JSON API): nothing private, nothing not printed."""
    data = certificate.data
    kind = CertificateKind(certificate.kind)
    status = CertificateStatus(certificate.status)
    record: dict[str, Any] = {
        "code": group_code(certificate.code),
        "status": str(status),
        "valid": status is CertificateStatus.VALID,
        "reason": "" if status is CertificateStatus.VALID else certificate.status_reason,
        "kind": str(kind),
        "kind_label": KIND_LABELS[kind],
        "holder_name": public_name(certificate),
        "quantity": int(certificate.quantity),
        "serial_ranges": [line for line in certificate.serial_ranges.split("\n") if line],
        "date": data.get("date", _date_text(certificate.issued_at)),
        "issuer": data.get("issuer", ""),
    }
    if kind is CertificateKind.CARBON:
        record["kg_co2e"] = data.get("kg_co2e", "")
        record["purpose"] = data.get("purpose", "")
    elif kind in (CertificateKind.PLANTING, CertificateKind.HONOUR):
        record["year"] = data.get("year")
        record["trees"] = data.get("trees", "")
    else:
        record["batch"] = data.get("batch", "")
        record["location"] = data.get("location", "")
        record["area_mu"] = data.get("area_mu", "")
    if data.get("reissued_on"):
        record["reissued_on"] = data["reissued_on"]
    return record
