"""Organisations: a roster of staff, its uploads, and the payments for its rows."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from kernel import clock
from planting.domain.duty import DutyAssessment, duty_from_id
from planting.domain.errors import InvalidOrganisation, NothingToPay, RosterConsentRequired, RosterNotFound
from planting.domain.models import (
    MAX_NAME,
    MAX_TEXT,
    DutyBasis,
    MemberStatus,
    PaymentStatus,
    PlantingPurchase,
    PurchaseStatus,
    RosterMember,
    RosterPayment,
    RosterSubmission,
)
from planting.domain.purchases import fulfilled_digests, void_order_purchases
from planting.domain.rules import check_year, clean_text, rule_for
from registry import idcrypt, identity
from registry.errors import InvalidState
from registry.identity import mask
from registry.models import Order, OrderStatus
from registry.names import visible_text

UNPAID_ENDS = (OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.CANCELLED)


class RosterLine(Protocol):
    """What a parsed roster row offers (``planting.shop.roster.RosterRow`` is one)."""

    line: int
    name: str
    id_number: str | None
    staff_no: str
    trees: int | None

    @property
    def payable(self) -> bool: ...

    def problem_dicts(self) -> list[dict[str, str]]: ...


def normalise_credit_code(value: str) -> str:
    """The canonical credit code, or :class:`InvalidIdentifier` (:mod:`registry.identity`)."""
    return identity.validate_credit_code(value)


@dataclass(frozen=True)
class Organisation:
    name: str
    credit_code: str
    contact: str
    year: int


async def check_organisation(
    *, organisation_name: object, credit_code: object, contact: object, year: object
) -> Organisation:
    """Check an organisation's details (and that its year is on sale) without storing anything."""
    name = clean_text(visible_text(str(organisation_name or "")), MAX_TEXT + 1)
    reach = clean_text(contact, MAX_TEXT + 1)
    if not name or not reach or len(name) > MAX_TEXT or len(reach) > MAX_TEXT:
        raise InvalidOrganisation()
    code = normalise_credit_code(str(credit_code or ""))
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    checked_year = check_year(year)
    await rule_for(checked_year)
    return Organisation(name=name, credit_code=code, contact=reach, year=checked_year)


async def create_submission(*, organisation_name: str, credit_code: str, contact: str, year: int) -> RosterSubmission:
    """Open an organisation's roster for a year that has a rule in force."""
    org = await check_organisation(
        organisation_name=organisation_name, credit_code=credit_code, contact=contact, year=year
    )
    return await RosterSubmission.create(
        token=secrets.token_urlsafe(32),
        organisation_name=org.name,
        credit_code=org.credit_code,
        contact=org.contact,
        year=org.year,
    )


async def submission_by_token(token: str) -> RosterSubmission:
    if not token or len(token) > 64:
        raise RosterNotFound()
    submission = await RosterSubmission.get_or_none(token=token)
    if submission is None:
        raise RosterNotFound()
    return submission


async def _lock_submission(submission: RosterSubmission) -> None:
    # A no-op write takes the row's lock (PostgreSQL) or the database's write lock (SQLite), so uploads and
    # payments of one roster never interleave.
    await RosterSubmission.filter(id=submission.id).update(uploads=F("uploads"))


def _identity_keys(member_id: str | None, staff_no: str, name: str) -> list[tuple[str, str]]:
    keys = []
    if member_id:
        keys.append(("id", member_id))
    if staff_no:
        keys.append(("staff", staff_no))
    if not keys and name:
        keys.append(("name", name))
    return keys


@dataclass
class UploadResult:
    submission: RosterSubmission
    upload_no: int
    members: list[RosterMember]
    superseded_payments: list[RosterPayment] = field(default_factory=list)

    @property
    def payable(self) -> list[RosterMember]:
        return [m for m in self.members if m.payable]


async def store_roster(
    submission: RosterSubmission, lines: Sequence[RosterLine], *, consented: bool = False
) -> UploadResult:
    """Store an upload's rows (problems included) as the roster's unpaid part, in one transaction.

    A roster that carries ID numbers is stored only when the uploader confirms (``consented``) that each person
    was told and agreed (PIPL art. 13–14); otherwise :class:`RosterConsentRequired` and nothing is written.
    Rows of an earlier upload that were not paid are superseded (kept, marked so), as is a payment still
    waiting for them — the caller cancels that payment's order. People already paid for in this roster are
    flagged ``already_paid`` and not paid twice."""
    if not consented and any(line.id_number or getattr(line, "id_raw", "") for line in lines):
        raise RosterConsentRequired()
    async with in_transaction():
        await _lock_submission(submission)
        submission = await RosterSubmission.get(id=submission.id)
        pending_payments = await RosterPayment.filter(submission=submission, status=PaymentStatus.PENDING)
        for payment in pending_payments:
            payment.status = PaymentStatus.SUPERSEDED
            await payment.save(update_fields=["status"])
        unpaid = RosterMember.filter(submission=submission, status__in=[MemberStatus.PENDING, MemberStatus.IN_PAYMENT])
        unpaid_ids = list(await unpaid.values_list("id", flat=True))
        if unpaid_ids:
            await RosterMember.filter(id__in=unpaid_ids).update(status=MemberStatus.SUPERSEDED)
            await PlantingPurchase.filter(member_id__in=unpaid_ids, status=PurchaseStatus.PENDING).update(
                status=PurchaseStatus.VOID
            )
        paid = await RosterMember.filter(submission=submission, status=MemberStatus.PAID)
        paid_keys = {key for m in paid for key in _identity_keys(m.id_digest, m.staff_no, m.name)}
        upload_no = submission.uploads + 1
        members = []
        for line in lines:
            problems = line.problem_dicts()
            payable = line.payable
            # only the blind index is kept: a roster's ID numbers are checked, never needed again whole
            digest = idcrypt.digest(line.id_number) if line.id_number else None
            if payable and any(k in paid_keys for k in _identity_keys(digest, line.staff_no, line.name)):
                problems = [*problems, {"code": "already_paid", "severity": "error", "detail": ""}]
                payable = False
            if line.id_number:
                assessment = duty_from_id(line.id_number, submission.year)
            else:
                assessment = DutyAssessment(owes=True, basis=DutyBasis.PRESUMED)
            members.append(
                RosterMember(
                    submission=submission,
                    upload_no=upload_no,
                    line_no=line.line,
                    name=line.name[:MAX_TEXT],
                    id_digest=digest,
                    id_given_masked=mask(line.id_number or getattr(line, "id_raw", "") or "")[:40],
                    staff_no=line.staff_no[:64],
                    trees=line.trees,
                    problems=problems,
                    payable=payable,
                    owes_duty=assessment.owes,
                    duty_basis=assessment.basis,
                )
            )
        await RosterMember.bulk_create(members, batch_size=500)
        submission.uploads = upload_no
        if consented:
            submission.consent_version = idcrypt.NOTICE_VERSION
            submission.consent_at = clock.now()
        await submission.save(update_fields=["uploads", "updated_at", "consent_version", "consent_at"])
        stored = await RosterMember.filter(submission=submission, upload_no=upload_no).order_by("line_no", "id")
    return UploadResult(
        submission=submission, upload_no=upload_no, members=stored, superseded_payments=list(pending_payments)
    )


async def already_fulfilled_members(members: Iterable[RosterMember], year: int) -> set[int]:
    """The rows not yet paid for whose person already fulfilled ``year``'s duty — through their own purchase or
    another roster's — so the preview can say so before the organisation pays. Told, not stopped: paying for
    them brings an honour certificate (given beyond the duty), as for a citizen."""
    unpaid = [m for m in members if m.id_digest and m.status in (MemberStatus.PENDING, MemberStatus.IN_PAYMENT)]
    done = await fulfilled_digests((str(m.id_digest) for m in unpaid), year)
    return {m.id for m in unpaid if m.id_digest in done}


async def lapsed_payments(submission: RosterSubmission | None = None) -> list[RosterPayment]:
    """Waiting payments whose order ended unpaid (expired, failed, cancelled) — of one roster, or of every one.
    Reading them changes nothing: the management page shows their rows as unpaid until they are released."""
    query = RosterPayment.filter(status=PaymentStatus.PENDING, order__status__in=list(UNPAID_ENDS))
    if submission is not None:
        query = query.filter(submission_id=submission.id)
    return await query.order_by("id")


async def release_lapsed_payments(submission: RosterSubmission | None = None) -> int:
    """Waiting payments whose order ended unpaid give their rows back to the roster, to be paid again — of one
    roster (before it is paid again), or of every roster (the expiry job's sweep). Returns how many were released."""
    lapsed = await lapsed_payments(submission)
    for order in await Order.filter(id__in=[p.order_id for p in lapsed]).order_by("id"):
        await void_order_purchases(order)
    return len(lapsed)


@dataclass(frozen=True)
class UnpaidSummary:
    """What paying for the roster's payable, unpaid rows would cost now."""

    members: int
    trees: int
    tickets: int
    amount_fen: int


async def unpaid_summary(
    submission: RosterSubmission, *, price_fen: int, lapsed: Collection[int] = ()
) -> UnpaidSummary:
    """The payable rows not paid for; ``lapsed``: payments whose order ended unpaid, their rows counted as unpaid
    (:func:`lapsed_payments`, not yet released)."""
    rule = await rule_for(submission.year)
    unpaid = Q(status=MemberStatus.PENDING)
    if lapsed:
        unpaid |= Q(status=MemberStatus.IN_PAYMENT, payment_id__in=list(lapsed))
    members = await RosterMember.filter(unpaid, submission=submission, payable=True)
    trees = [m.trees or rule.trees_per_duty for m in members]
    tickets = sum(rule.tickets_for(t) for t in trees)
    return UnpaidSummary(members=len(members), trees=sum(trees), tickets=tickets, amount_fen=tickets * price_fen)


async def open_payment(submission: RosterSubmission, *, price_fen: int) -> tuple[RosterPayment, list[PlantingPurchase]]:
    """Gather the roster's payable, unpaid rows into one payment and a pending purchase per person.

    Returns the waiting payment instead when there is one (a repeated click pays nothing twice); the caller
    creates the order for ``payment.amount_fen`` and attaches it with :func:`attach_order`."""
    rule = await rule_for(submission.year)
    async with in_transaction():
        await _lock_submission(submission)
        await release_lapsed_payments(submission)
        waiting = await RosterPayment.filter(submission=submission, status=PaymentStatus.PENDING).first()
        if waiting is not None:
            purchases = await PlantingPurchase.filter(member__payment=waiting, status=PurchaseStatus.PENDING).order_by(
                "id"
            )
            return waiting, list(purchases)
        candidates = await RosterMember.filter(
            submission=submission, status=MemberStatus.PENDING, payable=True
        ).order_by("line_no", "id")
        # A payment superseded by this upload may have been paid after all: never pay for a person twice.
        paid = await RosterMember.filter(submission=submission, status=MemberStatus.PAID)
        paid_keys = {key for m in paid for key in _identity_keys(m.id_digest, m.staff_no, m.name)}
        members = []
        for member in candidates:
            if any(k in paid_keys for k in _identity_keys(member.id_digest, member.staff_no, member.name)):
                member.payable = False
                member.problems = [*member.problems, {"code": "already_paid", "severity": "error", "detail": ""}]
                await member.save(update_fields=["payable", "problems"])
            else:
                members.append(member)
        if not members:
            raise NothingToPay()
        trees = [m.trees or rule.trees_per_duty for m in members]
        tickets = sum(rule.tickets_for(t) for t in trees)
        payment = await RosterPayment.create(
            submission=submission,
            members_count=len(members),
            trees=sum(trees),
            tickets=tickets,
            amount_fen=tickets * price_fen,
        )
        await RosterMember.filter(id__in=[m.id for m in members]).update(
            status=MemberStatus.IN_PAYMENT, payment=payment
        )
        purchases = [
            PlantingPurchase(
                year=submission.year,
                rule=rule,
                member_id=member.id,
                name=member.name[:MAX_NAME],
                id_digest=member.id_digest,
                id_masked=member.id_given_masked if member.id_digest else "",
                trees=count,
                tickets=rule.tickets_for(count),
                amount_fen=rule.tickets_for(count) * price_fen,
                owes_duty=member.owes_duty,
                duty_basis=member.duty_basis,
            )
            for member, count in zip(members, trees, strict=True)
        ]
        await PlantingPurchase.bulk_create(purchases, batch_size=500)
        stored = await PlantingPurchase.filter(member__payment=payment, status=PurchaseStatus.PENDING).order_by("id")
    return payment, list(stored)


def allot_serials(ranges: Sequence[Sequence[int]], quantities: Sequence[int]) -> list[list[list[int]]]:
    """Split the serial ranges one register entry retired (lowest first) into consecutive parts of
    ``quantities``, in order: each person of a roster payment gets the serials of their own tickets.

    The quantities must add up to the ranges' size exactly (a payment's tickets are its people's tickets)."""
    pieces = sorted((int(first), int(last)) for first, last in ranges)
    if any(q < 0 for q in quantities) or sum(quantities) != sum(last - first + 1 for first, last in pieces):
        raise InvalidState(f"{sum(quantities)} tickets for ranges {pieces[:3]}")
    parts: list[list[list[int]]] = []
    index, position = 0, pieces[0][0] if pieces else 0
    for quantity in quantities:
        part: list[list[int]] = []
        left = quantity
        while left:
            last = pieces[index][1]
            take = min(left, last - position + 1)
            part.append([position, position + take - 1])
            left -= take
            position += take
            if position > last and index + 1 < len(pieces):
                index += 1
                position = pieces[index][0]
        parts.append(part)
    return parts


async def attach_order(payment: RosterPayment, order: Order) -> None:
    """Link a payment and its purchases to the order that collects the money (same transaction as the order)."""
    payment.order = order
    await payment.save(update_fields=["order_id"])
    member_ids = list(await RosterMember.filter(payment=payment).values_list("id", flat=True))
    await PlantingPurchase.filter(member_id__in=member_ids, status=PurchaseStatus.PENDING).update(order=order)
