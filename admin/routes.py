"""The back-office, mounted at ``/admin``: every route names the permission it needs (see permissions.py)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from admin import views_auth as auth
from admin import views_issuance as issuance
from admin import views_registry as reg
from admin import views_reports as reports
from admin import views_staff as staff
from admin.permissions import Perm
from admin.session import guard


def get(path: str, perm: Perm | None, handler) -> Route:  # type: ignore[no-untyped-def]
    return Route(path, guard(perm, handler), methods=["GET"])


def post(path: str, perm: Perm | None, handler) -> Route:  # type: ignore[no-untyped-def]
    return Route(path, guard(perm, handler), methods=["POST"])


routes: list[BaseRoute] = [
    Route("/login", auth.login_form, methods=["GET"]),
    Route("/login", auth.login_submit, methods=["POST"]),
    post("/logout", None, auth.logout),
    get("/password", None, auth.password_form),
    post("/password", None, auth.password_submit),
    get("/", Perm.DASHBOARD, reports.dashboard),
    # staff and audit
    get("/staff", Perm.STAFF_MANAGE, staff.staff_list),
    post("/staff", Perm.STAFF_MANAGE, staff.staff_create),
    post("/staff/{id}/toggle", Perm.STAFF_MANAGE, staff.staff_toggle),
    get("/audit", Perm.AUDIT_VIEW, staff.audit_log),
    # holders
    get("/holders", Perm.HOLDER_VIEW, reg.holder_list),
    get("/holders/new", Perm.HOLDER_EDIT, reg.holder_new),
    post("/holders", Perm.HOLDER_EDIT, reg.holder_create),
    get("/holders/{id}", Perm.HOLDER_VIEW, reg.holder_detail),
    get("/holders/{id}/edit", Perm.HOLDER_EDIT, reg.holder_edit),
    post("/holders/{id}", Perm.HOLDER_EDIT, reg.holder_update),
    # parcels
    get("/parcels", Perm.PARCEL_VIEW, reg.parcel_list),
    get("/parcels/new", Perm.PARCEL_EDIT, reg.parcel_new),
    post("/parcels", Perm.PARCEL_EDIT, reg.parcel_create),
    get("/parcels/{id}", Perm.PARCEL_VIEW, reg.parcel_detail),
    get("/parcels/{id}/edit", Perm.PARCEL_EDIT, reg.parcel_edit),
    post("/parcels/{id}", Perm.PARCEL_EDIT, reg.parcel_update),
    post("/parcels/{id}/documents", Perm.PARCEL_EDIT, reg.document_upload),
    get("/parcels/{id}/documents/{doc}", Perm.PARCEL_VIEW, reg.document_download),
    # issuance applications (collective: issuers of the district; state: forestry)
    get("/applications", Perm.APPLICATION_VIEW, issuance.application_list),
    get("/applications/new", Perm.APPLICATION_HANDLE, issuance.application_new),
    post("/applications", Perm.APPLICATION_HANDLE, issuance.application_create),
    get("/applications/{id}", Perm.APPLICATION_VIEW, issuance.application_detail),
    post("/applications/{id}/approve", Perm.APPLICATION_HANDLE, issuance.application_approve),
    post("/applications/{id}/return", Perm.APPLICATION_HANDLE, issuance.application_return),
    post("/applications/{id}/issue", Perm.APPLICATION_HANDLE, issuance.application_issue),
    # carbon quotas
    get("/quotas", Perm.QUOTA_VIEW, issuance.quota_list),
    post("/quotas", Perm.QUOTA_MANAGE, issuance.quota_open),
    post("/quotas/{id}/close", Perm.QUOTA_MANAGE, issuance.quota_close),
    post("/quotas/{id}/withdraw", Perm.QUOTA_MANAGE, issuance.quota_withdraw),
    # read-only
    get("/register", Perm.REGISTER_VIEW, reports.register_view),
    get("/revenue", Perm.REVENUE_VIEW, reports.revenue),
    get("/offsets", Perm.OFFSET_APPROVE, reports.offsets),
]
