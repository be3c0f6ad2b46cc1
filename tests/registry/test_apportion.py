"""The largest-remainder split: parts add up exactly and stay within one unit of their exact share."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.apportion import largest_remainder


def test_thirds():
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder(10, [Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)]) == [5, 3, 2]


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=30))
def test_parts_sum_and_stay_close(total, weights):
    if sum(weights) == 0:
        with pytest.raises(ValueError):
            largest_remainder(total, weights)
        return
    parts = largest_remainder(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1
