"""The carbon pool holder (碳汇林票资金池): the government body every carbon quota is issued to.

The shop sells from it and finds it by its credit code (:func:`registry.quotas.pool_holder`), so it is a record
of the register itself, not of any clerk: :mod:`registry.access` lets nobody edit it, make it a party to a
trade, an inheritance or any other workflow, or give another holder its code.
"""

from __future__ import annotations

from registry.identity import uscc_check_char
from registry.models import Holder

POOL_HOLDER_NAME = "银川市自然资源局（林业）"
_POOL_CODE_BODY = "11640100MB0000000"
POOL_HOLDER_CODE = _POOL_CODE_BODY + uscc_check_char(_POOL_CODE_BODY)  # 11: a government body (机关)


def is_pool_code(id_number: str | None) -> bool:
    return (id_number or "").strip().upper() == POOL_HOLDER_CODE


def is_pool(holder: Holder) -> bool:
    return is_pool_code(holder.id_number)
