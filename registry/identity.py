"""Identity numbers: resident ID numbers (居民身份证号码) and unified social credit codes (统一社会信用代码).

Validation is python-stdnum's (``cn.ric`` and ``cn.uscc``); this module only adds the city rule and masking.
"""

from __future__ import annotations

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from registry.errors import InvalidIdentifier
from registry.models import HolderKind

CITY_PREFIX = "6401"  # 银川市


def normalise_id_number(value: str, kind: HolderKind) -> str:
    """Return the canonical form of a holder's identifier or raise :class:`InvalidIdentifier`."""
    value = "".join(value.split()).replace("-", "")  # people type spaces and dashes; stdnum keeps them
    try:
        if kind is HolderKind.INDIVIDUAL:
            return str(ric.validate(value))
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier(value) from exc


def region_of(id_number: str, kind: HolderKind) -> str:
    """The administrative division code carried by an identifier (ID: chars 1–6; USCC: chars 3–8)."""
    if kind is HolderKind.INDIVIDUAL:
        return id_number[:6]
    return id_number[2:8]


def in_city(region_code: str) -> bool:
    return region_code.startswith(CITY_PREFIX)


def mask(value: str | None) -> str:
    """Show only the first four and the last four characters: 6401**********1234."""
    if not value:
        return ""
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 1)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(name: str) -> str:
    """Mask a person's name for public pages: 张三 → 张*, 王小明 → 王*明, 欧阳小明 → 欧**明; bodies' names are
    public. At most two stars, so a long name neither shows its length nor floods the page."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * min(len(name) - 2, 2) + name[-1]
