"""Reissue (补发) of a lost certificate from the back-office, by the authority that issues its kind."""

from __future__ import annotations

from certificates import service as certificate_service
from certificates.codes import group_code
from factories import make_batch, make_holder
from registry.models import AuditLog, Certificate, CertificateStatus, EntryKind, RegisterEntry, StaffRole, TicketKind


async def _holding_certificate() -> Certificate:
    holder = await make_holder("春林村")
    batch = await make_batch(TicketKind.COLLECTIVE, units=100, holder=holder)  # district 640104
    return await certificate_service.issue_holding_certificate(batch, holder)


async def _state() -> tuple:
    rows = await Certificate.all().order_by("id").values_list("id", "code", "status")
    return rows, await RegisterEntry.all().count(), await AuditLog.filter(action="certificate.reissue").count()


async def test_issuer_reissues_a_lost_holding_certificate(sign_in, client):
    old = await _holding_certificate()
    issuer = await sign_in(StaffRole.ISSUER, "issuer-xq", "640104")
    typed = " " + group_code(old.code).lower().replace("-", " ") + " "
    page = await issuer.get("/admin/certificates", params={"code": typed})
    assert page.status_code == 200 and "补发证书" in page.text

    before = await _state()
    refused = await issuer.post(f"/admin/certificates/{group_code(old.code)}/reissue", {"reason": "  "})
    assert refused.status_code == 400 and "请填写补发原因" in refused.text
    assert await _state() == before

    done = await issuer.post(f"/admin/certificates/{group_code(old.code)}/reissue", {"reason": "证书遗失"})
    assert done.status_code == 303
    await old.refresh_from_db()
    new = await Certificate.get(id=old.replaced_by_id)
    assert old.status is CertificateStatus.REISSUED and new.status is CertificateStatus.VALID
    assert done.headers["location"] == f"/admin/certificates?code={group_code(new.code)}"
    assert (new.holder_name, new.quantity, new.serial_ranges) == (old.holder_name, old.quantity, old.serial_ranges)
    assert await RegisterEntry.filter(kind=EntryKind.REISSUE).count() == 1
    assert await AuditLog.filter(action="certificate.reissue", username="issuer-xq").count() == 1
    assert (await client.get(f"/api/v1/certificates/{old.code}")).json()["status"] == "reissued"
    assert (await client.get(f"/api/v1/certificates/{new.code}")).json()["status"] == "valid"

    again = await issuer.post(f"/admin/certificates/{group_code(old.code)}/reissue", {"reason": "再次"})
    assert again.status_code == 400  # a reissued certificate cannot be reissued again; the new one can


async def test_only_the_issuing_authority_may_reissue(sign_in):
    old = await _holding_certificate()
    before = await _state()
    for role, district in ((StaffRole.ISSUER, "640105"), (StaffRole.FORESTRY, None)):
        staff = await sign_in(role, f"other-{role}", district)
        page = await staff.get("/admin/certificates", params={"code": old.code})
        assert page.status_code == 200 and "补发证书" not in page.text
        response = await staff.post(f"/admin/certificates/{old.code}/reissue", {"reason": "遗失"})
        assert response.status_code == 403
    assert await _state() == before


async def test_unknown_code_is_not_found(sign_in):
    forestry = await sign_in(StaffRole.FORESTRY, "forestry-1")
    assert (await forestry.get("/admin/certificates", params={"code": "ZZZZ"})).status_code == 404
    assert (await forestry.post("/admin/certificates/ZZZZ-ZZZZ/reissue", {"reason": "x"})).status_code == 404
