"""The back-office permission table: the one place that says which role may do what (least privilege).

Finer rules that depend on the record live with the rule itself: an issuer acts only in its own district
(:func:`registry.applications.may_handle`, :func:`registry.trades.may_record`); a forestry account with a district
is that county/district's forestry department and acts on state tickets of its district only, one without is the
city's (:func:`registry.applications.forestry_covers`); a greening committee office receives offset applications
of its own district only (:func:`registry.offsets.may_receive`).
"""

from __future__ import annotations

from enum import StrEnum

from registry.models import StaffRole, StaffUser


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
    OFFSET_RECEIVE = "offset.receive"  # 受理绿地占补平衡申请（区绿委办，本辖区）
    TRADE_VIEW = "trade.view"  # 查看交易、继承、分红
    TRADE_RECORD = "trade.record"  # 登记认购、继承、分红（本辖区集体林地林票）
    TRANSFER_RECORD = "transfer.record"  # 登记转让（集体：本辖区发放机关；国有：林草主管部门）
    TRADE_FILE = "trade.file"  # 登记交易备案（林业部门只登记市级备案）
    OFFSET_VIEW = "offset.view"  # 查看绿地占补平衡
    OFFSET_ISSUE = "offset.issue"  # 售出并注销国有林地林票（林业）
    COMPENSATION_VIEW = "compensation.view"  # 查看生态补偿案件
    COMPENSATION_MANAGE = "compensation.manage"  # 登记案件、责令认购（林业）
    COMPENSATION_PAY = "compensation.pay"  # 登记缴款并注销（林业；财政只读）
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
    StaffRole.GREENING: frozenset({Perm.DASHBOARD, Perm.HOLDER_VIEW, Perm.OFFSET_RECEIVE}),
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
    StaffRole.ISSUER: frozenset(
        {Perm.TRADE_VIEW, Perm.TRADE_RECORD, Perm.TRANSFER_RECORD, Perm.TRADE_FILE, Perm.CERTIFICATE_REISSUE}
    ),
    StaffRole.FORESTRY: frozenset(
        {
            Perm.CERTIFICATE_REISSUE,
            Perm.TRADE_VIEW,
            Perm.TRANSFER_RECORD,  # transfers of state tickets
            Perm.TRADE_FILE,
            Perm.OFFSET_VIEW,
            Perm.OFFSET_ISSUE,
            Perm.COMPENSATION_VIEW,
            Perm.COMPENSATION_MANAGE,
            Perm.COMPENSATION_PAY,
        }
    ),
    StaffRole.LANDSCAPING: frozenset({Perm.OFFSET_VIEW}),
    StaffRole.GREENING: frozenset({Perm.OFFSET_VIEW}),
    # finance reads; it never changes the register (a payment that retires units is recorded by forestry)
    StaffRole.FINANCE: frozenset({Perm.OFFSET_VIEW, Perm.COMPENSATION_VIEW}),
    StaffRole.AUDITOR: frozenset({Perm.TRADE_VIEW, Perm.OFFSET_VIEW, Perm.COMPENSATION_VIEW}),
}
ROLE_PERMISSIONS = {role: perms | _TRADE_PERMISSIONS.get(role, frozenset()) for role, perms in ROLE_PERMISSIONS.items()}


# What only the city's forestry department does: a county/district forestry department (a forestry account with a
# district) issues, transfers and reissues state tickets of its own district, and nothing city-wide.
CITY_FORESTRY_ONLY = frozenset(
    {
        Perm.QUOTA_MANAGE,
        Perm.PLANTING_RULE,
        Perm.OFFSET_ISSUE,
        Perm.COMPENSATION_MANAGE,
        Perm.COMPENSATION_PAY,
    }
)


def allowed(role: StaffRole, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(StaffRole(role), frozenset())


def staff_allowed(staff: StaffUser, perm: Perm) -> bool:
    """``allowed`` for one account: the role's table, narrowed for district forestry departments."""
    if StaffRole(staff.role) is StaffRole.FORESTRY and staff.district_code and perm in CITY_FORESTRY_ONLY:
        return False
    return allowed(staff.role, perm)


def any_allowed(role: StaffRole, *perms: Perm) -> bool:
    return any(allowed(role, p) for p in perms)


def may_edit_parcel_in(role: StaffRole, staff_district: str | None, parcel_district: str) -> bool:
    """Issuers keep the parcels of their own district only; forestry keeps all."""
    if not allowed(role, Perm.PARCEL_EDIT):
        return False
    return StaffRole(role) is not StaffRole.ISSUER or staff_district == parcel_district
