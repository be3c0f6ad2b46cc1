"""Refusals of the shop, typed like the register's so they map to the same 4xx pages and JSON errors (each states
its ``http_status``, read by :func:`linpiao.errors.status_of`)."""

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


class OrderLimitError(RegisterError):
    """A refusal of the shop's inventory rules (:mod:`shop.limits`). The message states the numbers in force
    (``params``, filled in after translation); ``retry_after`` is when, in seconds, the client's oldest unpaid
    reservation runs out."""

    code = "order_limit"
    message = "订单超出限购规定"

    def __init__(self, *, retry_after: int | None = None, **params: int | str) -> None:
        self.params = {name: f"{value:,}" if isinstance(value, int) else value for name, value in params.items()}
        self.retry_after = retry_after
        super().__init__(", ".join(f"{name}={value}" for name, value in self.params.items()))


class AboveOrderLimit(OrderLimitError):
    code = "above_order_limit"
    message = (
        "单笔订单最多 %(maximum)s 张（本期剩余 %(left)s 张的 %(share)s，且不少于 %(floor)s 张），"
        "本单 %(quantity)s 张超出上限。单位大宗认购可联系本平台申请机构 API 密钥。"
    )
    http_status = 409


class PendingLimit(OrderLimitError):
    """Too much reserved and unpaid by one client: answered 429, with ``Retry-After``."""

    http_status = 429


class TooManyPendingOrders(PendingLimit):
    code = "pending_orders_limit"
    message = (
        "同一网络地址同时最多保留 %(max_orders)s 笔未付款订单，您已有 %(orders)s 笔。"
        "请先完成支付，或等预留到期后再下单（本期剩余 %(left)s 张）。"
    )


class TooManyPendingUnits(PendingLimit):
    code = "pending_units_limit"
    message = (
        "同一网络地址的未付款订单合计最多预留 %(max_units)s 张，您已预留 %(units)s 张，本单 %(quantity)s 张超出上限。"
        "请先完成支付，或等预留到期后再下单（本期剩余 %(left)s 张）。"
    )


class KeyPendingUnits(PendingLimit):
    code = "pending_units_limit"
    message = (
        "该机构 API 密钥的未付款订单合计最多预留 %(max_units)s 张，已预留 %(units)s 张，"
        "本单 %(quantity)s 张超出上限（本期剩余 %(left)s 张）。"
    )


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
    http_status = 409


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
    http_status = 502  # the payment provider failed, not the request; nothing stays reserved


class InvalidEstimate(RegisterError):
    """``detail`` names the field (``trips[0].mode``); the API shows it after the message."""

    code = "invalid_estimate"
    message = "计算参数无效"


class MixNot100(InvalidEstimate):
    message = "各出行方式所占比例之和必须为100"


class InvalidPaymentMethod(RegisterError):
    """``detail`` names the field (``payment_method``, ``payment_channel``, ``wechat_openid``)."""

    code = "invalid_payment_method"
    message = "支付方式无效或本店未开通（支付宝 alipay、微信支付 wechat_pay、银行卡 card）"
