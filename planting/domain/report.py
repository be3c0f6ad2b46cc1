"""An organisation's fulfilment report (尽责率) for its roster's year."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from planting.domain.models import (
    MemberStatus,
    PlantingOutcome,
    PlantingPurchase,
    PurchaseStatus,
    RosterMember,
    RosterSubmission,
)
from planting.domain.purchases import fulfilled_digests, standing_purchases


@dataclass(frozen=True)
class ReportLine:
    member_id: int
    certificate_id: int | None
    line_no: int
    name: str
    id_masked: str
    staff_no: str
    owes_duty: bool
    paid: bool
    fulfilled: bool
    outcome: PlantingOutcome | None
    trees: int | None


@dataclass(frozen=True)
class FulfilmentReport:
    """尽责情况报告: staff listed, owing the duty, fulfilled, and the rate fulfilled ÷ owing."""

    submission: RosterSubmission
    year: int
    lines: list[ReportLine]
    listed: int
    owing: int
    fulfilled: int
    paid: int
    honour: int  # paid for, outside the duty or beyond it

    @property
    def rate(self) -> Decimal | None:
        """The fulfilment rate in per cent, rounded half-up to 0.1; ``None`` when nobody owes the duty."""
        if not self.owing:
            return None
        return (Decimal(100 * self.fulfilled) / Decimal(self.owing)).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def rate_text(self) -> str:
        return "—" if self.rate is None else f"{self.rate}%"


DUPLICATE_CODES = frozenset({"duplicate", "already_paid"})


def _listed(members: Iterable[RosterMember]) -> list[RosterMember]:
    """The distinct people of the roster: paid rows, and the current upload's rows that are not a repeat of
    another row (rows with other problems are people all the same — owing, not yet fulfilled)."""

    def repeat(m: RosterMember) -> bool:
        return any(p.get("code") in DUPLICATE_CODES for p in m.problems)

    current = (MemberStatus.PENDING, MemberStatus.IN_PAYMENT)
    return [m for m in members if m.status is MemberStatus.PAID or (m.status in current and not repeat(m))]


async def fulfilment_report(submission: RosterSubmission) -> FulfilmentReport:
    """The roster's fulfilment for its year (see the module's docstring for the formula)."""
    everyone = await RosterMember.filter(submission=submission).order_by("upload_no", "line_no", "id")
    listed = _listed(everyone)
    purchases = await standing_purchases(
        await PlantingPurchase.filter(member_id__in=[m.id for m in listed], status=PurchaseStatus.COUNTED)
    )
    by_member = {p.member_id: p for p in purchases}
    fulfilled_ids = await fulfilled_digests((m.id_digest for m in listed if m.id_digest), submission.year)
    lines = []
    for m in listed:
        purchase = by_member.get(m.id)
        own = purchase is not None and purchase.outcome is PlantingOutcome.FULFILS
        done = m.owes_duty and (own or (m.id_digest is not None and m.id_digest in fulfilled_ids))
        lines.append(
            ReportLine(
                member_id=m.id,
                certificate_id=purchase.certificate_id if purchase is not None else None,
                line_no=m.line_no,
                name=m.name,
                id_masked=m.id_masked,
                staff_no=m.staff_no,
                owes_duty=m.owes_duty,
                paid=m.status is MemberStatus.PAID,
                fulfilled=done,
                outcome=purchase.outcome if purchase is not None else None,
                trees=purchase.trees if purchase is not None else m.trees,
            )
        )
    honour = sum(1 for line in lines if line.paid and line.outcome is not PlantingOutcome.FULFILS)
    return FulfilmentReport(
        submission=submission,
        year=submission.year,
        lines=lines,
        listed=len(lines),
        owing=sum(1 for line in lines if line.owes_duty),
        fulfilled=sum(1 for line in lines if line.fulfilled),
        paid=sum(1 for line in lines if line.paid),
        honour=honour,
    )
