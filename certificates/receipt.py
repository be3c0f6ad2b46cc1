"""The payment receipt (收款凭证) as a one-page A4 PDF, in Chinese or English, from :class:`registry.receipts.Receipt`.

It prints the payer as given, the order number, the Beijing time of payment, the method and the payment
institution's trade number, the tickets with their serials, the amount in figures and in Chinese capitals
(:func:`kernel.money.yuan_in_capitals`), the stream and its receiving body, the operator, and — in both languages
whatever the receipt's own — that it is not a fiscal bill: the fiscal e-bill (财政电子票据) comes from the finance
department. A refunded order's receipt is stamped 已退款 / REFUNDED; a demo payment's says no money was received.

Rendered in the file pool (:func:`registry.cpu.file_work`), off the event loop. The words are looked up for the
``locale`` passed in (the request's, read before the work leaves the loop), never from the worker thread's context.
Same receipt, operator and language, same bytes (``invariant``).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from starlette.responses import Response

from certificates import fonts
from kernel.i18n import translations
from kernel.money import format_yuan, yuan_in_capitals
from registry import cpu
from registry.finance import FINANCE_BUREAU
from registry.receipts import Receipt

GREEN = colors.HexColor("#1b5e20")
GREEN_LIGHT = colors.HexColor("#e8f5e9")
GREY = colors.HexColor("#555555")
RED = colors.HexColor("#c62828")
PAGE_W, PAGE_H = A4
MAX_PRINTED_RANGES = 20

NOT_A_FISCAL_BILL_ZH = (
    "本凭证仅证明上述款项已经收到，不是财政票据。财政电子票据由财政部门开具，报销、入账请以财政电子票据为准。"
)
NOT_A_FISCAL_BILL_EN = (
    "This receipt only confirms that the amount above was received; it is not a fiscal bill. The fiscal e-bill "
    "(财政电子票据) is issued by the finance department; for reimbursement and bookkeeping the fiscal e-bill prevails."
)
NO_BODY = "未记录受赠机构"

_lock = threading.Lock()


def _t(text: object) -> str:
    return escape(str(text), {'"': "&quot;"})


def _style(
    name: str, size: float, *, color: object = colors.black, align: int = 0, leading: float = 0, latin: bool = False
) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=fonts.LATIN if latin else fonts.pdf_font(),
        fontSize=size,
        leading=leading or size * 1.45,
        textColor=color,
        alignment=align,
        wordWrap="CJK",
    )


def _serials(receipt: Receipt, _: Callable[[str], str]) -> str:
    if not receipt.serial_ranges:
        return "—"
    shown = receipt.serial_ranges[:MAX_PRINTED_RANGES]
    text = "<br/>".join(_t(line) for line in shown)
    if len(receipt.serial_ranges) > len(shown):
        text += "<br/>" + _t(_("……共 %(n)s 段") % {"n": f"{len(receipt.serial_ranges):,}"})
    return text


def _beijing(moment: datetime, _: Callable[[str], str]) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} {_('（北京时间）')}"


def _rows(receipt: Receipt, operator: str, _: Callable[[str], str]) -> list[tuple[str, str]]:
    body = receipt.receiving_body
    body_text = _(FINANCE_BUREAU) if body == FINANCE_BUREAU else (body or _(NO_BODY))
    rows = [(_("付款人"), _t(receipt.payer))]
    if receipt.payer_code:
        rows.append((_("统一社会信用代码"), _t(receipt.payer_code)))
    rows += [
        (_("订单号"), str(receipt.order_id)),
        (_("付款时间"), _beijing(receipt.paid_at, _)),
    ]
    if receipt.refunded_at is not None:  # a refunded order: when the money went back
        rows.append((_("退款时间"), _beijing(receipt.refunded_at, _)))
    rows += [
        (_("支付方式"), _t(_(receipt.method))),
        (_("支付机构交易号"), _t(receipt.trade_no or "—")),
    ]
    if receipt.merchant_trade_no:
        rows.append((_("商户订单号"), _t(receipt.merchant_trade_no)))
    rows += [
        (_("林票"), _t(_("%(kind)s %(n)s 张") % {"kind": _(receipt.ticket_kind), "n": f"{receipt.quantity:,}"})),
        (_("林票编号"), _serials(receipt, _)),
        (_("金额"), f"¥{format_yuan(receipt.amount_fen)}"),
        (_("大写金额"), f"人民币{yuan_in_capitals(receipt.amount_fen)}"),
        (_("款项类别"), _t(_(receipt.stream))),
        (_("收款单位"), _t(body_text)),
    ]
    if operator:
        rows.append((_("运营单位"), _t(operator)))
    return rows


def _stamp(canvas: Canvas, text: str, latin: str) -> None:
    """The refund stamp: red, turned, across the upper right of the facts."""
    canvas.saveState()
    canvas.translate(PAGE_W - 62 * mm, PAGE_H - 92 * mm)
    canvas.rotate(18)
    canvas.setStrokeColor(RED)
    canvas.setFillColor(RED)
    canvas.setLineWidth(2)
    canvas.roundRect(-30 * mm, -11 * mm, 60 * mm, 22 * mm, 3 * mm, stroke=1, fill=0)
    canvas.setFont(fonts.pdf_font(), 22)
    canvas.drawCentredString(0, 0, text)
    canvas.setFont(fonts.LATIN, 10)
    canvas.drawCentredString(0, -7 * mm, latin)
    canvas.restoreState()


def render_receipt(receipt: Receipt, *, operator: str = "", locale: str = "zh_CN") -> bytes:
    """One receipt as PDF bytes, in ``locale``'s words (``zh_CN`` or ``en``)."""
    catalog = translations(locale, "certificates")
    _ = catalog.gettext
    english = locale == "en"
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=f"{_('收款凭证')} {receipt.order_id}",
        author=operator or _("银川林票"),
        creator="Linpiao",
        producer="Linpiao",
        invariant=True,
    )
    width = PAGE_W - 44 * mm
    story: list[object] = [
        Paragraph(_t(_("银川林票")), _style("brand", 9, color=GREY)),
        Spacer(1, 4 * mm),
        Paragraph(_t(_("收款凭证")), _style("title", 24, color=GREEN, align=TA_CENTER, leading=30)),
        Paragraph(
            "收款凭证" if english else "Payment Receipt",
            _style("sub", 10, color=GREY, align=TA_CENTER, latin=not english),
        ),
        Spacer(1, 6 * mm),
    ]
    if receipt.refunded:
        story.append(
            Paragraph(
                _t(_("该订单已退款，款项已全额退回付款人。本凭证仅作记录，不能作为付款或报销的依据。")),
                _style("refund", 10.5, color=RED),
            )
        )
        story.append(Spacer(1, 3 * mm))
    if receipt.demo:
        story.append(Paragraph(_t(_("演示：本订单由演示支付完成，没有真实收款。")), _style("demo", 10.5, color=RED)))
        story.append(Spacer(1, 3 * mm))
    label, value = _style("label", 10.5, color=GREEN), _style("value", 10.5)
    label_w = (50 if english else 36) * mm
    table = Table(
        [[Paragraph(_t(k), label), Paragraph(v, value)] for k, v in _rows(receipt, operator, _)],
        colWidths=[label_w, width - label_w],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8d6c9")),
                ("BACKGROUND", (0, 0), (0, -1), GREEN_LIGHT),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story += [table, Spacer(1, 8 * mm)]
    # the statement in the receipt's language first, then in the other one: whoever books it reads it
    first, second = (
        (NOT_A_FISCAL_BILL_EN, NOT_A_FISCAL_BILL_ZH) if english else (NOT_A_FISCAL_BILL_ZH, NOT_A_FISCAL_BILL_EN)
    )
    notice = Table(
        [
            [Paragraph(_t(first), _style("notice", 10.5, leading=16))],
            [Paragraph(_t(second), _style("notice2", 9, color=GREY, leading=13))],
        ],
        colWidths=[width],
    )
    notice.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, GREEN),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story += [
        notice,
        Spacer(1, 6 * mm),
        Paragraph(_t(_("本凭证根据林票登记簿的订单和支付记录生成。")), _style("foot", 8, color=GREY)),
    ]

    def first_page(canvas: Canvas, _doc: object) -> None:
        if receipt.refunded:
            _stamp(canvas, "已退款", "REFUNDED")

    with _lock:  # reportlab keeps some module-level state: one document at a time per process
        doc.build(story, onFirstPage=first_page)
    return buffer.getvalue()


async def receipt_pdf(receipt: Receipt, *, operator: str = "", locale: str = "zh_CN") -> bytes:
    """:func:`render_receipt` in the file pool, so the event loop keeps serving while it draws."""
    return await cpu.file_work(render_receipt, receipt, operator=operator, locale=locale)


async def receipt_response(receipt: Receipt, *, operator: str = "", locale: str = "zh_CN") -> Response:
    """The receipt as an HTTP answer, for the shop's private link and the service desk alike: shown inline, never
    cached (it follows the order's state: a refund stamps it)."""
    content = await receipt_pdf(receipt, operator=operator, locale=locale)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="linpiao-receipt-{receipt.order_id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


__all__ = ["receipt_pdf", "receipt_response", "render_receipt"]
