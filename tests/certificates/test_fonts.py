"""The one font set-up of every document (certificates/fonts.py): every PDF draws Chinese in the same registered
CID font, and an image without a CJK font on the machine fails with what to install."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics

from certificates import fonts

ROOT = Path(__file__).resolve().parents[2]


def test_the_pdf_font_is_registered_once_and_draws_chinese() -> None:
    name = fonts.pdf_font()
    assert name == fonts.CJK and fonts.pdf_font() is name
    assert pdfmetrics.getFont(name).fontName == name
    assert pdfmetrics.stringWidth("收款凭证", name, 10) == pytest.approx(40)  # four full-width glyphs of 10 pt


def test_no_module_sets_up_fonts_of_its_own() -> None:
    """Only certificates/fonts.py registers reportlab fonts or looks for font files."""
    own = inspect.getsourcefile(fonts)
    offenders = []
    for package in ("kernel", "registry", "planting", "certificates", "shop", "admin", "linpiao", "bench"):
        for path in (ROOT / package).rglob("*.py"):
            if str(path) == own:
                continue
            text = path.read_text(encoding="utf-8")
            if any(word in text for word in ("registerFont", "UnicodeCIDFont", "TTFont(", "NotoSansCJK", ".ttc")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_without_a_cjk_font_file_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    fonts.cjk_font_file.cache_clear()
    monkeypatch.setenv(fonts.FONT_VARIABLE, "/nonexistent/font.ttc")
    try:
        with pytest.raises(fonts.NoCjkFont, match="fonts-noto-cjk"):
            fonts.cjk_font_file()
    finally:
        fonts.cjk_font_file.cache_clear()


def test_a_configured_font_file_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = tmp_path / "cjk.ttc"
    chosen.write_bytes(b"font")
    fonts.cjk_font_file.cache_clear()
    monkeypatch.setenv(fonts.FONT_VARIABLE, str(chosen))
    try:
        assert fonts.cjk_font_file() == chosen
    finally:
        fonts.cjk_font_file.cache_clear()
