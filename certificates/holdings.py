"""Holding certificates (林票凭证) follow the register: the workflows that change who holds land tickets.

Issuing an application's batch, the filing that makes a trade effective and an inheritance each change the
register and the holders' certificates **in one transaction**: the register function runs the certificate step
inside its own transaction, so a failure in either leaves both unchanged. Every caller — back-office views, the
demo seed, a script — goes through these functions, so no path records one of these actions and forgets the
certificates. The rules of the actions themselves stay in :mod:`registry.trades` and
:mod:`registry.applications`; the rules of certificates stay in :mod:`certificates.service`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from certificates import service
from registry import applications, audit, register, trades
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    CertificateStatus,
    EntryKind,
    Holder,
    HoldingState,
    RegisterEntry,
)

HOLDING_KINDS = (CertificateKind.COLLECTIVE_HOLDING, CertificateKind.STATE_HOLDING)


async def renew(batch: Batch, holder: Holder, entry: RegisterEntry | None, *, always: bool) -> None:
    """Replace ``holder``'s holding certificate of ``batch`` by one for what it holds now.

    The old one is revoked with the reason shown publicly; a holder left with nothing gets no new one, and a
    holder who never had one gets one only when ``always`` (the receiving side)."""
    old = await Certificate.filter(
        holder_id=holder.id, batch_id=batch.id, status=CertificateStatus.VALID, kind__in=HOLDING_KINDS
    )
    for certificate in old:
        await service.revoke(certificate, reason="林票交易生效，持有数量变动")
    held = await register.holder_total(holder, batch=batch, state=HoldingState.HELD)
    if held and (old or always):
        await service.issue_holding_certificate(batch, holder, entry=entry)


async def _on_issued(batch: Batch, holder: Holder) -> None:
    entry = await RegisterEntry.filter(batch_id=batch.id, kind=EntryKind.ISSUE).first()
    await service.issue_holding_certificate(batch, holder, entry=entry)


async def _on_effective(trade: trades.Trade) -> None:
    """The buyer gets a certificate for what it now holds; each seller's is replaced by one for what is left."""
    batch = await Batch.get(id=trade.batch_id)
    legs = await trades.TradeLeg.filter(trade_id=trade.id).order_by("id").prefetch_related("entry", "seller")
    for leg in legs:
        await renew(batch, leg.seller, leg.entry, always=False)
    buyer = await Holder.get(id=trade.buyer_id)
    await renew(batch, buyer, legs[-1].entry if legs else None, always=True)


async def _on_inherited(case: trades.InheritanceCase) -> None:
    """Each heir gets a certificate for every batch it inherited from; the deceased's are revoked."""
    deceased = await Holder.get(id=case.deceased_id)
    for entry in await RegisterEntry.filter(id__in=case.entry_ids).order_by("seq").prefetch_related("batch"):
        batch = entry.batch
        if batch is None:  # an inheritance entry always names its batch
            continue
        await renew(batch, deceased, entry, always=False)
        for move in entry.details.get("moves", []):
            heir = await Holder.get(id=int(move["to"]))
            await renew(batch, heir, entry, always=True)


async def issue_application(
    application: applications.IssuanceApplication,
    *,
    unit_area_m2: Decimal,
    actor: audit.Actor,
    form_token: str | None = None,
) -> Batch:
    """Issue the approved application (发放) with the applicant's holding certificate."""
    return await applications.issue_application(
        application, unit_area_m2=unit_area_m2, actor=actor, on_issued=_on_issued, form_token=form_token
    )


async def record_filing(
    *,
    trade: trades.Trade,
    authority: trades.FilingAuthority | str,
    filed_on: date,
    reference: str,
    actor: audit.Actor,
) -> trades.TradeFiling:
    """Record a filing (备案); the one that makes the trade effective renews the parties' certificates."""
    return await trades.record_filing(
        trade=trade,
        authority=authority,
        filed_on=filed_on,
        reference=reference,
        actor=actor,
        on_effective=_on_effective,
    )


async def record_inheritance(
    *,
    deceased: Holder,
    heirs: Sequence[register.Heir],
    died_on: date,
    documents: Sequence[trades.SupportingDocument],
    actor: audit.Actor,
    form_token: str | None = None,
) -> trades.InheritanceCase:
    """Record an inheritance (继承) with the heirs' holding certificates."""
    return await trades.record_inheritance(
        deceased=deceased,
        heirs=heirs,
        died_on=died_on,
        documents=documents,
        actor=actor,
        form_token=form_token,
        on_recorded=_on_inherited,
    )
