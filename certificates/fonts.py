"""The fonts every document is drawn in: one home, so every PDF and image writes Chinese the same way.

* **PDFs** (certificates, the holder's statement, the planting report, the payment receipt) use reportlab's CID
  font ``STSong-Light`` (:data:`CJK`): every PDF reader supplies it, so nothing is embedded, files stay small and
  no font has to be installed on the server. :func:`pdf_font` registers it once per process and returns its
  name; codes print in the built-in ``Courier-Bold`` (:data:`CODE`), Latin subtitles in ``Helvetica`` (:data:`LATIN`).
* **Images** (the certificate's share card, drawn with Pillow) need a font file with Chinese glyphs from the
  machine: ``LINPIAO_CJK_FONT`` when set, else Noto Sans/Serif CJK (``fonts-noto-cjk``) or WenQuanYi
  (:func:`cjk_font_file`). With none, :class:`NoCjkFont` says what to install; nothing falls back to a font
  without Chinese glyphs.

Lives in ``certificates/`` because every package that draws a document may import it (the shop and the
back-office import ``certificates``; ``registry`` draws nothing).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

CJK = "STSong-Light"
CODE = "Courier-Bold"
LATIN = "Helvetica"

FONT_VARIABLE = "LINPIAO_CJK_FONT"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@cache
def pdf_font() -> str:
    """The CJK font of every PDF, registered with reportlab on first use; returns its name for ``fontName``."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    return CJK


class NoCjkFont(RuntimeError):
    """No font file with Chinese glyphs on this machine: install fonts-noto-cjk or set LINPIAO_CJK_FONT."""


@cache
def cjk_font_file() -> Path:
    """A font file with Chinese glyphs for drawing images (Pillow), found once per process."""
    configured = os.environ.get(FONT_VARIABLE, "").strip()
    candidates = (configured,) if configured else FONT_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise NoCjkFont(
        f"no CJK font found ({configured or ', '.join(FONT_CANDIDATES)}): install fonts-noto-cjk or set {FONT_VARIABLE}"
    )


__all__ = ["CJK", "CODE", "FONT_VARIABLE", "LATIN", "NoCjkFont", "cjk_font_file", "pdf_font"]
