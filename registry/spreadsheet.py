"""Reading the spreadsheets people keep (CSV and XLSX) into rows of text cells, safely; writing CSV back safely.

Shared by every upload that reads a table — an organisation's tree-planting roster (:mod:`planting.shop.roster`) and a
county's holders and parcels (:mod:`registry.county_import`) — so each reads files the same way:

* encodings: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else GB18030 — a superset
  of GBK, what Chinese Excel writes as "CSV"; separators comma, tab, semicolon or full-width comma;
* formula cells (``=…``) are read as their text (openpyxl ``data_only=False``, never evaluated) and marked, and
  :func:`spreadsheet_safe` neutralises formula-looking text in any export;
* a number cell too long to have kept its digits (an ID number Excel stored as a number) is marked lossy;
* an XLSX is inspected with :mod:`zipfile` before openpyxl opens it, and refused when it unpacks to more than
  :data:`MAX_XLSX_UNPACKED` or a large part of it is compressed more than :data:`MAX_XLSX_RATIO` times (a zip bomb,
  or a sheet of formatted blank rows); the legacy ``.xls`` format is refused with advice.

The readers are CPU-bound and synchronous: callers run them through :func:`registry.cpu.file_work`. They raise
:class:`SpreadsheetRefused` with a :class:`Refusal`; each caller turns that into its own message. What is wrong
with a row once read is a :class:`RowProblem`: a code from the upload's own table, with a :class:`Severity` and the
message its preview shows.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from registry.identity import is_valid_resident_id
from registry.names import visible_text

# A full 5,000-row roster unpacks to a few MB (its sheet compresses about 10 times): these caps leave room.
MAX_XLSX_UNPACKED = 32 * 1024 * 1024
MAX_XLSX_RATIO = 100  # unpacked / compressed, for any member larger than MAX_XLSX_RATIO_FROM
MAX_XLSX_RATIO_FROM = 1024 * 1024
MAX_XLSX_MEMBERS = 500
MAX_COLUMNS = 20
FORMULA_START = "="
_EXPORT_RISKY = ("=", "+", "-", "@", "\t", "\r")

Rows = Iterator[tuple[int, list["Cell"]]]  # (line or row number in the file, 1-based; the row's cells)


class Refusal(StrEnum):
    UNREADABLE = "unreadable"  # not CSV in a known encoding nor a readable XLSX
    LEGACY_EXCEL = "legacy_excel"  # .xls
    UNPACKED_TOO_LARGE = "unpacked_too_large"  # a zip bomb, or a sheet of formatted blank rows


class SpreadsheetRefused(Exception):
    """The file cannot be read as a table at all; the caller says why in its own words."""

    def __init__(self, reason: Refusal) -> None:
        self.reason = reason
        super().__init__(str(reason))


@dataclass(frozen=True)
class Cell:
    text: str
    lossy_number: bool = False  # a number cell too long to have kept all its digits
    formula: bool = False


def text_cell(raw: str) -> Cell:
    text = visible_text(raw, fold=True)
    return Cell(text, formula=text.startswith(FORMULA_START))


def xlsx_cell(value: Any) -> Cell:
    """One openpyxl value as text. Dates print as ISO dates (``2020-03-01``); numbers as Excel shows them."""
    if value is None:
        return Cell("")
    if isinstance(value, bool):
        return Cell(str(value))
    if isinstance(value, int):
        text = str(value)
        return Cell(text, lossy_number=len(text) > 15 and not is_valid_resident_id(text))
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return Cell(str(int(value)))
        return Cell(repr(value), lossy_number=abs(value) >= 1e15)
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, datetime):
        return Cell(value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" "))
    if isinstance(value, date):
        return Cell(value.isoformat())
    # array formulas and the like come back as objects carrying their formula text: never evaluated
    formula = getattr(value, "text", None)
    if isinstance(formula, str):
        return Cell(visible_text(formula, fold=True), formula=True)
    return text_cell(str(value))


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read in."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "UTF-8 (BOM)"
        except UnicodeDecodeError as exc:
            raise SpreadsheetRefused(Refusal.UNREADABLE) from exc
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16"), "UTF-16"
    except UnicodeDecodeError as exc:
        raise SpreadsheetRefused(Refusal.UNREADABLE) from exc
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GBK/GB18030"
    except UnicodeDecodeError as exc:
        raise SpreadsheetRefused(Refusal.UNREADABLE) from exc


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", "\t", ";", "，")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(data: bytes) -> tuple[Rows, str]:
    """The rows of a CSV file (lazily) and its encoding."""
    text, encoding = decode(data)
    if "\x00" in text:
        raise SpreadsheetRefused(Refusal.UNREADABLE)
    delimiter = _delimiter(text)
    if delimiter == "，":  # full-width commas: a hand-typed list; read them as commas
        text, delimiter = text.replace("，", ","), ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Rows:
        try:
            for values in reader:
                yield reader.line_num, [text_cell(v) for v in values[:MAX_COLUMNS]]
        except csv.Error as exc:
            raise SpreadsheetRefused(Refusal.UNREADABLE) from exc

    return rows(), encoding


def check_unpacked_size(archive: zipfile.ZipFile) -> None:
    """Refuse a zip bomb from its directory alone, before anything is decompressed. The sizes are the ones the
    directory declares; :mod:`zipfile` (which openpyxl reads through) never returns more than a member's
    declared size and checks its CRC, so a member that lies about its size is refused as unreadable."""
    members = archive.infolist()
    if len(members) > MAX_XLSX_MEMBERS or sum(info.file_size for info in members) > MAX_XLSX_UNPACKED:
        raise SpreadsheetRefused(Refusal.UNPACKED_TOO_LARGE)
    for info in members:
        if info.file_size > MAX_XLSX_RATIO_FROM and info.file_size > MAX_XLSX_RATIO * max(info.compress_size, 1):
            raise SpreadsheetRefused(Refusal.UNPACKED_TOO_LARGE)


def xlsx_sheets(data: bytes, max_rows: int, max_sheets: int = 1) -> Iterator[tuple[str, Rows]]:
    """The first ``max_sheets`` worksheets of an XLSX file: each sheet's title and its rows (lazily), at most
    ``max_rows + 2`` of them — one row past a limit with a header is enough for the caller to refuse, and openpyxl
    stops reading there instead of making up every empty row of a sparse sheet."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_unpacked_size(archive)
        # data_only=False: a formula cell yields its formula text, never a computed (or cached) value
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except SpreadsheetRefused:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise SpreadsheetRefused(Refusal.UNREADABLE) from exc

    def rows(sheet: Any) -> Rows:
        try:
            values = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS, max_row=max_rows + 2)
            for number, row in enumerate(values, start=1):
                yield number, [xlsx_cell(v) for v in row]
        except SpreadsheetRefused:
            raise
        except Exception as exc:
            raise SpreadsheetRefused(Refusal.UNREADABLE) from exc

    try:
        for sheet in workbook.worksheets[:max_sheets]:
            yield str(sheet.title), rows(sheet)
    finally:
        workbook.close()


def xlsx_rows(data: bytes, max_rows: int) -> Rows:
    """The rows of an XLSX file's first worksheet (see :func:`xlsx_sheets`)."""
    for _title, rows in xlsx_sheets(data, max_rows):
        yield from rows


def detect_format(data: bytes, filename: str) -> str:
    """``"xlsx"`` or ``"csv"`` from the first bytes (never the name alone); the legacy ``.xls`` is refused."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0") or filename.lower().endswith(".xls"):
        raise SpreadsheetRefused(Refusal.LEGACY_EXCEL)
    return "csv"


# --- cells that hold identity numbers ------------------------------------------------------------------------

_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
ID_SEPARATORS = re.compile(r"[\s\-‐‑–—'’`]")
_HEADER_NOISE = re.compile(r"[\s*＊:：()（）\[\]【】_\-]")


def header_key(text: str) -> str:
    """A header cell reduced for matching: lower case, without spaces, stars, colons, brackets, dashes."""
    return _HEADER_NOISE.sub("", text.lower())


@dataclass(frozen=True)
class IdReading:
    """A resident identity number as read from a cell: ``raw`` without separators, ``number`` when valid (or
    restored), and ``problem`` — ``id_scientific`` (Excel's scientific notation: digits lost for good),
    ``id_restored`` (17 digits whose lost check character must be ``X``: restored, check it), ``id_rounded``
    (18 digits ending in ``000`` that fail the check: Excel's rounding) or ``bad_id``."""

    raw: str
    number: str | None = None
    problem: str | None = None


def read_resident_id(cell: Cell) -> IdReading:
    raw = ID_SEPARATORS.sub("", cell.text).upper()
    if not raw:
        return IdReading(raw)
    if cell.lossy_number or _SCIENTIFIC.match(raw):
        return IdReading(raw, problem="id_scientific")
    if is_valid_resident_id(raw):
        return IdReading(raw, raw)
    if len(raw) == 17 and raw.isdigit() and is_valid_resident_id(raw + "X"):
        return IdReading(raw, raw + "X", "id_restored")
    if len(raw) == 18 and raw.isdigit() and raw.endswith("000"):
        return IdReading(raw, problem="id_rounded")
    return IdReading(raw, problem="bad_id")


def looks_scientific(text: str) -> bool:
    return bool(_SCIENTIFIC.match(text))


# --- exports -----------------------------------------------------------------------------------------------


def spreadsheet_safe(value: object) -> str:
    """Text fit for a CSV cell a spreadsheet will open: a leading ``= + - @`` (or tab, CR) would start a
    formula, so such text is prefixed with an apostrophe (OWASP's CSV-injection advice)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_EXPORT_RISKY) else text


def write_csv(rows: Iterable[Iterable[object]]) -> str:
    """CSV text (with a BOM so that Excel reads UTF-8) whose every cell went through :func:`spreadsheet_safe`."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return buffer.getvalue()


# --- what is wrong with a row ------------------------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"  # the row (or, where the upload is all or nothing, the file) cannot go on until fixed
    WARNING = "warning"  # it can go on; check it
    INFO = "info"


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row. A subclass names its upload's table: ``CODES = {code: (severity, message)}``; an
    empty message shows the detail instead."""

    CODES: ClassVar[Mapping[str, tuple[Severity, str]]] = {}

    code: str
    detail: str = ""

    @property
    def severity(self) -> Severity:
        return self.CODES[self.code][0]

    @property
    def message(self) -> str:
        return self.CODES[self.code][1] or self.detail


P = TypeVar("P", bound=RowProblem)


class HasProblems(Generic[P]):
    """A row's problems, sorted out: mixed into a row class that has a ``problems`` list."""

    problems: list[P]

    @property
    def errors(self) -> list[P]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[P]:
        return [p for p in self.problems if p.severity is Severity.WARNING]
