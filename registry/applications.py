"""Issuance applications for land tickets (林票发放申请) and the rules of their review.

Collective forest-land tickets (集体林地林票): the village collective or large household that owns a parcel
with registered forest rights (确权登记颁证) — or a social entity whose new afforestation under an agreement
passed acceptance (验收) — applies; the issuer of the parcel's district reviews (approve with a comment, or
return with a reason) and issues a batch of equal-area units. State forest-land tickets (国有林地林票): a state
unit that completed afforestation applies with area, four boundaries (四至) and species; the forestry
department of that level (本级林草主管部门) reviews and issues: the city's (a forestry account without a district)
for any district, a county/district's (a forestry account with that district) for parcels of its own district
only, and the batch names that department as its issuing authority (:func:`forestry_department`).

Nothing is deleted: a returned application stays as it was and a new one supersedes it; every step is a row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit, register, residence
from registry.access import NotPermitted as NotPermitted  # re-exported: the back-office answers it with 403
from registry.chain import lock_register, register_transaction
from registry.districts import district_government, district_name
from registry.errors import InvalidState, RegisterError
from registry.idempotency import InvalidFormToken, check_token, earlier_result, remember
from registry.models import Batch, Holder, HolderKind, Parcel, StaffUser, TicketKind
from registry.quotas import POOL_HOLDER_NAME

M2_PER_MU = Fraction(10000, 15)  # 1 亩 = 10000/15 m², exactly
LAND_KINDS = (TicketKind.COLLECTIVE, TicketKind.STATE)


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"  # 待审核
    APPROVED = "approved"  # 已批准，待发放
    RETURNED = "returned"  # 已退回
    ISSUED = "issued"  # 已发放
    SUPERSEDED = "superseded"  # 已被新申请取代


class ApplicationBasis(StrEnum):
    OWNER = "owner"  # 林权所有者（村集体、林业大户）
    AFFORESTATION = "afforestation"  # 新造林协议验收合格
    STATE_AFFORESTATION = "state_afforestation"  # 国有单位完成造林


class IssuanceApplication(Model):
    """An application to issue land tickets on one parcel to one applicant."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(TicketKind, max_length=16)
    basis = fields.CharEnumField(ApplicationBasis, max_length=32)
    status = fields.CharEnumField(ApplicationStatus, max_length=16, default=ApplicationStatus.SUBMITTED)
    parcel: fields.ForeignKeyRelation[Parcel] = fields.ForeignKeyField(
        "models.Parcel", related_name="applications", on_delete=fields.RESTRICT
    )
    applicant: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="applications", on_delete=fields.RESTRICT
    )
    district_code = fields.CharField(max_length=6, db_index=True)
    note = fields.TextField(default="")
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="applications", null=True, on_delete=fields.RESTRICT
    )
    supersedes: fields.ForeignKeyNullableRelation[IssuanceApplication] = fields.ForeignKeyField(
        "models.IssuanceApplication", related_name="superseded_by", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "issuance_application"


class ApplicationStep(Model):
    """One step of an application's life: who did what, when, and why."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[IssuanceApplication] = fields.ForeignKeyField(
        "models.IssuanceApplication", related_name="steps", on_delete=fields.RESTRICT
    )
    action = fields.CharField(max_length=16)  # submit, approve, return, issue, supersede
    status = fields.CharEnumField(ApplicationStatus, max_length=16)  # the status after the step
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="application_steps", null=True, on_delete=fields.RESTRICT
    )
    username = fields.CharField(max_length=64, default="")
    comment = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "application_step"
        ordering = ["id"]


class NotEligible(RegisterError):
    code = "not_eligible"
    message = "申请人或林地不符合发放条件"


class AlreadyApplied(RegisterError):
    code = "already_applied"
    message = "该林地已有在办申请或已发放林票"


class UnitAreaNotExact(RegisterError):
    code = "unit_area_not_exact"
    message = "单位面积必须能整除林地面积"


class IssuanceNoticeMissing(RegisterError):
    code = "issuance_notice_missing"
    message = "该集体林地林票发放申请尚未公示，不能发放"


class IssuanceNoticeStillOpen(RegisterError):
    code = "issuance_notice_open"
    message = "发放公示期未满，不能发放林票"


class IssuanceObjectionPending(RegisterError):
    code = "issuance_objection_pending"
    message = "发放公示期内收到的异议尚未处理完毕，不能发放林票"


class IssuanceObjectionUpheld(RegisterError):
    code = "issuance_objection_upheld"
    message = "发放公示期内的异议经核实成立，不能发放林票，请退回申请"


class ReasonRequired(RegisterError):
    code = "reason_required"
    message = "请填写退回理由"


def forestry_department(district_code: str | None) -> str:
    """The issuing authority of state tickets issued by the forestry department of that level (本级林草主管部门):
    the city's when ``district_code`` is empty, else the county/district's."""
    return f"{district_name(district_code)}林草主管部门" if district_code else POOL_HOLDER_NAME


def may_handle(staff: StaffUser, kind: TicketKind, district_code: str) -> bool:
    """Collective tickets: the issuer of that district only. State tickets: the forestry department covering
    that district (:mod:`registry.access`, action ``application.handle``)."""
    return access.may(staff, access.Action.APPLICATION_HANDLE, access.place(district_code, kind))


def _check_may_handle(actor: audit.Actor, kind: TicketKind, district_code: str) -> None:
    access.check(actor, access.Action.APPLICATION_HANDLE, access.place(district_code, kind))


def parse_unit_area(text: str) -> Decimal:
    """A unit area in m²: positive, at most four decimals (the register keeps four)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise UnitAreaNotExact(text) from exc
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.0001")) or value >= 10**10:
        raise UnitAreaNotExact(text)
    return value


def units_for_area(area_mu: Decimal, unit_area_m2: Decimal) -> int:
    """How many equal units of ``unit_area_m2`` make up ``area_mu``; refuses a unit that does not divide it."""
    if unit_area_m2 <= 0:
        raise UnitAreaNotExact(str(unit_area_m2))
    units = Fraction(area_mu) * M2_PER_MU / Fraction(unit_area_m2)
    if units.denominator != 1 or units < 1:
        raise UnitAreaNotExact(f"{area_mu} 亩 ÷ {unit_area_m2} m² = {float(units):.4f}")
    return int(units)


def _basis(kind: TicketKind, parcel: Parcel, applicant: Holder) -> ApplicationBasis:
    if applicant.deceased_on is not None:
        raise NotEligible(applicant.name)
    residence.check_may_receive(applicant, kind)  # a checked residence or registered office in the city
    if kind is TicketKind.COLLECTIVE:
        owner_kinds = (HolderKind.VILLAGE_COLLECTIVE, HolderKind.INDIVIDUAL)
        if parcel.owner_id == applicant.id and applicant.kind in owner_kinds:
            if not parcel.forest_right_cert_no:
                raise NotEligible("forest rights are not registered")
            return ApplicationBasis.OWNER
        if parcel.accepted_on is not None and applicant.kind in (HolderKind.ENTERPRISE, HolderKind.INDIVIDUAL):
            return ApplicationBasis.AFFORESTATION
        raise NotEligible(applicant.name)
    if kind is TicketKind.STATE:
        if applicant.kind is not HolderKind.STATE_UNIT or parcel.afforested_on is None:
            raise NotEligible(applicant.name)
        if parcel.owner_id not in (None, applicant.id):
            raise NotEligible("the parcel belongs to someone else")
        boundaries = (parcel.boundary_east, parcel.boundary_south, parcel.boundary_west, parcel.boundary_north)
        if not all(boundaries) or not parcel.species:
            raise NotEligible("area, four boundaries and species are required")
        return ApplicationBasis.STATE_AFFORESTATION
    raise NotEligible(str(kind))


async def _step(
    application: IssuanceApplication, action: str, actor: audit.Actor, comment: str = ""
) -> ApplicationStep:
    step = await ApplicationStep.create(
        application=application,
        action=action,
        status=application.status,
        staff=actor.staff,
        username=actor.username,
        comment=comment,
    )
    await audit.record(
        actor,
        f"application.{action}",
        f"application:{application.id}",
        kind=str(application.kind),
        comment=comment or None,
    )
    return step


async def submit_application(
    *, kind: TicketKind, parcel: Parcel, applicant: Holder, actor: audit.Actor, note: str = ""
) -> IssuanceApplication:
    """Record an application (受理). A returned application of the same parcel is superseded by it."""
    kind = TicketKind(kind)
    if kind not in LAND_KINDS:
        raise NotEligible(str(kind))
    _check_may_handle(actor, kind, parcel.district_code)
    access.check_parties(applicant)
    async with register_transaction():
        await parcel.refresh_from_db()
        basis = _basis(kind, parcel, applicant)
        if (
            await Batch.filter(parcel_id=parcel.id).exists()
            or await IssuanceApplication.filter(
                parcel_id=parcel.id, status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED]
            ).exists()
        ):
            raise AlreadyApplied(str(parcel.id))
        returned = (
            await IssuanceApplication.filter(parcel_id=parcel.id, status=ApplicationStatus.RETURNED)
            .order_by("-id")
            .first()
        )
        application = await IssuanceApplication.create(
            kind=kind,
            basis=basis,
            parcel=parcel,
            applicant=applicant,
            district_code=parcel.district_code,
            note=note.strip()[:2000],
            supersedes=returned,
        )
        if returned is not None:
            returned.status = ApplicationStatus.SUPERSEDED
            await returned.save(update_fields=["status", "updated_at"])
            await _step(returned, "supersede", actor, f"#{application.id}")
        await _step(application, "submit", actor, application.note)
    return application


async def _transition(
    application: IssuanceApplication, actor: audit.Actor, allowed: tuple[ApplicationStatus, ...]
) -> None:
    _check_may_handle(actor, application.kind, application.district_code)
    await lock_register()
    await application.refresh_from_db()
    if application.status not in allowed:
        raise InvalidState(str(application.status))


async def approve_application(
    application: IssuanceApplication, *, actor: audit.Actor, comment: str = ""
) -> IssuanceApplication:
    async with in_transaction():
        await _transition(application, actor, (ApplicationStatus.SUBMITTED,))
        application.status = ApplicationStatus.APPROVED
        await application.save(update_fields=["status", "updated_at"])
        await _step(application, "approve", actor, comment.strip()[:2000])
    return application


async def return_application(
    application: IssuanceApplication, *, actor: audit.Actor, reason: str
) -> IssuanceApplication:
    _check_may_handle(actor, application.kind, application.district_code)
    if not reason.strip():
        raise ReasonRequired()
    async with in_transaction():
        await _transition(application, actor, (ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED))
        application.status = ApplicationStatus.RETURNED
        await application.save(update_fields=["status", "updated_at"])
        await _step(application, "return", actor, reason.strip()[:2000])
    return application


async def _serial_prefix(kind: TicketKind, district_code: str, year: int, state_level: str | None = None) -> str:
    """``YC-JT-{district}-{year}-NNN`` (collective), ``YC-GY-{year}-NNN`` (state, city forestry department) or
    ``YC-GY-{district}-{year}-NNN`` (state, issued by a county/district forestry department)."""
    if kind is TicketKind.COLLECTIVE:
        base = f"YC-JT-{district_code}-{year}"
    else:
        base = f"YC-GY-{state_level}-{year}" if state_level else f"YC-GY-{year}"
    count = await Batch.filter(serial_prefix__startswith=base + "-").count()
    return f"{base}-{count + 1:03d}"


async def check_notice_cleared(application: IssuanceApplication) -> None:
    """Refuse to issue a collective application before its public notice (:mod:`registry.notices`, reached by
    the reverse relation, since that module builds on this one) closed with every objection settled and none
    upheld. State tickets are not published."""
    if application.kind is not TicketKind.COLLECTIVE:
        return
    # read afresh in this transaction (a relation awaited on the caller's instance would keep the connection of
    # an earlier, finished transaction)
    notice = (await IssuanceApplication.get(id=application.id).prefetch_related("notice")).notice
    if notice is None:
        raise IssuanceNoticeMissing(str(application.id))
    if notice.is_open:
        raise IssuanceNoticeStillOpen(notice.closes_on.isoformat())
    outcomes = await notice.objections.all().values_list("resolved_at", "upheld")
    if any(resolved is None for resolved, _ in outcomes):
        raise IssuanceObjectionPending(str(notice.id))
    if any(upheld for _, upheld in outcomes):
        raise IssuanceObjectionUpheld(str(notice.id))


OnIssued = Callable[[Batch, Holder], Awaitable[object]]


async def issue_application(
    application: IssuanceApplication,
    *,
    unit_area_m2: Decimal,
    actor: audit.Actor,
    on_issued: OnIssued | None = None,
    form_token: str | None = None,
) -> Batch:
    """Issue the approved application as one batch of equal-area units held by the applicant (发放).

    ``on_issued`` runs inside the same transaction (the back-office creates the holding certificate there),
    so a failure there issues nothing. A collective application is issued only after its public notice (公示)
    closed with no objection pending or upheld (:func:`check_notice_cleared`). A form token already used for
    this issue returns the batch it issued (:mod:`registry.idempotency`)."""
    token = check_token(form_token)
    async with register_transaction():
        earlier = await earlier_result(token, "application.issue")
        if earlier is not None:
            _check_may_handle(actor, application.kind, application.district_code)
            await application.refresh_from_db()
            if application.batch_id != earlier:  # the token of another application's issue
                raise InvalidFormToken(str(token)[:20])
            return await Batch.get(id=earlier)
        await _transition(application, actor, (ApplicationStatus.APPROVED,))
        await check_notice_cleared(application)
        parcel = await Parcel.get(id=application.parcel_id)
        applicant = await Holder.get(id=application.applicant_id)
        units = units_for_area(parcel.area_mu, unit_area_m2)
        kind = application.kind
        level = (actor.staff.district_code or None) if actor.staff is not None else None
        batch = await register.issue_batch(
            kind=kind,
            holder=applicant,
            total_units=units,
            serial_prefix=await _serial_prefix(kind, parcel.district_code, clock.today().year, level),
            parcel=parcel,
            unit_area_m2=unit_area_m2,
            district_code=parcel.district_code,
            issuing_authority=(
                district_government(parcel.district_code)
                if kind is TicketKind.COLLECTIVE
                else forestry_department(level)
            ),
            actor=actor.label,
            details={"application": application.id, "area_mu": str(parcel.area_mu)},
        )
        application.status = ApplicationStatus.ISSUED
        application.batch = batch
        await application.save(update_fields=["status", "batch_id", "updated_at"])
        await _step(application, "issue", actor, f"{batch.serial_prefix}: {units} × {unit_area_m2} m²")
        if on_issued is not None:
            await on_issued(batch, applicant)
        await remember(token, "application.issue", batch.id)
    return batch
