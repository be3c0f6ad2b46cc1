"""Identity numbers: resident identity numbers (公民身份号码, GB 11643-1999) and unified social credit codes
(统一社会信用代码, GB 32100-2015). This module is the one validator of both; nothing else checks them.

Which library does what, and why:

* **Credit codes: our own validator.** python-stdnum's ``cn.uscc`` requires the first eight characters to be
  digits, so it refuses the codes that agriculture and rural-affairs departments give village collective
  economic organisations (``N1…`` group, ``N2…`` village, ``N3…`` township), the main holders of collective
  tickets. Here: 18 characters of the standard's set (0–9 and A–Z without I, O, Z, S, V), chars 1–2 a
  registration authority and organisation category the standard lists (:data:`CATEGORIES`, with the ``N``
  authority of its amendment), chars 3–8 digits (the registering body's division code), and the check character
  of GB 32100 (weights 3^(i-1) mod 31, check = 31 − (sum mod 31), 31 → 0). The organisation code inside (chars
  9–17) is not checked against GB 11714: the outer check character already covers every character.
* **Resident identity numbers: python-stdnum's ISO 7064 MOD 11-2** (``stdnum.iso7064.mod_11_2``) for the check
  character, the rest here: 17 digits and the check character (0–9 or X), a real birth date (chars 7–14) from
  1900-01-01 to today on the city clock (Beijing date), and a province-level code (GB/T 2260) in chars 1–2.
  Not stdnum's ``cn.ric``: it looks the six-digit region up in its own table and refuses a code that was not in
  force in the birth year, or is missing from the table: old Lingwu ``642125…`` for anyone born after 1996,
  ``640104…`` (兴庆区, from 2002) for anyone born before. But the region code only says where the number was
  first issued; people keep their number when districts are renamed or merged, and numbers are issued late, so
  any region code within a province is accepted. It also accepts birth dates in the future.

Both validators are cheap (no table look-up), so a 5,000-row roster is checked in one go.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from stdnum.iso7064 import mod_11_2

from kernel import clock
from registry.errors import HolderKindMismatch, InvalidIdentifier
from registry.idcrypt import mask as mask  # the one masking rule, also what the models show (re-exported)
from registry.models import HolderKind

CITY_PREFIX = "6401"  # 银川市

# --- the characters people type ---------------------------------------------------------------------------


def clean(value: object) -> str:
    """What was typed, as the standards write it: full-width characters folded (NFKC), spaces and dashes removed,
    upper case."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    return "".join(text.split()).replace("-", "").upper()


# --- unified social credit codes (GB 32100-2015) ----------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 0–9 and A–Z without I, O, Z, S, V: 31 characters
_USCC_VALUE = {char: index for index, char in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, …


@dataclass(frozen=True)
class OrganisationCategory:
    """A registration authority (登记管理部门, char 1) and organisation category (机构类别, char 2) of GB 32100,
    and the holder kinds of the register such a body may be registered as (the first is the usual one)."""

    code: str
    authority_zh: str
    authority_en: str
    category_zh: str
    category_en: str
    kinds: tuple[HolderKind, ...]

    @property
    def label_zh(self) -> str:
        return f"{self.category_zh}（{self.authority_zh}）"

    @property
    def label_en(self) -> str:
        return f"{self.category_en} ({self.authority_en})"

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en


_GOVERNMENT = (HolderKind.GOVERNMENT,)
_STATE = (HolderKind.STATE_UNIT,)
_COLLECTIVE = (HolderKind.VILLAGE_COLLECTIVE,)
# The register has no kind of its own for social organisations, law firms, religious venues, trade unions or
# foreign bodies: they are held as "enterprises and other organisations", never as government, state unit or
# village collective.
_OTHER = (HolderKind.ENTERPRISE,)

_AUTHORITIES: dict[str, tuple[str, str, list[tuple[str, str, str, tuple[HolderKind, ...]]]]] = {
    "1": (
        "机构编制",
        "public-sector staffing authority",
        [
            ("1", "机关", "Government body", _GOVERNMENT),
            ("2", "事业单位", "Public institution", _STATE),
            ("3", "群众团体", "Mass organisation", _GOVERNMENT),
            ("9", "其他机构编制单位", "Other staffed body", (HolderKind.GOVERNMENT, HolderKind.STATE_UNIT)),
        ],
    ),
    "2": (
        "外交",
        "foreign affairs",
        [
            ("1", "外国常驻新闻机构", "Resident foreign news agency", _OTHER),
            ("9", "其他外交登记机构", "Other body registered with foreign affairs", _OTHER),
        ],
    ),
    "3": (
        "司法行政",
        "justice administration",
        [
            ("1", "律师执业机构", "Law firm", _OTHER),
            ("2", "公证处", "Notary office", _OTHER),
            ("3", "基层法律服务所", "Grass-roots legal service office", _OTHER),
            ("4", "司法鉴定机构", "Forensic appraisal institution", _OTHER),
            ("5", "仲裁委员会", "Arbitration commission", _OTHER),
            ("9", "其他司法行政登记机构", "Other body registered with justice administration", _OTHER),
        ],
    ),
    "4": (
        "文化",
        "culture",
        [
            ("1", "外国在华文化中心", "Foreign cultural centre in China", _OTHER),
            ("9", "其他文化登记机构", "Other body registered with culture", _OTHER),
        ],
    ),
    "5": (
        "民政",
        "civil affairs",
        [
            ("1", "社会团体", "Social organisation", _OTHER),
            ("2", "民办非企业单位", "Private non-enterprise unit", _OTHER),
            ("3", "基金会", "Foundation", _OTHER),
            ("9", "其他民政登记机构", "Other body registered with civil affairs", _OTHER),
        ],
    ),
    "6": (
        "旅游",
        "tourism",
        [
            ("1", "外国旅游部门常驻代表机构", "Resident office of a foreign tourism authority", _OTHER),
            (
                "2",
                "港澳台地区旅游部门常驻内地（大陆）代表机构",
                "Resident mainland office of a Hong Kong, Macao or Taiwan tourism authority",
                _OTHER,
            ),
            ("9", "其他旅游登记机构", "Other body registered with tourism", _OTHER),
        ],
    ),
    "7": (
        "宗教",
        "religious affairs",
        [
            ("1", "宗教活动场所", "Venue for religious activities", _OTHER),
            ("2", "宗教院校", "Religious school", _OTHER),
            ("9", "其他宗教登记机构", "Other body registered with religious affairs", _OTHER),
        ],
    ),
    "8": (
        "工会",
        "trade unions",
        [
            ("1", "基层工会", "Grass-roots trade union", _OTHER),
            ("9", "其他工会登记机构", "Other body registered with the trade unions", _OTHER),
        ],
    ),
    "9": (
        "工商",
        "industry and commerce (market regulation)",
        [
            # a state-owned enterprise is a 国有企事业单位 of the register
            ("1", "企业", "Enterprise", (HolderKind.ENTERPRISE, HolderKind.STATE_UNIT)),
            ("2", "个体工商户", "Individual business", _OTHER),
            ("3", "农民专业合作社", "Farmers' specialised cooperative", _OTHER),
        ],
    ),
    "A": (
        "中央军委改革和编制办公室",
        "CMC reform and staffing office",
        [
            ("1", "军队事业单位", "Military public institution", _STATE),
            ("9", "其他军队编制单位", "Other military staffed body", _STATE),
        ],
    ),
    "N": (
        "农业农村",
        "agriculture and rural affairs",
        [
            ("1", "组级集体经济组织", "Village-group collective economic organisation", _COLLECTIVE),
            ("2", "村级集体经济组织", "Village collective economic organisation", _COLLECTIVE),
            ("3", "乡镇级集体经济组织", "Township collective economic organisation", _COLLECTIVE),
            ("9", "其他农村集体经济组织", "Other rural collective economic organisation", _COLLECTIVE),
        ],
    ),
    "Y": ("其他", "other", [("1", "其他登记机构", "Body registered elsewhere", _OTHER)]),
}

CATEGORIES: dict[str, OrganisationCategory] = {
    authority + category: OrganisationCategory(authority + category, a_zh, a_en, c_zh, c_en, kinds)
    for authority, (a_zh, a_en, rows) in _AUTHORITIES.items()
    for category, c_zh, c_en, kinds in rows
}


def uscc_check_char(body: str) -> str:
    """The 18th character of a credit code whose first 17 characters are ``body``."""
    total = sum(_USCC_VALUE[char] * weight for char, weight in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Whether ``code`` (already :func:`clean`) is a credit code the standard defines."""
    return (
        len(code) == 18
        and code[:2] in CATEGORIES
        and code[2:8].isascii()
        and code[2:8].isdigit()
        and all(char in _USCC_VALUE for char in code[8:])
        and code[17] == uscc_check_char(code[:17])
    )


def validate_credit_code(value: object) -> str:
    """The canonical credit code, or :class:`InvalidIdentifier` (the detail is masked)."""
    code = clean(value)
    if not is_valid_credit_code(code):
        raise InvalidIdentifier(mask(code[:40]))
    return code


def organisation_category(code: str) -> OrganisationCategory:
    """The registration authority and organisation category of a valid credit code (chars 1–2)."""
    return CATEGORIES[validate_credit_code(code)[:2]]


def organisation_kind(code: str) -> HolderKind:
    """The kind of holder a body is registered as when only its credit code is known (an organisation's
    roster in the shop): a village collective for ``N…``, a government body for ``11…``, and so on."""
    return organisation_category(code).kinds[0]


def check_holder_kind(id_number: str, kind: HolderKind) -> None:
    """Refuse (:class:`HolderKindMismatch`) a body whose declared kind contradicts its credit code: an ``N2…``
    village collective registered as an enterprise, a ``91…`` enterprise as a village collective."""
    if kind is HolderKind.INDIVIDUAL:
        return
    category = organisation_category(id_number)
    if kind not in category.kinds:
        raise HolderKindMismatch(
            f"{category.code}: {kind}", category_zh=category.label_zh, category_en=category.label_en
        )


# --- resident identity numbers (GB 11643-1999) ------------------------------------------------------------

EARLIEST_BIRTH = date(1900, 1, 1)
# Province-level codes of GB/T 2260 (71 台湾), and 81/82/83 of the residence permits of Hong Kong, Macao and
# Taiwan residents, which follow GB 11643.
PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43"}
    | {"44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"}
)


def ric_check_char(body: str) -> str:
    """The 18th character of a resident identity number whose first 17 digits are ``body`` (ISO 7064 MOD 11-2)."""
    return str(mod_11_2.calc_check_digit(body))


def birth_date(id_number: str) -> date:
    """The birth date carried by a valid resident identity number (chars 7–14)."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def is_valid_resident_id(number: str, *, today: date | None = None) -> bool:
    """Whether ``number`` (already :func:`clean`) is a resident identity number as GB 11643 defines it, born
    from 1900-01-01 to ``today`` (the city's date unless given: pass it once when checking many)."""
    if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()) or number[:2] not in PROVINCES:
        return False
    if number[17] not in "0123456789X" or mod_11_2.checksum(number) != 1:
        return False
    try:
        born = birth_date(number)
    except ValueError:  # 30 February, month 13, 29 February of a common year
        return False
    return EARLIEST_BIRTH <= born <= (today or clock.today())


def validate_resident_id(value: object) -> str:
    """The canonical 18-character resident identity number, or :class:`InvalidIdentifier` (the detail is
    masked: an ID number is never echoed whole)."""
    number = clean(value)
    if not is_valid_resident_id(number):
        raise InvalidIdentifier(mask(number[:40]))
    return number


# --- holders --------------------------------------------------------------------------------------------


def normalise_id_number(value: str, kind: HolderKind) -> str:
    """Return the canonical form of a holder's identifier (a resident identity number for a person, a credit
    code for any body) or raise :class:`InvalidIdentifier`."""
    if kind is HolderKind.INDIVIDUAL:
        return validate_resident_id(value)
    return validate_credit_code(value)


def region_of(id_number: str, kind: HolderKind) -> str:
    """The administrative division code carried by an identifier (ID: chars 1–6; USCC: chars 3–8)."""
    if kind is HolderKind.INDIVIDUAL:
        return id_number[:6]
    return id_number[2:8]


def in_city(region_code: str) -> bool:
    return region_code.startswith(CITY_PREFIX)


def mask_name(name: str) -> str:
    """Mask a person's name for public pages: 张三 → 张*, 王小明 → 王*明, 欧阳小明 → 欧**明; bodies' names are
    public. At most two stars, so a long name neither shows its length nor floods the page."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * min(len(name) - 2, 2) + name[-1]
