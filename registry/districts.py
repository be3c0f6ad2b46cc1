"""The city's districts and counties (区县) with their administrative division codes."""

from __future__ import annotations

CITY_CODE = "640100"
DISTRICTS: dict[str, str] = {
    "640104": "兴庆区",
    "640105": "西夏区",
    "640106": "金凤区",
    "640121": "永宁县",
    "640122": "贺兰县",
    "640181": "灵武市",
}


def district_name(code: str | None) -> str:
    if not code:
        return ""
    if code == CITY_CODE:
        return "银川市"
    return DISTRICTS.get(code, code)


def district_government(code: str) -> str:
    """The issuing body of collective tickets: the county/district government (区县人民政府)."""
    name = DISTRICTS.get(code, code)
    return f"{name}人民政府"
