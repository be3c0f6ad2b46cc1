"""An organisation's fulfilment report (尽责情况报告) as CSV and PDF, from the one report record.

Both carry the same numbers as the page (:func:`planting.domain.report.fulfilment_report`) and state the formula.
Every CSV cell goes through :func:`registry.spreadsheet.spreadsheet_safe`, so a name such as ``=HYPERLINK(…)`` taken
from an uploaded roster can never run as a formula in the spreadsheet that opens the export.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from certificates.codes import group_code
from certificates.fonts import pdf_font
from planting.domain.report import FulfilmentReport, ReportLine
from registry.spreadsheet import write_csv

FORMULA = "尽责率 = 已尽责人数 ÷ 应尽责人数（名单中按身份证号码判断属于适龄范围的人员；未填身份证号码的按应尽责计）"
HEADER = ["行号", "姓名", "身份证号码（脱敏）", "工号", "应尽责", "已付款", "已尽责", "证书", "证书验证码"]


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _certificate_label(line: ReportLine) -> str:
    if line.outcome is None:
        return ""
    return "全民义务植树尽责证书" if line.outcome == "fulfils" else "国土绿化荣誉证书"


def _row(line: ReportLine, codes: dict[int, str]) -> list[object]:
    code = codes.get(line.certificate_id) if line.certificate_id else None
    return [
        line.line_no,
        line.name,
        line.id_masked,
        line.staff_no,
        _yes(line.owes_duty),
        _yes(line.paid),
        _yes(line.fulfilled),
        _certificate_label(line),
        group_code(code) if code else "",
    ]


def summary_rows(report: FulfilmentReport) -> list[list[object]]:
    s = report.submission
    return [
        ["单位", s.organisation_name],
        ["统一社会信用代码", s.credit_code],
        ["年度", report.year],
        ["名单人数", report.listed],
        ["应尽责人数", report.owing],
        ["已尽责人数", report.fulfilled],
        ["尽责率", report.rate_text],
        ["已付款人数", report.paid],
        ["计算方法", FORMULA],
    ]


def report_csv(report: FulfilmentReport, codes: dict[int, str]) -> str:
    rows: list[list[object]] = [*summary_rows(report), [], [*HEADER]]
    rows += [_row(line, codes) for line in report.lines]
    return write_csv(rows)


def _p(text: object, size: float = 9) -> Paragraph:
    style = ParagraphStyle("cell", fontName=pdf_font(), fontSize=size, leading=size * 1.35, wordWrap="CJK")
    return Paragraph(escape(str(text)), style)


def report_pdf(report: FulfilmentReport, codes: dict[int, str]) -> bytes:
    """The report on A4: the summary with the formula, then every person (the table continues over pages)."""
    buffer = io.BytesIO()
    s = report.submission
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"{report.year}年度义务植树尽责情况报告",
        author="银川林票",
        invariant=True,  # the same report gives the same bytes
    )
    story: list[object] = [
        _p(f"{s.organisation_name} {report.year}年度义务植树尽责情况报告", 15),
        Spacer(1, 4 * mm),
    ]
    summary = LongTable([[_p(k), _p(v)] for k, v in summary_rows(report)], colWidths=[38 * mm, 140 * mm])
    summary.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [summary, Spacer(1, 6 * mm)]
    widths = [11, 24, 34, 16, 11, 11, 11, 30, 34]
    table = LongTable(
        [[_p(h, 8) for h in HEADER]] + [[_p(v, 8) for v in _row(line, codes)] for line in report.lines],
        colWidths=[w * mm for w in widths],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f2ea")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buffer.getvalue()
