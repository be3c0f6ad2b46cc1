"""Onboarding a county (区县数据导入): its holders and forest parcels read from the spreadsheets it keeps today.

A county clerk uploads a CSV or XLSX file; :func:`parse_import` reads every row into typed values with its
problems (pure, CPU-bound: run it through :func:`registry.cpu.file_work`), and :func:`preview_upload` rehearses
the whole import through the register's own functions — :func:`registry.holders.create_holder` and
:func:`registry.parcels.create_parcel`, in a transaction that is then rolled back — so every rule the register
applies (a number already registered, a kind its credit code contradicts, the carbon pool's code) shows as a
problem of its row before anything is written. A file without errors is kept (:class:`CountyImport`) until the
clerk confirms; :func:`confirm_import` then reads it again and imports every row in **one** transaction, or
nothing: any refusal rolls the whole file back. A second confirm of the same upload imports nothing more.

**Columns** (:data:`HOLDER_COLUMNS`, :data:`PARCEL_COLUMNS`; a header row is required, in any order, common
variants accepted): a table with an area column is a parcels table, one with a name and an identifier column a
holders table. An XLSX may hold both, one per sheet (the template does); holders are imported first, so a parcel
may name as its owner (权利人) a holder of the same file.

**Residence** (*decision*): a residence in the file is recorded as **declared by the county**
(:attr:`ResidenceEvidence.DECLARED_BY_COUNTY`, :func:`registry.residence.declare_residence`) and does **not**
count as checked by a clerk: whoever confirms an import of thousands of rows has seen none of the household
registers or licences behind them, and the county's list was compiled for other purposes, often years ago. Such
holders are listed 待核实居住地 and receive land tickets once a clerk records the residence with its evidence
on the holder form, exactly like residences inferred from an identifier.

**Permission**: an account imports into a district it may keep parcels of (:mod:`registry.access`: an issuer or
a county's forestry department its own district, the city's forestry department any); a row naming another
district is a problem of that row. People's ID numbers are taken only when the clerk states that the people
listed were told how they are processed (the privacy notice), as the holder form asks for one person.

**The waiting file** holds ID numbers in plain text, so it is kept *encrypted* with the ID key
(:func:`registry.idcrypt.seal_file`, bound to its token) and is never stored as uploaded; it is emptied when it is
imported, and an upload not confirmed within :data:`STAGED_HOURS` is deleted by the hourly job
``county_import.forget_stale`` (:func:`forget_stale`; also before each new upload).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit, cpu, idcrypt, jobs, residence, spreadsheet
from registry import holders as holder_service
from registry import parcels as parcel_service
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.identity import clean, is_valid_credit_code, is_valid_resident_id, mask, organisation_kind
from registry.models import HolderKind, Parcel, StaffUser
from registry.spreadsheet import Cell, HasProblems, Refusal, RowProblem, Severity, SpreadsheetRefused

MAX_BYTES = 10 * 1024 * 1024  # 2,000 rows of CSV are well under 1 MB: the room is for parcels' GeoJSON outlines
# Data rows of the whole file (blank rows count towards reading): every row goes through the register's own
# functions twice, in the preview's rehearsal and in the import, a few milliseconds each (README, "Onboarding a
# county"), so a file is imported within one request; a larger county splits its list into several files.
MAX_ROWS = 2_000
MAX_SHEETS = 5
STAGED_HOURS = 24  # an upload not confirmed within a day is forgotten
MAX_NAME = 200
HECTARE_IN_MU = Decimal(15)


class ImportRefused(RegisterError):
    """The file as a whole cannot be imported; nothing was stored."""

    code = "import_refused"
    message = "无法导入该文件"


class ImportFileTooLarge(ImportRefused):
    code = "import_file_too_large"
    message = "文件过大（上限10 MB），未读取、未保存任何内容"
    http_status = 413


class ImportUnreadable(ImportRefused):
    code = "import_unreadable"
    message = "无法读取该文件：请上传 CSV（UTF-8 或 GBK 编码）或 Excel 的 XLSX 文件"


class ImportLegacyExcel(ImportRefused):
    code = "import_legacy_excel"
    message = "不支持旧版 Excel（.xls）文件：请在 Excel 中另存为 XLSX 或 CSV 后上传"


class ImportUnpackedTooLarge(ImportRefused):
    code = "import_unpacked_too_large"
    message = "Excel 文件解压后过大（可能含大量空行或格式），未保存任何内容；请只保留数据所在的行，或另存为 CSV 后上传"


class ImportTooManyRows(ImportRefused):
    code = "import_too_many_rows"
    message = "文件超过2,000行的上限（空行也计入），未保存任何内容；请分成多个文件导入"


class ImportNoTable(ImportRefused):
    code = "import_no_table"
    message = "文件中没有可识别的表头：持有人表须有“姓名”和“证件号码”列，林地小班表须有“面积（亩）”列（可下载模板）"


class ImportEmpty(ImportRefused):
    code = "import_empty"
    message = "文件中没有数据行"


class ImportHasProblems(ImportRefused):
    code = "import_has_problems"
    message = "文件中有行存在问题，未导入任何内容：请改正后重新上传"


class ImportNotFound(ImportRefused):
    code = "import_not_found"
    message = "这次上传已失效（超过24小时或不是您上传的），请重新上传文件"
    http_status = 404


class ImportChanged(ImportRefused):
    code = "import_changed"
    message = "登记簿在预览之后发生了变化，有的行已不能导入，未导入任何内容：请查看下面的问题"
    http_status = 409


_REFUSALS: dict[Refusal, type[ImportRefused]] = {
    Refusal.UNREADABLE: ImportUnreadable,
    Refusal.LEGACY_EXCEL: ImportLegacyExcel,
    Refusal.UNPACKED_TOO_LARGE: ImportUnpackedTooLarge,
}


# (the model's docstring is its table's comment in the migrations: the bytes are stored encrypted, see the module)
class CountyImport(Model):
    """An uploaded county file between its preview and its import: the bytes (emptied once imported, so personal
    data is not kept twice), who uploaded it for which district, and what the import did."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="county_imports", on_delete=fields.CASCADE
    )
    district_code = fields.CharField(max_length=6)
    filename = fields.CharField(max_length=200, default="")
    sha256 = fields.CharField(max_length=64)
    content = fields.BinaryField()
    informed = fields.BooleanField(default=False)  # the clerk stated the people listed were given the notice
    holders = fields.IntField(default=0)
    parcels = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    imported_at = fields.DatetimeField(null=True)

    class Meta:
        table = "county_import"


# --- columns -----------------------------------------------------------------------------------------------


class Table(StrEnum):
    HOLDERS = "holders"
    PARCELS = "parcels"


# role → accepted header texts (compared after spreadsheet.header_key and without 必填/选填); the first is the
# template's. Exact matches only: a county's column that is none of these is listed as ignored, never guessed.
HOLDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": (
        "姓名或名称",
        "姓名",
        "名称",
        "持有人",
        "持有人姓名",
        "持有人名称",
        "户主",
        "户主姓名",
        "农户姓名",
        "单位名称",
        "权利人",
        "权利人姓名",
        "name",
    ),
    "id_number": (
        "身份证号码或统一社会信用代码",
        "证件号码",
        "证件号",
        "身份证号码",
        "身份证号",
        "公民身份号码",
        "统一社会信用代码",
        "信用代码",
        "身份证号码统一社会信用代码",
        "证件号码统一社会信用代码",
        "id",
        "idnumber",
    ),
    "kind": ("持有人类型", "类型", "主体类型", "类别", "kind", "type"),
    "contact": ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式", "contact", "phone"),
    "residence": ("居住地或住所", "居住地", "住所", "居住地住所", "现居住地", "所在区县", "residence"),
}
PARCEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "district": ("区县", "所在区县", "县区", "县市区", "district"),
    "township": ("乡镇", "乡镇街道", "乡镇街道办", "township"),
    "village": ("村", "行政村", "村组", "村名", "village"),
    "area": ("面积（亩）", "面积", "面积亩", "小班面积", "小班面积亩", "林地面积", "林地面积亩", "area", "areamu"),
    "area_ha": ("面积（公顷）", "面积公顷", "小班面积公顷", "林地面积公顷", "areaha"),
    "boundary_east": ("东至", "东", "东界", "四至东"),
    "boundary_south": ("南至", "南", "南界", "四至南"),
    "boundary_west": ("西至", "西", "西界", "四至西"),
    "boundary_north": ("北至", "北", "北界", "四至北"),
    "species": ("树种及株数", "树种", "树种株数", "主要树种", "species"),
    "forest_right_cert_no": ("林权证号", "林权证编号", "林权证", "不动产权证号", "不动产权证书号", "certificate"),
    "afforested_on": ("造林日期", "造林时间", "afforested"),
    "accepted_on": ("验收日期", "验收时间", "accepted"),
    "owner": (
        "权利人证件号码",
        "权利人身份证号码",
        "权利人统一社会信用代码",
        "林权权利人证件号码",
        "所有者证件号码",
        "经营者证件号码",
        "owner",
    ),
    "boundary_geojson": ("边界GeoJSON", "边界", "geojson", "边界坐标", "范围geojson"),
}
TEMPLATE_HOLDERS = [aliases[0] for aliases in HOLDER_COLUMNS.values()]
TEMPLATE_PARCELS = [aliases[0] for role, aliases in PARCEL_COLUMNS.items() if role != "area_ha"]
_OPTIONAL_MARKS = re.compile(r"必填|选填|可选|可不填|optional|required|[/／、|]")


def _key(text: str) -> str:
    return _OPTIONAL_MARKS.sub("", spreadsheet.header_key(text))


_ROLE_OF: dict[Table, dict[str, str]] = {
    Table.HOLDERS: {_key(alias): role for role, aliases in HOLDER_COLUMNS.items() for alias in aliases},
    Table.PARCELS: {_key(alias): role for role, aliases in PARCEL_COLUMNS.items() for alias in aliases},
}


def _columns(header: list[Cell]) -> tuple[Table, dict[str, int], list[str]] | None:
    """The table a header row starts, each role's column, and the header texts that name no role."""
    for table, required in ((Table.PARCELS, ({"area", "area_ha"},)), (Table.HOLDERS, ({"name"}, {"id_number"}))):
        roles: dict[str, int] = {}
        ignored: list[str] = []
        for index, cell in enumerate(header):
            role = _ROLE_OF[table].get(_key(cell.text))
            if role is not None and role not in roles:
                roles[role] = index
            elif cell.text:
                ignored.append(cell.text[:40])
        if all(roles.keys() & needed for needed in required):
            return table, roles, ignored
    return None


# --- rows --------------------------------------------------------------------------------------------------


PROBLEMS: dict[str, tuple[Severity, str]] = {
    "missing_name": (Severity.ERROR, "缺少姓名或名称"),
    "name_too_long": (Severity.ERROR, "姓名或名称过长（不超过200字）"),
    "missing_id": (Severity.ERROR, "缺少身份证号码或统一社会信用代码"),
    "id_scientific": (
        Severity.ERROR,
        "证件号码被 Excel 转成了科学计数法，后几位已丢失：请将该列设为文本后重新填写",
    ),
    "id_rounded": (Severity.ERROR, "身份证号码末尾被 Excel 改成了 000：请将该列设为文本后重新填写"),
    "id_restored": (Severity.ERROR, "身份证号码只有17位（末位的 X 可能丢失）：请核对后填写完整"),
    "bad_id": (Severity.ERROR, "身份证号码无效"),
    "bad_code": (Severity.ERROR, "统一社会信用代码无效"),
    "bad_identifier": (Severity.ERROR, "既不是有效的身份证号码，也不是有效的统一社会信用代码"),
    "bad_kind": (Severity.ERROR, "持有人类型无法识别：可填个人、村集体经济组织、企业（含合作社）、国有单位或政府机关"),
    "duplicate": (Severity.ERROR, "与本文件中前面的行重复（同一证件号码）"),
    "bad_residence": (Severity.ERROR, "居住地无法识别：请填写本市的区县名称或“市外”"),
    "residence_elsewhere": (Severity.ERROR, "居住地在本市的其他区县：请由该区县导入"),
    "formula": (Severity.ERROR, "单元格是公式（不会计算）：请改为文本后重新上传"),
    "text_too_long": (Severity.ERROR, "文字过长"),
    "bad_district": (Severity.ERROR, "区县无法识别"),
    "other_district": (Severity.ERROR, "该小班不在本次导入的区县：只能导入本辖区的林地小班"),
    "missing_area": (Severity.ERROR, "缺少面积"),
    "bad_area": (Severity.ERROR, "面积须为大于0的数字，最多4位小数（亩）"),
    "bad_species": (Severity.ERROR, "树种应写成“树种:株数”，多个树种用分号分隔"),
    "bad_date": (Severity.ERROR, "日期无法识别（应如 2020-03-01）"),
    "bad_geojson": (Severity.ERROR, "边界不是有效的 GeoJSON 多边形"),
    "duplicate_cert": (Severity.ERROR, "林权证号与本文件中前面的行重复"),
    "cert_registered": (Severity.ERROR, "该林权证号的林地小班已经登记"),
    "bad_owner": (Severity.ERROR, "权利人证件号码无效"),
    "owner_not_found": (Severity.ERROR, "权利人在本文件和登记簿中都找不到：请先导入或登记该持有人"),
    "owner_row_refused": (Severity.ERROR, "权利人所在的行有问题，需一并改正"),
    "register": (Severity.ERROR, ""),  # the register's own refusal; its message is the detail
}


class Problem(RowProblem):  # an error in any row: nothing is imported
    CODES = PROBLEMS


@dataclass
class ImportRow(HasProblems[Problem]):
    """One non-blank data row as read, with its typed values and what is wrong with it."""

    table: Table
    sheet: str  # the sheet's title (XLSX) or "" (CSV)
    line: int  # the line (CSV) or row number (XLSX), 1-based, header included
    values: dict[str, str] = field(default_factory=dict)  # role → text as it will be given to the register
    kind: HolderKind | None = None
    identifier: str = ""  # a holder's canonical identifier, or a parcel owner's
    identifier_raw: str = ""  # as found in the file (shown masked when it is not valid)
    area: Decimal | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.sheet} {self.line}".strip()

    @property
    def identifier_masked(self) -> str:
        return mask(self.identifier or self.identifier_raw)

    def flag(self, code: str, detail: str = "") -> None:
        self.problems.append(Problem(code, detail))


@dataclass
class ImportPreview:
    """What a file holds: every data row with its problems, in file order (holders' tables first)."""

    rows: list[ImportRow]
    file_format: str
    encoding: str = ""
    district_code: str = ""
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # sheet → header texts not read
    skipped_sheets: list[str] = field(default_factory=list)  # sheets without a recognisable header
    blank_lines: int = 0

    def of(self, table: Table) -> list[ImportRow]:
        return [row for row in self.rows if row.table is table]

    @property
    def holders(self) -> list[ImportRow]:
        return self.of(Table.HOLDERS)

    @property
    def parcels(self) -> list[ImportRow]:
        return self.of(Table.PARCELS)

    @property
    def with_errors(self) -> list[ImportRow]:
        return [row for row in self.rows if row.errors]

    @property
    def has_errors(self) -> bool:
        return any(row.errors for row in self.rows)

    @property
    def individuals(self) -> int:
        return sum(1 for row in self.holders if row.kind is HolderKind.INDIVIDUAL)

    @property
    def declared_residences(self) -> int:
        """Holders whose residence the file declares (recorded as the county's declaration, to be checked)."""
        return sum(1 for row in self.holders if row.values.get("residence"))


KIND_WORDS: dict[str, HolderKind] = {
    **dict.fromkeys(("个人", "自然人", "农户", "林业大户", "家庭", "individual", "person"), HolderKind.INDIVIDUAL),
    **dict.fromkeys(
        (
            "村集体经济组织",
            "村集体",
            "集体经济组织",
            "村股份经济合作社",
            "村经济合作社",
            "村民委员会",
            "村委会",
            "villagecollective",
            "collective",
        ),
        HolderKind.VILLAGE_COLLECTIVE,
    ),
    **dict.fromkeys(
        ("企业", "公司", "合作社", "专业合作社", "农民专业合作社", "家庭农场", "企业合作社", "enterprise"),
        HolderKind.ENTERPRISE,
    ),
    **dict.fromkeys(("国有单位", "国有企事业单位", "事业单位", "国有林场", "林场", "stateunit"), HolderKind.STATE_UNIT),
    **dict.fromkeys(("政府机关", "机关", "政府", "government"), HolderKind.GOVERNMENT),
}
OUTSIDE_WORDS = frozenset({"市外", "银川市外", "外地", "本市以外", "outside"})
_PLACE_PREFIXES = ("宁夏回族自治区", "宁夏", "银川市")
_DISTRICT_BY_NAME = {name: code for code, name in DISTRICTS.items()}


def district_of(text: str) -> str | None:
    """A district code from its name (with or without 宁夏/银川市 before it) or its code; None when unknown."""
    text = text.replace(" ", "")
    if text in DISTRICTS:
        return text
    for prefix in _PLACE_PREFIXES:
        text = text.removeprefix(prefix)
    return _DISTRICT_BY_NAME.get(text)


def _text(cells: list[Cell], columns: dict[str, int], role: str) -> Cell:
    index = columns.get(role)
    return cells[index] if index is not None and index < len(cells) else Cell("")


def _read_identifier(cell: Cell, row: ImportRow, kind: HolderKind | None) -> tuple[str, HolderKind | None]:
    """A holder's identifier and (when not given) its kind: a resident ID number for a person, else a credit
    code, whose category gives a body's kind. Excel's mangling of ID numbers is flagged as the roster does."""
    reading = spreadsheet.read_resident_id(cell)
    if not reading.raw:
        return "", kind
    code = clean(reading.raw)
    if kind is not HolderKind.INDIVIDUAL and is_valid_credit_code(code):
        return code, kind or organisation_kind(code)
    if reading.number is not None and reading.problem is None:
        if kind not in (None, HolderKind.INDIVIDUAL):
            row.flag("bad_code")
            return "", kind
        return reading.number, HolderKind.INDIVIDUAL
    if reading.problem in ("id_scientific", "id_rounded", "id_restored"):
        row.flag(reading.problem)
    elif kind is HolderKind.INDIVIDUAL:
        row.flag("bad_id")
    elif kind is not None:
        row.flag("bad_code")
    else:
        row.flag("bad_identifier")
    return "", kind


def _read_holder(row: ImportRow, cells: list[Cell], columns: dict[str, int], district: str) -> None:
    name = _text(cells, columns, "name").text
    if not name:
        row.flag("missing_name")
    elif len(name) > MAX_NAME:
        row.flag("name_too_long")
    kind_text = _text(cells, columns, "kind").text
    kind = KIND_WORDS.get(spreadsheet.header_key(kind_text)) if kind_text else None
    if kind_text and kind is None:
        row.flag("bad_kind", kind_text[:40])
    id_cell = _text(cells, columns, "id_number")
    row.identifier_raw = clean(id_cell.text)[:40]
    if not id_cell.text:
        row.flag("missing_id")
    identifier, kind = _read_identifier(id_cell, row, kind)
    row.identifier, row.kind = identifier, kind
    place = _text(cells, columns, "residence").text
    declared = ""
    if place:
        if place.replace(" ", "") in OUTSIDE_WORDS:
            declared = residence.OUTSIDE_CITY
        elif (code := district_of(place)) is None:
            row.flag("bad_residence", place[:40])
        elif code != district:
            row.flag("residence_elsewhere", DISTRICTS[code])
        else:
            declared = code
    contact = _text(cells, columns, "contact").text
    if len(contact) > 200:
        row.flag("text_too_long", "联系电话")
    row.values = {
        "name": name[:MAX_NAME],
        "kind": str(kind or ""),
        "id_number": identifier,
        "contact": contact[:200],
        "residence": declared,
    }


_AREA = re.compile(r"^(\d{1,10}(?:\.\d+)?)(亩|公顷|ha)?$")
_DATE_FORMATS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s.*)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
TEXT_LIMITS = {
    "township": 100,
    "village": 100,
    "forest_right_cert_no": 100,
    "boundary_east": 200,
    "boundary_south": 200,
    "boundary_west": 200,
    "boundary_north": 200,
}
TEXT_LABELS = {
    "township": "乡镇",
    "village": "村",
    "forest_right_cert_no": "林权证号",
    "boundary_east": "东至",
    "boundary_south": "南至",
    "boundary_west": "西至",
    "boundary_north": "北至",
}


def parse_area(text: str, *, hectares: bool = False) -> Decimal | None:
    """An area in mu (亩) as an exact :class:`~decimal.Decimal` (thousands separators and a unit allowed; hectares
    are 15 mu each), or None when it is not a positive number with at most four decimals in mu."""
    match = _AREA.match(text.replace(",", "").replace(" ", ""))
    if match is None:
        return None
    try:
        area = Decimal(match.group(1))
    except InvalidOperation:
        return None
    if hectares or match.group(2) in ("公顷", "ha"):
        area *= HECTARE_IN_MU
    if area <= 0 or area != area.quantize(Decimal("0.0001")) or area >= 10**10:
        return None
    return area


def parse_date(text: str) -> date | None:
    """A date as counties write it: 2020-03-01, 2020/3/1, 2020.3.1, 2020年3月1日, 20200301."""
    for pattern in _DATE_FORMATS:
        match = pattern.match(text.strip())
        if match:
            try:
                return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                return None
    return None


def _read_parcel(row: ImportRow, cells: list[Cell], columns: dict[str, int], district: str) -> None:
    values: dict[str, str] = {"district_code": district}
    place = _text(cells, columns, "district").text
    if place:
        code = district_of(place)
        if code is None:
            row.flag("bad_district", place[:40])
        elif code != district:
            row.flag("other_district", DISTRICTS[code])
    area_cell = _text(cells, columns, "area_ha" if "area" not in columns else "area")
    if not area_cell.text:
        row.flag("missing_area")
    else:
        row.area = parse_area(area_cell.text, hectares="area" not in columns)
        if row.area is None:
            row.flag("bad_area", area_cell.text[:40])
        else:
            values["area_mu"] = str(row.area)
    for role, limit in TEXT_LIMITS.items():
        text = _text(cells, columns, role).text
        if len(text) > limit:
            row.flag("text_too_long", TEXT_LABELS[role])
        values[role] = text[:limit]
    species = _text(cells, columns, "species").text
    try:
        parcel_service.parse_species(species)
        values["species"] = species.replace("；", "\n").replace(";", "\n")
    except RegisterError:
        row.flag("bad_species", species[:40])
    for role in ("afforested_on", "accepted_on"):
        text = _text(cells, columns, role).text
        if text:
            day = parse_date(text)
            if day is None:
                row.flag("bad_date", text[:40])
            else:
                values[role] = day.isoformat()
    outline = _text(cells, columns, "boundary_geojson").text
    if outline:
        try:
            parcel_service.parse_geojson(outline)
            values["boundary_geojson"] = outline
        except RegisterError:
            row.flag("bad_geojson")
    owner = _text(cells, columns, "owner")
    row.identifier_raw = clean(owner.text)[:40]
    if owner.text:
        code = clean(spreadsheet.ID_SEPARATORS.sub("", owner.text))
        if owner.lossy_number or not (is_valid_resident_id(code) or is_valid_credit_code(code)):
            row.flag("bad_owner")
        else:
            row.identifier = code
    row.values = values


def _flag_repeats(rows: Iterable[ImportRow]) -> None:
    seen: dict[tuple[Table, str], ImportRow] = {}
    for row in rows:
        key = row.identifier if row.table is Table.HOLDERS else row.values.get("forest_right_cert_no", "")
        if not key:
            continue
        first = seen.get((row.table, key))
        if first is not None:
            row.flag("duplicate" if row.table is Table.HOLDERS else "duplicate_cert", first.where)
        else:
            seen[(row.table, key)] = row


def _tables(data: bytes, filename: str, preview: ImportPreview) -> Iterator[tuple[str, spreadsheet.Rows]]:
    """Each table of the file: its sheet's title ("" for CSV) and its rows, read lazily — an XLSX workbook stays
    open while its sheets are read, one after another."""
    if preview.file_format == "xlsx":
        yield from spreadsheet.xlsx_sheets(data, MAX_ROWS, MAX_SHEETS)
        return
    rows, preview.encoding = spreadsheet.csv_rows(data)
    yield "", rows


def parse_import(data: bytes, filename: str, district: str) -> ImportPreview:
    """Read a county's file into a preview of every row and its problems (no database: the register's own
    refusals are added by :func:`preview_upload`'s rehearsal). Refuses the whole file (:class:`ImportRefused`)
    when it is over :data:`MAX_BYTES`, unreadable, without a recognisable header, empty or over :data:`MAX_ROWS`."""
    if len(data) > MAX_BYTES:
        raise ImportFileTooLarge()
    try:
        return _parse(data, filename, district)
    except SpreadsheetRefused as exc:
        raise _REFUSALS[exc.reason]() from exc


def _parse(data: bytes, filename: str, district: str) -> ImportPreview:
    file_format = spreadsheet.detect_format(data, filename)
    preview = ImportPreview(rows=[], file_format=file_format, district_code=district)
    read = sheets = 0
    for sheet, source in _tables(data, filename, preview):
        sheets += 1
        columns: tuple[Table, dict[str, int], list[str]] | None = None
        for line, cells in source:
            read += 1
            if read > MAX_ROWS + 2 * sheets:  # every row counts, blank too (room for each sheet's header)
                raise ImportTooManyRows(str(MAX_ROWS))
            if not any(c.text for c in cells):
                preview.blank_lines += 1
                continue
            if columns is None:
                columns = _columns(cells)
                if columns is None:
                    preview.skipped_sheets.append(sheet)
                    break
                if columns[2]:
                    preview.ignored_columns[sheet] = columns[2]
                continue
            if len(preview.rows) >= MAX_ROWS:
                raise ImportTooManyRows(str(MAX_ROWS))
            table, roles, _ignored = columns
            row = ImportRow(table=table, sheet=sheet, line=line)
            if any(cell.formula for cell in cells):
                row.flag("formula")
            (_read_holder if table is Table.HOLDERS else _read_parcel)(row, cells, roles, district)
            preview.rows.append(row)
    if not preview.rows:
        raise ImportEmpty() if len(preview.skipped_sheets) < sheets else ImportNoTable()
    # holders first: a parcel may name an owner registered by the same file
    preview.rows.sort(key=lambda row: row.table is not Table.HOLDERS)
    _flag_repeats(preview.rows)
    return preview


# --- the import ---------------------------------------------------------------------------------------------


class _RowRefused(Exception):
    def __init__(self, row: ImportRow) -> None:
        self.row = row


class _Rehearsed(Exception):
    """Raised at the end of a rehearsal so its transaction rolls back."""


def check_district(actor: audit.Actor, district: str) -> None:
    """May ``actor`` import into ``district``: create holders at all, and keep parcels of that district."""
    access.check(actor, access.Action.HOLDER_CREATE)
    access.check(actor, access.Action.PARCEL_EDIT, access.place(district))


async def _owner_id(row: ImportRow, created: dict[str, int], refused: dict[str, ImportRow]) -> str | None:
    """The register id of a parcel's owner: a holder of this file, else one already registered."""
    if not row.identifier:
        return ""
    if row.identifier in created:
        return str(created[row.identifier])
    if row.identifier in refused:
        row.flag("owner_row_refused", refused[row.identifier].where)
        return None
    holder = await holder_service.holder_by_identifier(row.identifier)
    if holder is None:
        row.flag("owner_not_found")
        return None
    return str(holder.id)


async def _registered_certificates(numbers: Iterable[str]) -> set[str]:
    """Which of these forest-right certificate numbers a parcel of the register already carries."""
    wanted = sorted({n for n in numbers if n})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        query = Parcel.filter(forest_right_cert_no__in=wanted[start : start + 500])
        found |= {str(n) for n in await query.values_list("forest_right_cert_no", flat=True)}
    return found


async def _import_row(row: ImportRow, actor: audit.Actor, informed: bool, owner_id: str) -> int:
    """One row through the register's own function (each opens its own savepoint: a refused row leaves nothing)."""
    if row.table is Table.HOLDERS:
        data = holder_service.HolderInput(
            kind=HolderKind(row.values["kind"]),
            name=row.values["name"],
            id_number=row.values["id_number"],
            contact=row.values["contact"],
            informed=informed,
        )
        holder = await holder_service.create_holder(data, actor=actor)
        if row.values["residence"]:
            await residence.declare_residence(holder, district=row.values["residence"], actor=actor)
        return int(holder.id)
    parcel_input = parcel_service.ParcelInput(**{**row.values, "owner_id": owner_id})
    return int((await parcel_service.create_parcel(parcel_input, actor=actor)).id)


async def _apply(preview: ImportPreview, actor: audit.Actor, *, informed: bool, rehearsal: bool) -> None:
    """Import every row, holders first, inside the caller's transaction. A rehearsal records each refusal on its
    row and goes on; the real import stops at the first (:class:`_RowRefused`), and the caller rolls back."""
    created: dict[str, int] = {}
    refused: dict[str, ImportRow] = {}
    registered = await _registered_certificates(row.values.get("forest_right_cert_no", "") for row in preview.parcels)
    for row in preview.rows:
        if row.errors:
            if row.table is Table.HOLDERS and row.identifier:
                refused[row.identifier] = row
            continue
        owner: str | None = ""
        if row.table is Table.PARCELS:
            if row.values.get("forest_right_cert_no") in registered:
                row.flag("cert_registered")
                owner = None
            else:
                owner = await _owner_id(row, created, refused)
        try:
            if owner is None:
                raise _RowRefused(row)
            record_id = await _import_row(row, actor, informed, owner)
        except _RowRefused:
            if not rehearsal:
                raise
            continue
        except RegisterError as exc:
            row.flag("register", exc.message)
            if row.table is Table.HOLDERS:
                refused[row.identifier] = row
            if not rehearsal:
                raise _RowRefused(row) from exc
            continue
        if row.table is Table.HOLDERS:
            created[row.identifier] = record_id


async def rehearse(preview: ImportPreview, actor: audit.Actor, *, informed: bool) -> ImportPreview:
    """Add to ``preview`` what the register would refuse, by importing it in a transaction that is rolled back."""
    try:
        async with in_transaction():
            await _apply(preview, actor, informed=informed, rehearsal=True)
            raise _Rehearsed
    except _Rehearsed:
        pass
    return preview


def _purpose(token: str) -> str:
    return f"county_import:{token}"


def _open_and_parse(blob: bytes, token: str, filename: str, district: str) -> ImportPreview:
    return parse_import(idcrypt.open_file(blob, _purpose(token)), filename, district)


async def _read_staged(staged: CountyImport) -> ImportPreview:
    """The waiting upload, decrypted and read again (off the event loop). One stored before uploads were
    encrypted is not opened: it is forgotten, and the clerk uploads the file again."""
    blob = bytes(staged.content)
    if not idcrypt.is_sealed_file(blob):
        await CountyImport.filter(id=staged.id, imported_at__isnull=True).delete()
        raise ImportNotFound()
    return await cpu.file_work(_open_and_parse, blob, staged.token, staged.filename, staged.district_code)


async def forget_stale() -> int:
    """Delete every upload not confirmed within :data:`STAGED_HOURS` (and any left unencrypted from before
    uploads were encrypted); empty an imported one still holding bytes. Returns how many were deleted."""
    cutoff = clock.now() - timedelta(hours=STAGED_HOURS)
    deleted = await CountyImport.filter(imported_at__isnull=True, created_at__lt=cutoff).delete()
    for staged in await CountyImport.filter(imported_at__isnull=True).only("id", "content"):
        if not idcrypt.is_sealed_file(bytes(staged.content)):
            deleted += await CountyImport.filter(id=staged.id).delete()
    await CountyImport.filter(imported_at__not_isnull=True).exclude(content=b"").update(content=b"")
    return deleted


@jobs.task("county_import.forget_stale", cron="17 * * * *", retries=2)
async def forget_stale_job(ctx: jobs.JobContext) -> None:
    """Hourly: an abandoned county upload (ID numbers, encrypted) is kept at most :data:`STAGED_HOURS` + 1 h."""
    await forget_stale()


async def preview_upload(
    data: bytes, filename: str, *, district: str, informed: bool, actor: audit.Actor
) -> tuple[ImportPreview, CountyImport | None]:
    """Read and rehearse an upload; keep it for confirmation when no row has an error (else keep nothing).
    Refused before reading when the account may not import into ``district`` or the file is over the cap."""
    check_district(actor, district)
    if len(data) > MAX_BYTES:
        raise ImportFileTooLarge()
    preview = await cpu.file_work(parse_import, data, filename, district)
    await rehearse(preview, actor, informed=informed)
    if preview.has_errors or actor.staff is None:
        return preview, None
    await forget_stale()
    token = secrets.token_urlsafe(24)
    staged = await CountyImport.create(
        token=token,
        staff=actor.staff,
        district_code=district,
        filename=filename[:200],
        sha256=hashlib.sha256(data).hexdigest(),
        content=await cpu.file_work(idcrypt.seal_file, data, _purpose(token)),  # never stored as uploaded
        informed=informed,
        holders=len(preview.holders),
        parcels=len(preview.parcels),
    )
    return preview, staged


async def staged_upload(token: str, actor: audit.Actor) -> CountyImport:
    """An upload of this account's by its token (another account's, or a forgotten one, is not found)."""
    staff_id = actor.staff.id if actor.staff is not None else None
    staged = await CountyImport.get_or_none(token=token[:64], staff_id=staff_id) if staff_id else None
    if staged is None or (
        staged.imported_at is None and staged.created_at < clock.now() - timedelta(hours=STAGED_HOURS)
    ):
        raise ImportNotFound()
    return staged


@dataclass
class ImportOutcome:
    staged: CountyImport
    preview: ImportPreview | None = None  # the rows and the refusals, when the register refused at confirmation
    repeated: bool = False  # the upload had been imported already (a second click): nothing more was done


async def confirm_import(token: str, *, actor: audit.Actor) -> ImportOutcome:
    """Import a previewed upload: every row in one transaction, with one audit line for the file besides each
    holder's and parcel's own; or nothing, raising :class:`ImportChanged` with the rows' problems when the
    register refuses a row now. The upload is claimed by a conditional update first, so two confirms (a double
    click, two servers) import it once; the second gets the first one's outcome."""
    staged = await staged_upload(token, actor)
    if staged.imported_at is not None:
        return ImportOutcome(staged, repeated=True)
    check_district(actor, staged.district_code)
    preview = await _read_staged(staged)
    if preview.has_errors:  # the rules of reading changed since the preview: show them
        raise ImportHasProblems()
    try:
        async with in_transaction():
            claimed = await CountyImport.filter(id=staged.id, imported_at__isnull=True).update(imported_at=clock.now())
            if not claimed:
                await staged.refresh_from_db()
                return ImportOutcome(staged, repeated=True)
            await _apply(preview, actor, informed=staged.informed, rehearsal=False)
            await audit.record(
                actor,
                "county.import",
                f"county_import:{staged.id}",
                district=staged.district_code,
                filename=staged.filename,
                sha256=staged.sha256,
                holders=len(preview.holders),
                parcels=len(preview.parcels),
            )
            staged.content = b""
            await staged.save(update_fields=["content"])
    except _RowRefused:  # the register moved since the preview: nothing was imported; show what it refuses now
        fresh = await _read_staged(staged)
        return ImportOutcome(staged, preview=await rehearse(fresh, actor, informed=staged.informed))
    await staged.refresh_from_db()
    return ImportOutcome(staged)


def summary(staged: CountyImport) -> dict[str, Any]:
    return {
        "district": staged.district_code,
        "filename": staged.filename,
        "holders": staged.holders,
        "parcels": staged.parcels,
        "imported_at": staged.imported_at,
    }


# --- templates ----------------------------------------------------------------------------------------------

TEMPLATE_EXAMPLES = {
    Table.HOLDERS: ["张三", "64010419900101123X", "个人", "13800000000", "兴庆区"],
    Table.PARCELS: [
        *("兴庆区", "掌政镇", "强家庙村", "12.5", "渠", "路", "林地", "农田", "新疆杨:1200；旱柳:300"),
        *("宁（2020）兴庆区不动产权第0000001号", "2020-03-01", "2020-10-15", "64010419900101123X", ""),
    ],
}
TEMPLATE_NOTES = (
    "填写说明（本页不导入）",
    "“持有人”页：姓名或名称、证件号码（个人填身份证号码，单位填统一社会信用代码）必填；持有人类型可不填（按证件号码判断）："
    "个人、村集体经济组织、企业（含合作社）、国有单位、政府机关；居住地或住所填本区县名称或“市外”，按区县名册记录，待经办人员核实。",
    "“林地小班”页：面积（亩）必填，最多4位小数（也可用“面积（公顷）”列，按1公顷=15亩换算）；树种写成“树种:株数”，多个用分号分隔；"
    "日期写成 2020-03-01；权利人证件号码须是本文件或登记簿中的持有人；边界 GeoJSON 可不填。",
    "证件号码列已设为文本格式：请勿改成数字，否则 Excel 会把身份证号码改成科学计数法。以公式开头（=）的单元格不导入。",
    "整个文件一次导入：任何一行有问题，都不会导入任何内容。每个文件最多2,000行、10 MB。",
)


def template_csv(table: Table) -> str:
    """A CSV template of one table (UTF-8 with BOM, so Excel opens it right): the header row only."""
    return spreadsheet.write_csv([TEMPLATE_HOLDERS if table is Table.HOLDERS else TEMPLATE_PARCELS])


def template_xlsx() -> bytes:
    """The XLSX template: a 持有人 sheet, a 林地小班 sheet (headers only; identifier columns formatted as text, so
    Excel keeps ID numbers whole) and a 填写说明 sheet with the rules and an example row of each."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheets = ((Table.HOLDERS, "持有人", TEMPLATE_HOLDERS), (Table.PARCELS, "林地小班", TEMPLATE_PARCELS))
    for index, (_table, title, header) in enumerate(sheets):
        sheet = book.active if index == 0 else book.create_sheet()
        assert sheet is not None
        sheet.title = title
        sheet.append(header)
        for column, text in enumerate(header, start=1):
            letter = sheet.cell(row=1, column=column).column_letter
            sheet.column_dimensions[letter].width = max(12, len(text) * 2 + 2)
            if "证件号码" in text or "信用代码" in text or "林权证" in text:
                for row in range(2, 1002):
                    sheet.cell(row=row, column=column).number_format = "@"
    notes = book.create_sheet("填写说明")
    for line in TEMPLATE_NOTES:
        notes.append([line])
    notes.append([])
    notes.append(["示例：持有人"])
    notes.append(TEMPLATE_HOLDERS)
    notes.append(TEMPLATE_EXAMPLES[Table.HOLDERS])
    notes.append([])
    notes.append(["示例：林地小班"])
    notes.append(TEMPLATE_PARCELS)
    notes.append(TEMPLATE_EXAMPLES[Table.PARCELS])
    notes.column_dimensions["A"].width = 40
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
