"""Reading certificates back the way a person does: their text, and their QR code through a real decoder."""

from __future__ import annotations

import io

import pypdf
import pypdfium2
import zxingcpp


def pdf_pages(content: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(content)).pages)


def pdf_text(content: bytes) -> str:
    """All text of the PDF with whitespace removed (line breaks may fall inside long names)."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "".join("".join(page.extract_text().split()) for page in reader.pages)


def qr_codes(content: bytes, scale: float = 2) -> list[str]:
    """Rasterise the first page and decode every QR code on it."""
    document = pypdfium2.PdfDocument(content)
    try:
        image = document[0].render(scale=scale).to_pil()
    finally:
        document.close()
    return [result.text for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
