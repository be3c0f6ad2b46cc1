"""The share card of a carbon certificate (WeChat Moments): 1080×1440 PNG, its QR code opens the verification
page, and it shows a person's name masked and no identifier."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from certificates import fonts, share_card
from certificates.codes import group_code
from factories import id_of
from factories.certificates import carbon_certificate, holding_certificate
from registry.models import Holder

BASE = "https://linpiao.example.cn"


async def test_the_card_is_1080_by_1440_and_its_qr_opens_the_verification_page(db: str) -> None:
    certificate = await carbon_certificate(250, name="欧阳建华")
    image = Image.open(io.BytesIO(await share_card.share_card(certificate, BASE)))
    assert image.format == "PNG" and image.size == (share_card.WIDTH, share_card.HEIGHT) == (1080, 1440)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in found] == [f"{BASE}/verify/{group_code(certificate.code)}"]


async def test_the_card_shows_no_unmasked_personal_data(db: str) -> None:
    certificate = await carbon_certificate(250, name="欧阳建华")
    holder = await Holder.get(id=certificate.holder_id)  # type: ignore[attr-defined]
    text = "\n".join(line for line, _size in share_card.card_lines(certificate))
    assert "欧**华" in text and "欧阳建华" not in text
    assert id_of(holder) not in text and id_of(holder)[-6:] not in text
    for private in (holder.contact, *certificate.serial_ranges.split("\n")):
        assert not private or private not in text
    assert "2,500" in text or "2500" in text  # kg CO2e, as the verification page says
    assert group_code(certificate.code) in text


async def test_the_order_page_link_answers_png_and_other_kinds_have_none(client, db: str) -> None:  # type: ignore[no-untyped-def]
    certificate = await carbon_certificate(10, name="银川某科技有限公司")
    response = await client.get(f"/certificates/{certificate.code}/share.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    holding = await holding_certificate()
    assert (await client.get(f"/certificates/{holding.code}/share.png")).status_code == 404


async def test_without_a_cjk_font_the_card_fails_clearly(monkeypatch: pytest.MonkeyPatch, db: str) -> None:
    certificate = await carbon_certificate(10, name="欧阳建华")
    fonts.cjk_font_file.cache_clear()
    monkeypatch.setenv(fonts.FONT_VARIABLE, "/nonexistent/font.ttc")
    try:
        with pytest.raises(share_card.ShareCardUnavailable, match="fonts-noto-cjk"):
            await share_card.share_card(certificate, BASE)
    finally:
        fonts.cjk_font_file.cache_clear()
