"""Typed refusals of the register. Each carries a message fit to show a user (Chinese first).

Each class also states the HTTP status it answers with (``http_status``, inherited from its base unless it sets
its own): the web layers ask :func:`linpiao.errors.status_of`, the one reader of it, so the back-office, the shop
and the API answer the same refusal with the same 4xx page or JSON error. ``code`` is stable for API clients and
``message`` is translated through the catalog by its msgid.
"""

from __future__ import annotations


class RegisterError(Exception):
    """Base of every refusal. Nothing has been written when one is raised."""

    code = "register_error"
    message = "登记簿拒绝了该操作"
    http_status = 400  # the request, as made, is refused; subclasses say 404, 409, … where that is the truth

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(f"{self.message}：{detail}" if detail else self.message)


class InsufficientUnits(RegisterError):
    code = "insufficient_units"
    message = "可用林票数量不足"
    http_status = 409  # the request is sound, the stock is not there


class WrongKind(RegisterError):
    code = "wrong_kind"
    message = "林票种类不符"


class HolderOutsideCity(RegisterError):
    code = "holder_outside_city"
    message = "集体林地林票和国有林地林票仅限在银川市内流通，持有人的居住地（住所）须在本市"


class ResidenceNotConfirmed(RegisterError):
    code = "residence_not_confirmed"
    message = "持有人的居住地（住所）尚未经经办人员核实记录，请先记录居住地及其依据"


class InvalidResidence(RegisterError):
    code = "invalid_residence"
    message = "居住地（住所）或其依据无效"


class InvalidIdentifier(RegisterError):
    code = "invalid_identifier"
    message = "身份证号码或统一社会信用代码无效"


class HolderKindMismatch(RegisterError):
    """The declared kind of holder contradicts the organisation category its credit code carries (chars 1–2)."""

    code = "holder_kind_mismatch"
    message = "持有人类型与统一社会信用代码所示的机构类别不符"

    def __init__(self, detail: str | None = None, *, category_zh: str = "", category_en: str = "") -> None:
        super().__init__(detail)
        self.category_zh = category_zh
        self.category_en = category_en


class NonPositiveQuantity(RegisterError):
    code = "non_positive_quantity"
    message = "数量必须是正整数"


class RetiredUnits(RegisterError):
    code = "retired_units"
    message = "已注销的林票不能再变动"


class InvalidShares(RegisterError):
    code = "invalid_shares"
    message = "份额之和必须等于100%"


class HolderDeceased(RegisterError):
    code = "holder_deceased"
    message = "持有人已故，只能办理继承"


class BatchClosed(RegisterError):
    code = "batch_closed"
    message = "该批次（额度）已关闭"


class NotFound(RegisterError):
    code = "not_found"
    message = "未找到"
    http_status = 404


class InvalidState(RegisterError):
    code = "invalid_state"
    message = "当前状态不允许该操作"


class DeathBeforeAcquisition(RegisterError):
    """An inheritance whose death date falls before a later acquisition of the deceased in the register."""

    code = "death_before_acquisition"
    message = "死亡日期早于被继承人此后在登记簿中取得林票的日期，请核对死亡日期"
