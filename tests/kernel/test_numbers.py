"""Numbers as pages show them: Babel's formatting in the page's language, and CO2e masses in kg or tonnes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from kernel import i18n


@pytest.fixture(params=["zh_CN", "en"])
def locale(request: pytest.FixtureRequest) -> Iterator[str]:
    token = i18n.current_locale.set(request.param)
    try:
        yield request.param
    finally:
        i18n.current_locale.reset(token)


def test_thousands_separators_and_at_most_the_places_asked(locale):
    assert i18n.format_number(Decimal("1234567.891"), 2) == "1,234,567.89"
    assert i18n.format_number(Decimal("200105.60"), 2) == "200,105.6"  # trailing zeros dropped
    assert i18n.format_number(1_000_000) == "1,000,000"
    assert i18n.format_number(Decimal("0.005"), 2) == "0.01"  # half up, as the calculator rounds; Babel alone: 0


def test_mass_in_kilograms_under_a_tonne_and_in_tonnes_from_there():
    token = i18n.current_locale.set("zh_CN")
    try:
        assert str(i18n.format_mass(Decimal("409.91"))) == "409.91 千克二氧化碳当量"
        assert str(i18n.format_mass(Decimal("200105.6"))) == "200.1 吨二氧化碳当量"  # the 200105.60 千克
        assert str(i18n.format_mass(Decimal("1012.91"), short=True)) == "1.01 吨"  # two decimals under 10 t
        assert str(i18n.format_mass(Decimal("12345.67"), short=True)) == "12.3 吨"  # one from 10 t on
        assert str(i18n.format_mass(Decimal("999.996"), short=True)) == "1 吨"  # 1,000.00 kg once rounded
        assert str(i18n.format_mass(Decimal("1234567890"), short=True)) == "1,234,567.9 吨"
    finally:
        i18n.current_locale.reset(token)
    token = i18n.current_locale.set("en")
    try:
        assert str(i18n.format_mass(Decimal("409.91"))) == "409.91 kg CO2e"
        assert str(i18n.format_mass(Decimal("200105.6"))) == "200.1 t CO2e"
        assert str(i18n.format_mass(Decimal("1012.91"), short=True)) == "1.01 t"
    finally:
        i18n.current_locale.reset(token)
