"""The one seam between the shop and the certificates package: the certificate record of a fulfilled
(or refunded) order. The certificates package owns the record's content, its code and its PDF."""

from __future__ import annotations

from certificates.codes import group_code
from certificates.service import issue_carbon_certificate, mark_refunded
from registry.models import Batch, Certificate, Holder, Order, RegisterEntry


async def issue_certificate(
    order: Order, entry: RegisterEntry, *, batch: Batch | None = None, buyer: Holder | None = None
) -> Certificate:
    """Create the certificate of a fulfilled order inside the caller's transaction (``entry`` just retired its
    units; ``batch`` and ``buyer``, when the caller has them, spare reading them again)."""
    return await issue_carbon_certificate(order, entry, batch=batch, buyer=buyer, just_retired=True)


async def certificate_refunded(order: Order) -> int:
    """Mark the order's valid certificates refunded (the retired units stay retired)."""
    return await mark_refunded(order)


def printed_code(code: str) -> str:
    """The code as the certificate prints it (grouped), e.g. ``K7QM-3XPA-…``."""
    return group_code(code)
