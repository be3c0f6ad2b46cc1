"""Money is integer fen (分) everywhere; these helpers only format and parse it. No float touches money."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def format_yuan(fen: int | None) -> str:
    """1234567 → '12,345.67' (no currency sign, so templates choose ¥ or CNY)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """'12.3' → 1230 fen; refuses more than two decimals, negatives and junk with ValueError."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    fen = value * 100
    if not value.is_finite() or value < 0 or fen != fen.to_integral_value():
        raise ValueError(text)
    return int(fen)


def yuan_amount(fen: int) -> str:
    """1 → '0.01', 100 → '1.00', 123456 → '1234.56': the plain two-decimal yuan string payment providers take
    (Alipay's ``total_amount``, bills), made by integer division, never through a float."""
    fen = int(fen)
    if fen < 0:
        raise ValueError(fen)
    return f"{fen // 100}.{fen % 100:02d}"
