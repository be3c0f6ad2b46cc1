"""Splitting a whole number into parts by weight, exactly (largest-remainder method, 最大余数法)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def largest_remainder(total: int, weights: Sequence[int | Fraction]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` that add up to ``total`` exactly.

    Each part is its exact share rounded down, and the units left over go one each to the largest
    remainders (ties to the earlier weight), so no part differs from its exact share by one unit or more.
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if not weights or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    weight_sum = sum(Fraction(w) for w in weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    exact = [Fraction(total) * Fraction(w) / weight_sum for w in weights]
    parts = [int(share) for share in exact]  # floor: shares are non-negative
    left = total - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
