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


def yuan_text(fen: int) -> str:
    """-123456 → '-1234.56': two decimals without thousands separators, as exports (CSV, spreadsheets) and logs
    write an amount."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_amount(fen: int) -> str:
    """1 → '0.01', 100 → '1.00', 123456 → '1234.56': the plain two-decimal yuan string payment providers take
    (Alipay's ``total_amount``, bills), made by integer division, never through a float; a negative is refused."""
    if int(fen) < 0:
        raise ValueError(fen)
    return yuan_text(fen)


_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_GROUP_UNITS = ("", "万", "亿", "万亿")  # every four digits


def _capital_group(group: int) -> str:
    """1..9999 in capitals: 1010 → 壹仟零壹拾 (one 零 for a run of zeros inside, none at the end)."""
    out, zero = "", False
    for unit, digit in zip(("仟", "佰", "拾", ""), f"{group:04d}", strict=True):
        if digit == "0":
            zero = bool(out)
            continue
        out += ("零" if zero else "") + _CAPITAL_DIGITS[int(digit)] + unit
        zero = False
    return out


def yuan_in_capitals(fen: int) -> str:
    """The amount in Chinese capital numerals (大写金额) as a receipt or cheque writes it: 12345 → 壹佰贰拾叁元肆角伍分.

    The People's Bank's rules for amounts in words (《支付结算办法》附件一): 整 after 元 or 角 when there are no 分;
    one 零 for zeros between figures (10010 元 → 壹万零壹拾元整, 1.05 → 壹元零伍分); 拾 always with its digit
    (10 → 壹拾元整); nothing before the first figure (0.05 → 伍分); zero is 零元整."""
    fen = int(fen)
    if fen < 0 or fen >= 10**16 * 100:
        raise ValueError(fen)
    if fen == 0:
        return "零元整"
    yuan, rest = divmod(fen, 100)
    jiao, cents = divmod(rest, 10)
    text = ""
    groups = []
    while yuan:
        yuan, group = divmod(yuan, 10000)
        groups.append(group)
    skipped = False  # a group of four zeros was passed since the last figure written
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            skipped = bool(text)
            continue
        if text and (skipped or group < 1000):
            text += "零"
        text += _capital_group(group) + _GROUP_UNITS[index]
        skipped = False
    if text:
        text += "元"
    if jiao:
        text += _CAPITAL_DIGITS[jiao] + "角"
    elif cents and text:
        text += "零"
    return text + (_CAPITAL_DIGITS[cents] + "分" if cents else "整")
