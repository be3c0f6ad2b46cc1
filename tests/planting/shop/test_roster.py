"""Reading organisations' rosters: encodings, Excel's damage to ID numbers, blank lines, repeats, formula
cells, limits — every row comes back with its problems, nothing is evaluated, exports are neutralised."""

from __future__ import annotations

import csv
import io
import time
import zipfile

import pytest
from openpyxl import Workbook
from stdnum.cn import ric

from factories import resident_id
from planting.shop.roster import (
    MAX_COLUMNS,
    MAX_ROWS,
    PROBLEMS,
    RosterBlankRows,
    RosterEmpty,
    RosterLegacyExcel,
    RosterPreview,
    RosterTooLarge,
    RosterUnpackedTooLarge,
    RosterUnreadable,
    Severity,
    parse_roster,
)
from registry.errors import RegisterError
from registry.spreadsheet import spreadsheet_safe, write_csv

HEADER = "姓名,身份证号码,工号,植树株数"


def pid(seq: int, birth: str = "19800101") -> str:
    return resident_id("640121", birth, seq=seq)


def id_ending_in_x() -> str:
    for seq in range(1000):
        candidate = pid(seq)
        if candidate.endswith("X"):
            return candidate
    raise AssertionError("no ID with check character X")


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\r\n".join(lines).encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def codes(preview: RosterPreview) -> list[list[str]]:
    return [[p.code for p in row.problems] for row in preview.rows]


def test_a_clean_roster():
    preview = parse_roster(csv_bytes(HEADER, f"张三,{pid(11)},E001,3", f"李四,{pid(12)},E002,"))
    assert preview.header and preview.file_format == "csv" and preview.encoding == "UTF-8"
    assert [(r.line, r.name, r.id_number, r.staff_no, r.trees) for r in preview.rows] == [
        (2, "张三", pid(11), "E001", 3),
        (3, "李四", pid(12), "E002", None),  # no trees given: the rule's trees per person
    ]
    assert codes(preview) == [[], []] and len(preview.payable) == 2
    assert preview.rows[0].id_masked == pid(11)[:4] + "*" * 10 + pid(11)[-4:]


def test_bom_utf8():
    preview = parse_roster(b"\xef\xbb\xbf" + csv_bytes(HEADER, f"张三,{pid(11)},,"))
    assert preview.header and preview.encoding == "UTF-8 (BOM)" and preview.rows[0].name == "张三"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_and_gb18030(encoding):
    preview = parse_roster(csv_bytes(HEADER, f"张三,{pid(11)},E1,4", "欧阳娜娜,,E2,", encoding=encoding))
    assert preview.encoding == "GBK/GB18030" and preview.header
    assert [r.name for r in preview.rows] == ["张三", "欧阳娜娜"]


def test_gb18030_only_characters():
    preview = parse_roster(csv_bytes(HEADER, "王䶮,,E1,", encoding="gb18030"))  # 䶮 is not in GBK
    assert preview.rows[0].name == "王䶮"


def test_utf16_tab_separated_from_excel_unicode_text():
    data = "\t".join(["姓名", "身份证号码"]).encode("utf-16") + f"\r\n张三\t{pid(11)}\r\n".encode("utf-16-le")
    preview = parse_roster(data)
    assert preview.encoding == "UTF-16" and preview.rows[0].id_number == pid(11)


def test_scientific_notation_is_unrecoverable():
    preview = parse_roster(csv_bytes(HEADER, "张三,6.40121E+17,E1,", "李四,6.40121198001011e17,E2,"))
    assert codes(preview) == [["id_scientific"], ["id_scientific"]]
    assert not preview.payable and preview.rows[0].id_number is None


def test_lost_trailing_x_is_restored_and_flagged():
    full = id_ending_in_x()
    preview = parse_roster(csv_bytes(HEADER, f"张三,{full[:-1]},E1,", f"李四,{full[:-1].lower()}x,E2,"))
    first, second = preview.rows
    assert first.id_number == full and [p.code for p in first.problems] == ["id_restored"]
    assert first.payable and first.problems[0].severity is Severity.WARNING
    assert second.id_number == full and "id_restored" not in [p.code for p in second.problems]
    assert [p.code for p in second.problems] == ["duplicate"]  # the same person twice


def test_seventeen_digits_whose_check_is_not_x_stay_bad():
    good = next(pid(s) for s in range(100) if not pid(s).endswith("X"))
    preview = parse_roster(csv_bytes(HEADER, f"张三,{good[:-1]},,"))
    assert codes(preview) == [["bad_id"]] and preview.rows[0].id_number is None


def test_excel_rounded_to_000_is_unrecoverable():
    rounded = pid(11)[:15] + "000"
    assert not ric.is_valid(rounded)
    preview = parse_roster(csv_bytes(HEADER, f"张三,{rounded},,"))
    assert codes(preview) == [["id_rounded"]]


def test_bad_ids_and_missing_names():
    wrong_check = pid(11)[:-1] + ("0" if pid(11)[-1] != "0" else "1")
    preview = parse_roster(
        csv_bytes(HEADER, f"张三,{wrong_check},E1,", "李四,12345,E2,", f",{pid(12)},E3,", "王五,64012119801301123X,E4,")
    )
    assert codes(preview) == [["bad_id"], ["bad_id"], ["missing_name"], ["bad_id"]]
    assert preview.rows[2].id_number == pid(12)  # the ID is fine; the name is what is missing
    assert preview.payable == []


def test_id_with_spaces_dashes_and_full_width_digits():
    spaced = f"{pid(11)[:6]} {pid(11)[6:14]}-{pid(11)[14:]}"
    full_width = pid(12).translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    preview = parse_roster(csv_bytes(HEADER, f"张三,{spaced},,", f"李四,{full_width},,"))
    assert [r.id_number for r in preview.rows] == [pid(11), pid(12)] and codes(preview) == [[], []]


def test_blank_lines_are_skipped():
    preview = parse_roster(csv_bytes("", HEADER, "", f"张三,{pid(11)},,", ",,,", "   ,  ,,", f"李四,{pid(12)},,", ""))
    assert [r.name for r in preview.rows] == ["张三", "李四"]
    assert [r.line for r in preview.rows] == [4, 7]  # line numbers as in the file
    assert preview.blank_lines >= 4


def test_duplicates_are_flagged_after_the_first():
    preview = parse_roster(
        csv_bytes(
            HEADER,
            f"张三,{pid(11)},E1,",
            f"张三,{pid(11)},,",  # same ID
            "李四,,E2,",
            "李四,,E2,",  # same staff number
            "王五,,,",
            "王五,,,",  # same name, nothing else: maybe two people — a warning
        )
    )
    assert codes(preview) == [[], ["duplicate"], [], ["duplicate"], [], ["same_name"]]
    assert preview.rows[1].problems[0].detail == "2"  # points at the first occurrence
    assert [r.line for r in preview.payable] == [2, 4, 6, 7]


def test_trees_column():
    preview = parse_roster(csv_bytes(HEADER, "甲,,E1,4", "乙,,E2,5株", "丙,,E3,3.0", "丁,,E4,10", "戊,,E5,两棵"))
    assert [r.trees for r in preview.rows] == [4, 5, 3, None, None]
    assert codes(preview) == [[], [], [], ["bad_trees"], ["bad_trees"]]


def test_formula_cells_in_csv_are_text_and_flagged():
    preview = parse_roster(csv_bytes(HEADER, '"=HYPERLINK(""http://evil.example"",""点我"")",,E1,', "=1+1,,E2,"))
    assert preview.rows[0].name == '=HYPERLINK("http://evil.example","点我")'
    assert preview.rows[1].name == "=1+1"
    assert codes(preview) == [["formula"], ["formula"]]
    assert preview.rows[0].problems[0].severity is Severity.WARNING


def test_without_header_columns_are_name_id_or_staff_trees():
    preview = parse_roster(csv_bytes(f"张三,{pid(11)},4", "李四,E-0002,", "王五"))
    assert not preview.header
    assert [(r.name, r.id_number, r.staff_no, r.trees) for r in preview.rows] == [
        ("张三", pid(11), "", 4),
        ("李四", None, "E-0002", None),
        ("王五", None, "", None),
    ]
    assert codes(preview) == [[], [], []]


def test_combined_id_or_staff_number_column_and_english_header():
    preview = parse_roster(csv_bytes("name,ID number or staff number,trees", f"Zhang San,{pid(11)},", "Li Si,A17,3"))
    assert preview.header and [(r.id_number, r.staff_no) for r in preview.rows] == [(pid(11), ""), (None, "A17")]
    sci = parse_roster(csv_bytes("姓名,身份证号或工号", "张三,6.40121E+17"))
    assert codes(sci) == [["id_scientific"]]


def test_semicolon_separated():
    preview = parse_roster(csv_bytes("姓名;身份证号码", f"张三;{pid(11)}"))
    assert preview.rows[0].id_number == pid(11)


def test_people_outside_the_duty_are_marked_when_the_year_is_known():
    elder = resident_id("640121", "19600101", seq=12)  # a woman of 66 in 2026
    preview = parse_roster(csv_bytes(HEADER, f"张奶奶,{elder},,", f"张三,{pid(11)},,"), year=2026)
    assert codes(preview) == [["outside_duty"], []]
    assert preview.rows[0].payable  # information only: she gets the honour certificate


def test_invisible_characters_are_removed_from_names():
    preview = parse_roster(csv_bytes(HEADER, "张\u200b三\ufeff ,,E1,"))
    assert preview.rows[0].name == "张三"


def test_names_too_long_are_flagged():
    preview = parse_roster(csv_bytes(HEADER, "张" * 101 + ",,E1,"))
    assert codes(preview) == [["name_too_long"]]


# --- XLSX --------------------------------------------------------------------------------------------------


def test_xlsx_with_text_ids_numbers_and_formulas():
    full = id_ending_in_x()
    data = xlsx_bytes(
        [
            ["姓名", "身份证号码", "工号", "株数"],
            ["张三", pid(11), "E1", 3],
            ["李四", 6.40121198001011e17, 1002, 4.0],  # the ID typed as a number: digits lost
            ["王五", int(pid(13)), None, 5],  # an 18-digit number: a spreadsheet keeps only 15 digits
            ["=1+1", None, "E4", None],  # a formula: read as its text, never computed
            [None, None, None, None],
            ["赵六", full[:-1], "E5", "=3+2"],
            ["孙七", '=HYPERLINK("http://evil.example","x")', "E6", None],
        ]
    )
    preview = parse_roster(data, "名单.xlsx")
    assert preview.file_format == "xlsx" and preview.header
    rows = {r.line: r for r in preview.rows}
    assert sorted(rows) == [2, 3, 4, 5, 7, 8]
    assert rows[2].id_number == pid(11) and rows[2].trees == 3 and rows[2].payable
    assert [p.code for p in rows[3].problems] == ["id_scientific"] and rows[3].staff_no == "1002"
    assert rows[3].trees == 4
    assert [p.code for p in rows[4].problems] == ["id_scientific"] and rows[4].trees == 5
    assert rows[5].name == "=1+1" and [p.code for p in rows[5].problems] == ["formula"]
    assert rows[7].id_number == full and {p.code for p in rows[7].problems} == {"id_restored", "bad_trees", "formula"}
    assert [p.code for p in rows[8].problems] == ["bad_id", "formula"]
    assert preview.blank_lines == 1


def _with_cached_values(data: bytes) -> bytes:
    """The same workbook as Excel saves it: each formula carries its last computed value."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")
                body = body.replace(b'<c r="B3"><f>A3</f><v />', b'<c r="B3" t="str"><f>A3</f><v>sneaky</v>')
            target.writestr(info, body)
    return out.getvalue()


def test_xlsx_formula_is_not_evaluated_even_with_a_cached_value():
    data = _with_cached_values(xlsx_bytes([["姓名", "工号"], ["=1+1", "E1"], ["张三", "=A3"]]))
    from openpyxl import load_workbook

    cached = load_workbook(io.BytesIO(data), data_only=True).active
    assert (cached["A2"].value, cached["B3"].value) == (2, "sneaky")  # what cached values would have shown
    preview = parse_roster(data)
    assert [r.name for r in preview.rows] == ["=1+1", "张三"]
    assert preview.rows[1].staff_no == "=A3"
    assert codes(preview) == [["formula"], ["formula"]]


def test_xlsx_blank_sheet_and_damaged_files():
    with pytest.raises(RosterEmpty):
        parse_roster(xlsx_bytes([["姓名", "身份证号码"]]))
    with pytest.raises(RosterUnreadable):
        parse_roster(b"PK\x03\x04 this is not really a zip file")


# --- refusals and limits -----------------------------------------------------------------------------------


def test_legacy_xls_and_binary_garbage_are_refused():
    with pytest.raises(RosterLegacyExcel):
        parse_roster(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(RosterUnreadable):
        parse_roster(b"\x00\x01\x02\xff\xfe\x00abc\x00")
    with pytest.raises(RosterEmpty):
        parse_roster(b"")
    with pytest.raises(RosterEmpty):
        parse_roster(csv_bytes(HEADER, "", ",,,"))


def _big_csv(rows: int) -> bytes:
    lines = [HEADER]
    for i in range(rows):
        birth = f"19{60 + i % 40:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
        lines.append(f"员工{i},{resident_id('640121', birth, seq=i % 1000)},E{i:05d},3")
    return csv_bytes(*lines)


def test_five_thousand_rows_preview_fast():
    data = _big_csv(MAX_ROWS)
    start = time.perf_counter()
    preview = parse_roster(data, year=2026)
    elapsed = time.perf_counter() - start
    assert len(preview.rows) == MAX_ROWS
    assert elapsed < 5
    bare = list(csv.reader(io.StringIO(data.decode())))
    assert len(bare) == MAX_ROWS + 1


def test_over_the_limit_is_refused_with_a_clear_message():
    with pytest.raises(RosterTooLarge) as caught:
        parse_roster(_big_csv(MAX_ROWS + 1))
    assert "5,000" in caught.value.message and "未保存" in caught.value.message


def test_fifty_thousand_rows_are_refused_quickly():
    lines = [HEADER] + [f"员工{i},,E{i},3" for i in range(50_000)]
    start = time.perf_counter()
    with pytest.raises(RosterTooLarge):
        parse_roster(csv_bytes(*lines))
    assert time.perf_counter() - start < 5
    big = xlsx_bytes([["姓名", "工号"]] + [[f"员工{i}", f"E{i}"] for i in range(MAX_ROWS + 5)])
    with pytest.raises(RosterTooLarge):
        parse_roster(big)


def _formatted_blank_rows(people: int, blanks: int, *, blanks_first: bool) -> bytes:
    """A sheet with ``blanks`` rows that Excel keeps although they are empty (formatted cells), and people."""
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号码", "工号"])
    first_blank = 2 if blanks_first else 2 + people
    first_person = 2 + blanks if blanks_first else 2
    for row in range(first_blank, first_blank + blanks):
        sheet.cell(row=row, column=2).number_format = "@"  # "text" format: a cell without a value
    for n in range(people):
        sheet.cell(row=first_person + n, column=1, value=f"员工{n}")
        sheet.cell(row=first_person + n, column=3, value=f"E{n}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("blanks_first", [True, False])
def test_blank_rows_count_toward_the_row_limit(blanks_first):
    data = _formatted_blank_rows(10, MAX_ROWS, blanks_first=blanks_first)
    with pytest.raises(RosterBlankRows) as caught:
        parse_roster(data)
    assert "空行" in caught.value.message and "未保存" in caught.value.message
    assert isinstance(caught.value, RosterTooLarge)  # the upload pages already refuse it as over the limit
    # the same people with a few blank rows are fine
    assert len(parse_roster(_formatted_blank_rows(10, 50, blanks_first=blanks_first)).rows) == 10


def test_csv_blank_lines_count_toward_the_row_limit():
    with pytest.raises(RosterBlankRows):
        parse_roster(csv_bytes(HEADER, *[""] * MAX_ROWS, f"张三,{pid(1)},E1,3"))


def test_a_sparse_sheet_stops_at_the_limit_instead_of_reading_a_million_empty_rows(monkeypatch):
    """One cell at the sheet's last row: openpyxl would make up every empty row in between."""
    from registry import spreadsheet

    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "工号"])
    sheet.append(["张三", "E1"])
    sheet.cell(row=1_048_576, column=1, value="李四")
    buffer = io.BytesIO()
    book.save(buffer)
    cells = 0
    real = spreadsheet.xlsx_cell

    def counting(value):
        nonlocal cells
        cells += 1
        return real(value)

    monkeypatch.setattr(spreadsheet, "xlsx_cell", counting)
    with pytest.raises(RosterBlankRows):
        parse_roster(buffer.getvalue())
    assert cells <= (MAX_ROWS + 2) * MAX_COLUMNS  # read up to the limit, not to row 1,048,576


def test_a_full_xlsx_roster_is_within_the_unpacked_limits():
    rows = [["姓名", "身份证号码", "工号", "植树株数"]]
    rows += [[f"员工{i}", pid(i % 1000, f"19{60 + i % 40:02d}0101"), f"E{i:05d}", 3] for i in range(MAX_ROWS)]
    preview = parse_roster(xlsx_bytes(rows), year=2026)
    assert len(preview.rows) == MAX_ROWS


def _padded_xlsx(padding: int) -> bytes:
    """A real small roster whose sheet XML carries ``padding`` bytes of whitespace: tiny packed, huge unpacked."""
    source = xlsx_bytes([["姓名", "工号"], ["张三", "E1"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in original.infolist():
            body = original.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<sheetData>", b"<sheetData>" + b" " * padding)
            bomb.writestr(info.filename, body)
    return out.getvalue()


@pytest.mark.parametrize("padding", [19 * 1024 * 1024, 40 * 1024 * 1024])
def test_a_small_xlsx_that_unpacks_huge_is_refused_before_openpyxl_opens_it(padding, monkeypatch):
    import openpyxl

    bomb = _padded_xlsx(padding)
    assert len(bomb) < 200 * 1024  # uploads well under the 20 MB file limit

    def never(*args, **kwargs):
        raise AssertionError("openpyxl opened a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    with pytest.raises(RosterUnpackedTooLarge) as caught:
        parse_roster(bomb)
    assert "解压后过大" in caught.value.message and "未保存" in caught.value.message
    monkeypatch.undo()
    assert len(parse_roster(_padded_xlsx(1000)).rows) == 1  # a little whitespace is no bomb


# --- exports -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+86 138", "'+86 138"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("张三", "张三"),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_spreadsheet_safe(value, safe):
    assert spreadsheet_safe(value) == safe


def test_write_csv_neutralises_every_cell_and_opens_in_excel():
    text = write_csv([["姓名", "工号"], ["=1+1", "@x"], ["张三", 3]])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["姓名", "工号"], ["'=1+1", "'@x"], ["张三", "3"]]


def test_every_problem_and_refusal_reads_in_english():
    from kernel import i18n
    from planting.domain import errors as planting_errors
    from planting.shop import roster

    problems = [message for _, message in PROBLEMS.values()]  # shown on planting's shop pages
    refusals = [  # read in the domain of the package that raises them (linpiao.errors.refusal_text): planting's
        cls.message
        for module in (roster, planting_errors)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, RegisterError) and cls.__module__ == module.__name__
    ]
    missing = [m for m in problems if i18n.translations("en", "planting.shop").gettext(m) == m]
    missing += [m for m in refusals if i18n.translations("en", "planting").gettext(m) == m]
    assert refusals and not missing
