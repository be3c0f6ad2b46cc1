"""The role matrix: every back-office route walked by every role; a forbidden request changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise import Tortoise

from admin.permissions import ROLE_PERMISSIONS, Perm, allowed
from registry import quotas
from registry.applications import submit_application
from registry.audit import Actor
from registry.models import Certificate, CertificateKind, StaffRole, TicketKind
from registry.parcels import ParcelDocument
from tests.admin.conftest import make_staff, village_with_parcel

A, ISS, F, L, G, N, U = (
    StaffRole.ADMIN,
    StaffRole.ISSUER,
    StaffRole.FORESTRY,
    StaffRole.LANDSCAPING,
    StaffRole.GREENING,
    StaffRole.FINANCE,
    StaffRole.AUDITOR,
)
EVERYONE = frozenset(StaffRole)
MATRIX_CODE = "12345678901234567890"  # digits only, so the route walk can read it as an id


async def snapshot() -> dict[str, Any]:
    """Every row of every table, to prove a refused request wrote nothing."""
    result: dict[str, Any] = {}
    for name, model in sorted(Tortoise.apps["models"].items()):
        if name == "Aerich":
            continue
        result[name] = await model.all().order_by(model._meta.pk_attr).values()
        if name == "StaffSession":  # its last_seen_at moves with any request, refused or not; nothing else may
            result[name] = [{k: v for k, v in row.items() if k != "last_seen_at"} for row in result[name]]
    return result


async def _seed() -> dict[str, int]:
    issuer = await make_staff(ISS, "matrix-issuer-seed")
    village, parcel = await village_with_parcel("640104")
    application = await submit_application(
        kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=Actor(issuer, "127.0.0.1")
    )
    quota = await quotas.open_quota(units=500)
    other = await make_staff(F, "matrix-other")
    document = await ParcelDocument.create(
        parcel=parcel,
        title="林权证",
        filename="a.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        storage_name="missing.pdf",
    )
    certificate = await Certificate.create(
        code=MATRIX_CODE, kind=CertificateKind.CARBON, holder_name="矩阵", issued_at=datetime.now(UTC)
    )
    assert certificate.id
    return {
        "certificate": int(MATRIX_CODE),
        "holder": village.id,
        "parcel": parcel.id,
        "application": application.id,
        "quota": quota.id,
        "staff": other.id,
        "document": document.id,
    }


def _routes(ids: dict[str, int]) -> list[tuple[str, str, dict[str, str], frozenset[StaffRole]]]:
    h, p, a, q, s = ids["holder"], ids["parcel"], ids["application"], ids["quota"], ids["staff"]
    d, c = ids["document"], ids["certificate"]
    o = ids.get("order", 13)
    holder_form = {"kind": "individual", "name": "", "id_number": ""}  # invalid on purpose: allowed → 400
    parcel_form = {"district_code": "640104", "area_mu": "-1"}
    return [
        ("GET", "/admin/", {}, EVERYONE),
        ("GET", "/admin/password", {}, EVERYONE),
        (
            "POST",
            "/admin/password",
            {"current_password": "wrong", "new_password": "x", "repeat_password": "x"},
            EVERYONE,
        ),
        ("GET", "/admin/staff", {}, frozenset({A})),
        ("POST", "/admin/staff", {"username": "x", "role": "nope", "password": ""}, frozenset({A})),
        ("POST", f"/admin/staff/{s}/toggle", {}, frozenset({A})),
        ("POST", f"/admin/staff/{s}/password", {"new_password": "short"}, frozenset({A})),  # too short: 400
        ("POST", "/admin/sessions/revoke", {"session": "0" * 64}, EVERYONE),  # one's own sessions only: 404
        ("GET", "/admin/audit", {}, frozenset({A, U})),
        ("GET", "/admin/jobs", {}, frozenset({A})),
        ("POST", "/admin/jobs/999999/retry", {}, frozenset({A})),  # no such failed job: 404
        ("GET", "/admin/apikeys", {}, frozenset({A})),
        ("POST", "/admin/apikeys", {"organisation": ""}, frozenset({A})),  # invalid on purpose: allowed → 400
        ("POST", f"/admin/apikeys/{s}/revoke", {}, frozenset({A})),  # no such key: allowed → 404
        ("GET", "/admin/holders", {}, frozenset({ISS, F, L, G, U})),
        ("GET", "/admin/pick/holders?field=h&q=x", {}, frozenset({ISS, F, L, G, U})),
        ("GET", "/admin/pick/batches?field=b&q=x", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/pick/parcels?field=p&q=x", {}, frozenset({ISS, F, L, U})),
        ("POST", "/admin/pick/holders?field=h", {"h__q": "x"}, frozenset({ISS, F, L, G, U})),
        ("POST", "/admin/pick/batches?field=b", {"b__q": "x"}, frozenset({ISS, F, U})),
        ("POST", "/admin/pick/parcels?field=p", {"p__q": "x"}, frozenset({ISS, F, L, U})),
        ("POST", "/admin/holders/search", {"q": "x"}, frozenset({ISS, F, L, G, U})),
        ("GET", "/admin/holders/new", {}, frozenset({ISS, F})),
        ("POST", "/admin/holders", holder_form, frozenset({ISS, F})),
        ("GET", f"/admin/holders/{h}", {}, frozenset({ISS, F, L, G, U})),
        ("GET", f"/admin/holders/{h}/edit", {}, frozenset({ISS, F})),
        ("POST", f"/admin/holders/{h}", holder_form, frozenset({ISS, F})),
        ("GET", "/admin/parcels", {}, frozenset({ISS, F, L, U})),
        ("GET", "/admin/parcels/new", {}, frozenset({ISS, F})),
        ("POST", "/admin/parcels", parcel_form, frozenset({ISS, F})),
        ("GET", f"/admin/parcels/{p}", {}, frozenset({ISS, F, L, U})),
        ("GET", f"/admin/parcels/{p}/edit", {}, frozenset({ISS, F})),
        ("POST", f"/admin/parcels/{p}", parcel_form, frozenset({ISS, F})),
        ("POST", f"/admin/parcels/{p}/documents", {"title": "x"}, frozenset({ISS, F})),
        ("GET", f"/admin/parcels/{p}/documents/{d}", {}, frozenset({ISS, F, L, U})),  # file missing: 404
        ("POST", f"/admin/parcels/{p}/documents/{d}/publish", {"publish": "1"}, frozenset({F})),  # file missing: 404
        ("GET", "/admin/import", {}, frozenset({ISS, F})),
        ("POST", "/admin/import", {"district_code": "640104"}, frozenset({ISS, F})),  # no file: 400
        ("POST", "/admin/import/confirm", {"token": "unknown"}, frozenset({ISS, F})),  # no such upload: 404
        ("GET", "/admin/import/template.xlsx", {}, frozenset({ISS, F})),
        ("GET", "/admin/import/holders.csv", {}, frozenset({ISS, F})),
        ("GET", "/admin/import/parcels.csv", {}, frozenset({ISS, F})),
        ("GET", "/admin/applications", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/applications/new", {}, frozenset({ISS, F})),
        ("POST", "/admin/applications", {"kind": "collective", "parcel_id": "", "applicant_id": ""}, frozenset({ISS})),
        ("GET", f"/admin/applications/{a}", {}, frozenset({ISS, F, U})),
        # a collective application of 640104: only the issuer of that district may act on it
        ("POST", f"/admin/applications/{a}/issue", {"unit_area_m2": "100"}, frozenset({ISS})),
        ("POST", f"/admin/applications/{a}/return", {"reason": ""}, frozenset({ISS})),
        ("POST", f"/admin/applications/{a}/approve", {"comment": "ok"}, frozenset({ISS})),
        ("GET", "/admin/quotas", {}, frozenset({F, N, U})),
        ("POST", "/admin/quotas", {"units": "0"}, frozenset({F})),
        ("POST", f"/admin/quotas/{q}/close", {}, frozenset({F})),
        ("POST", f"/admin/quotas/{q}/withdraw", {"reason": "matrix"}, frozenset({F})),
        ("GET", "/admin/register", {}, frozenset({ISS, F, U})),
        ("GET", "/admin/register/exports/1234567890123456", {}, frozenset({ISS, F, U})),  # no such export: 404
        ("GET", f"/admin/certificates?code={c}", {}, frozenset({ISS, F, U})),
        # a carbon certificate: only forestry reissues it (the issuer's permission stops at the kind rule)
        ("POST", f"/admin/certificates/{c}/reissue", {"reason": ""}, frozenset({F})),
        ("GET", "/admin/revenue", {}, frozenset({N, U})),
        # finance reports and the customer-service desk (no order is seeded: a permitted action on it is a 404)
        ("GET", "/admin/finance", {}, frozenset({N, U})),
        ("GET", "/admin/finance.csv", {}, frozenset({N, U})),
        ("GET", "/admin/finance.xlsx", {}, frozenset({N, U})),
        ("GET", "/admin/reconciliation", {}, frozenset({N, U})),
        ("GET", "/admin/reconciliation.csv", {}, frozenset({N, U})),
        ("GET", "/admin/service?amount=10", {}, frozenset({F, N, U})),
        (
            "POST",
            "/admin/service/search",
            {"contact": "13800138000"},
            frozenset({F, N, U}),
        ),  # sealed: no contact in URLs
        ("GET", f"/admin/service/orders/{o}", {}, frozenset({F, N, U})),
        ("GET", f"/admin/service/orders/{o}/receipt.pdf", {}, frozenset({F, N, U})),  # no such order: 404
        ("POST", f"/admin/service/orders/{o}/resend", {}, frozenset({F})),
        ("POST", f"/admin/service/orders/{o}/refund", {"reason": "x"}, frozenset({F})),
        ("POST", f"/admin/service/orders/{o}/reissue", {"certificate": MATRIX_CODE, "reason": "x"}, frozenset({F})),
        ("GET", "/admin/planting", {}, frozenset({F, U})),
        ("POST", "/admin/planting", {"year": "2026", "tickets_per_tree": "0"}, frozenset({F})),
        # public notices (公示): the district's issuer publishes and settles objections; the auditor reads
        ("GET", "/admin/notices", {}, frozenset({ISS, U})),
        ("POST", "/admin/notices", {"subject": "", "period_days": "7"}, frozenset({ISS})),  # nothing chosen: 400
        ("GET", "/admin/notices/999999", {}, frozenset({ISS, U})),  # no such notice: 404
        ("POST", "/admin/notices/999999/objections", {"received_on": "2026-01-01", "summary": "x"}, frozenset({ISS})),
        ("POST", "/admin/notices/999999/objections/999999/resolve", {"outcome": "upheld"}, frozenset({ISS})),
        ("POST", "/admin/notices/999999/pay", {"payment_ref": "x"}, frozenset({ISS})),
    ]


def test_every_permission_is_granted_to_some_role():
    granted = set().union(*ROLE_PERMISSIONS.values())
    assert granted == set(Perm)
    assert set(ROLE_PERMISSIONS) == set(StaffRole)
    assert not allowed(StaffRole.FINANCE, Perm.QUOTA_MANAGE)
    assert not allowed(StaffRole.ADMIN, Perm.COLLECTIVE_ISSUE)  # the administrator issues nothing


@pytest.mark.parametrize("role", list(StaffRole), ids=str)
async def test_role_matrix(role, sign_in):
    ids = await _seed()
    staff = await sign_in(role, f"matrix-{role}")
    routes = _routes(ids)
    refused = [r for r in routes if role not in r[3]]
    permitted = [r for r in routes if role in r[3]]
    # refused requests first: after each refused POST, and after them all, the database is as before
    before = await snapshot()
    for method, url, data, _roles in refused:
        response = await (staff.get(url) if method == "GET" else staff.post(url, data))
        assert response.status_code == 403, (role, method, url, response.status_code)
        if method == "POST":
            assert await snapshot() == before, (role, method, url)
    assert await snapshot() == before
    for method, url, data, _roles in permitted:
        response = await (staff.get(url) if method == "GET" else staff.post(url, data))
        assert response.status_code not in (401, 403), (role, method, url, response.status_code)
        assert response.status_code < 500


async def test_anonymous_requests_are_sent_to_login_and_change_nothing(client):
    ids = await _seed()
    before = await snapshot()
    for method, url, data, _roles in _routes(ids):
        if method == "GET":
            response = await client.get(url)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/login?next=")
        else:
            response = await client.post(url, data={**data, "csrf": "x"})
            assert response.status_code == 401
        assert await snapshot() == before, url


async def test_issuer_of_another_district_cannot_touch_the_application(sign_in):
    ids = await _seed()
    other = await sign_in(ISS, "issuer-xixia", "640105")
    before = await snapshot()
    # another district's records are not there for it (404); creating one in another district is refused (403)
    for url in (f"/admin/applications/{ids['application']}", f"/admin/parcels/{ids['parcel']}/edit"):
        assert (await other.get(url)).status_code == 404
    for url, data, status in (
        (f"/admin/applications/{ids['application']}/approve", {"comment": "x"}, 404),
        (f"/admin/applications/{ids['application']}/return", {"reason": "x"}, 404),
        (f"/admin/parcels/{ids['parcel']}", {"district_code": "640104", "area_mu": "1"}, 404),
        ("/admin/parcels", {"district_code": "640104", "area_mu": "1"}, 403),
    ):
        assert (await other.post(url, data)).status_code == status, url
    assert await snapshot() == before
    listing = await other.get("/admin/applications")
    assert f"/admin/applications/{ids['application']}" not in listing.text


def test_the_matrix_walks_every_back_office_route():
    import re

    from linpiao.app import back_office_routes as routes  # the back-office's own and planting's page

    declared = {
        (method, re.sub(r"\{[a-z]+\}", "{}", route.path))
        for route in routes
        for method in route.methods - {"HEAD"}  # type: ignore[attr-defined]
    }
    ids = {"holder": 1, "parcel": 2, "application": 3, "quota": 4, "staff": 5, "document": 6, "certificate": 12}
    from tests.admin.test_trades_pages import trade_routes  # the trade pages walk their own matrix

    trade_ids = {"trade": 7, "dividend": 8, "offset": 9, "case": 10, "holder": 1, "inheritance": 11}
    every = _routes(ids) + trade_routes(trade_ids)
    walked = {(m, re.sub(r"/\d+", "/{}", url.removeprefix("/admin").split("?")[0])) for m, url, _d, _r in every}
    # the login form and logout are for everyone and tested in test_staff.py
    assert declared - walked == {("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}
    assert walked <= declared


async def test_a_district_forestry_department_does_nothing_city_wide(sign_in):
    """西夏区's forestry department handles its own state tickets; quotas, the planting rule, offset sales and
    compensation are the city department's, and the city account still may."""
    ids = await _seed()
    district = await sign_in(StaffRole.FORESTRY, "forestry-xixia", "640105")
    city = await sign_in(StaffRole.FORESTRY, "forestry-city")
    before = await snapshot()
    for url, data in (
        ("/admin/quotas", {"units": "100", "price_yuan": "1", "kg_co2e": "10"}),
        (f"/admin/quotas/{ids['quota']}/close", {}),
        (f"/admin/quotas/{ids['quota']}/withdraw", {}),
        ("/admin/planting", {"year": "2026", "tickets_per_tree": "10", "trees_per_duty": "3"}),
    ):
        assert (await district.post(url, data)).status_code == 403, url
    assert await snapshot() == before
    assert (await district.get("/admin/quotas")).status_code == 200  # it still reads them
    assert (await city.post("/admin/quotas", {"units": "100", "price_yuan": "1", "kg_co2e": "10"})).status_code in (
        200,
        303,
    )
    assert await snapshot() != before
