"""The back-office, mounted at ``/admin``: every route names the permission it needs (see permissions.py); the
record it acts on is checked by :mod:`registry.access` in the view and again in the workflow."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from admin import pickers
from admin import views_apikeys as api_keys
from admin import views_auth as auth
from admin import views_certificates as certificate_pages
from admin import views_finance as finance
from admin import views_import as county_import
from admin import views_issuance as issuance
from admin import views_jobs as job_pages
from admin import views_notices as notice_pages
from admin import views_offsets as state_uses
from admin import views_reconciliation as reconciliation
from admin import views_register as register_pages
from admin import views_registry as reg
from admin import views_reports as reports
from admin import views_service as service
from admin import views_staff as staff
from admin import views_trades as trades
from admin.permissions import Perm
from admin.session import guard


def get(path: str, perm: Perm | None, handler) -> Route:
    return Route(path, guard(perm, handler), methods=["GET"])


def post(path: str, perm: Perm | None, handler) -> Route:
    return Route(path, guard(perm, handler), methods=["POST"])


routes: list[BaseRoute] = [
    Route("/login", auth.login_form, methods=["GET"]),
    Route("/login", auth.login_submit, methods=["POST"]),
    post("/logout", None, auth.logout),
    get("/password", None, auth.password_form),
    post("/password", None, auth.password_submit),
    post("/sessions/revoke", None, auth.session_revoke),
    get("/", Perm.DASHBOARD, reports.dashboard),
    # staff and audit
    get("/staff", Perm.STAFF_MANAGE, staff.staff_list),
    post("/staff", Perm.STAFF_MANAGE, staff.staff_create),
    post("/staff/{id}/toggle", Perm.STAFF_MANAGE, staff.staff_toggle),
    post("/staff/{id}/password", Perm.STAFF_MANAGE, staff.staff_password_reset),
    get("/audit", Perm.AUDIT_VIEW, staff.audit_log),
    # background jobs (registry/jobs.py): queued, running, done, failed with the error; retry
    get("/jobs", Perm.JOBS_MANAGE, job_pages.job_list),
    post("/jobs/{id}/retry", Perm.JOBS_MANAGE, job_pages.job_retry),
    # organisation API keys: they lift the shop's limits for known buyers (shop/limits.py)
    get("/apikeys", Perm.APIKEY_MANAGE, api_keys.key_list),
    post("/apikeys", Perm.APIKEY_MANAGE, api_keys.key_create),
    post("/apikeys/{id}/revoke", Perm.APIKEY_MANAGE, api_keys.key_revoke),
    # pickers: forms choose holders, batches and parcels by search (admin/pickers.py; HTML fragments for htmx)
    get("/pick/holders", Perm.HOLDER_VIEW, pickers.pick_holders),
    get("/pick/batches", Perm.REGISTER_VIEW, pickers.pick_batches),
    get("/pick/parcels", Perm.PARCEL_VIEW, pickers.pick_parcels),
    post("/pick/holders", Perm.HOLDER_VIEW, pickers.pick_holders),  # htmx: the typed text in the body
    post("/pick/batches", Perm.REGISTER_VIEW, pickers.pick_batches),
    post("/pick/parcels", Perm.PARCEL_VIEW, pickers.pick_parcels),
    # holders
    get("/holders", Perm.HOLDER_VIEW, reg.holder_list),
    get("/holders/new", Perm.HOLDER_EDIT, reg.holder_new),
    post("/holders", Perm.HOLDER_EDIT, reg.holder_create),
    post("/holders/search", Perm.HOLDER_VIEW, reg.holder_search),  # a whole ID number is never put in a URL
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
    post("/parcels/{id}/documents/{doc}/publish", Perm.PARCEL_EDIT, reg.document_publish),  # forestry: /forests
    # onboarding a county: holders and parcels from its spreadsheets, previewed, imported all or nothing
    get("/import", Perm.PARCEL_EDIT, county_import.import_page),
    post("/import", Perm.PARCEL_EDIT, county_import.import_preview),
    post("/import/confirm", Perm.PARCEL_EDIT, county_import.import_confirm),
    get("/import/template.xlsx", Perm.PARCEL_EDIT, county_import.template_xlsx),
    get("/import/holders.csv", Perm.PARCEL_EDIT, county_import.template_csv),
    get("/import/parcels.csv", Perm.PARCEL_EDIT, county_import.template_csv),
    # issuance applications (collective: issuers of the district; state: forestry)
    get("/applications", Perm.APPLICATION_VIEW, issuance.application_list),
    get("/applications/new", Perm.APPLICATION_HANDLE, issuance.application_new),
    post("/applications", Perm.APPLICATION_HANDLE, issuance.application_create),
    get("/applications/{id}", Perm.APPLICATION_VIEW, issuance.application_detail),
    post("/applications/{id}/approve", Perm.APPLICATION_HANDLE, issuance.application_approve),
    post("/applications/{id}/return", Perm.APPLICATION_HANDLE, issuance.application_return),
    post("/applications/{id}/issue", Perm.APPLICATION_HANDLE, issuance.application_issue),
    # public notices (公示) of collective issuance and dividends, objections and their outcome (registry.notices)
    get("/notices", Perm.NOTICE_VIEW, notice_pages.notice_list),
    post("/notices", Perm.NOTICE_MANAGE, notice_pages.notice_publish),
    get("/notices/{id}", Perm.NOTICE_VIEW, notice_pages.notice_detail),
    post("/notices/{id}/objections", Perm.NOTICE_MANAGE, notice_pages.objection_record),
    post("/notices/{id}/objections/{objection}/resolve", Perm.NOTICE_MANAGE, notice_pages.objection_resolve),
    post("/notices/{id}/pay", Perm.NOTICE_MANAGE, notice_pages.dividend_pay),
    # carbon quotas
    get("/quotas", Perm.QUOTA_VIEW, issuance.quota_list),
    post("/quotas", Perm.QUOTA_MANAGE, issuance.quota_open),
    post("/quotas/{id}/close", Perm.QUOTA_MANAGE, issuance.quota_close),
    post("/quotas/{id}/withdraw", Perm.QUOTA_MANAGE, issuance.quota_withdraw),
    # read-only
    get("/register", Perm.REGISTER_VIEW, register_pages.register_page),
    get("/certificates", Perm.REGISTER_VIEW, certificate_pages.certificate_lookup),
    post("/certificates/{code}/reissue", Perm.CERTIFICATE_REISSUE, certificate_pages.certificate_reissue),
    get("/register.csv", Perm.REGISTER_VIEW, register_pages.register_csv),
    get("/register.xlsx", Perm.REGISTER_VIEW, register_pages.register_xlsx),
    get("/register/exports/{token}", Perm.REGISTER_VIEW, register_pages.export_page),  # exports over 10,000 rows
    get("/holders/{id}/statement", Perm.REGISTER_VIEW, register_pages.statement_page),
    get("/holders/{id}/statement.pdf", Perm.REGISTER_VIEW, register_pages.statement_download),
    get("/revenue", Perm.REVENUE_VIEW, reports.revenue),
    get("/revenue/state", Perm.REVENUE_VIEW, state_uses.state_revenue),
    # finance: revenue by ticket kind and receiving body, by day or month, chart and exports (registry.finance)
    get("/finance", Perm.REVENUE_VIEW, finance.finance_page),
    get("/finance.csv", Perm.REVENUE_VIEW, finance.finance_csv),
    get("/finance.xlsx", Perm.REVENUE_VIEW, finance.finance_xlsx),
    # provider reconciliation: Alipay's and WeChat Pay's bills against the register (registry.reconciliation)
    get("/reconciliation", Perm.REVENUE_VIEW, reconciliation.reconciliation_page),
    get("/reconciliation.csv", Perm.REVENUE_VIEW, reconciliation.reconciliation_csv),
    # the shop's customer-service desk (registry.service_desk)
    get("/service", Perm.SERVICE_VIEW, service.order_search),
    post("/service/search", Perm.SERVICE_VIEW, service.order_search_post),  # a contact is never put in a URL
    get("/service/orders/{id}", Perm.SERVICE_VIEW, service.order_detail),
    get("/service/orders/{id}/receipt.pdf", Perm.SERVICE_VIEW, service.order_receipt),  # 收款凭证
    post("/service/orders/{id}/resend", Perm.SERVICE_ACT, service.order_resend),
    post("/service/orders/{id}/refund", Perm.SERVICE_ACT, service.order_refund),
    post("/service/orders/{id}/reissue", Perm.SERVICE_ACT, service.order_reissue),
    # trades of land tickets (state ones: transfers only), inheritance, dividends (registry.trades, .dividends)
    get("/trades", Perm.TRADE_VIEW, trades.trade_list),
    get("/trades/transfer/new", Perm.TRANSFER_RECORD, trades.transfer_new),
    post("/trades/transfer", Perm.TRANSFER_RECORD, trades.transfer_create),
    get("/trades/subscription/new", Perm.TRADE_RECORD, trades.subscription_new),
    post("/trades/subscription", Perm.TRADE_RECORD, trades.subscription_create),
    get("/trades/{id}", Perm.TRADE_VIEW, trades.trade_detail),
    post("/trades/{id}/filings", Perm.TRADE_FILE, trades.filing_record),
    get("/inheritance/new", Perm.INHERITANCE_RECORD, trades.inheritance_new),
    post("/inheritance", Perm.INHERITANCE_RECORD, trades.inheritance_create),
    get("/inheritance/{id}", Perm.TRADE_VIEW, trades.inheritance_detail),
    get("/dividends", Perm.TRADE_VIEW, trades.dividend_list),
    get("/dividends/new", Perm.TRADE_RECORD, trades.dividend_new),
    post("/dividends", Perm.TRADE_RECORD, trades.dividend_create),
    get("/dividends/{id}", Perm.TRADE_VIEW, trades.dividend_detail),
    # state tickets: green-land offsets and ecological compensation (registry.offsets)
    get("/offsets", Perm.OFFSET_VIEW, state_uses.offset_list),
    get("/offsets/new", Perm.OFFSET_RECEIVE, state_uses.offset_new),
    post("/offsets", Perm.OFFSET_RECEIVE, state_uses.offset_create),
    get("/offsets/{id}", Perm.OFFSET_VIEW, state_uses.offset_detail),
    post("/offsets/{id}/approve", Perm.OFFSET_APPROVE, state_uses.offset_approve),
    post("/offsets/{id}/reject", Perm.OFFSET_APPROVE, state_uses.offset_reject),
    post("/offsets/{id}/complete", Perm.OFFSET_ISSUE, state_uses.offset_complete),
    get("/compensation", Perm.COMPENSATION_VIEW, state_uses.case_list),
    get("/compensation/new", Perm.COMPENSATION_MANAGE, state_uses.case_new),
    post("/compensation", Perm.COMPENSATION_MANAGE, state_uses.case_create),
    get("/compensation/{id}", Perm.COMPENSATION_VIEW, state_uses.case_detail),
    post("/compensation/{id}/order", Perm.COMPENSATION_MANAGE, state_uses.case_order),
    post("/compensation/{id}/pay", Perm.COMPENSATION_PAY, state_uses.case_pay),
]
