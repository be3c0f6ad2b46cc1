"""Residence (居住地) and registered office (住所): the fact the city-circulation rule reads.

The plan: collective and state forest-land tickets 仅限在银川市内流通交易. "In the city" is where a holder lives
or has its registered office, as a clerk checked it against a document — never the identifier's first six digits,
which only say where the number was first issued (a Lingwu native born before 2002 carries 642125…, an ecological
migrant settled in 永宁 keeps the number of the county left behind, an enterprise registered with the autonomous
region carries 91640000…).

So every holder has a recorded residence: a district of :data:`registry.districts.DISTRICTS`, :data:`OUTSIDE_CITY`,
or nothing yet; the evidence it rests on; and the clerk and time of the check. **Only a residence a clerk has
checked counts.** Holders migrated from the old rule carry their identifier's district as an *inferred* residence
(evidence :attr:`ResidenceEvidence.INFERRED_FROM_ID`), are flagged 待核实居住地 and cannot receive land tickets
until a clerk records it: the old inference is exactly the error this rule corrects, and a registry that let it
stand would keep placing people by their birthplace. What they already hold stays theirs; they can still give it
away, and dividends reach them.

This module owns the rule (:func:`check_may_receive`) and the recording (:func:`record_residence`); the register,
the issuance applications, subscriptions, inheritances and green-land offsets ask it.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit
from registry.districts import DISTRICTS
from registry.errors import HolderOutsideCity, InvalidResidence, ResidenceNotConfirmed
from registry.models import Holder, HolderKind, ResidenceEvidence, TicketKind

OUTSIDE_CITY = "outside"  # 市外
LAND_KINDS = (TicketKind.COLLECTIVE, TicketKind.STATE)  # the kinds that circulate only within the city

# What a clerk may record a residence on: a person's household register or residence permit; a body's business
# licence or registration certificate (public institutions, government bodies, village collective organisations).
PERSON_EVIDENCE = (ResidenceEvidence.HOUSEHOLD_REGISTER, ResidenceEvidence.RESIDENCE_PERMIT)
BODY_EVIDENCE = (ResidenceEvidence.BUSINESS_LICENCE, ResidenceEvidence.REGISTRATION_CERTIFICATE)
RECORDABLE_EVIDENCE = (*PERSON_EVIDENCE, *BODY_EVIDENCE)

EVIDENCE_LABELS: dict[ResidenceEvidence, str] = {
    ResidenceEvidence.NONE: "未记录",
    ResidenceEvidence.HOUSEHOLD_REGISTER: "户口簿",
    ResidenceEvidence.RESIDENCE_PERMIT: "居住证",
    ResidenceEvidence.BUSINESS_LICENCE: "营业执照住所",
    ResidenceEvidence.REGISTRATION_CERTIFICATE: "登记证书住所",
    ResidenceEvidence.INFERRED_FROM_ID: "由证件号码推定",
    ResidenceEvidence.DECLARED_BY_COUNTY: "区县名册申报",
}


def evidence_for(kind: HolderKind) -> tuple[ResidenceEvidence, ...]:
    """The documents a clerk may check a residence of a holder of ``kind`` against."""
    return PERSON_EVIDENCE if HolderKind(kind) is HolderKind.INDIVIDUAL else BODY_EVIDENCE


def district_choices() -> list[tuple[str, str]]:
    """The residence select: the city's districts, then 市外."""
    return [*DISTRICTS.items(), (OUTSIDE_CITY, "市外")]


def residence_label(holder: Holder) -> str:
    """The recorded residence as a Chinese label (a district, 市外, 银川市 when only the city is known, 未记录)."""
    if holder.residence_district in DISTRICTS:
        return DISTRICTS[holder.residence_district]
    if holder.residence_district == OUTSIDE_CITY:
        return "市外"
    if holder.residence_evidence == ResidenceEvidence.INFERRED_FROM_ID:
        return "银川市"  # migrated from a city-level or retired division code: district unknown
    return "未记录"


# Residences on file that no clerk has checked: inferred from the identifier (migration), or declared by a county's
# own list on import (registry.county_import). Both are flagged 待核实居住地 and count for nothing until checked.
UNCHECKED_EVIDENCE = (ResidenceEvidence.INFERRED_FROM_ID, ResidenceEvidence.DECLARED_BY_COUNTY)


def needs_confirmation(holder: Holder) -> bool:
    """Flag 待核实居住地: the residence was inferred from the identifier or declared by the county's list, and no
    clerk has checked it yet."""
    return not holder.residence_confirmed and holder.residence_evidence in UNCHECKED_EVIDENCE


def in_city(holder: Holder) -> bool:
    """Whether a clerk has recorded the holder's residence or registered office in one of the city's districts."""
    return holder.residence_confirmed and holder.residence_district in DISTRICTS


def check_may_receive(holder: Holder, kind: TicketKind = TicketKind.COLLECTIVE) -> None:
    """The circulation rule: may ``holder`` receive (be issued, buy, subscribe, inherit, apply for) tickets of
    ``kind``? Carbon tickets: anyone. Land tickets: only a holder whose checked residence is in the city.

    Raises :class:`ResidenceNotConfirmed` while no clerk has recorded the residence (inferred or unknown), and
    :class:`HolderOutsideCity` when it is recorded outside the city.
    """
    if TicketKind(kind) not in LAND_KINDS:
        return
    if not holder.residence_confirmed:
        raise ResidenceNotConfirmed(holder.name)
    if holder.residence_district not in DISTRICTS:
        raise HolderOutsideCity(holder.name)


def _clean(holder: Holder, district: str, evidence: str) -> tuple[str, ResidenceEvidence]:
    district = (district or "").strip()
    if district not in DISTRICTS and district != OUTSIDE_CITY:
        raise InvalidResidence(district or "—")
    try:
        chosen = ResidenceEvidence(evidence)
    except ValueError as exc:
        raise InvalidResidence(evidence or "—") from exc
    if chosen not in evidence_for(holder.kind):
        raise InvalidResidence(str(chosen))
    return district, chosen


async def apply_residence(holder: Holder, *, district: str, evidence: str, actor: audit.Actor) -> Holder:
    """Record a checked residence inside the caller's transaction (the holder form creates a holder and records
    its residence together). The checking clerk is the acting staff member; the time is the city clock's."""
    if actor.staff is None:
        raise InvalidResidence("a clerk must check the residence")
    district, chosen = _clean(holder, district, evidence)
    previous = {"district": holder.residence_district, "evidence": str(holder.residence_evidence)}
    holder.residence_district = district
    holder.residence_evidence = chosen
    holder.residence_checked_by = actor.staff
    holder.residence_checked_at = clock.now()
    holder.residence_confirmed = True
    await holder.save(
        update_fields=[
            "residence_district",
            "residence_evidence",
            "residence_checked_by_id",
            "residence_checked_at",
            "residence_confirmed",
        ]
    )
    await audit.record(
        actor,
        "holder.residence",
        f"holder:{holder.id}",
        district=district,
        evidence=str(chosen),
        previous_district=previous["district"],
        previous_evidence=previous["evidence"],
    )
    return holder


async def declare_residence(holder: Holder, *, district: str, actor: audit.Actor) -> Holder:
    """Record, inside the caller's transaction, where a county's own list says ``holder`` lives or has its office
    (区县名册申报, :mod:`registry.county_import`): **not** a clerk's check — no clerk has seen a document — so the
    residence stays unconfirmed, is flagged 待核实居住地, and the holder receives land tickets only once a clerk
    records it with its evidence (:func:`record_residence`)."""
    district = (district or "").strip()
    if district not in DISTRICTS and district != OUTSIDE_CITY:
        raise InvalidResidence(district or "—")
    if holder.residence_confirmed:
        return holder  # a clerk's check is never replaced by a declaration
    holder.residence_district = district
    holder.residence_evidence = ResidenceEvidence.DECLARED_BY_COUNTY
    holder.residence_checked_by = None
    holder.residence_checked_at = None
    await holder.save(
        update_fields=["residence_district", "residence_evidence", "residence_checked_by_id", "residence_checked_at"]
    )
    await audit.record(actor, "holder.residence_declared", f"holder:{holder.id}", district=district)
    return holder


async def record_residence(holder: Holder, *, district: str, evidence: str, actor: audit.Actor) -> Holder:
    """A clerk records (or confirms) where ``holder`` lives or has its registered office: one transaction with
    its audit line. Refuses an unknown district, evidence that does not fit the holder's kind, no clerk, and a
    clerk who may not edit the holder (:mod:`registry.access`)."""
    if actor.staff is not None:
        access.check(actor, access.Action.HOLDER_EDIT, await access.holder_target(holder))
    async with in_transaction():
        return await apply_residence(holder, district=district, evidence=evidence, actor=actor)
