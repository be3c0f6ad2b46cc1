"""A carbon certificate's share card for WeChat Moments (朋友圈): a 1080×1440 PNG, linked from the order page.

It says what the public verification page says — the holder's name as a stranger may see it (a person's name
masked), the tickets and kg CO2e, the purpose, the date, the code — and carries the QR code of that page, so a
friend who scans it checks the certificate. Nothing else: no serial ranges, no contact, no identifier.

Drawn with Pillow in a file worker (:func:`registry.cpu.file_work`), off the event loop, in the machine's CJK font
(:func:`certificates.fonts.cjk_font_file`: ``LINPIAO_CJK_FONT``, else Noto CJK from ``fonts-noto-cjk``, which
``.ci/run`` installs, or WenQuanYi). With no such font the card cannot be drawn and :class:`ShareCardUnavailable`
says so (the route answers 503); nothing falls back to a font without Chinese glyphs.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from certificates import fonts
from certificates.codes import verification_url
from certificates.qr import QUIET_ZONE, qr_matrix
from certificates.service import public_record
from registry import cpu
from registry.models import Certificate, CertificateKind

WIDTH, HEIGHT = 1080, 1440
GREEN, DARK, PAPER = (46, 125, 50), (33, 33, 33), (250, 248, 240)


class ShareCardUnavailable(RuntimeError):
    """The card cannot be drawn on this machine (no CJK font: install fonts-noto-cjk or set LINPIAO_CJK_FONT)."""


def card_lines(certificate: Certificate) -> list[tuple[str, int]]:
    """Every text the card shows, with its size: only what the public verification record holds."""
    record = public_record(certificate)
    lines = [
        ("银川林票 · 碳汇林票证书", 56),
        (f"{record['holder_name']}", 72),
        (f"认购碳汇林票 {record['quantity']:,} 张", 48),
    ]
    if record.get("kg_co2e"):
        lines.append((f"抵消 {record['kg_co2e']} 千克二氧化碳当量", 48))
    if record.get("purpose"):
        lines.append((f"用途：{record['purpose']}", 40))
    lines += [(f"{record['date']}  {record['issuer']}".strip(), 36), (f"验证码 {record['code']}", 40)]
    return lines


def _render(lines: list[tuple[str, int]], url: str, font_file: Path) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 24), fill=GREEN)
    draw.rectangle((30, 60, WIDTH - 30, HEIGHT - 30), outline=GREEN, width=6)
    y = 120
    for text, size in lines[:-1]:
        font = ImageFont.truetype(str(font_file), size)
        width = draw.textlength(text, font=font)
        draw.text(((WIDTH - width) / 2, y), text, font=font, fill=GREEN if y == 120 else DARK)
        y += int(size * 1.7)
    # the QR code of the verification page, quiet zone included, centred below the text
    modules = qr_matrix(url)
    count = len(modules) + 2 * QUIET_ZONE
    cell = max(4, 520 // count)
    side = cell * count
    left, top = (WIDTH - side) // 2, max(y + 20, HEIGHT - side - 230)
    draw.rectangle((left, top, left + side - 1, top + side - 1), fill="white")
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                x0, y0 = left + (c + QUIET_ZONE) * cell, top + (r + QUIET_ZONE) * cell
                draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), fill="black")
    text, size = lines[-1]
    font = ImageFont.truetype(str(font_file), size)
    hint = ImageFont.truetype(str(font_file), 30)
    draw.text(((WIDTH - draw.textlength(text, font=font)) / 2, top + side + 24), text, font=font, fill=DARK)
    scan = "扫码查验证书真伪"
    draw.text(((WIDTH - draw.textlength(scan, font=hint)) / 2, top + side + 90), scan, font=hint, fill=GREEN)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def is_shareable(certificate: Certificate) -> bool:
    return CertificateKind(certificate.kind) is CertificateKind.CARBON


async def share_card(certificate: Certificate, base_url: str) -> bytes:
    """The PNG, drawn in a file worker; :class:`ShareCardUnavailable` without a CJK font."""
    try:
        font_file = fonts.cjk_font_file()
    except fonts.NoCjkFont as exc:
        raise ShareCardUnavailable(str(exc)) from exc
    url = verification_url(base_url, certificate.code)
    return await cpu.file_work(_render, card_lines(certificate), url, font_file)
