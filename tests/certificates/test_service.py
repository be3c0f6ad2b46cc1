"""Issuing certificates from the register, and the ways a certificate stops being valid."""

from __future__ import annotations

import pytest

from certificates import service
from certificates.codes import normalise_code
from factories import make_batch, make_holder
from factories.certificates import carbon_certificate, holding_certificate, paid_order, planting_certificate
from registry.errors import InsufficientUnits, InvalidState, WrongKind
from registry.models import (
    Certificate,
    CertificateKind,
    CertificateStatus,
    EntryKind,
    HolderKind,
    RegisterEntry,
    TicketKind,
)


async def test_carbon_certificate_records_what_the_order_retired(db: str) -> None:
    order, entry = await paid_order(120, name="张三")
    certificate = await service.issue_carbon_certificate(order, entry)
    assert certificate.kind is CertificateKind.CARBON
    assert certificate.status is CertificateStatus.VALID
    assert normalise_code(certificate.code) == certificate.code
    assert certificate.holder_name == "张三"
    assert certificate.quantity == 120
    batch = await entry.batch
    assert certificate.serial_ranges == f"{batch.serial(1)} – {batch.serial(120)}"
    assert certificate.data["kg_co2e"] == "1200"
    assert certificate.data["purpose"] == "出行碳排放抵消"
    # the ID number is stored masked only
    assert "*" in certificate.data["id_number_masked"]
    assert len(certificate.data["id_number_masked"]) == 18


async def test_carbon_certificate_is_made_once_per_order(db: str) -> None:
    order, entry = await paid_order(10)
    first = await service.issue_carbon_certificate(order, entry)
    again = await service.issue_carbon_certificate(order, entry)
    assert again.id == first.id
    assert await Certificate.filter(order_id=order.id).count() == 1


async def test_only_carbon_entries_make_carbon_certificates(db: str) -> None:
    order, _ = await paid_order(10)
    holder = await make_holder(kind=HolderKind.VILLAGE_COLLECTIVE)
    batch = await make_batch(TicketKind.COLLECTIVE, holder=holder)
    entry = await RegisterEntry.get(batch_id=batch.id, kind=EntryKind.ISSUE)
    with pytest.raises(WrongKind):
        await service.issue_carbon_certificate(order, entry)


async def test_planting_and_honour_certificates(db: str) -> None:
    planting = await planting_certificate("李四")
    honour = await planting_certificate("王小明", honour=True)
    assert planting.kind is CertificateKind.PLANTING and honour.kind is CertificateKind.HONOUR
    assert planting.data["year"] == 2026 and planting.data["trees"] == "3"
    assert planting.data["form"] == "捐资尽责（认购碳汇林票）"
    assert planting.quantity == 30 and "00000030" in planting.serial_ranges


async def test_holding_certificate_describes_the_parcel(db: str) -> None:
    certificate = await holding_certificate(TicketKind.COLLECTIVE, units=300)
    assert certificate.kind is CertificateKind.COLLECTIVE_HOLDING
    assert certificate.quantity == 300
    data = certificate.data
    assert data["location"] == "银川市兴庆区掌政镇春林村"
    assert data["boundaries"]["east"] == "至渠"
    assert data["species"] == "新疆杨 1200株"
    assert data["share_percent"] == "100"
    assert data["issuer"] == "银川市兴庆区人民政府"
    state = await holding_certificate(TicketKind.STATE)
    assert state.kind is CertificateKind.STATE_HOLDING


async def test_holding_certificate_needs_units(db: str) -> None:
    batch = await make_batch(TicketKind.COLLECTIVE)
    stranger = await make_holder()
    with pytest.raises(InsufficientUnits):
        await service.issue_holding_certificate(batch, stranger)
    carbon = await make_batch(TicketKind.CARBON)
    with pytest.raises(WrongKind):
        await service.issue_holding_certificate(carbon, stranger)
    assert await Certificate.all().count() == 0


async def test_reissue_gives_a_new_code_and_records_it(db: str) -> None:
    old = await carbon_certificate(50)
    new = await service.reissue(old, actor="staff1", reason="证书遗失")
    assert new.code != old.code
    assert old.status is CertificateStatus.REISSUED and old.replaced_by_id == new.id
    assert new.status is CertificateStatus.VALID
    assert (new.holder_name, new.quantity, new.serial_ranges) == (old.holder_name, old.quantity, old.serial_ranges)
    assert new.data["reissued_on"]
    entry = await RegisterEntry.get(kind=EntryKind.REISSUE)
    assert entry.actor == "staff1" and entry.details["reason"] == "证书遗失"
    with pytest.raises(InvalidState):
        await service.reissue(old, actor="staff1", reason="again")


async def test_revoke_and_refund(db: str) -> None:
    certificate = await carbon_certificate()
    with pytest.raises(InvalidState):
        await service.revoke(certificate, reason="  ")
    await service.revoke(certificate, reason="误发")
    assert certificate.status is CertificateStatus.REVOKED and certificate.status_reason == "误发"
    with pytest.raises(InvalidState):
        await service.revoke(certificate, reason="twice")

    refunded = await carbon_certificate()
    order = await refunded.order
    assert await service.mark_refunded(order) == 1
    await refunded.refresh_from_db()
    assert refunded.status is CertificateStatus.REFUNDED
    assert await service.mark_refunded(order) == 0


async def test_public_record_masks_people_not_bodies(db: str) -> None:
    person = await carbon_certificate(name="王小明")
    record = service.public_record(person)
    assert record["holder_name"] == "王*明"
    assert record["valid"] is True and record["reason"] == ""
    body = await holding_certificate(TicketKind.COLLECTIVE)
    assert service.public_record(body)["holder_name"] == "兴庆区掌政镇春林村股份经济合作社"


async def test_find_certificate_by_typed_code(db: str) -> None:
    certificate = await carbon_certificate()
    typed = " ".join(certificate.code[i : i + 4] for i in range(0, 20, 4)).lower()
    assert (await service.find_certificate(typed)).id == certificate.id
    assert await service.find_certificate("nonsense") is None
