"""Refusals of the shop, typed like the register's so they map to the same 4xx pages and JSON errors."""

from __future__ import annotations

from registry.errors import InsufficientUnits, NotFound, RegisterError


class InvalidQuantity(RegisterError):
    code = "invalid_quantity"
    message = "数量必须是正整数"


class BelowMinimum(RegisterError):
    code = "below_minimum"
    message = "订单金额低于最低限额：支付机构不受理过小的金额"


class AboveMaximum(RegisterError):
    code = "above_maximum"
    message = "订单数量超过单笔上限"


class InvalidPurpose(RegisterError):
    code = "invalid_purpose"
    message = "请选择有效的用途"


class InvalidName(RegisterError):
    code = "invalid_name"
    message = "证书名称必须填写，且不超过100个字"


class InvalidBuyerKind(RegisterError):
    code = "invalid_buyer_kind"
    message = "买方类型必须是个人（individual）或单位（enterprise）"


class InvalidContact(RegisterError):
    code = "invalid_contact"
    message = "联系方式不超过100个字"


class IdempotencyConflict(RegisterError):
    code = "idempotency_conflict"
    message = "该幂等键已用于另一笔不同的订单"


class QuotaExhausted(InsufficientUnits):
    code = "quota_exhausted"
    message = "本期碳汇林票额度已售完或剩余不足"


class NoOpenQuota(InsufficientUnits):
    code = "no_open_quota"
    message = "目前没有在售的碳汇林票额度"


class OrderNotFound(NotFound):
    code = "not_found"
    message = "未找到"


class PaymentUnavailable(RegisterError):
    code = "payment_unavailable"
    message = "支付服务暂时不可用，请稍后再试；林票已退回额度"


class InvalidEstimate(RegisterError):
    """``detail`` names the field (``trips[0].mode``); the API shows it after the message."""

    code = "invalid_estimate"
    message = "计算参数无效"


class MixNot100(InvalidEstimate):
    message = "各出行方式所占比例之和必须为100"
