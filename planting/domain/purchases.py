"""Purchases of trees (one person, one year) and how they add up to the duty: counted when paid, voided when not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from kernel import clock
from planting.domain.duty import DutyAssessment, assess_duty, normalise_resident_id
from planting.domain.errors import IdConsentRequired, InvalidPlantingName
from planting.domain.models import (
    MAX_NAME,
    MemberStatus,
    PaymentStatus,
    PlantingOutcome,
    PlantingPurchase,
    PlantingRule,
    PurchaseStatus,
    RosterMember,
    RosterPayment,
)
from planting.domain.rules import check_trees, check_year
from registry import idcrypt
from registry.errors import InvalidIdentifier
from registry.models import Certificate, CertificateKind, CertificateStatus, Order
from registry.names import visible_text


@dataclass(frozen=True)
class YearStats:
    """What was counted for a year across every channel (citizens and organisations)."""

    year: int
    purchases: int
    fulfilments: int  # fulfilment certificates
    honours: int  # honour certificates
    trees: int
    tickets: int
    amount_fen: int


async def year_stats(year: int) -> YearStats:
    counted = await standing_purchases(await PlantingPurchase.filter(year=year, status=PurchaseStatus.COUNTED))
    return YearStats(
        year=year,
        purchases=len(counted),
        fulfilments=sum(1 for p in counted if p.outcome is PlantingOutcome.FULFILS),
        honours=sum(1 for p in counted if p.outcome is not PlantingOutcome.FULFILS),
        trees=sum(p.trees for p in counted),
        tickets=sum(int(p.tickets) for p in counted),
        amount_fen=sum(int(p.amount_fen) for p in counted),
    )


CERTIFICATE_FOR = {
    PlantingOutcome.FULFILS: CertificateKind.PLANTING,
    PlantingOutcome.PARTIAL: CertificateKind.HONOUR,
    PlantingOutcome.BEYOND_DUTY: CertificateKind.HONOUR,
    PlantingOutcome.OUTSIDE_DUTY: CertificateKind.HONOUR,
}


WITHDRAWN = (CertificateStatus.REFUNDED, CertificateStatus.REVOKED)


async def standing_purchases(purchases: Iterable[PlantingPurchase]) -> list[PlantingPurchase]:
    """Counted purchases whose certificate was not refunded or revoked since (those no longer count)."""
    purchases = list(purchases)
    certificate_ids = [p.certificate_id for p in purchases if p.certificate_id is not None]
    withdrawn: set[int] = set()
    if certificate_ids:
        withdrawn = {c.id for c in await Certificate.filter(id__in=certificate_ids, status__in=WITHDRAWN)}
    return [p for p in purchases if p.certificate_id not in withdrawn]


async def _counted(id_digest: str, year: int, **filters: object) -> list[PlantingPurchase]:
    query = PlantingPurchase.filter(id_digest=id_digest, year=year, status=PurchaseStatus.COUNTED, **filters)
    return await standing_purchases(await query)


async def counted_trees(id_number: str, year: int) -> int:
    """Trees counted for this ID number in ``year`` (all channels: own purchases and rosters)."""
    return sum(p.trees for p in await _counted(idcrypt.digest(normalise_resident_id(id_number)), year))


async def fulfilled_digests(digests: Iterable[str], year: int) -> set[str]:
    """Which of these people (by the blind index of their ID number, :mod:`registry.idcrypt`) fulfilled the duty
    of ``year`` through any purchase — a citizen's own or any organisation's roster — whose certificate still
    stands. The one rule behind the citizen's notice, the roster preview's flag and the fulfilment report."""
    ordered = sorted({d for d in digests if d})
    done: set[str] = set()
    for start in range(0, len(ordered), CHUNK):
        fulfilling = await standing_purchases(
            await PlantingPurchase.filter(
                id_digest__in=ordered[start : start + CHUNK],
                year=year,
                status=PurchaseStatus.COUNTED,
                outcome=PlantingOutcome.FULFILS,
            )
        )
        done |= {str(p.id_digest) for p in fulfilling}
    return done


async def already_fulfilled(id_number: str | None, year: int) -> bool:
    """Whether the holder of this ID number fulfilled the duty of ``year`` through Linpiao."""
    if not id_number:
        return False
    try:
        normalised = normalise_resident_id(id_number)
    except InvalidIdentifier:
        return False
    return idcrypt.digest(normalised) in await fulfilled_digests([idcrypt.digest(normalised)], year)


def decide_outcome(*, owes: bool, fulfilled_before: bool, trees_before: int, trees: int, duty: int) -> PlantingOutcome:
    """Which certificate a purchase earns, given what the same person already has for the year."""
    if not owes:
        return PlantingOutcome.OUTSIDE_DUTY
    if fulfilled_before:
        return PlantingOutcome.BEYOND_DUTY
    if trees_before + trees >= duty:
        return PlantingOutcome.FULFILS
    return PlantingOutcome.PARTIAL


@dataclass(frozen=True)
class CitizenRequest:
    year: int
    trees: int
    name: str
    id_number: str | None
    assessment: DutyAssessment
    # when the citizen consented to their ID number being processed (the privacy notice's version is
    # idcrypt.NOTICE_VERSION); None when no ID number was given
    consented_at: datetime | None = None


def parse_citizen_request(
    *,
    year: object,
    trees: object,
    name: object,
    id_number: object = None,
    declared_owes: bool | None = None,
    id_consent: bool = False,
) -> CitizenRequest:
    """Check what a citizen sent; the ID number is validated (and only ever shown masked). An ID number is taken
    only with the citizen's explicit consent (PIPL art. 29: sensitive personal information needs separate
    consent): without it, :class:`IdConsentRequired` and nothing is collected."""
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    checked_year = check_year(year)
    checked_trees = check_trees(trees)
    text = visible_text(str(name or ""))
    if not text or len(text) > MAX_NAME:
        raise InvalidPlantingName()
    raw_id = str(id_number or "").strip()
    if raw_id and not id_consent:
        raise IdConsentRequired()
    normalised = normalise_resident_id(raw_id) if raw_id else None
    assessment = assess_duty(checked_year, normalised, declared_owes=declared_owes)
    return CitizenRequest(
        year=checked_year,
        trees=checked_trees,
        name=text,
        id_number=normalised,
        assessment=assessment,
        consented_at=clock.now() if normalised else None,
    )


async def create_purchase(
    *,
    rule: PlantingRule,
    name: str,
    trees: int,
    assessment: DutyAssessment,
    price_fen: int,
    id_number: str | None = None,
    order: Order | None = None,
    member: RosterMember | None = None,
) -> PlantingPurchase:
    """Record a pending purchase (call inside the transaction that creates its order). A citizen's ID number is
    kept encrypted (it becomes the register's holder when the order is fulfilled), never in plain text."""
    tickets = rule.tickets_for(trees)
    sealed = idcrypt.seal(id_number) if id_number else None
    return await PlantingPurchase.create(
        year=rule.year,
        rule=rule,
        order=order,
        member=member,
        name=name[:MAX_NAME],
        id_digest=sealed.digest if sealed else None,
        id_cipher=sealed.cipher if sealed else None,
        id_masked=sealed.masked if sealed else "",
        trees=trees,
        tickets=tickets,
        amount_fen=tickets * price_fen,
        owes_duty=assessment.owes,
        duty_basis=assessment.basis,
    )


CHUNK = 500


async def _years_so_far(purchases: Sequence[PlantingPurchase]) -> dict[tuple[str, int], tuple[int, bool]]:
    """(ID number's blind index, year) → (trees counted, duty fulfilled) before these purchases, in a few
    queries."""
    wanted: dict[int, set[str]] = {}
    for p in purchases:
        if p.id_digest:
            wanted.setdefault(p.year, set()).add(p.id_digest)
    own = {p.id for p in purchases}
    so_far: dict[tuple[str, int], tuple[int, bool]] = {}
    for year, numbers in wanted.items():
        ordered = sorted(numbers)
        for start in range(0, len(ordered), CHUNK):
            earlier = await PlantingPurchase.filter(
                id_digest__in=ordered[start : start + CHUNK], year=year, status=PurchaseStatus.COUNTED
            )
            for p in await standing_purchases(q for q in earlier if q.id not in own):
                trees, fulfilled = so_far.get((str(p.id_digest), year), (0, False))
                so_far[(str(p.id_digest), year)] = (trees + p.trees, fulfilled or p.outcome is PlantingOutcome.FULFILS)
    return so_far


async def _count_all(purchases: Sequence[PlantingPurchase], now: datetime) -> None:
    """Decide each purchase's outcome in order, each seeing the ones before it (same person, same year)."""
    rules = {r.id: r for r in await PlantingRule.filter(id__in={p.rule_id for p in purchases})}
    so_far = await _years_so_far(purchases)
    for purchase in purchases:
        key = (str(purchase.id_digest), purchase.year)
        trees_before, fulfilled_before = so_far.get(key, (0, False)) if purchase.id_digest else (0, False)
        outcome = decide_outcome(
            owes=purchase.owes_duty,
            fulfilled_before=fulfilled_before,
            trees_before=trees_before,
            trees=purchase.trees,
            duty=rules[purchase.rule_id].trees_per_duty,
        )
        purchase.status = PurchaseStatus.COUNTED
        purchase.outcome = outcome
        purchase.certificate_kind = CERTIFICATE_FOR[outcome]
        purchase.trees_in_year = trees_before + purchase.trees
        purchase.counted_at = now
        if purchase.id_digest:
            so_far[key] = (trees_before + purchase.trees, fulfilled_before or outcome is PlantingOutcome.FULFILS)
    # One UPDATE per distinct outcome (a roster's people mostly share one), not a CASE per row: a 5,000-person
    # payment is counted in a few statements, inside the payment event's request.
    groups: dict[tuple[PlantingOutcome | None, CertificateKind | None, int | None], list[int]] = {}
    for purchase in purchases:
        groups.setdefault((purchase.outcome, purchase.certificate_kind, purchase.trees_in_year), []).append(purchase.id)
    for (decided, kind, in_year), ids in groups.items():
        for start in range(0, len(ids), CHUNK):
            await PlantingPurchase.filter(id__in=ids[start : start + CHUNK]).update(
                status=PurchaseStatus.COUNTED,
                outcome=decided,
                certificate_kind=kind,
                trees_in_year=in_year,
                counted_at=now,
            )


async def count_order_purchases(order: Order) -> list[PlantingPurchase]:
    """Count an order's purchases toward their persons' years and decide each one's certificate.

    Call it from the order's fulfilment (inside its transaction, which holds the register lock and so
    serialises counting). Safe to repeat: purchases already counted are returned unchanged. A roster
    payment paid through this order is marked paid with its members."""
    now = clock.now()
    async with in_transaction():
        purchases = await PlantingPurchase.filter(order=order).order_by("id")
        uncounted = [p for p in purchases if p.status is not PurchaseStatus.COUNTED]
        if uncounted:
            await _count_all(uncounted, now)
        payment = await RosterPayment.get_or_none(order=order)
        if payment is not None and payment.status is not PaymentStatus.PAID:
            await _mark_paid(payment, now)
    return purchases


async def void_order_purchases(order: Order) -> int:
    """The order will never be paid (expired, failed, cancelled): its purchases stop being pending and a
    roster payment it carried gives its members back to the roster, to be paid again."""
    async with in_transaction():
        voided = await PlantingPurchase.filter(order=order, status=PurchaseStatus.PENDING).update(
            status=PurchaseStatus.VOID
        )
        payment = await RosterPayment.get_or_none(order=order)
        if payment is not None and payment.status is PaymentStatus.PENDING:
            payment.status = PaymentStatus.CANCELLED
            await payment.save(update_fields=["status"])
            await RosterMember.filter(payment=payment, status=MemberStatus.IN_PAYMENT).update(
                status=MemberStatus.PENDING, payment_id=None
            )
    return voided


async def _mark_paid(payment: RosterPayment, now: datetime) -> None:
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    await payment.save(update_fields=["status", "paid_at"])
    # Members of a payment superseded by a later upload were paid for all the same: they count.
    await RosterMember.filter(payment=payment).update(status=MemberStatus.PAID)
