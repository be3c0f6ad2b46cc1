"""A holder's statement (持有人对账单) as a printable PDF, drawn from the same data as the statement page.

Chinese text uses the CID font of every PDF (:func:`certificates.fonts.pdf_font`: every reader has it, nothing is
embedded); every cell is a wrapping paragraph, so long names and serial ranges never run off the page.
"""

from __future__ import annotations

import io
from datetime import date
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from admin.i18n import gettext as _
from certificates.fonts import pdf_font
from kernel import clock
from kernel.money import format_yuan
from registry.names import visible_text
from registry.register_view import Statement


@cache
def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=pdf_font(), fontSize=9, leading=12, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=4),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "num": ParagraphStyle("num", parent=base, fontSize=8, leading=10, alignment=2),
    }


def _p(text: object, style: str = "cell") -> Paragraph:
    return Paragraph(escape(str(text)), _styles()[style])


def _table(rows: list[list[Paragraph]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def statement_pdf(statement: Statement, *, printed_on: date, printed_by: str = "") -> bytes:
    """Render ``statement``; the same statement always gives the same text (the date printed is passed in)."""
    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=_("林票持有人对账单"),
        author=_("银川林票登记簿"),
        invariant=True,
    )
    holder = statement.holder
    period = "{} – {}".format(
        statement.date_from.isoformat() if statement.date_from else _("开始"),
        statement.date_to.isoformat() if statement.date_to else _("至今"),
    )
    story: list[object] = [
        Paragraph(escape(_("林票持有人对账单")), styles["title"]),
        _p(f"{_('持有人')}：{visible_text(holder.name)}（{holder.id_masked}）", "body"),
        _p(f"{_('期间')}：{period}", "body"),
        _p(f"{_('打印日期')}：{printed_on.isoformat()}  {_('经办')}：{printed_by}", "body"),
        Spacer(1, 4 * mm),
    ]
    balances = [[_p(_("批次")), _p(_("期初余额（份）")), _p(_("期末余额（份）"))]]
    for prefix in sorted(set(statement.opening) | set(statement.closing)):
        balances.append(
            [
                _p(prefix),
                _p(f"{statement.opening.get(prefix, 0):,}", "num"),
                _p(f"{statement.closing.get(prefix, 0):,}", "num"),
            ]
        )
    balances.append(
        [_p(_("合计")), _p(f"{statement.opening_total:,}", "num"), _p(f"{statement.closing_total:,}", "num")]
    )
    story += [_table(balances, [90 * mm, 40 * mm, 40 * mm]), Spacer(1, 4 * mm)]
    header = ["序号", "时间", "事项", "批次", "变动（份）", "余额（份）", "编号区间", "金额（元）", "对方", "说明"]
    lines = [[_p(_(h)) for h in header]]
    for line in statement.lines:
        note = line.note
        if line.record_date is not None:
            note = _("登记日 %(day)s，%(units)s 份", day=line.record_date.isoformat(), units=line.dividend_units)
            if line.stays_with_collective:
                note += _("，归村集体所有")
        lines.append(
            [
                _p(line.seq or ""),
                _p(clock.local(line.created_at).strftime("%Y-%m-%d %H:%M")),
                _p(_(line.label)),
                _p(line.batch),
                _p(f"{line.change:+,}" if line.change else "0", "num"),
                _p(f"{line.balance:,}", "num"),
                _p(line.serial_ranges),
                _p(format_yuan(line.amount_fen), "num"),
                _p(line.counterparty),
                _p(note),
            ]
        )
    if len(lines) == 1:
        lines.append([_p(_("本期没有变动。"))] + [_p("") for _ in header[1:]])
    widths = [12, 26, 14, 34, 18, 18, 60, 22, 35, 34]
    story.append(_table(lines, [w * mm for w in widths]))
    if statement.dividends_fen:
        story += [Spacer(1, 3 * mm), _p(f"{_('本期分红合计（元）')}：{format_yuan(statement.dividends_fen)}", "body")]
    doc.build(story)
    return buffer.getvalue()
