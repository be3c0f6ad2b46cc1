"""Identity numbers: validated as GB 11643 and GB 32100 define them, located by region, masked for printing.

The property tests compute both standards' check characters here, independently of registry/identity.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import credit_code, resident_id
from kernel import clock
from registry.errors import HolderKindMismatch, InvalidIdentifier
from registry.identity import (
    birth_date,
    check_holder_kind,
    in_city,
    mask,
    mask_name,
    normalise_id_number,
    organisation_category,
    organisation_kind,
    region_of,
    validate_credit_code,
    validate_resident_id,
)
from registry.models import HolderKind


def test_valid_numbers_are_normalised():
    rid = resident_id("640121")
    assert normalise_id_number(f" {rid[:6]} {rid[6:]} ".lower(), HolderKind.INDIVIDUAL) == rid
    code = credit_code("640104")
    assert normalise_id_number(code.lower(), HolderKind.ENTERPRISE) == code


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("640121198001010010", HolderKind.INDIVIDUAL),  # wrong check digit
        ("64012119800230001X", HolderKind.INDIVIDUAL),  # 30 February
        ("12345", HolderKind.INDIVIDUAL),
        ("91640104000000002A", HolderKind.ENTERPRISE),  # wrong check character
        ("", HolderKind.ENTERPRISE),
        ("<script>", HolderKind.ENTERPRISE),
    ],
)
def test_invalid_numbers_are_refused(value, kind):
    with pytest.raises(InvalidIdentifier):
        normalise_id_number(value, kind)


def test_region_and_city():
    assert region_of("64012119800101001X", HolderKind.INDIVIDUAL) == "640121"
    assert region_of("91640104000000002H", HolderKind.ENTERPRISE) == "640104"
    assert in_city("640121") and in_city("640100")
    assert not in_city("310101") and not in_city("")


def test_masking_keeps_first_and_last_four():
    assert mask("64012119800101001X") == "6401**********001X"
    assert mask("") == ""
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳小明") == "欧**明"


# --- the standards, written out here independently of registry/identity.py ----------------------------------

# GB 32100-2015: 0–9 and A–Z without I, O, Z, S, V, valued 0..30 in this order.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Registration authority (char 1) and organisation category (char 2) pairs the standard lists (N: amendment 1).
USCC_TABLE = {"1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129", "8": "19"}
USCC_TABLE |= {"9": "123", "A": "19", "N": "1239", "Y": "1"}
USCC_PAIRS = [authority + category for authority, categories in USCC_TABLE.items() for category in categories]
# GB/T 2260 province-level codes (and 81/82/83 of the residence permits), by their first digit.
PROVINCE_TABLE = {"1": "12345", "2": "123", "3": "1234567", "4": "123456", "5": "01234", "6": "12345", "7": "1"}
PROVINCE_CODES = [tens + units for tens, all_units in (PROVINCE_TABLE | {"8": "123"}).items() for units in all_units]


def uscc_check(body: str) -> str:
    """GB 32100: weights 3^(i-1) mod 31; check = 31 − (sum mod 31), and 31 is written 0."""
    total = sum(USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(body))
    return USCC_CHARS[(31 - total % 31) % 31]


def ric_check(body: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2): weights 2^(18-i) mod 11 for positions 1..17; check = (12 − sum mod 11)
    mod 11, and 10 is written X."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def test_the_independent_algorithms_agree_with_published_numbers():
    assert uscc_check("91110000600037341") == "L"  # a real enterprise's code
    assert ric_check("11010519491231002") == "X"  # the standard's own example


digits = st.sampled_from("0123456789")


@st.composite
def valid_credit_codes(draw: st.DrawFn) -> str:
    pair = draw(st.sampled_from(USCC_PAIRS))
    region = "".join(draw(st.lists(digits, min_size=6, max_size=6)))
    subject = "".join(draw(st.lists(st.sampled_from(USCC_CHARS), min_size=9, max_size=9)))
    body = pair + region + subject
    return body + uscc_check(body)


@st.composite
def valid_resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(PROVINCE_CODES)) + "".join(draw(st.lists(digits, min_size=4, max_size=4)))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=clock.today()))
    body = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + ric_check(body)


@settings(max_examples=300, deadline=None)
@given(valid_credit_codes())
def test_generated_credit_codes_pass_and_every_one_character_change_fails(code):
    assert validate_credit_code(code) == code
    assert validate_credit_code(f" {code[:8]}-{code[8:]} ".lower()) == code
    for position in range(18):
        for char in USCC_CHARS:
            if char != code[position]:
                changed = code[:position] + char + code[position + 1 :]
                with pytest.raises(InvalidIdentifier):
                    validate_credit_code(changed)


@settings(max_examples=300, deadline=None)
@given(valid_resident_ids())
def test_generated_resident_ids_pass_and_every_one_character_change_fails(number):
    assert validate_resident_id(number) == number
    assert validate_resident_id(number.lower()) == number
    for position in range(18):
        for char in "0123456789X" if position == 17 else "0123456789":
            if char != number[position]:
                changed = number[:position] + char + number[position + 1 :]
                with pytest.raises(InvalidIdentifier):
                    validate_resident_id(changed)


# --- credit codes at the edges ------------------------------------------------------------------------------


def uscc(body: str) -> str:
    return body + uscc_check(body)


@pytest.mark.parametrize(
    ("body", "category"),
    [("N1640104MF000000A", "组级"), ("N2640104MF0000001", "村级"), ("N3640121MF0000002", "乡镇级")],
)
def test_village_collective_codes_are_accepted(body, category):
    code = uscc(body)
    assert normalise_id_number(code.lower(), HolderKind.VILLAGE_COLLECTIVE) == code
    assert region_of(code, HolderKind.VILLAGE_COLLECTIVE) == body[2:8]
    found = organisation_category(code)
    assert found.category_zh.startswith(category) and "农业农村" in found.label_zh
    assert "collective economic organisation" in found.label_en
    assert organisation_kind(code) is HolderKind.VILLAGE_COLLECTIVE


@pytest.mark.parametrize("letter", "IOZSV")
def test_the_five_letters_the_standard_leaves_out_are_refused(letter):
    code = uscc("91640104MA7600001")
    for position in range(18):
        with pytest.raises(InvalidIdentifier):
            validate_credit_code(code[:position] + letter + code[position + 1 :])


@pytest.mark.parametrize(
    "body",
    [
        "B1640104MA7600001",  # no registration authority B
        "94640104MA7600001",  # industry and commerce has no category 4
        "Y2640104MA7600001",  # "other" has only category 1
        "9164A104MA7600001",  # the division code (chars 3–8) is digits
    ],
)
def test_codes_outside_the_standards_table_are_refused(body):
    for char in USCC_CHARS:  # whatever the check character
        with pytest.raises(InvalidIdentifier):
            validate_credit_code(body + char)


def test_organisation_category_says_who_registered_the_body():
    government = organisation_category(uscc("11640100MB0000000"))
    assert (government.category_zh, government.category_en) == ("机关", "Government body")
    assert organisation_kind(uscc("11640100MB0000000")) is HolderKind.GOVERNMENT
    farm = organisation_category(uscc("12640100MB0000003"))
    assert farm.label_zh == "事业单位（机构编制）" and farm.label_en.startswith("Public institution")
    assert organisation_kind(uscc("12640100MB0000003")) is HolderKind.STATE_UNIT
    assert organisation_kind(uscc("91640104MA7600001")) is HolderKind.ENTERPRISE
    assert organisation_kind(uscc("93640121MA7600001")) is HolderKind.ENTERPRISE  # 农民专业合作社
    assert organisation_category(uscc("51640100MJ0000001")).category_zh == "社会团体"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("91640104MA7600001", HolderKind.VILLAGE_COLLECTIVE),  # an enterprise is not a village collective
        ("N2640104MF0000001", HolderKind.ENTERPRISE),  # nor a village collective an enterprise
        ("N2640104MF0000001", HolderKind.STATE_UNIT),
        ("11640100MB0000000", HolderKind.ENTERPRISE),
        ("12640100MB0000003", HolderKind.GOVERNMENT),
        ("51640100MJ0000001", HolderKind.GOVERNMENT),
    ],
)
def test_a_kind_that_contradicts_the_code_is_refused(body, kind):
    with pytest.raises(HolderKindMismatch) as caught:
        check_holder_kind(uscc(body), kind)
    assert caught.value.category_zh == organisation_category(uscc(body)).label_zh


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("N1640104MF0000001", HolderKind.VILLAGE_COLLECTIVE),
        ("91640104MA7600001", HolderKind.ENTERPRISE),
        ("91640104MA7600001", HolderKind.STATE_UNIT),  # a state-owned enterprise
        ("12640100MB0000003", HolderKind.STATE_UNIT),  # a state forest farm
        ("11640100MB0000000", HolderKind.GOVERNMENT),
    ],
)
def test_a_kind_that_matches_the_code_is_accepted(body, kind):
    check_holder_kind(uscc(body), kind)


# --- resident identity numbers at the edges -------------------------------------------------------------------


def rid(region: str, born: str, seq: int = 1) -> str:
    body = f"{region}{born}{seq:03d}"
    return body + ric_check(body)


# 16:30 UTC on 1 March 2026 is already 00:30 on 2 March in Yinchuan.
BEIJING_JUST_AFTER_MIDNIGHT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


def test_birth_dates_run_from_1900_to_today_in_beijing():
    with clock.use(clock.FixedClock(BEIJING_JUST_AFTER_MIDNIGHT)):
        today = clock.today()
        assert today == date(2026, 3, 2)
        assert validate_resident_id(rid("640121", "19000101")) == rid("640121", "19000101")
        born_today = rid("640121", f"{today:%Y%m%d}")  # today in Beijing, though the UTC date is 1 March
        assert validate_resident_id(born_today) == born_today
        for refused in ("18991231", f"{today + timedelta(days=1):%Y%m%d}", "20300101"):
            with pytest.raises(InvalidIdentifier):
                validate_resident_id(rid("640121", refused))


def test_retired_region_codes_are_accepted():
    # old Lingwu county (灵武县, 642125 until 1996): people kept their numbers when it became 640181; python-stdnum's
    # cn.ric refuses the code for anyone born after 1996, this register does not
    for born in ("19800101", "19990615"):
        number = rid("642125", born)
        assert normalise_id_number(number, HolderKind.INDIVIDUAL) == number
        assert region_of(number, HolderKind.INDIVIDUAL) == "642125"
    late = rid("640104", "19800101")  # 兴庆区 (from 2002): a number first issued after its holder's birth
    assert validate_resident_id(late) == late


@pytest.mark.parametrize(
    "number",
    [
        rid("640121", "19990229"),  # 29 February of a common year
        rid("640121", "19001301"),
        rid("640121", "19800100"),
        rid("990121", "19800101"),  # no province 99
        rid("000000", "19800101"),
        rid("640121", "19800101")[:-1] + "Y",
    ],
)
def test_impossible_numbers_are_refused(number):
    with pytest.raises(InvalidIdentifier):
        validate_resident_id(number)


def test_a_leap_day_and_a_trailing_x_are_accepted():
    assert validate_resident_id(rid("640121", "20000229")) == rid("640121", "20000229")
    with_x = next(rid("640121", "19800101", n) for n in range(1000) if rid("640121", "19800101", n).endswith("X"))
    assert validate_resident_id(with_x.lower()) == with_x
    assert birth_date(with_x) == date(1980, 1, 1)


def test_a_refused_number_is_not_echoed_whole():
    bad = rid("640121", "19990229")
    with pytest.raises(InvalidIdentifier) as caught:
        validate_resident_id(bad)
    assert bad not in str(caught.value)
