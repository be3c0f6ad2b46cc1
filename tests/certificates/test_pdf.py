"""The PDFs: each kind says what it certifies, its QR code opens its verification page, names print
literally and never break the page, and a certificate is rendered once."""

from __future__ import annotations

import pytest

from certificates import pdf
from certificates.codes import group_code
from factories import id_of
from factories.certificates import all_kinds, carbon_certificate, holding_certificate
from registry.models import Certificate, TicketKind
from tests.certificates.conftest import pdf_pages, pdf_text, qr_codes

BASE = "https://linpiao.example.cn"


def _plain(text: str) -> str:
    return "".join(text.split())


async def test_every_kind_prints_name_quantity_serials_code_and_a_working_qr(db: str) -> None:
    titles = {
        "carbon": "碳汇林票认购证书",
        "planting": "全民义务植树尽责证书",
        "honour": "国土绿化荣誉证书",
        "collective_holding": "集体林地林票",
        "state_holding": "国有林地林票",
    }
    for kind, certificate in (await all_kinds()).items():
        content = pdf.render_certificate(certificate, BASE)
        assert content.startswith(b"%PDF") and pdf_pages(content) == 1
        text = pdf_text(content)
        assert titles[kind] in text, kind
        assert _plain(certificate.holder_name) in text, kind
        assert f"{certificate.quantity:,}" in text, kind
        for line in certificate.serial_ranges.split("\n"):
            assert _plain(line) in text, kind
        assert group_code(certificate.code) in text, kind
        assert qr_codes(content) == [f"{BASE}/verify/{group_code(certificate.code)}"], kind


async def test_carbon_certificate_prints_offset_and_purpose(db: str) -> None:
    certificate = await carbon_certificate(250, name="银川某科技有限公司")
    text = pdf_text(pdf.render_certificate(certificate, BASE))
    assert "2500千克二氧化碳当量" in text
    assert "出行碳排放抵消" in text
    assert "2026" in text


async def test_holding_certificate_prints_parcel_and_masked_id(db: str) -> None:
    certificate = await holding_certificate(TicketKind.STATE)
    text = pdf_text(pdf.render_certificate(certificate, BASE))
    for fact in (
        "银川市兴庆区掌政镇春林村",
        "东：至渠",
        "北：至村界",
        "新疆杨1200株",
        certificate.data["forest_right_cert_no"],
    ):
        assert _plain(fact) in text
    holder = await certificate.holder
    assert id_of(holder) not in text
    assert id_of(holder)[:4] + "**********" + id_of(holder)[-4:] in text


@pytest.mark.parametrize(
    "name",
    ['<b>张三</b> & "李四"', "O'Brien &amp; <i>Sons</i>", "<para>x</para><br/>&lt;"],
)
async def test_markup_in_names_prints_literally(db: str, name: str) -> None:
    certificate = await carbon_certificate(name=name)
    content = pdf.render_certificate(certificate, BASE)
    assert _plain(name) in pdf_text(content)


async def test_long_names_stay_on_one_page_with_a_readable_qr(db: str) -> None:
    long_name = "宁夏回族自治区银川市兴庆区掌政镇春林村股份经济合作社暨全体村民" * 4 + "（代表）"
    certificate = await carbon_certificate(name=long_name[:200])
    content = pdf.render_certificate(certificate, BASE)
    assert pdf_pages(content) == 1
    assert _plain(long_name[:200]) in pdf_text(content)
    assert qr_codes(content) == [f"{BASE}/verify/{group_code(certificate.code)}"]

    unbroken = "W" * 200  # no break opportunities at all
    certificate = await carbon_certificate(name=unbroken)
    content = pdf.render_certificate(certificate, BASE)
    assert pdf_pages(content) == 1
    assert unbroken in pdf_text(content)
    assert qr_codes(content) == [f"{BASE}/verify/{group_code(certificate.code)}"]


async def test_many_serial_ranges_are_summarised_not_overflowing(db: str) -> None:
    certificate = await carbon_certificate()
    certificate.serial_ranges = "\n".join(f"YC-TH-2026-001-{n:08d}" for n in range(1, 60, 2))
    content = pdf.render_certificate(certificate, BASE)
    assert pdf_pages(content) == 1
    assert "共30段" in pdf_text(content)


async def test_same_code_same_bytes(db: str) -> None:
    certificate = await carbon_certificate()
    assert pdf.render_certificate(certificate, BASE) == pdf.render_certificate(certificate, BASE)


async def test_pdf_is_rendered_once_and_stored(db: str) -> None:
    certificate = await carbon_certificate()
    before = pdf.render_count()
    first = await pdf.certificate_pdf(certificate, BASE)
    again = await pdf.certificate_pdf(await Certificate.get(id=certificate.id), BASE)
    assert first == again
    assert pdf.render_count() == before + 1
    assert (await Certificate.get(id=certificate.id)).pdf == first
