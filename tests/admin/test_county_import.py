"""Onboarding a county (registry/county_import.py, admin/views_import.py): holders and parcels from CSV and XLSX,
every row's problems previewed, imported all or nothing, once, into the clerk's own district only."""

from __future__ import annotations

import asyncio
import io
import json
import re
from decimal import Decimal

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from factories import credit_code, id_of, make_holder, resident_id
from factories.trades import make_actor
from registry import county_import
from registry import holders as holder_service
from registry.models import AuditLog, Holder, HolderKind, Parcel, ResidenceEvidence, StaffRole
from registry.residence import needs_confirmation

HOLDER_HEADER = ["姓名", "身份证号码/统一社会信用代码", "类型", "联系电话", "居住地"]
PARCEL_HEADER = ["区县", "乡镇", "村", "面积（亩）", "东至", "南至", "西至", "北至", "树种", "林权证号", "造林日期"]
PARCEL_HEADER += ["权利人证件号码", "边界GeoJSON"]
POLYGON = {"type": "Polygon", "coordinates": [[[106.30, 38.50], [106.31, 38.50], [106.31, 38.51], [106.30, 38.50]]]}


def people(n: int, start: int = 1) -> list[list[str]]:
    return [
        [f"农户{i}", resident_id("640104", seq=i), "个人", f"1380000{i:04d}", "兴庆区"] for i in range(start, start + n)
    ]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    def cell(value: str) -> str:
        return f'"{value}"' if any(c in value for c in ',"\n') else value

    text = "\r\n".join(",".join(cell(v.replace('"', '""')) for v in row) for row in rows) + "\r\n"
    return text.encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    for index, (title, rows) in enumerate(sheets.items()):
        sheet = book.active if index == 0 else book.create_sheet()
        assert sheet is not None
        sheet.title = title
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def parcel_row(cert: str, owner: str, area: object = "12.5", district: str = "兴庆区", **extra: str) -> list[object]:
    geo = extra.get("geo", json.dumps(POLYGON))
    place = [district, "掌政镇", "强家庙村", area, "渠", "路", "林带", "农田", "新疆杨:1200；旱柳:300"]
    return [*place, cert, extra.get("date", "2020/3/1"), owner, geo]


async def upload(clerk, data: bytes, name: str, district: str = "640104", informed: bool = True) -> httpx.Response:
    form = {"csrf": clerk.csrf, "district_code": district, **({"informed": "1"} if informed else {})}
    return await clerk.client.post("/admin/import", data=form, files={"file": (name, data, "application/octet-stream")})


def token_of(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "no confirm form on the page"
    return match.group(1)


async def fingerprint() -> tuple[int, int, int]:
    return await Holder.all().count(), await Parcel.all().count(), await AuditLog.all().count()


async def test_a_good_csv_is_previewed_then_imported_with_its_audit(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    rows = [HOLDER_HEADER, *people(3), ["春林林业有限公司", credit_code("640104", seq=7), "", "", "市外"]]
    before = await fingerprint()
    preview = await upload(clerk, csv_bytes(rows), "农户名册.csv")
    assert preview.status_code == 200, preview.text
    assert 'data-testid="import-confirm"' in preview.text and "UTF-8 (BOM)" in preview.text
    assert 'data-testid="declared-residences">4<' in preview.text
    assert (await Holder.all().count(), await Parcel.all().count()) == before[:2]  # a preview writes nothing
    response = await clerk.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert response.status_code == 303
    done = await clerk.get(response.headers["location"])
    assert 'data-testid="import-done"' in done.text
    farmer = await holder_service.holder_by_identifier(resident_id("640104", seq=2))
    assert farmer is not None and farmer.name == "农户2" and farmer.kind == HolderKind.INDIVIDUAL
    # the county's list declares the residence; no clerk has checked it: 待核实居住地
    assert farmer.residence_district == "640104" and not farmer.residence_confirmed
    assert farmer.residence_evidence == ResidenceEvidence.DECLARED_BY_COUNTY and needs_confirmation(farmer)
    village = await holder_service.holder_by_identifier(credit_code("640104", seq=7))
    assert village is not None and village.kind == HolderKind.ENTERPRISE  # from the credit code's category (91…)
    assert village.residence_district == "outside"
    assert await Holder.all().count() == before[0] + 4
    summary = await AuditLog.get(action="county.import")
    assert summary.staff_id == clerk.user.id and summary.details["holders"] == 4  # type: ignore[index]
    assert await AuditLog.filter(action="holder.create").count() == 4
    listed = await clerk.get("/admin/holders?residence=to_confirm")
    assert "农户1" in listed.text and "春林林业有限公司" in listed.text


async def test_a_good_xlsx_imports_holders_then_parcels_naming_them(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    owner = resident_id("640104", seq=1)
    earlier = await make_holder("老户", region="640104")  # a holder already in the register owns the second
    holders = [HOLDER_HEADER, *people(2)]
    parcels: list[list[object]] = [
        PARCEL_HEADER,
        parcel_row("宁(2020)兴庆区林权第0101号", owner, area=12.5),
        parcel_row("宁(2020)兴庆区林权第0102号", id_of(earlier), area="1,234.0625", geo=""),
    ]
    data = xlsx_bytes({"持有人": holders, "林地小班": parcels, "填写说明": [["填写说明（本页不导入）"]]})
    preview = await upload(clerk, data, "台账.xlsx")
    assert preview.status_code == 200, re.findall(r'data-code="([^"]+)"', preview.text)
    assert "填写说明" in preview.text  # the notes sheet is listed as not read
    response = await clerk.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert response.status_code == 303
    first = await Parcel.get(forest_right_cert_no="宁(2020)兴庆区林权第0101号").prefetch_related("owner")
    assert first.area_mu == Decimal("12.5") and first.owner.name == "农户1"
    assert str(first.afforested_on) == "2020-03-01" and first.boundary_geojson == POLYGON
    assert first.species == [{"species": "新疆杨", "count": 1200}, {"species": "旱柳", "count": 300}]
    second = await Parcel.get(forest_right_cert_no="宁(2020)兴庆区林权第0102号")
    assert second.area_mu == Decimal("1234.0625") and second.owner_id == earlier.id and second.boundary_geojson is None
    assert await AuditLog.filter(action="parcel.create").count() == 2
    assert (await AuditLog.get(action="county.import")).details["parcels"] == 2  # type: ignore[index]


async def test_a_file_with_problems_shows_every_row_and_writes_nothing(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    taken = await make_holder("已登记", region="640104")
    good = people(1)[0]
    rows = [
        HOLDER_HEADER,
        good,
        ["", resident_id("640104", seq=2), "", "", ""],  # no name
        ["坏号", "640104199001011235", "", "", ""],  # bad check character
        ["科学计数", "6.40104E+17", "", "", ""],  # Excel's scientific notation
        ["重复", good[1], "", "", ""],  # the same number as row 2
        ["已有", id_of(taken), "个人", "", ""],  # already in the register (the register's own refusal)
        ["外区", resident_id("640104", seq=3), "", "", "贺兰县"],  # residence in another district
        ['=HYPERLINK("http://x")', resident_id("640104", seq=4), "", "", ""],  # a formula
        ["怪类型", resident_id("640104", seq=5), "外星人", "", ""],
        ["企业当个人", credit_code("640104", seq=9), "个人", "", ""],
    ]
    before = await fingerprint()
    response = await upload(clerk, csv_bytes(rows), "名册.csv")
    assert response.status_code == 422
    assert 'data-testid="import-confirm"' not in response.text
    codes = {int(line): re.findall(r'data-code="([^"]+)"', body) for line, body in _rows(response.text)}
    assert codes[2] == []
    assert codes[3] == ["missing_name"]
    assert codes[4] == ["bad_identifier"] and codes[5] == ["id_scientific"] and codes[6] == ["duplicate"]
    assert codes[7] == ["register"] and "已登记" in response.text
    assert codes[8] == ["residence_elsewhere"] and codes[9] == ["formula"]
    assert codes[10] == ["bad_kind"] and codes[11] == ["bad_id"]
    assert await fingerprint() == before  # not one holder, parcel or audit line
    assert await county_import.CountyImport.all().count() == 0  # nothing kept to confirm


def _rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr[^>]*data-line="(\d+)">(.*?)</tr>', html, flags=re.S)


async def test_parcel_problems_each_on_its_row(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    await Parcel.create(district_code="640104", area_mu=Decimal(1), forest_right_cert_no="宁林权第9号")
    owner = resident_id("640104", seq=1)
    rows = [
        PARCEL_HEADER,
        parcel_row("宁林权第1号", "", area="0"),
        parcel_row("宁林权第2号", "", area="1.23456"),
        parcel_row("宁林权第3号", "", district="贺兰县"),
        parcel_row("宁林权第4号", "", date="2020-02-30"),
        parcel_row("宁林权第5号", "", geo='{"type": "Point"}'),
        parcel_row("宁林权第6号", owner),  # an owner neither in the file nor in the register
        parcel_row("宁林权第7号", ""),
        parcel_row("宁林权第7号", ""),  # the same certificate twice
        parcel_row("宁林权第9号", ""),  # already registered
    ]
    response = await upload(clerk, csv_bytes(rows), "小班.csv")
    assert response.status_code == 422
    codes = {int(line): re.findall(r'data-code="([^"]+)"', body) for line, body in _rows(response.text)}
    assert codes == {
        2: ["bad_area"],
        3: ["bad_area"],
        4: ["other_district"],
        5: ["bad_date"],
        6: ["bad_geojson"],
        7: ["owner_not_found"],
        8: [],
        9: ["duplicate_cert"],
        10: ["cert_registered"],
    }
    assert await Parcel.all().count() == 1


async def test_a_gbk_csv_from_excel_is_read(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    rows = [
        ["户主姓名", "公民身份号码", "手机号码", "现居住地"],
        ["王䶮", resident_id("640104", seq=8), "", "银川市兴庆区"],
    ]
    rows[1][0] = "王小燕"  # GBK has no 䶮: what Excel writes is GBK
    response = await upload(clerk, csv_bytes(rows, "gbk"), "名册.csv")
    assert response.status_code == 200, response.text
    assert "GBK/GB18030" in response.text and "王小燕" in response.text
    await clerk.post("/admin/import/confirm", {"token": token_of(response.text)})
    holder = await holder_service.holder_by_identifier(resident_id("640104", seq=8))
    assert holder is not None and holder.name == "王小燕" and holder.residence_district == "640104"


async def test_a_file_over_the_cap_is_refused_before_it_is_read(sign_in, monkeypatch):
    clerk = await sign_in(StaffRole.ISSUER)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(county_import, "parse_import", never)
    big = b"x" * (county_import.MAX_BYTES + 2 * 1024 * 1024)  # over the route's body limit too
    response = await upload(clerk, big, "big.csv")
    assert response.status_code == 413
    just_over = b"a," * ((county_import.MAX_BYTES // 2) + 1)  # under the body limit, one byte over the file's cap
    response = await upload(clerk, just_over, "over.csv")
    assert response.status_code == 413 and "10 MB" in response.text
    assert await county_import.CountyImport.all().count() == 0


async def test_another_district_is_refused(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)  # 兴庆区 640104
    before = await fingerprint()
    response = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(1)]), "名册.csv", district="640122")
    assert response.status_code == 403
    assert await fingerprint() == before
    page = await clerk.get("/admin/import")
    assert 'value="640104"' in page.text and 'value="640122"' not in page.text  # only its own district offered


async def test_a_clerk_cannot_confirm_another_clerks_upload(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    other = await sign_in(StaffRole.ISSUER, "other-issuer")
    preview = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(1)]), "名册.csv")
    response = await other.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert response.status_code == 404
    assert await AuditLog.filter(action="county.import").count() == 0


async def test_a_double_submit_imports_once(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    preview = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(5)]), "名册.csv")
    token = token_of(preview.text)
    first, second = await asyncio.gather(
        clerk.post("/admin/import/confirm", {"token": token}), clerk.post("/admin/import/confirm", {"token": token})
    )
    third = await clerk.post("/admin/import/confirm", {"token": token})
    assert [r.status_code for r in (first, second, third)] == [303, 303, 303]
    assert {r.headers["location"] for r in (first, second, third)} == {f"/admin/import?done={token}"}
    assert await Holder.filter(name__startswith="农户").count() == 5
    assert await AuditLog.filter(action="county.import").count() == 1
    staged = await county_import.CountyImport.get(token=token)
    assert staged.content == b"" and staged.imported_at is not None  # the file's personal data is not kept


async def test_a_row_the_register_refuses_at_confirmation_rolls_the_whole_file_back(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    preview = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(3)]), "名册.csv")
    # between preview and confirm someone registers the third person by hand
    data = holder_service.HolderInput(HolderKind.INDIVIDUAL, "抢先登记", resident_id("640104", seq=3), informed=True)
    await holder_service.create_holder(data, actor=await make_actor())
    response = await clerk.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert response.status_code == 409
    assert await Holder.filter(name__startswith="农户").count() == 0  # all or nothing
    assert await AuditLog.filter(action="county.import").count() == 0
    assert 'data-code="register"' in response.text


async def test_people_are_taken_only_with_the_privacy_notice(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    response = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(1)]), "名册.csv", informed=False)
    assert response.status_code == 422 and 'data-code="register"' in response.text
    assert await Holder.filter(name="农户1").count() == 0


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", "import_legacy_excel"),
        ("甲,乙\r\n1,2\r\n".encode(), "x.csv", "import_no_table"),
        ("姓名,证件号码\r\n\r\n".encode(), "x.csv", "import_empty"),
        (b"PK\x03\x04 not a zip", "x.xlsx", "import_unreadable"),
    ],
)
def test_files_refused_as_a_whole(data: bytes, name: str, code: str) -> None:
    with pytest.raises(county_import.ImportRefused) as refused:
        county_import.parse_import(data, name, "640104")
    assert refused.value.code == code


def test_too_many_rows_are_refused() -> None:
    rows = [HOLDER_HEADER] + [["某", "1"]] * (county_import.MAX_ROWS + 1)
    with pytest.raises(county_import.ImportTooManyRows):
        county_import.parse_import(csv_bytes(rows), "x.csv", "640104")


@pytest.mark.parametrize(
    ("text", "hectares", "area"),
    [
        ("12.5", False, Decimal("12.5")),
        ("1,234.5亩", False, Decimal("1234.5")),
        ("2", True, Decimal("30")),
        ("0.1公顷", False, Decimal("1.5")),
        ("0", False, None),
        ("-3", False, None),
        ("1.00001", False, None),
        ("1e3", False, None),
    ],
)
def test_area_is_an_exact_decimal(text: str, hectares: bool, area: Decimal | None) -> None:
    assert county_import.parse_area(text, hectares=hectares) == area


def test_header_variants_and_utf8_bom_are_read() -> None:
    data = csv_bytes([["户主（必填）", "证件号码*", "联系方式"], ["李四", resident_id("640104", seq=3), "139"]])
    preview = county_import.parse_import(data, "x.csv", "640104")
    assert preview.encoding == "UTF-8 (BOM)"
    [row] = preview.holders
    assert row.values["name"] == "李四" and row.kind == HolderKind.INDIVIDUAL and not row.problems


async def test_the_templates_download_and_read_back(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    xlsx = await clerk.get("/admin/import/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-disposition"].startswith("attachment")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["持有人", "林地小班", "填写说明"]
    assert [c.value for c in book["持有人"][1]] == county_import.TEMPLATE_HOLDERS
    assert book["持有人"]["B2"].number_format == "@"  # ID numbers stay text in Excel
    for table in ("holders", "parcels"):
        response = await clerk.get(f"/admin/import/{table}.csv")
        assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    assert (await clerk.get("/admin/import/other.csv")).status_code == 404
    # the template, filled in, is a file the import reads
    book["持有人"].append(["赵五", resident_id("640104", seq=11), "个人", "", "兴庆区"])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = county_import.parse_import(buffer.getvalue(), "t.xlsx", "640104")
    assert [r.values["name"] for r in preview.holders] == ["赵五"] and preview.skipped_sheets == ["填写说明"]


def test_every_problem_and_refusal_reads_in_english() -> None:
    from tests.admin.test_i18n import _catalog

    catalog = _catalog()
    messages = [message for _severity, message in county_import.PROBLEMS.values() if message]
    messages += [
        value.message
        for value in vars(county_import).values()
        if isinstance(value, type) and issubclass(value, county_import.ImportRefused)
    ]
    assert len(messages) > 30
    assert [m for m in messages if not catalog.get(m)] == []
