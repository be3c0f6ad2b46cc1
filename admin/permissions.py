"""The back-office permission table: the one place that says which role may do what (least privilege).

Finer rules that depend on the record (an issuer acts only in its own district) live with the rule itself,
in :func:`registry.applications.may_handle`.
"""

from __future__ import annotations

from enum import StrEnum

from registry.models import StaffRole


class Perm(StrEnum):
    DASHBOARD = "dashboard"
    STAFF_MANAGE = "staff.manage"  # 账号管理
    AUDIT_VIEW = "audit.view"  # 查看操作日志
    HOLDER_VIEW = "holder.view"
    HOLDER_EDIT = "holder.edit"
    PARCEL_VIEW = "parcel.view"
    PARCEL_EDIT = "parcel.edit"
    APPLICATION_VIEW = "application.view"
    APPLICATION_HANDLE = "application.handle"  # 受理、审核、发放（种类和辖区由规则再查）
    COLLECTIVE_ISSUE = "collective.issue"  # 集体林地林票：受理、审核、发放（本辖区）
    STATE_ISSUE = "state.issue"  # 国有林地林票：受理、审核、发放
    QUOTA_VIEW = "quota.view"
    QUOTA_MANAGE = "quota.manage"  # 碳汇林票定额：开放、关闭、收回
    REGISTER_VIEW = "register.view"  # 查看登记簿
    REVENUE_VIEW = "revenue.view"  # 查看收入（只读）
    OFFSET_APPROVE = "offset.approve"  # 绿地占补平衡审批（园林）
    TRADE_VIEW = "trade.view"  # 查看交易、继承、分红
    TRADE_RECORD = "trade.record"  # 登记转让、认购、继承、分红（本辖区集体林地林票）
    TRADE_FILE = "trade.file"  # 登记交易备案（林业部门只登记市级备案）
    OFFSET_VIEW = "offset.view"  # 查看绿地占补平衡
    OFFSET_ISSUE = "offset.issue"  # 售出并注销国有林地林票（林业）
    COMPENSATION_VIEW = "compensation.view"  # 查看生态补偿案件
    COMPENSATION_MANAGE = "compensation.manage"  # 登记案件、责令认购（林业）
    COMPENSATION_PAY = "compensation.pay"  # 登记缴款并注销
    PLANTING_VIEW = "planting.view"  # 查看义务植树折算标准
    PLANTING_RULE = "planting.rule"  # 设定义务植树折算标准（林业）
    CERTIFICATE_REISSUE = "certificate.reissue"  # 补发证书（发证机关；种类和辖区由规则再查）


ALL_ROLES = tuple(StaffRole)

ROLE_PERMISSIONS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.ADMIN: frozenset({Perm.DASHBOARD, Perm.STAFF_MANAGE, Perm.AUDIT_VIEW}),
    StaffRole.ISSUER: frozenset(
        {
            Perm.DASHBOARD,
            Perm.HOLDER_VIEW,
            Perm.HOLDER_EDIT,
            Perm.PARCEL_VIEW,
            Perm.PARCEL_EDIT,
            Perm.APPLICATION_VIEW,
            Perm.APPLICATION_HANDLE,
            Perm.COLLECTIVE_ISSUE,
            Perm.REGISTER_VIEW,
        }
    ),
    StaffRole.FORESTRY: frozenset(
        {
            Perm.DASHBOARD,
            Perm.HOLDER_VIEW,
            Perm.HOLDER_EDIT,
            Perm.PARCEL_VIEW,
            Perm.PARCEL_EDIT,
            Perm.APPLICATION_VIEW,
            Perm.APPLICATION_HANDLE,
            Perm.STATE_ISSUE,
            Perm.QUOTA_VIEW,
            Perm.QUOTA_MANAGE,
            Perm.REGISTER_VIEW,
            Perm.PLANTING_VIEW,
            Perm.PLANTING_RULE,
        }
    ),
    StaffRole.LANDSCAPING: frozenset({Perm.DASHBOARD, Perm.HOLDER_VIEW, Perm.PARCEL_VIEW, Perm.OFFSET_APPROVE}),
    StaffRole.FINANCE: frozenset({Perm.DASHBOARD, Perm.QUOTA_VIEW, Perm.REVENUE_VIEW}),
    StaffRole.AUDITOR: frozenset(
        {
            Perm.DASHBOARD,
            Perm.AUDIT_VIEW,
            Perm.HOLDER_VIEW,
            Perm.PARCEL_VIEW,
            Perm.APPLICATION_VIEW,
            Perm.QUOTA_VIEW,
            Perm.REGISTER_VIEW,
            Perm.REVENUE_VIEW,
            Perm.PLANTING_VIEW,
        }
    ),
}

# trades, dividends, uses of state tickets, statements (issue 6) and certificate reissue, on top of the sets above
_TRADE_PERMISSIONS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.ISSUER: frozenset({Perm.TRADE_VIEW, Perm.TRADE_RECORD, Perm.TRADE_FILE, Perm.CERTIFICATE_REISSUE}),
    StaffRole.FORESTRY: frozenset(
        {
            Perm.CERTIFICATE_REISSUE,
            Perm.TRADE_VIEW,
            Perm.TRADE_FILE,
            Perm.OFFSET_VIEW,
            Perm.OFFSET_ISSUE,
            Perm.COMPENSATION_VIEW,
            Perm.COMPENSATION_MANAGE,
            Perm.COMPENSATION_PAY,
        }
    ),
    StaffRole.LANDSCAPING: frozenset({Perm.OFFSET_VIEW}),
    StaffRole.FINANCE: frozenset({Perm.OFFSET_VIEW, Perm.COMPENSATION_VIEW, Perm.COMPENSATION_PAY}),
    StaffRole.AUDITOR: frozenset({Perm.TRADE_VIEW, Perm.OFFSET_VIEW, Perm.COMPENSATION_VIEW}),
}
ROLE_PERMISSIONS = {role: perms | _TRADE_PERMISSIONS.get(role, frozenset()) for role, perms in ROLE_PERMISSIONS.items()}


def allowed(role: StaffRole, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(StaffRole(role), frozenset())


def any_allowed(role: StaffRole, *perms: Perm) -> bool:
    return any(allowed(role, p) for p in perms)


def may_edit_parcel_in(role: StaffRole, staff_district: str | None, parcel_district: str) -> bool:
    """Issuers keep the parcels of their own district only; forestry keeps all."""
    if not allowed(role, Perm.PARCEL_EDIT):
        return False
    return StaffRole(role) is not StaffRole.ISSUER or staff_district == parcel_district
