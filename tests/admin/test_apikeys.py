"""Organisation API keys in the back-office (issue 11, finding 1): the administrator creates a key (shown once,
stored hashed), lists keys with their prefix, holder, creation and last use, and revokes them; nobody else may."""

from __future__ import annotations

import hashlib
import re

from factories import shop as factories
from registry.apikeys import ApiKey
from registry.models import AuditLog, StaffRole

KEY_RE = re.compile(r'id="new-key-value">(lp_[a-z2-7]{12}_[A-Za-z0-9_-]{43})<')


async def test_the_administrator_creates_a_key_that_is_shown_once_and_stored_hashed(sign_in, client):
    admin = await sign_in(StaffRole.ADMIN)
    form = {"organisation": "宁夏某能源集团", "contact": "王工 0951-1234567", "max_pending_units": "50000"}
    created = await admin.post("/admin/apikeys", form)
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    match = KEY_RE.search(created.text)
    assert match, created.text
    secret = match.group(1)
    key = await ApiKey.get()
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest() and secret.startswith(key.prefix)
    assert key.max_pending_units == 50_000 and key.created_by == admin.user.username
    listing = await admin.get("/admin/apikeys")
    assert secret not in listing.text  # never shown again
    assert key.prefix in listing.text and "宁夏某能源集团" in listing.text and "从未使用" in listing.text
    assert (await AuditLog.filter(action="apikey.create").count()) == 1

    # the key works, and its last use shows
    await factories.quota(100_000)
    order = await client.post(
        "/api/v1/orders",
        json={"quantity": 20_000, "purpose": "event", "certificate_name": "宁夏某能源集团"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert order.status_code == 201
    assert "从未使用" not in (await admin.get("/admin/apikeys")).text

    # revoked: refused with 401 from then on
    revoked = await admin.post(f"/admin/apikeys/{key.id}/revoke")
    assert revoked.status_code == 303
    await key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin.user.username
    again = await client.post(
        "/api/v1/orders",
        json={"quantity": 20_000, "purpose": "event", "certificate_name": "宁夏某能源集团"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert again.status_code == 401
    assert "已吊销" in (await admin.get("/admin/apikeys")).text
    assert (await AuditLog.filter(action="apikey.revoke").count()) == 1


async def test_bad_key_requests_are_refused_and_store_nothing(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    for form in (
        {"organisation": "  "},
        {"organisation": "某公司", "max_pending_units": "0"},
        {"organisation": "某公司", "max_pending_units": "lots"},
        {"organisation": "某公司", "credit_code": "91640100XXXXXXXXXX"},
    ):
        response = await admin.post("/admin/apikeys", form)
        assert response.status_code == 400, form
        assert "请填写机构名称" in response.text and not KEY_RE.search(response.text)
    assert await ApiKey.all().count() == 0


async def test_only_the_administrator_manages_keys(sign_in):
    for role in StaffRole:
        if role is StaffRole.ADMIN:
            continue
        staff = await sign_in(role, f"keys-{role}")
        assert (await staff.get("/admin/apikeys")).status_code == 403
        assert (await staff.post("/admin/apikeys", {"organisation": "某公司"})).status_code == 403
        assert "/admin/apikeys" not in (await staff.get("/admin/")).text
    assert await ApiKey.all().count() == 0
