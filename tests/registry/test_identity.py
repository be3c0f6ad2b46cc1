"""Identity numbers: validated by python-stdnum, located by region, masked for printing."""

from __future__ import annotations

import pytest

from registry.errors import InvalidIdentifier
from registry.identity import in_city, mask, mask_name, normalise_id_number, region_of
from registry.models import HolderKind
from tests.factories import credit_code, resident_id


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
        ("640104198001010013", HolderKind.INDIVIDUAL),  # 兴庆区 did not exist in 1980
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
