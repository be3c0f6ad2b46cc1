"""Verification codes: enough randomness, and typed codes are found however people type them."""

from __future__ import annotations

import math

import pytest

from certificates.codes import ALPHABET, LENGTH, group_code, new_code, normalise_code, verification_url


def test_codes_carry_at_least_80_random_bits_in_crockford_base32() -> None:
    assert LENGTH * math.log2(len(ALPHABET)) >= 80
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)
        assert not set(code) & set("ILOU")


def test_grouped_in_fives_of_four() -> None:
    assert group_code("K7QM3XPA9DRTW2HB6NCE") == "K7QM-3XPA-9DRT-W2HB-6NCE"
    assert verification_url("https://lp.example/", "K7QM3XPA9DRTW2HB6NCE") == (
        "https://lp.example/verify/K7QM-3XPA-9DRT-W2HB-6NCE"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "K7QM-3XPA-9DRT-W2HB-6NCE",
        "k7qm3xpa9drtw2hb6nce",
        "  k7qm 3xpa 9drt w2hb 6nce ",
        "K7QM—3XPA–9DRT_W2HB.6NCE",
        "K7QM-3XPA-9DRT-W2HB-6NCE\n",
    ],
)
def test_typed_codes_normalise(typed: str) -> None:
    assert normalise_code(typed) == "K7QM3XPA9DRTW2HB6NCE"


def test_letters_read_as_digits() -> None:
    assert normalise_code("OOOO-IIII-LLLL-oooo-1111") == "00001111111100001111"


@pytest.mark.parametrize(
    "typed",
    ["", None, "K7QM-3XPA", "K7QM-3XPA-9DRT-W2HB-6NCEX", "U7QM3XPA9DRTW2HB6NCE", "K7QM3XPA9DRTW2HB6NC!", "<script>"],
)
def test_not_a_code(typed: str | None) -> None:
    assert normalise_code(typed) is None
