"""What the register reads of the duty (:mod:`registry.donations`: receiving bodies, a roster's payer, the year's
figures for /impact) and how these tables' ID numbers are sealed (:mod:`registry.sealing`), registered with the
register when this module is imported — which the package's ``__init__`` does, so every start that loads the ORM's
models registers them. The register itself imports nothing of planting."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum

from planting.domain.models import (
    PaymentStatus,
    PlantingOutcome,
    PlantingPurchase,
    PurchaseStatus,
    RosterMember,
    RosterPayment,
    RosterSubmission,
)
from planting.domain.purchases import CHUNK, WITHDRAWN
from registry import donations, idcrypt, sealing
from registry.identity import mask
from registry.models import Certificate


async def receiving_bodies(order_ids: Sequence[int]) -> list[tuple[int, str, int]]:
    """The purchases of these orders as (order id, receiving body of the purchase's rule, the rule's year)."""
    purchases = await PlantingPurchase.filter(order_id__in=list(order_ids)).values(
        "order_id", "rule__receiving_body", "rule__year"
    )
    return [(p["order_id"], p["rule__receiving_body"], p["rule__year"]) for p in purchases]


RECEIVING_BODIES_SQL = (
    "SELECT p.order_id AS order_id, MAX(r.receiving_body) AS body "
    "FROM planting_purchase p JOIN planting_rule r ON r.id = p.rule_id GROUP BY p.order_id"
)


async def payer_code(submission_id: int) -> str:
    """The credit code of the organisation whose roster an order paid ("" when the roster is not found)."""
    found = await RosterSubmission.filter(id=submission_id).values_list("credit_code", flat=True)
    return str(found[0]) if found else ""


async def planting_year(year: int) -> donations.PlantingYear:
    """The tree-planting duty fulfilled in ``year`` (aggregate queries; refunded or revoked ones do not count)."""
    withdrawn = Subquery(Certificate.filter(status__in=list(WITHDRAWN)).values("id"))  # no join: sums stay plain
    standing = PlantingPurchase.filter(year=year, status=PurchaseStatus.COUNTED).filter(
        Q(certificate_id__isnull=True) | Q(certificate_id__not_in=withdrawn)
    )
    own = await standing.filter(outcome=PlantingOutcome.FULFILS, member_id__isnull=True).count()
    by_org = await standing.filter(outcome=PlantingOutcome.FULFILS, member_id__isnull=False).count()
    trees_row = await standing.annotate(t=Sum("trees")).values("t")
    organisations_row = (
        await RosterPayment.filter(status=PaymentStatus.PAID, submission__year=year)
        .annotate(n=Count("submission_id", distinct=True))
        .values("n")
    )
    return donations.PlantingYear(
        year=year,
        people=own + by_org,
        people_own=own,
        people_by_organisation=by_org,
        organisations=int(organisations_row[0]["n"] or 0) if organisations_row else 0,
        trees=int(trees_row[0]["t"] or 0) if trees_row else 0,
    )


async def seal_purchases() -> int:
    """Blind index and masked form of each plain-text ID number; a citizen's own purchase (no roster row) also
    keeps the ciphertext, since an unpaid one still becomes a holder when paid; the plain column emptied."""
    done = 0
    while purchases := await PlantingPurchase.filter(id_number__not_isnull=True).limit(CHUNK):
        for purchase in purchases:
            sealed = idcrypt.seal(str(purchase.id_number), keep=purchase.member_id is None)
            purchase.id_digest, purchase.id_masked = sealed.digest, sealed.masked
            if sealed.cipher is not None:  # a citizen's own purchase: it becomes a holder when paid
                purchase.id_cipher = sealed.cipher
            purchase.id_number = None
        await PlantingPurchase.bulk_update(purchases, fields=["id_number", "id_digest", "id_cipher", "id_masked"])
        done += len(purchases)
    return done


async def seal_members() -> int:
    """Blind index and masked form only of each roster row's plain-text ID number; the plain column emptied."""
    done = 0
    while members := await RosterMember.filter(id_number__not_isnull=True).limit(CHUNK):
        for member in members:
            member.id_digest = idcrypt.digest(str(member.id_number))
            member.id_given_masked = mask(str(member.id_number))
            member.id_number = None
        await RosterMember.bulk_update(members, fields=["id_number", "id_digest", "id_given_masked"])
        done += len(members)
    return done


donations.register(donations.PlantingBook(receiving_bodies, RECEIVING_BODIES_SQL, payer_code, planting_year))
sealing.register(sealing.SealedTable("planting_purchase", seal_purchases, ciphers=PlantingPurchase))
sealing.register(sealing.SealedTable("planting_roster_member", seal_members))
