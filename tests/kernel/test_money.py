"""Money helpers (kernel/money.py): the amount in Chinese capital numerals (大写金额) as receipts write it."""

from __future__ import annotations

import pytest

from kernel.money import yuan_amount, yuan_in_capitals, yuan_text


@pytest.mark.parametrize(
    ("fen", "words"),
    [
        (0, "零元整"),
        (5, "伍分"),  # ¥0.05: nothing before the first figure
        (50, "伍角整"),
        (100, "壹元整"),
        (105, "壹元零伍分"),  # a zero 角 before 分 is written
        (1000, "壹拾元整"),  # ¥10: 拾 always with its figure
        (1050, "壹拾元伍角整"),
        (10010, "壹佰元壹角整"),  # ¥100.10
        (12345, "壹佰贰拾叁元肆角伍分"),
        (100001, "壹仟元零壹分"),
        (1001000, "壹万零壹拾元整"),  # ¥10,010: one 零 for the zeros between
        (10010000, "壹拾万零壹佰元整"),
        (10500000, "壹拾万伍仟元整"),
        (100000000, "壹佰万元整"),  # ¥1,000,000.00
        (100010000, "壹佰万零壹佰元整"),
        (1001000000, "壹仟零壹万元整"),
        (10000000100, "壹亿零壹元整"),  # ¥100,000,001: one 零 for the group of zeros left out
        (10000000010, "壹亿元壹角整"),
        (10000010000, "壹亿零壹佰元整"),
        (123456789012, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分"),
    ],
)
def test_amounts_in_capitals(fen: int, words: str) -> None:
    assert yuan_in_capitals(fen) == words


@pytest.mark.parametrize("fen", [-1, 10**18])
def test_amounts_it_cannot_write_are_refused(fen: int) -> None:
    with pytest.raises(ValueError):
        yuan_in_capitals(fen)


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123456, "1234.56"), (-1, "-0.01"), (-123456, "-1234.56")],
)
def test_the_plain_yuan_text_of_exports_keeps_the_sign_and_no_separators(fen: int, text: str) -> None:
    assert yuan_text(fen) == text


def test_a_provider_amount_is_the_plain_text_and_never_negative() -> None:
    assert yuan_amount(128000) == yuan_text(128000) == "1280.00"
    with pytest.raises(ValueError):
        yuan_amount(-1)
