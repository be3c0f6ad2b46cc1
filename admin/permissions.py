"""The back-office permission table: which pages each role may open at all (least privilege).

Which *record* an account may read or change — role × district × ticket kind × record — is the one table of
:mod:`registry.access`, which every view and every register workflow asks: an issuer acts only on its own
district's holders, parcels and collective tickets; a forestry account with a district is that county/district's
forestry department (state tickets of its district), one without is the city's; a greening committee office
receives offset applications of its own district only; the carbon pool holder is nobody's to change.
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
    TRADE_RECORD = "trade.record"  # 登记认购、分红（本辖区集体林地林票）
    INHERITANCE_RECORD = "inheritance.record"  # 登记继承（集体：本辖区发放机关；国有：林草主管部门）
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
    APIKEY_MANAGE = "apikey.manage"  # 机构 API 密钥：签发、吊销（系统管理员）
    SERVICE_VIEW = "service.view"  # 客服：按验证码、编号、联系方式、金额、日期查找订单，查看订单经过
    SERVICE_ACT = "service.act"  # 客服：重发订单链接、经支付机构退款、补发订单证书（市林草主管部门）
    NOTICE_VIEW = "notice.view"  # 公示：查看本辖区的分红和集体林地林票发放公示及异议
    NOTICE_MANAGE = "notice.manage"  # 公示：发布、登记异议及处理结果、登记分红发放（本辖区发放机关）
    JOBS_MANAGE = "jobs.manage"  # 后台任务：查看排队、运行、失败的任务和错误，重试失败的任务（系统管理员）


ROLE_PERMISSIONS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.ADMIN: frozenset({Perm.DASHBOARD, Perm.STAFF_MANAGE, Perm.AUDIT_VIEW, Perm.APIKEY_MANAGE}),
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
        {
            Perm.TRADE_VIEW,
            Perm.TRADE_RECORD,
            Perm.TRANSFER_RECORD,
            Perm.INHERITANCE_RECORD,
            Perm.TRADE_FILE,
            Perm.CERTIFICATE_REISSUE,
        }
    ),
    StaffRole.FORESTRY: frozenset(
        {
            Perm.CERTIFICATE_REISSUE,
            Perm.TRADE_VIEW,
            Perm.TRANSFER_RECORD,  # transfers of state tickets
            Perm.INHERITANCE_RECORD,  # inheritance of state tickets
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
# Background jobs (/admin/jobs, registry/jobs.py): the system administrator watches the job engine and retries a
# failed job; retrying replays the system's own idempotent work, never a register decision of a clerk.
ROLE_PERMISSIONS[StaffRole.ADMIN] = ROLE_PERMISSIONS[StaffRole.ADMIN] | {Perm.JOBS_MANAGE}

# The shop's customer-service desk (admin/views_service.py). The city forestry department runs the shop (it opens
# the quotas and reissues carbon certificates), so it answers citizens: it finds orders, resends links, refunds and
# reissues. Finance and the auditor find orders and read their timelines (reconciling a payment, checking a refund)
# but change nothing; issuers, landscaping and greening have no business with shop buyers' contacts.
_SERVICE_PERMISSIONS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.FORESTRY: frozenset({Perm.SERVICE_VIEW, Perm.SERVICE_ACT}),
    StaffRole.FINANCE: frozenset({Perm.SERVICE_VIEW}),
    StaffRole.AUDITOR: frozenset({Perm.SERVICE_VIEW}),
}
ROLE_PERMISSIONS = {
    role: perms | _SERVICE_PERMISSIONS.get(role, frozenset()) for role, perms in ROLE_PERMISSIONS.items()
}


# Public notices (公示, registry/notices.py): the district's issuer publishes its collective issuance applications and
# dividends, records objections and their outcome and the dividend's payment; the auditor reads them.
ROLE_PERMISSIONS[StaffRole.ISSUER] = ROLE_PERMISSIONS[StaffRole.ISSUER] | {Perm.NOTICE_VIEW, Perm.NOTICE_MANAGE}
ROLE_PERMISSIONS[StaffRole.AUDITOR] = ROLE_PERMISSIONS[StaffRole.AUDITOR] | {Perm.NOTICE_VIEW}


# What only the city's forestry department does: a county/district forestry department (a forestry account with a
# district) issues, transfers and reissues state tickets of its own district, and nothing city-wide.
CITY_FORESTRY_ONLY = frozenset(
    {
        Perm.QUOTA_MANAGE,
        Perm.PLANTING_RULE,
        Perm.OFFSET_ISSUE,
        Perm.COMPENSATION_MANAGE,
        Perm.COMPENSATION_PAY,
        Perm.SERVICE_VIEW,  # the shop is city-wide: a county's forestry department does not serve its buyers
        Perm.SERVICE_ACT,
    }
)


def allowed(role: StaffRole, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(StaffRole(role), frozenset())


def staff_allowed(staff: StaffUser, perm: Perm) -> bool:
    """``allowed`` for one account: the role's table, narrowed for district forestry departments."""
    if StaffRole(staff.role) is StaffRole.FORESTRY and staff.district_code and perm in CITY_FORESTRY_ONLY:
        return False
    return allowed(staff.role, perm)
