"""Uses of state forest-land tickets (国有林地林票): green-land offsets and ecological compensation.

**Green-land offset** (绿地占用占补平衡 / 绿地率指标置换). A company building in the built-up city that occupies
green land, or falls short of the green-land ratio, applies to the district greening committee office
(区绿委办, role ``greening``, one desk per district) with the project, its location, the green area it lacks (m²)
and the planning approval reference — the desk of the project's district receives and records it; the city
landscaping bureau (园林管理局, role ``landscaping``) approves or rejects; the forestry department (role
``forestry``), which issues state tickets "jointly" with it, then sells the needed units — the area divided by
the batch's unit area, **rounded up** — from state holdings to the company and retires them against the project
in one step (one transaction: :func:`registry.register.retire_held_units` with the company as beneficiary).
The revenue is recorded for the finance bureau (:class:`StateRevenue`), which the plan makes its manager.
Projects must lie in the built-up districts the plan names for this use (兴庆区、金凤区、西夏区).

**Ecological compensation** (生态补偿). For a case of forest fire (失火), illegal logging (盗伐), deliberate
destruction of trees (故意毁坏林木) or illegal occupation of forest land (非法占用林地), staff record the case
(number, offence, deciding body, offender) and the order that the offender subscribe a number of state units or
an area (converted to units, rounded up); when the offender has paid, the units are retired against the case.
The retired units stay with the state unit that sold them, and the register entry names only the case
number: the offender's identity lives in the back-office case record alone, and
:func:`public_compensation` — what public pages may show — carries the case number, never the offender.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from kernel import clock
from registry import access, audit, register, residence
from registry.access import NotPermitted as NotPermitted  # re-exported: the back-office answers it with 403
from registry.chain import register_transaction
from registry.errors import (
    InsufficientUnits,
    InvalidState,
    NonPositiveQuantity,
    RegisterError,
    WrongKind,
)
from registry.idempotency import check_token, earlier_result, remember
from registry.models import Batch, Holder, HolderKind, Holding, HoldingState, RegisterEntry, TicketKind
from registry.trades import check_tradable, pending_acquisitions

BUILT_UP_DISTRICTS = ("640104", "640105", "640106")  # 兴庆区、西夏区、金凤区
STATE_SELLER_KINDS = (HolderKind.STATE_UNIT, HolderKind.GOVERNMENT)


class OffsetType(StrEnum):
    OCCUPATION = "occupation"  # 绿地占用占补平衡
    RATIO_SWAP = "ratio_swap"  # 绿地率指标置换


class OffsetStatus(StrEnum):
    APPLIED = "applied"  # 已申请，待审核
    APPROVED = "approved"  # 园林部门已同意，待发放
    REJECTED = "rejected"  # 未同意
    COMPLETED = "completed"  # 已购买并注销


class Offence(StrEnum):
    FIRE = "fire"  # 森林失火
    ILLEGAL_LOGGING = "illegal_logging"  # 盗伐林木
    TREE_DESTRUCTION = "tree_destruction"  # 故意毁坏林木
    ILLEGAL_OCCUPATION = "illegal_occupation"  # 非法占用林地


OFFENCE_LABELS = {
    Offence.FIRE: "森林失火",
    Offence.ILLEGAL_LOGGING: "盗伐林木",
    Offence.TREE_DESTRUCTION: "故意毁坏林木",
    Offence.ILLEGAL_OCCUPATION: "非法占用林地",
}


class CompensationStatus(StrEnum):
    OPEN = "open"  # 已登记案件
    ORDERED = "ordered"  # 已责令认购，待缴款
    COMPLETED = "completed"  # 已缴款并注销


class RevenueSource(StrEnum):
    GREEN_LAND_OFFSET = "green_land_offset"
    ECOLOGICAL_COMPENSATION = "ecological_compensation"


class GreenLandOffset(Model):
    """A company's application to offset green land it lacks with state tickets."""

    id = fields.IntField(primary_key=True)
    offset_type = fields.CharEnumField(OffsetType, max_length=16)
    status = fields.CharEnumField(OffsetStatus, max_length=16, default=OffsetStatus.APPLIED)
    company: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="green_land_offsets", on_delete=fields.RESTRICT
    )
    project = fields.CharField(max_length=200)
    location = fields.CharField(max_length=200)
    district_code = fields.CharField(max_length=6)
    lacking_area_m2 = fields.DecimalField(max_digits=14, decimal_places=2)
    planning_approval_ref = fields.CharField(max_length=200)
    review_comment = fields.TextField(default="")
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="green_land_offsets", null=True, on_delete=fields.RESTRICT
    )
    units = fields.BigIntField(null=True)
    unit_price_fen = fields.BigIntField(null=True)
    amount_fen = fields.BigIntField(null=True)
    entry: fields.ForeignKeyNullableRelation[RegisterEntry] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="green_land_offsets", null=True, on_delete=fields.RESTRICT
    )
    applied_by = fields.CharField(max_length=100, default="")
    reviewed_by = fields.CharField(max_length=100, default="")
    completed_by = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "green_land_offset"


class CompensationCase(Model):
    """An ecological compensation case (生态补偿案件); the offender is back-office data only."""

    id = fields.IntField(primary_key=True)
    case_number = fields.CharField(max_length=100, unique=True)
    offence = fields.CharEnumField(Offence, max_length=32)
    deciding_body = fields.CharField(max_length=200)
    offender: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="compensation_cases", on_delete=fields.RESTRICT
    )
    decided_on = fields.DateField()
    status = fields.CharEnumField(CompensationStatus, max_length=16, default=CompensationStatus.OPEN)
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="compensation_cases", null=True, on_delete=fields.RESTRICT
    )
    ordered_units = fields.BigIntField(null=True)
    ordered_area_m2 = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    unit_price_fen = fields.BigIntField(null=True)
    amount_fen = fields.BigIntField(null=True)
    payment_ref = fields.CharField(max_length=200, default="")
    entry: fields.ForeignKeyNullableRelation[RegisterEntry] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="compensation_cases", null=True, on_delete=fields.RESTRICT
    )
    actor = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "compensation_case"


class StateRevenue(Model):
    """Revenue from state tickets, managed by the finance bureau (财政部门统一管理)."""

    id = fields.IntField(primary_key=True)
    source = fields.CharEnumField(RevenueSource, max_length=32)
    amount_fen = fields.BigIntField()
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="state_revenue", on_delete=fields.RESTRICT
    )
    entry: fields.ForeignKeyRelation[RegisterEntry] = fields.ForeignKeyField(
        "models.RegisterEntry", related_name="state_revenue", on_delete=fields.RESTRICT
    )
    reference = fields.CharField(max_length=200)  # the project or the case number
    payer: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="state_payments", null=True, on_delete=fields.RESTRICT
    )
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "state_revenue"
        ordering = ["id"]


class InvalidOffset(RegisterError):
    code = "invalid_offset"
    message = "绿地占补平衡申请信息不完整或无效"


class InvalidCase(RegisterError):
    code = "invalid_case"
    message = "生态补偿案件信息不完整或无效"


class DuplicateCase(RegisterError):
    code = "duplicate_case"
    message = "该案号已登记"


def parse_area(text: str | Decimal, error: type[RegisterError] = InvalidOffset) -> Decimal:
    """A positive area in m² with at most two decimals."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise error(str(text)) from exc
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")) or value >= 10**12:
        raise error(str(text))
    return value


def units_needed(area_m2: Decimal, unit_area_m2: Decimal) -> int:
    """Units of ``unit_area_m2`` that cover ``area_m2``: the exact quotient rounded up."""
    if unit_area_m2 is None or unit_area_m2 <= 0:
        raise WrongKind("batch has no unit area")
    return math.ceil(Fraction(area_m2) / Fraction(unit_area_m2))


def _check_price(price: Any) -> int:
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise NonPositiveQuantity(f"price {price}")
    return price


async def _state_seller(batch: Batch, quantity: int, seller: Holder | None) -> Holder:
    """The state unit selling: the one named, else the state holder with the most tradable units of the batch
    (units it bought in a transfer not yet effective are not sold on: :func:`registry.trades.check_tradable`)."""
    if seller is None:
        held = await Holding.filter(batch_id=batch.id, state=HoldingState.HELD)
        totals: dict[int, int] = {}
        for h in held:
            totals[h.holder_id] = totals.get(h.holder_id, 0) + h.quantity
        sellers = await Holder.filter(id__in=list(totals), kind__in=list(STATE_SELLER_KINDS))
        if not sellers:
            raise InsufficientUnits(f"{batch.serial_prefix}: {quantity}")
        for holder in sellers:
            totals[holder.id] -= await pending_acquisitions(batch, holder)
        seller = max(sellers, key=lambda h: (totals[h.id], -h.id))
    await check_tradable(batch, seller, quantity)
    return seller


def _check_state_batch(batch: Batch) -> None:
    if batch.kind is not TicketKind.STATE:
        raise WrongKind(batch.serial_prefix)


# ---------------------------------------------------------------------------------------------------------
# Green-land offset
# ---------------------------------------------------------------------------------------------------------


async def apply_offset(
    *,
    company: Holder,
    offset_type: OffsetType | str,
    project: str,
    location: str,
    district_code: str,
    lacking_area_m2: Decimal | str,
    planning_approval_ref: str,
    actor: audit.Actor,
    form_token: str | None = None,
) -> GreenLandOffset:
    """Record a company's application, received by the greening committee office (区绿委办) of the project's
    district, for the landscaping bureau's review."""
    token = check_token(form_token)
    access.check_role(actor, access.Action.OFFSET_RECEIVE)
    access.check_parties(company)
    kind = OffsetType(offset_type)
    area = parse_area(lacking_area_m2)
    project, location, ref = project.strip(), location.strip(), planning_approval_ref.strip()
    if not project or not location or not ref or max(len(project), len(location), len(ref)) > 200:
        raise InvalidOffset(project[:40])
    if district_code not in BUILT_UP_DISTRICTS:
        raise InvalidOffset(district_code)
    # the greening committee office of the project's district (区绿委办), and no other
    access.check(actor, access.Action.OFFSET_RECEIVE, access.place(district_code))
    if company.kind is not HolderKind.ENTERPRISE:
        raise InvalidOffset(company.name)
    residence.check_may_receive(company, TicketKind.STATE)  # it will buy state units: residence in the city
    async with register_transaction():
        earlier = await earlier_result(token, "offset.apply")
        if earlier is not None:
            return await GreenLandOffset.get(id=earlier)
        offset = await GreenLandOffset.create(
            offset_type=kind,
            company=company,
            project=project,
            location=location,
            district_code=district_code,
            lacking_area_m2=area,
            planning_approval_ref=ref,
            applied_by=actor.label,
        )
        await remember(token, "offset.apply", offset.id)
        await audit.record(
            actor,
            "offset.apply",
            f"offset:{offset.id}",
            company=company.id,
            project=project,
            area_m2=str(area),
            planning_approval_ref=ref,
        )
    return offset


async def _review(offset: GreenLandOffset, actor: audit.Actor, status: OffsetStatus, comment: str) -> GreenLandOffset:
    access.check(actor, access.Action.OFFSET_DECIDE, access.place(offset.district_code))
    async with register_transaction():
        await offset.refresh_from_db()
        if offset.status is status:
            return offset  # the same decision sent twice
        if offset.status is not OffsetStatus.APPLIED:
            raise InvalidState(str(offset.status))
        offset.status = status
        offset.review_comment = comment.strip()[:2000]
        offset.reviewed_by = actor.label
        offset.reviewed_at = clock.now()
        await offset.save(update_fields=["status", "review_comment", "reviewed_by", "reviewed_at"])
        action = "offset.approve" if status is OffsetStatus.APPROVED else "offset.reject"
        await audit.record(actor, action, f"offset:{offset.id}", comment=offset.review_comment or None)
    return offset


async def approve_offset(offset: GreenLandOffset, *, actor: audit.Actor, comment: str = "") -> GreenLandOffset:
    """The landscaping bureau agrees (市级园林主管部门审核同意)."""
    return await _review(offset, actor, OffsetStatus.APPROVED, comment)


async def reject_offset(offset: GreenLandOffset, *, actor: audit.Actor, reason: str) -> GreenLandOffset:
    if not reason.strip():
        raise InvalidOffset("reason")
    return await _review(offset, actor, OffsetStatus.REJECTED, reason)


async def complete_offset(
    offset: GreenLandOffset,
    *,
    batch: Batch,
    unit_price_fen: int,
    actor: audit.Actor,
    seller: Holder | None = None,
    form_token: str | None = None,
) -> GreenLandOffset:
    """Sell the needed units to the company and retire them against the project, in one transaction."""
    token = check_token(form_token)
    access.check(actor, access.Action.OFFSET_COMPLETE, access.place(offset.district_code, TicketKind.STATE))
    access.check_parties(seller)
    _check_state_batch(batch)
    price = _check_price(unit_price_fen)
    async with register_transaction():
        earlier = await earlier_result(token, "offset.complete")
        if earlier is not None:
            return await GreenLandOffset.get(id=earlier)
        await offset.refresh_from_db()
        if offset.status is not OffsetStatus.APPROVED:
            raise InvalidState(str(offset.status))
        await batch.refresh_from_db()
        units = units_needed(offset.lacking_area_m2, batch.unit_area_m2)  # type: ignore[arg-type]
        source = await _state_seller(batch, units, seller)
        company = await Holder.get(id=offset.company_id)
        amount = units * price
        entry = await register.retire_held_units(
            batch=batch,
            holder=source,
            quantity=units,
            purpose=f"绿地占补平衡：{offset.project}",
            beneficiary=company,
            price_fen=amount,
            actor=actor.label,
            details={
                "green_land_offset": offset.id,
                "offset_type": str(offset.offset_type),
                "project": offset.project,
                "planning_approval_ref": offset.planning_approval_ref,
                "lacking_area_m2": str(offset.lacking_area_m2),
            },
        )
        await StateRevenue.create(
            source=RevenueSource.GREEN_LAND_OFFSET,
            amount_fen=amount,
            batch=batch,
            entry=entry,
            reference=offset.project,
            payer=company,
        )
        offset.status = OffsetStatus.COMPLETED
        offset.batch = batch
        offset.units = units
        offset.unit_price_fen = price
        offset.amount_fen = amount
        offset.entry = entry
        offset.completed_by = actor.label
        offset.completed_at = clock.now()
        await offset.save(
            update_fields=[
                "status",
                "batch_id",
                "units",
                "unit_price_fen",
                "amount_fen",
                "entry_id",
                "completed_by",
                "completed_at",
            ]
        )
        await remember(token, "offset.complete", offset.id)
        await audit.record(
            actor,
            "offset.complete",
            f"offset:{offset.id}",
            batch=batch.serial_prefix,
            units=units,
            amount_fen=amount,
            ranges=entry.ranges,
        )
    return offset


# ---------------------------------------------------------------------------------------------------------
# Ecological compensation
# ---------------------------------------------------------------------------------------------------------


async def open_case(
    *,
    case_number: str,
    offence: Offence | str,
    deciding_body: str,
    offender: Holder,
    decided_on: date,
    actor: audit.Actor,
) -> CompensationCase:
    """Record a compensation case; a case number is registered once."""
    access.check(actor, access.Action.CASE_MANAGE)
    access.check_parties(offender)
    number, body = case_number.strip(), deciding_body.strip()
    if not number or len(number) > 100 or not body or len(body) > 200:
        raise InvalidCase(number[:40])
    kind = Offence(offence)
    async with register_transaction():
        existing = await CompensationCase.get_or_none(case_number=number)
        if existing is not None:
            if existing.offender_id == offender.id and existing.offence is kind:
                return existing  # the same form sent twice
            raise DuplicateCase(number)
        try:
            case = await CompensationCase.create(
                case_number=number,
                offence=kind,
                deciding_body=body,
                offender=offender,
                decided_on=decided_on,
                actor=actor.label,
            )
        except IntegrityError as exc:  # pragma: no cover - the register lock serialises this
            raise DuplicateCase(number) from exc
        await audit.record(actor, "compensation.open", f"case:{number}", offence=str(kind), deciding_body=body)
    return case


async def order_compensation(
    case: CompensationCase,
    *,
    batch: Batch,
    unit_price_fen: int,
    actor: audit.Actor,
    units: int | None = None,
    area_m2: Decimal | str | None = None,
    form_token: str | None = None,
) -> CompensationCase:
    """Record the order that the offender subscribe ``units`` state tickets, or enough to cover ``area_m2``."""
    token = check_token(form_token)
    access.check(actor, access.Action.CASE_MANAGE, access.batch_target(batch))
    _check_state_batch(batch)
    price = _check_price(unit_price_fen)
    if (units is None) == (area_m2 is None):
        raise InvalidCase("units or area")
    area = parse_area(area_m2, InvalidCase) if area_m2 is not None else None
    async with register_transaction():
        earlier = await earlier_result(token, "compensation.order")
        if earlier is not None:
            return await CompensationCase.get(id=earlier)
        await case.refresh_from_db()
        await batch.refresh_from_db()
        if case.status is not CompensationStatus.OPEN:
            raise InvalidState(str(case.status))
        quantity = units_needed(area, batch.unit_area_m2) if area is not None else units  # type: ignore[arg-type]
        quantity = register._check_quantity(quantity)
        case.batch = batch
        case.ordered_units = quantity
        case.ordered_area_m2 = area
        case.unit_price_fen = price
        case.amount_fen = quantity * price
        case.status = CompensationStatus.ORDERED
        await case.save(
            update_fields=["batch_id", "ordered_units", "ordered_area_m2", "unit_price_fen", "amount_fen", "status"]
        )
        await remember(token, "compensation.order", case.id)
        await audit.record(
            actor,
            "compensation.order",
            f"case:{case.case_number}",
            batch=batch.serial_prefix,
            units=quantity,
            area_m2=str(area) if area is not None else None,
            amount_fen=case.amount_fen,
        )
    return case


async def record_compensation_payment(
    case: CompensationCase,
    *,
    payment_ref: str,
    actor: audit.Actor,
    seller: Holder | None = None,
    form_token: str | None = None,
) -> CompensationCase:
    """The offender paid: retire the ordered units against the case and record the revenue.

    A change of the register, so the forestry department's (which sells the state units) — never finance's,
    which reads revenue only."""
    token = check_token(form_token)
    access.check(actor, access.Action.CASE_PAY)
    access.check_parties(seller)
    reference = payment_ref.strip()
    if not reference or len(reference) > 200:
        raise InvalidCase("payment reference")
    async with register_transaction():
        earlier = await earlier_result(token, "compensation.pay")
        if earlier is not None:
            return await CompensationCase.get(id=earlier)
        await case.refresh_from_db()
        if case.status is not CompensationStatus.ORDERED:
            raise InvalidState(str(case.status))
        batch = await Batch.get(id=case.batch_id)
        quantity = int(case.ordered_units or 0)
        source = await _state_seller(batch, quantity, seller)
        entry = await register.retire_held_units(
            batch=batch,
            holder=source,
            quantity=quantity,
            purpose=f"生态补偿：{case.case_number}",
            price_fen=case.amount_fen,
            actor=actor.label,
            details={"compensation_case": case.case_number, "offence": str(case.offence)},
        )
        await StateRevenue.create(
            source=RevenueSource.ECOLOGICAL_COMPENSATION,
            amount_fen=int(case.amount_fen or 0),
            batch=batch,
            entry=entry,
            reference=case.case_number,
            payer_id=case.offender_id,
        )
        case.status = CompensationStatus.COMPLETED
        case.payment_ref = reference
        case.entry = entry
        case.paid_at = clock.now()
        await case.save(update_fields=["status", "payment_ref", "entry_id", "paid_at"])
        await remember(token, "compensation.pay", case.id)
        await audit.record(
            actor,
            "compensation.pay",
            f"case:{case.case_number}",
            payment_ref=reference,
            units=quantity,
            ranges=entry.ranges,
        )
    return case


M2_PER_MU = Fraction(10000, 15)


def _area_text(value: Decimal | Fraction) -> str:
    """An area rounded half-up to 0.01 without trailing zeros ("2000", "666.67")."""
    exact = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
    text = format(exact.quantize(Decimal("0.01"), ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


async def public_compensation(case_number: str) -> dict[str, Any] | None:
    """What a public page may show of a completed case (its public verification by case number): the case,
    the deciding body, the tickets retired with their serials, the forest area they stand for and the date —
    never the offender's name or identifier. ``None`` for an unknown case or one not yet paid."""
    number = str(case_number or "").strip()
    if not number or len(number) > 100:
        return None
    case = await CompensationCase.get_or_none(case_number=number, status=CompensationStatus.COMPLETED)
    if case is None:
        return None
    batch = await Batch.get(id=case.batch_id)
    entry = await RegisterEntry.get(id=case.entry_id)
    units = int(case.ordered_units or 0)
    area_m2 = Fraction(Decimal(batch.unit_area_m2 or 0)) * units  # the area the retired tickets stand for
    return {
        "case_number": case.case_number,
        "offence": str(case.offence),
        "offence_label": OFFENCE_LABELS[case.offence],
        "deciding_body": case.deciding_body,
        "decided_on": case.decided_on.isoformat(),
        "units": units,
        "area_m2": _area_text(area_m2),
        "area_mu": _area_text(area_m2 / M2_PER_MU),
        "ordered_area_m2": _area_text(case.ordered_area_m2) if case.ordered_area_m2 is not None else None,
        "batch": batch.serial_prefix,
        "serial_ranges": [batch.serial_range(int(a), int(b)) for a, b in entry.ranges],
        "retired_on": clock.local_date(entry.created_at).isoformat(),
        "register_seq": int(entry.seq),
    }


async def revenue_totals(date_from: date | None = None, date_to: date | None = None) -> dict[str, int]:
    """State-ticket revenue by source, in fen (for the finance bureau)."""
    query = StateRevenue.all()
    if date_from is not None:
        query = query.filter(recorded_at__gte=clock.day_start(date_from))
    if date_to is not None:
        query = query.filter(recorded_at__lt=clock.day_end(date_to))
    totals = {str(s): 0 for s in RevenueSource}
    for row in await query:
        totals[str(row.source)] += int(row.amount_fen)
    return totals
