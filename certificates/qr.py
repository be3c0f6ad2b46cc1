"""QR codes: the module matrix the certificates draw (``certificates/pdf.py``), and the same as an SVG image for
pages (the shop's WeChat Pay Native code). Made on the server with ``qrcode``: no script, nothing fetched."""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M

QUIET_ZONE = 4  # modules of white around the code, as the standard asks


def qr_matrix(data: str) -> list[list[bool]]:
    """The dark (True) and light modules of ``data``'s QR code, without the quiet zone."""
    # A fixed mask pattern skips qrcode's search over all eight (most of its time); any mask decodes.
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=2)
    qr.add_data(data)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def qr_svg(data: str, *, module_px: int = 8) -> str:
    """``data``'s QR code as a standalone SVG document: one path of the dark runs of each row, quiet zone
    included, crisp at any size (no style attribute: it passes the site's Content-Security-Policy)."""
    modules = qr_matrix(data)
    size = len(modules) + 2 * QUIET_ZONE
    runs: list[str] = []
    for r, row in enumerate(modules):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                runs.append(f"M{start + QUIET_ZONE} {r + QUIET_ZONE}h{c - start}v1h-{c - start}z")
            else:
                c += 1
    pixels = size * module_px
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{pixels}" height="{pixels}" '
        'shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{"".join(runs)}"/></svg>'
    )
