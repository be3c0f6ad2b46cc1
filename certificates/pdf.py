"""One-page A4 certificate PDFs (reportlab), each with a QR code that opens its verification page.

Everything printed comes from the certificate record (``data`` plus ``holder_name``, ``quantity`` and
``serial_ranges``). Chinese uses the CID font of every PDF (:func:`certificates.fonts.pdf_font`), which every PDF
reader supplies, so nothing is embedded and files stay small. Names are escaped before they reach Platypus, so
``<b>`` or ``&`` print literally. The canvas is built with ``invariant=1`` and fixed metadata: the same certificate
and base URL always give the same bytes. :func:`certificate_pdf` caches the rendering in ``Certificate.pdf``.
"""

from __future__ import annotations

import asyncio
import io
import threading
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepInFrame, Paragraph, Spacer, Table, TableStyle

from certificates import fonts
from certificates.codes import group_code, verification_url
from certificates.qr import qr_matrix
from certificates.service import KIND_TITLES
from registry.models import Certificate, CertificateKind, CertificateStatus

FONT = fonts.CJK
CODE_FONT = fonts.CODE
GREEN = colors.HexColor("#1b5e20")
GREEN_LIGHT = colors.HexColor("#e8f5e9")
GOLD = colors.HexColor("#b08d2e")
GREY = colors.HexColor("#555555")
PAGE_W, PAGE_H = A4
SUBTITLES = {
    CertificateKind.CARBON: "Carbon-Sink Forest Ticket Certificate",
    CertificateKind.PLANTING: "Certificate of Fulfilment of the Obligatory Tree-Planting Duty",
    CertificateKind.HONOUR: "Certificate of Honour for National Greening",
    CertificateKind.COLLECTIVE_HOLDING: "Collective Forest-Land Ticket Holding Certificate",
    CertificateKind.STATE_HOLDING: "State Forest-Land Ticket Holding Certificate",
}
MAX_PRINTED_RANGES = 12

_renders = 0
_render_lock = threading.Lock()


def render_count() -> int:
    """How many PDFs this process has rendered (the cache's tests and the benchmark read it)."""
    return _renders


def _style(
    size: float, *, leading: float | None = None, align: int = TA_LEFT, color: object = colors.black, name: str = "s"
) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=FONT,
        fontSize=size,
        leading=leading or size * 1.45,
        alignment=align,
        textColor=color,
        wordWrap="CJK",
    )


def _t(text: object) -> str:
    """Escape text for Platypus markup: what the user typed prints literally."""
    return escape(str(text), {'"': "&quot;"})


def _date_cn(iso: str) -> str:
    try:
        year, month, day = iso.split("-")
        return f"{int(year)}年{int(month)}月{int(day)}日"
    except ValueError:
        return iso


def _ranges_text(certificate: Certificate) -> str:
    lines = [line for line in certificate.serial_ranges.split("\n") if line]
    if not lines:
        return "—"
    shown = lines[:MAX_PRINTED_RANGES]
    text = "<br/>".join(_t(line) for line in shown)
    if len(lines) > len(shown):
        text += f"<br/>……共 {len(lines)} 段，其余见验证页面"
    return text


def _statement_and_rows(certificate: Certificate) -> tuple[str, list[tuple[str, str]]]:
    """The sentence under the name and the table of facts, both already escaped for Platypus."""
    d = certificate.data
    kind = CertificateKind(certificate.kind)
    q = int(certificate.quantity)
    id_row = [("证件号码", _t(d["id_number_masked"]))] if d.get("id_number_masked") else []
    if kind is CertificateKind.CARBON:
        statement = (
            f"认购银川市碳汇林票 <b>{q:,}</b> 张，用于{_t(d.get('purpose', ''))}，"
            f"对应二氧化碳当量 <b>{_t(d.get('kg_co2e', ''))}</b> 千克。上述林票已在林票登记簿中注销，"
            "不再转让，特发此证。"
        )
        rows = [
            ("认购数量", f"{q:,} 张（每张 {_t(d.get('kg_co2e_per_ticket', ''))} 千克二氧化碳当量）"),
            ("碳汇量", f"{_t(d.get('kg_co2e', ''))} 千克二氧化碳当量"),
            ("用途", _t(d.get("purpose", "")) + (f"：{_t(d['purpose_note'])}" if d.get("purpose_note") else "")),
            ("额度批次", _t(d.get("batch", ""))),
            ("林票序号", _ranges_text(certificate)),
        ]
    elif kind in (CertificateKind.PLANTING, CertificateKind.HONOUR):
        year, trees = _t(d.get("year", "")), _t(d.get("trees", ""))
        if kind is CertificateKind.PLANTING:
            statement = (
                f"于 {year} 年度以{_t(d.get('form', ''))}方式参加全民义务植树，折合植树 <b>{trees}</b> 株，"
                "履行了植树义务，特发此证。"
            )
        else:
            statement = (
                f"于 {year} 年度以{_t(d.get('form', ''))}方式为国土绿化事业作出贡献，折合植树 <b>{trees}</b> 株，"
                "特发此证，以资表彰。"
            )
        rows = [
            ("年度", year),
            ("折合植树", f"{trees} 株"),
            ("尽责形式", _t(d.get("form", ""))),
        ]
        if q:
            rows += [("碳汇林票", f"{q:,} 张"), ("林票序号", _ranges_text(certificate))]
    else:
        b = d.get("boundaries", {})
        statement = (
            f"持有{_t(d.get('ticket_kind', ''))} <b>{q:,}</b> 份，对应林木面积 {_t(d.get('area_mu', ''))} 亩，"
            "已登记于林票登记簿。持有人依法享有相应收益权，并承担林木管护责任。"
        )
        rows = [
            ("林票种类", _t(d.get("ticket_kind", ""))),
            ("发行批次", f"{_t(d.get('batch', ''))}（共 {int(d.get('batch_units', 0)):,} 份）"),
            ("持有份数", f"{q:,} 份，占本批次 {_t(d.get('share_percent', ''))}%"),
            (
                "林木面积",
                f"{_t(d.get('area_mu', ''))} 亩（{_t(d.get('area_m2', ''))} 平方米；"
                f"每份 {_t(d.get('unit_area_m2', ''))} 平方米）",
            ),
            ("林地坐落", _t(d.get("location", ""))),
            ("小班面积", f"{_t(d.get('parcel_area_mu', ''))} 亩"),
            (
                "四至",
                f"东：{_t(b.get('east', ''))}　南：{_t(b.get('south', ''))}<br/>"
                f"西：{_t(b.get('west', ''))}　北：{_t(b.get('north', ''))}",
            ),
            ("树种", _t(d.get("species", "")) or "—"),
            ("林权证号", _t(d.get("forest_right_cert_no", "")) or "—"),
            ("林票序号", _ranges_text(certificate)),
        ]
        if d.get("valid_until"):
            rows.append(("有效期至", _date_cn(d["valid_until"])))
    return statement, id_row + rows


def _name_style(name: str) -> ParagraphStyle:
    """Short names print large on one line; long ones step down and wrap inside the frame."""
    for size in (24, 20, 16):
        if pdfmetrics.stringWidth(name, FONT, size) <= 150 * mm:
            return _style(size, align=TA_CENTER, color=GREEN, name=f"name{size}")
    return _style(13, align=TA_CENTER, color=GREEN, name="name13")


def _qr_modules(url: str) -> list[list[bool]]:
    return qr_matrix(url)


def draw_qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    """Draw ``url`` as a vector QR code with its lower-left corner at (x, y), quiet zone included.

    Dark runs of each row become one rectangle each, written in module units under a scaling
    transform, so the page stream stays small and the code sharp at any zoom."""
    modules = _qr_modules(url)
    count = len(modules) + 8  # four modules of quiet zone each side
    cell = size / count
    canvas.saveState()
    canvas.setFillColor(colors.white)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.translate(x + 4 * cell, y + size - 4 * cell)
    canvas.scale(cell, -cell)  # from here on: one unit per module, rows counted downwards
    ops: list[str] = []
    for r, row in enumerate(modules):
        c, width = 0, len(row)
        while c < width:
            if row[c]:
                start = c
                while c < width and row[c]:
                    c += 1
                ops.append(f"{start} {r} {c - start} 1 re")
            else:
                c += 1
    ops.append("f")
    canvas.addLiteral("\n".join(ops))
    canvas.restoreState()


class _Rule(Flowable):
    def __init__(self, width: float) -> None:
        super().__init__()
        self.width, self.height = width, 4

    def draw(self) -> None:
        self.canv.setStrokeColor(GOLD)
        self.canv.setLineWidth(0.8)
        self.canv.line(self.width * 0.3, 2, self.width * 0.7, 2)


def _frame_border(canvas: Canvas) -> None:
    canvas.setStrokeColor(GREEN)
    canvas.setLineWidth(3)
    canvas.rect(12 * mm, 12 * mm, PAGE_W - 24 * mm, PAGE_H - 24 * mm)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(0.8)
    canvas.rect(15 * mm, 15 * mm, PAGE_W - 30 * mm, PAGE_H - 30 * mm)
    # corner ornaments: small filled squares turned 45°
    canvas.setFillColor(GOLD)
    for cx, cy in (
        (15 * mm, 15 * mm),
        (PAGE_W - 15 * mm, 15 * mm),
        (15 * mm, PAGE_H - 15 * mm),
        (PAGE_W - 15 * mm, PAGE_H - 15 * mm),
    ):
        canvas.saveState()
        canvas.translate(cx, cy)
        canvas.rotate(45)
        canvas.rect(-2.2 * mm, -2.2 * mm, 4.4 * mm, 4.4 * mm, stroke=0, fill=1)
        canvas.restoreState()


def render_certificate(certificate: Certificate, base_url: str) -> bytes:
    """Render one certificate to PDF bytes (no caching; see :func:`certificate_pdf`)."""
    global _renders
    fonts.pdf_font()
    kind = CertificateKind(certificate.kind)
    d = certificate.data
    grouped = group_code(certificate.code)
    url = verification_url(base_url, certificate.code)
    title = KIND_TITLES[kind]

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(f"{title} {grouped}")
    canvas.setAuthor(str(d.get("issuer", "")) or "银川市林票登记簿")
    canvas.setSubject(url)
    canvas.setCreator("Linpiao")
    canvas.setProducer("Linpiao")

    _frame_border(canvas)

    # header band
    canvas.setFillColor(GREY)
    canvas.setFont(FONT, 9)
    canvas.drawString(22 * mm, PAGE_H - 24 * mm, "银川市林票登记簿")
    canvas.setFont(CODE_FONT, 9)
    canvas.drawRightString(PAGE_W - 22 * mm, PAGE_H - 24 * mm, f"No. {grouped}")

    # title
    canvas.setFillColor(GREEN)
    canvas.setFont(FONT, 30)
    canvas.drawCentredString(PAGE_W / 2, PAGE_H - 48 * mm, title)
    canvas.setFillColor(GREY)
    canvas.setFont(fonts.LATIN, 10.5)
    canvas.drawCentredString(PAGE_W / 2, PAGE_H - 56 * mm, SUBTITLES[kind])
    if kind in (CertificateKind.COLLECTIVE_HOLDING, CertificateKind.STATE_HOLDING):
        canvas.setFillColor(GREEN)
        canvas.setFont(FONT, 14)
        canvas.drawCentredString(PAGE_W / 2, PAGE_H - 64 * mm, f"（{d.get('ticket_kind', '')}）")

    # body: name, statement, facts — shrunk as a whole if a long name or many ranges would overflow
    width = PAGE_W - 50 * mm
    body: list[Flowable] = [
        Paragraph(
            "兹证明"
            if kind is not CertificateKind.COLLECTIVE_HOLDING and kind is not CertificateKind.STATE_HOLDING
            else "持有人",
            _style(12, align=TA_CENTER, color=GREY, name="lead"),
        ),
        Spacer(1, 2 * mm),
        Paragraph(_t(certificate.holder_name), _name_style(certificate.holder_name)),
        Spacer(1, 1 * mm),
        _Rule(width),
        Spacer(1, 4 * mm),
    ]
    statement, rows = _statement_and_rows(certificate)
    body.append(Paragraph(statement, _style(13, leading=22, name="statement")))
    body.append(Spacer(1, 5 * mm))
    label_style = _style(10.5, color=GREEN, name="label")
    value_style = _style(10.5, name="value")
    table = Table(
        [[Paragraph(label, label_style), Paragraph(value, value_style)] for label, value in rows],
        colWidths=[28 * mm, width - 28 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8d6c9")),
                ("BACKGROUND", (0, 0), (0, -1), GREEN_LIGHT),
                ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ]
        )
    )
    body.append(table)
    top = PAGE_H - (72 if kind in (CertificateKind.COLLECTIVE_HOLDING, CertificateKind.STATE_HOLDING) else 66) * mm
    bottom = 72 * mm
    frame = KeepInFrame(width, top - bottom, body, mode="shrink")
    _, used = frame.wrapOn(canvas, width, top - bottom)
    # short contents sit a little lower, so the page does not look top-heavy
    frame.drawOn(canvas, 25 * mm, top - used - max(0.0, top - bottom - used) * 0.25)

    # footer: issuer and date on the left, QR and code on the right
    qr_size = 36 * mm
    qr_x, qr_y = PAGE_W - 25 * mm - qr_size, 30 * mm
    draw_qr(canvas, url, qr_x, qr_y, qr_size)
    canvas.setFillColor(colors.black)
    canvas.setFont(CODE_FONT, 10)
    canvas.drawCentredString(qr_x + qr_size / 2, qr_y - 5 * mm, grouped)
    canvas.setFillColor(GREY)
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(qr_x + qr_size / 2, qr_y - 9.5 * mm, "扫码或在验证页面输入验证码核验")

    issuer_style = _style(12, leading=18, name="issuer")
    footer = Paragraph(
        f"发证单位：{_t(d.get('issuer', ''))}<br/>发证日期：{_t(_date_cn(str(d.get('date', ''))))}"
        + (f"<br/>补发日期：{_t(_date_cn(str(d['reissued_on'])))}" if d.get("reissued_on") else ""),
        issuer_style,
    )
    footer_w = qr_x - 30 * mm
    _, fh = footer.wrapOn(canvas, footer_w, 40 * mm)
    footer.drawOn(canvas, 25 * mm, qr_y + qr_size - fh)
    note = Paragraph(
        f"本证书信息以林票登记簿为准，可访问 {_t(url.rsplit('/', 1)[0])} 核验真伪。",
        _style(8, color=GREY, name="note"),
    )
    note.wrapOn(canvas, footer_w, 20 * mm)
    note.drawOn(canvas, 25 * mm, qr_y - 6 * mm)

    canvas.showPage()
    canvas.save()
    _renders += 1
    return buffer.getvalue()


def _render_serialised(certificate: Certificate, base_url: str) -> bytes:
    # reportlab keeps some module-level state; one rendering at a time is safe and costs nothing under the GIL
    with _render_lock:
        return render_certificate(certificate, base_url)


async def certificate_pdf(certificate: Certificate, base_url: str) -> bytes:
    """The certificate's PDF: rendered on first request (in a worker thread, so the event loop keeps
    serving) and stored in ``Certificate.pdf``; never rendered again afterwards."""
    if certificate.pdf:
        return bytes(certificate.pdf)
    stored = await Certificate.filter(id=certificate.id).values_list("pdf", flat=True)
    if stored and stored[0]:
        certificate.pdf = bytes(stored[0])
        return certificate.pdf
    content = await asyncio.to_thread(_render_serialised, certificate, base_url)
    # only the first writer stores; a concurrent second rendering is identical anyway
    await Certificate.filter(id=certificate.id, pdf__isnull=True).update(pdf=content)
    certificate.pdf = content
    return content


def is_printable(certificate: Certificate) -> bool:
    """Only valid certificates are handed out as PDFs; the others are explained on the verification page."""
    return CertificateStatus(certificate.status) is CertificateStatus.VALID


__all__ = ["certificate_pdf", "draw_qr", "is_printable", "render_certificate", "render_count"]
