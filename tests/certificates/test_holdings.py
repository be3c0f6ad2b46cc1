"""Holding certificates follow the register whoever records the action: no view is involved here."""

from __future__ import annotations

from fractions import Fraction

import pytest

from certificates import holdings, service
from factories import make_holder
from factories.trades import make_actor, register_snapshot, state_batch, token, village_batch
from kernel import clock
from registry import register
from registry.models import Certificate, CertificateKind, CertificateStatus, HolderKind, StaffRole
from registry.trades import (
    DocumentKind,
    FilingAuthority,
    FilingStatus,
    SupportingDocument,
    TradeFiling,
    record_transfer,
)


async def _valid(holder_id: int, batch_id: int) -> list[Certificate]:
    return await Certificate.filter(holder_id=holder_id, batch_id=batch_id, status=CertificateStatus.VALID)


async def test_the_filing_that_makes_a_trade_effective_gives_the_buyer_its_certificate(db):
    batch, unit = await state_batch(units=500)
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    forestry = await make_actor(StaffRole.FORESTRY)
    trade = await record_transfer(batch=batch, seller=unit, buyer=buyer, quantity=40, price_fen=1, actor=forestry)
    assert await _valid(buyer.id, batch.id) == []  # not effective yet
    await holdings.record_filing(
        trade=trade, authority=FilingAuthority.CITY_FORESTRY, filed_on=clock.today(), reference="备1", actor=forestry
    )
    [certificate] = await _valid(buyer.id, batch.id)
    assert certificate.kind is CertificateKind.STATE_HOLDING and certificate.quantity == 40


async def test_a_failing_certificate_step_leaves_the_filing_unrecorded(db, monkeypatch):
    batch, unit = await state_batch(units=500)
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    forestry = await make_actor(StaffRole.FORESTRY)
    trade = await record_transfer(batch=batch, seller=unit, buyer=buyer, quantity=40, price_fen=1, actor=forestry)
    before = await register_snapshot()

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(service, "issue_holding_certificate", broken)
    with pytest.raises(RuntimeError):
        await holdings.record_filing(
            trade=trade,
            authority=FilingAuthority.CITY_FORESTRY,
            filed_on=clock.today(),
            reference="备1",
            actor=forestry,
        )
    assert await register_snapshot() == before
    filing = await TradeFiling.get(trade_id=trade.id)
    assert filing.status is FilingStatus.PENDING


async def test_heirs_get_certificates_and_the_deceased_loses_its_own(db):
    batch, village = await village_batch()
    father, son = await make_holder("张父"), await make_holder("张子")
    actor = await make_actor()
    trade = await record_transfer(batch=batch, seller=village, buyer=father, quantity=30, price_fen=0, actor=actor)
    forestry = await make_actor(StaffRole.FORESTRY)
    for authority in FilingAuthority:
        who = forestry if authority is FilingAuthority.CITY_FORESTRY else actor
        await holdings.record_filing(
            trade=trade, authority=authority, filed_on=clock.today(), reference=f"备{authority}", actor=who
        )
    [fathers] = await _valid(father.id, batch.id)
    await holdings.record_inheritance(
        deceased=father,
        heirs=[register.Heir(son, Fraction(1))],
        died_on=clock.today(),
        documents=[
            SupportingDocument(DocumentKind.DEATH_CERTIFICATE, "死亡证明 1"),
            SupportingDocument(DocumentKind.NOTARIAL_CERTIFICATE, "公证书 1"),
        ],
        actor=actor,
        form_token=token(),
    )
    await fathers.refresh_from_db()
    assert fathers.status is CertificateStatus.REVOKED
    [sons] = await _valid(son.id, batch.id)
    assert sons.kind is CertificateKind.COLLECTIVE_HOLDING and sons.quantity == 30
