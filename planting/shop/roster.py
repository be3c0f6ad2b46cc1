"""Reading an organisation's staff roster (单位义务植树名单) from an uploaded CSV or XLSX file.

Pure parsing, no storage: :func:`parse_roster` returns a :class:`RosterPreview` with every row and its
problems, for the organisation to check before paying. What real rosters bring, and what happens to it:

* encodings, separators, formula cells and zip bombs: read by the register's one table reader,
  :mod:`registry.spreadsheet` (UTF-8 with or without BOM, UTF-16, GBK/GB18030; comma, tab or semicolon);
* Excel-mangled ID numbers: scientific notation (``6.40121E+17``) or a number cell of 16+ digits has lost
  digits for good → flagged, the row cannot be paid; 17 digits whose lost check character must be ``X`` →
  restored and flagged for checking; 18 digits ending in ``000`` that fail the check → Excel's rounding;
* blank lines skipped; repeated people (same ID number, or same staff number) flagged; bad ID numbers and
  missing names flagged;
* formula cells (``=…``) are read as their text (never evaluated), flagged, and neutralised by
  :func:`registry.spreadsheet.spreadsheet_safe` in any export;
* limits: :data:`MAX_ROWS` rows — blank rows count too, so a sheet of a million empty rows is refused after the
  first few thousand, not read to the end (more is refused with a clear message before anything is stored) —
  and :data:`MAX_BYTES` per file; an XLSX is inspected with :mod:`zipfile` before openpyxl opens it, and refused
  when it unpacks to more than :data:`MAX_XLSX_UNPACKED` or a large part of it is compressed more than
  :data:`MAX_XLSX_RATIO` times (a zip bomb, or a sheet of formatted blank rows).

Parsing is CPU-bound: the shop runs :func:`parse_roster` through :func:`registry.cpu.file_work`, off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from planting.domain.duty import duty_from_id
from planting.domain.rules import TREES_MAX, TREES_MIN
from registry import spreadsheet
from registry.errors import RegisterError
from registry.identity import mask
from registry.spreadsheet import MAX_COLUMNS, Cell, HasProblems, Refusal, RowProblem, Severity, SpreadsheetRefused

MAX_ROWS = 5_000
MAX_BYTES = 20 * 1024 * 1024
MAX_NAME = 100
MAX_STAFF_NO = 64


class RosterRefused(RegisterError):
    """The file as a whole cannot be used; nothing was stored."""

    code = "roster_refused"
    message = "无法读取名单文件"


class RosterTooLarge(RosterRefused):
    code = "roster_too_large"
    message = "名单超过5,000行的上限，未保存任何内容；请分成多个文件上传"


class RosterFileTooLarge(RosterRefused):
    code = "roster_file_too_large"
    message = "名单文件过大（上限20 MB），未保存任何内容"


class RosterBlankRows(RosterTooLarge):
    code = "roster_blank_rows"
    message = "名单文件超过5,000行（空行也计入），未保存任何内容；请删除多余的空行后重新上传"


class RosterUnpackedTooLarge(RosterFileTooLarge):
    code = "roster_unpacked_too_large"
    message = "Excel 文件解压后过大（可能含大量空行或格式），未保存任何内容；请只保留名单所在的行，或另存为 CSV 后上传"


class RosterUnreadable(RosterRefused):
    code = "roster_unreadable"
    message = "无法读取名单文件：请上传 CSV（UTF-8 或 GBK 编码）或 Excel 的 XLSX 文件"


class RosterLegacyExcel(RosterRefused):
    code = "roster_legacy_excel"
    message = "不支持旧版 Excel（.xls）文件：请在 Excel 中另存为 XLSX 或 CSV 后上传"


class RosterEmpty(RosterRefused):
    code = "roster_empty"
    message = "名单中没有人员"


# code → (severity, message msgid). The message is what the preview shows, translated by the page.
PROBLEMS: dict[str, tuple[Severity, str]] = {
    "missing_name": (Severity.ERROR, "缺少姓名"),
    "name_too_long": (Severity.ERROR, "姓名过长（不超过100字）"),
    "bad_id": (Severity.ERROR, "身份证号码无效"),
    "id_scientific": (
        Severity.ERROR,
        "身份证号码被 Excel 转成了科学计数法，后几位已丢失，无法恢复：请将该列设为文本后重新填写",
    ),
    "id_rounded": (Severity.ERROR, "身份证号码末尾被 Excel 改成了 000，无法恢复：请将该列设为文本后重新填写"),
    "id_restored": (Severity.WARNING, "身份证号码末位的 X 丢失，已按校验规则补回，请核对"),
    "duplicate": (Severity.ERROR, "与前面的行重复（同一身份证号码或工号）"),
    "same_name": (Severity.WARNING, "与前面的行同名且都没有身份证号码或工号，请确认不是同一人"),
    "already_paid": (Severity.ERROR, "此人已在本单位名单中付款"),
    "bad_trees": (Severity.ERROR, "植树株数须为3至5株的整数"),
    "formula": (Severity.WARNING, "单元格是公式，已按原文读取，不会计算"),
    "staff_no_too_long": (Severity.ERROR, "工号过长"),
    "outside_duty": (Severity.INFO, "不在义务植树适龄范围内，将颁发国土绿化荣誉证书"),
    # shown by the preview page (not found in the file): the person already fulfilled the year's duty
    "already_fulfilled": (
        Severity.WARNING,
        "此人本年度已经尽责（本人或其他单位已付款）；仍可付款，将颁发国土绿化荣誉证书",
    ),
}


class Problem(RowProblem):
    CODES = PROBLEMS


@dataclass
class RosterRow(HasProblems[Problem]):
    """One non-blank row of the roster as read, with what is wrong with it."""

    line: int  # the line (CSV) or row number (XLSX) in the file, 1-based, header included
    name: str = ""
    id_number: str | None = None  # canonical, only when valid (or restored)
    id_raw: str = ""  # as found in the file (shown masked)
    staff_no: str = ""
    trees: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def payable(self) -> bool:
        return not self.errors

    @property
    def id_masked(self) -> str:
        return mask(self.id_number or self.id_raw)

    def has(self, code: str) -> bool:
        return any(p.code == code for p in self.problems)

    def problem_dicts(self) -> list[dict[str, str]]:
        return [{"code": p.code, "severity": str(p.severity), "detail": p.detail} for p in self.problems]


@dataclass
class RosterPreview:
    """What an upload holds: every non-blank row with its problems."""

    rows: list[RosterRow]
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""  # for CSV
    blank_lines: int = 0
    header: bool = False

    @property
    def payable(self) -> list[RosterRow]:
        return [row for row in self.rows if row.payable]

    @property
    def with_errors(self) -> list[RosterRow]:
        return [row for row in self.rows if not row.payable]

    @property
    def with_warnings(self) -> list[RosterRow]:
        return [row for row in self.rows if row.warnings]

    def count(self, code: str) -> int:
        return sum(1 for row in self.rows if row.has(code))


# --- reading cells -----------------------------------------------------------------------------------------

_ID_LIKE = re.compile(r"^\d{15,18}$|^\d{14,17}[Xx]$|^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_ID_SEPARATORS = spreadsheet.ID_SEPARATORS


# --- columns -----------------------------------------------------------------------------------------------

NAME, ID, STAFF, ID_OR_STAFF, TREES = "name", "id", "staff", "id_or_staff", "trees"


def _header_role(text: str) -> str | None:
    h = spreadsheet.header_key(text)
    if not h:
        return None
    has_id = any(k in h for k in ("身份证", "证件", "身份号", "idnumber", "idno")) or h in {"id", "idcard"}
    has_staff = any(k in h for k in ("工号", "员工编号", "职工编号", "员工号", "人员编号", "编号", "staff"))
    if has_id and has_staff:
        return ID_OR_STAFF
    if has_id:
        return ID
    if has_staff:
        return STAFF
    if "姓名" in h or h in {"name", "名字", "fullname", "staffname", "员工", "职工", "人员"}:
        return NAME
    if any(k in h for k in ("株", "棵", "树", "tree")):
        return TREES
    return None


def _columns(header: list[Cell]) -> dict[str, int] | None:
    """The role of each header column, or None when the first row is not a header."""
    roles: dict[str, int] = {}
    for index, cell in enumerate(header[:MAX_COLUMNS]):
        role = _header_role(cell.text)
        if role is not None and role not in roles:
            roles[role] = index
    return roles if NAME in roles else None


POSITIONAL = {NAME: 0, ID_OR_STAFF: 1, TREES: 2}


# --- one row -----------------------------------------------------------------------------------------------


def _read_id(cell: Cell, row: RosterRow) -> None:
    reading = spreadsheet.read_resident_id(cell)
    row.id_raw, row.id_number = reading.raw, reading.number
    if reading.problem is not None:
        row.problems.append(Problem(reading.problem))


def _looks_like_id(cell: Cell) -> bool:
    return cell.lossy_number or bool(_ID_LIKE.match(_ID_SEPARATORS.sub("", cell.text)))


def _read_trees(cell: Cell, row: RosterRow) -> None:
    text = cell.text
    if not text:
        return
    match = re.fullmatch(r"(\d{1,3})(?:\.0+)?\s*(?:株|棵)?", text)
    if match is None or not TREES_MIN <= int(match.group(1)) <= TREES_MAX:
        row.problems.append(Problem("bad_trees", text[:20]))
        return
    row.trees = int(match.group(1))


def _read_row(line: int, cells: list[Cell], columns: dict[str, int], year: int | None) -> RosterRow:
    def cell(role: str) -> Cell:
        index = columns.get(role)
        return cells[index] if index is not None and index < len(cells) else Cell("")

    row = RosterRow(line=line)
    name = cell(NAME)
    if not name.text:
        row.problems.append(Problem("missing_name"))
    elif len(name.text) > MAX_NAME:
        row.problems.append(Problem("name_too_long"))
    row.name = name.text[: MAX_NAME * 2]
    formula = name.formula
    id_cell, staff_cell = cell(ID), cell(STAFF)
    combined = cell(ID_OR_STAFF)
    if combined.text or combined.lossy_number:
        if _looks_like_id(combined):
            id_cell = combined
        else:
            staff_cell = combined
    _read_id(id_cell, row)
    formula = formula or id_cell.formula or staff_cell.formula
    row.staff_no = staff_cell.text
    if len(row.staff_no) > MAX_STAFF_NO:
        row.problems.append(Problem("staff_no_too_long"))
        row.staff_no = row.staff_no[:MAX_STAFF_NO]
    trees = cell(TREES)
    _read_trees(trees, row)
    if formula or trees.formula:
        row.problems.append(Problem("formula"))
    if year is not None and row.id_number and not duty_from_id(row.id_number, year).owes:
        row.problems.append(Problem("outside_duty"))
    return row


def _flag_repeats(rows: list[RosterRow]) -> None:
    seen: dict[tuple[str, str], int] = {}
    names: dict[str, int] = {}
    for row in rows:
        keys = []
        if row.id_number:
            keys.append(("id", row.id_number))
        if row.staff_no:
            keys.append(("staff", row.staff_no))
        first = next((seen[k] for k in keys if k in seen), None)
        if first is not None:
            row.problems.append(Problem("duplicate", str(first)))
            continue
        for key in keys:
            seen[key] = row.line
        if not keys and row.name:
            if row.name in names:
                row.problems.append(Problem("same_name", str(names[row.name])))
            else:
                names[row.name] = row.line


# --- files -------------------------------------------------------------------------------------------------


_REFUSALS: dict[Refusal, type[RosterRefused]] = {
    Refusal.UNREADABLE: RosterUnreadable,
    Refusal.LEGACY_EXCEL: RosterLegacyExcel,
    Refusal.UNPACKED_TOO_LARGE: RosterUnpackedTooLarge,
}


def parse_roster(
    data: bytes, filename: str = "", *, year: int | None = None, max_rows: int = MAX_ROWS
) -> RosterPreview:
    """Read a roster file into a preview of every row and its problems.

    ``year``, when given, also marks people the ID number puts outside the duty that year. Refuses the
    whole file (:class:`RosterRefused`) when it is unreadable, empty or over the limits: at most ``max_rows``
    rows besides a header, blank rows included."""
    if len(data) > MAX_BYTES:
        raise RosterFileTooLarge()
    try:
        return _parse(data, filename, year, max_rows)
    except SpreadsheetRefused as exc:
        raise _REFUSALS[exc.reason]() from exc


def _parse(data: bytes, filename: str, year: int | None, max_rows: int) -> RosterPreview:
    file_format = spreadsheet.detect_format(data, filename)
    encoding = ""
    source: Iterable[tuple[int, list[Cell]]]
    if file_format == "xlsx":
        source = spreadsheet.xlsx_rows(data, max_rows)
    else:
        source, encoding = spreadsheet.csv_rows(data)
    preview = RosterPreview(rows=[], file_format=file_format, encoding=encoding)
    columns: dict[str, int] | None = None
    for read, (line, cells) in enumerate(source, start=1):
        blank = not any(c.text for c in cells)
        if read > max_rows + 1:  # every row counts, blank too (the one extra is room for a header)
            if not blank and len(preview.rows) >= max_rows:
                raise RosterTooLarge(str(max_rows))
            raise RosterBlankRows(str(max_rows))
        if blank:
            preview.blank_lines += 1
            continue
        if columns is None:
            columns = _columns(cells)
            if columns is not None:
                preview.header = True
                continue
            columns = POSITIONAL
        if len(preview.rows) >= max_rows:
            raise RosterTooLarge(str(max_rows))
        preview.rows.append(_read_row(line, cells, columns, year))
    if not preview.rows:
        raise RosterEmpty()
    _flag_repeats(preview.rows)
    return preview
