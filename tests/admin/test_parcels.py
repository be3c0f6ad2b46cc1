"""Parcels: particulars, species, boundary outline, documents checked by content and stored outside static/."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import pytest

from factories import images, make_holder
from registry import parcels as parcel_service
from registry.models import AuditLog, Parcel, StaffRole
from tests.admin.conftest import village_with_parcel

POLYGON = {"type": "Polygon", "coordinates": [[[106.30, 38.50], [106.31, 38.50], [106.31, 38.51], [106.30, 38.50]]]}
PNG = images.png()
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def parcel_form(**overrides: str) -> dict[str, str]:
    return {
        "district_code": "640104",
        "area_mu": "150.5",
        "township": "掌政镇",
        "village": "春林村",
        "boundary_east": "至渠",
        "boundary_south": "至路",
        "boundary_west": "至林带",
        "boundary_north": "至村界",
        "species": "新疆杨:1200\n国槐：300",
        "forest_right_cert_no": "宁(2023)兴庆区林权第0009号",
        "afforested_on": "2021-04-01",
        "accepted_on": "",
        "boundary_geojson": json.dumps(POLYGON),
        "owner_id": "",
        **overrides,
    }


async def test_issuer_registers_a_parcel_with_all_particulars(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    owner = await make_holder("春林村")
    response = await issuer.post("/admin/parcels", parcel_form(owner_id=str(owner.id)))
    assert response.status_code == 303
    parcel = await Parcel.get()
    assert parcel.area_mu == Decimal("150.5")
    assert parcel.species == [{"species": "新疆杨", "count": 1200}, {"species": "国槐", "count": 300}]
    assert parcel.owner_id == owner.id and str(parcel.afforested_on) == "2021-04-01"
    page = await issuer.get(response.headers["location"])
    assert 'data-testid="outline"' in page.text and '<path d="M' in page.text
    assert await AuditLog.filter(action="parcel.create").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"area_mu": "0"},
        {"area_mu": "abc"},
        {"area_mu": "1.00001"},
        {"district_code": "110101"},
        {"species": "新疆杨:many"},
        {"boundary_geojson": '{"type": "Point", "coordinates": [1, 2]}'},
        {"boundary_geojson": "not json"},
        {"owner_id": "999999"},
        {"afforested_on": "2021-13-01"},
    ],
)
async def test_bad_parcels_are_refused(sign_in, overrides):
    forestry = await sign_in(StaffRole.FORESTRY)
    response = await forestry.post("/admin/parcels", parcel_form(**overrides))
    assert response.status_code == 400
    assert "errors" in response.text
    assert await Parcel.all().count() == 0


async def test_edit_keeps_the_history_in_the_audit_log(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    _village, parcel = await village_with_parcel()
    response = await issuer.post(f"/admin/parcels/{parcel.id}", parcel_form(area_mu="151"))
    assert response.status_code == 303
    await parcel.refresh_from_db()
    assert parcel.area_mu == Decimal("151")
    entry = await AuditLog.get(action="parcel.update")
    assert "area_mu" in entry.details["changed"] and entry.details["before"]["area_mu"] == "150.0000"


def test_svg_outline_keeps_north_up_and_fits_the_box():
    paths = parcel_service.boundary_svg_paths(POLYGON, size=240, margin=8)
    assert paths == ["M8.0,232.0 L232.0,232.0 L232.0,8.0 L8.0,232.0 Z"]


async def test_document_upload_checks_type_by_content_and_stores_outside_static(sign_in, settings):
    issuer = await sign_in(StaffRole.ISSUER)
    _village, parcel = await village_with_parcel()
    url = f"/admin/parcels/{parcel.id}/documents"
    ok = await issuer.post(url, {"title": "林权证"}, files={"file": ("cert.pdf", PDF, "application/pdf")})
    assert ok.status_code == 303
    document = await parcel_service.ParcelDocument.get()
    stored = settings.data_dir / parcel_service.document_key(document)  # the default storage: the data folder
    assert stored.read_bytes() == PDF and "static" not in stored.parts
    assert document.content_type == "application/pdf" and document.size == len(PDF)
    download = await issuer.get(f"/admin/parcels/{parcel.id}/documents/{document.id}")
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    png = await issuer.post(url, {"title": "现场照片"}, files={"file": ("photo.bin", PNG, "application/octet-stream")})
    assert png.status_code == 303
    assert (await parcel_service.ParcelDocument.get(title="现场照片")).content_type == "image/png"


async def test_a_download_is_named_safely_typed_by_its_bytes_and_audited(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    _village, parcel = await village_with_parcel()
    await issuer.post(f"/admin/parcels/{parcel.id}/documents", {"title": "x"}, files={"file": ("a.pdf", PDF)})
    document = await parcel_service.ParcelDocument.get()
    # a stored name with a quote, CR LF, a header, a right-to-left override and a misleading extension;
    # and a stored type that is not what the bytes are
    document.filename = '林权证"\r\nSet-Cookie: x=1;\u202egpj.html'
    document.content_type = "text/html"
    await document.save()
    download = await issuer.get(f"/admin/parcels/{parcel.id}/documents/{document.id}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert not [c for c in download.headers.get_list("set-cookie") if c.startswith("x=")]
    disposition = download.headers["content-disposition"]
    fallback, encoded = disposition.split("; filename*=UTF-8''")
    assert fallback == 'attachment; filename="___Set-Cookie x=1gpj.pdf"'
    assert unquote(encoded) == "林权证Set-Cookie x=1gpj.pdf"
    line = await AuditLog.get(action="parcel.document.download")
    assert line.username == issuer.user.username and line.target == f"parcel:{parcel.id}"
    assert line.details["document"] == document.id and line.ip


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evil.pdf", b"<html><script>alert(1)</script></html>"),  # claims PDF, is HTML
        ("tool.png", b"MZ\x90\x00" + b"\x00" * 100),  # an executable
        ("empty.pdf", b""),
        ("huge.pdf", b"%PDF-" + b"0" * parcel_service.MAX_DOCUMENT_BYTES),  # one byte too many
    ],
)
async def test_document_upload_refusals_write_nothing(sign_in, settings, name, content):
    issuer = await sign_in(StaffRole.ISSUER)
    _village, parcel = await village_with_parcel()
    response = await issuer.post(
        f"/admin/parcels/{parcel.id}/documents", {"title": "x"}, files={"file": (name, content, "application/pdf")}
    )
    assert response.status_code == 400
    assert "只能上传 PDF、JPEG 或 PNG 文件" in response.text
    assert await parcel_service.ParcelDocument.all().count() == 0
    directory = settings.data_dir / parcel_service.DOCUMENT_FOLDER
    assert not directory.exists() or not any(Path(directory).iterdir())


async def test_documents_of_one_parcel_are_not_served_under_another(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    _v, parcel = await village_with_parcel()
    _w, other = await village_with_parcel()
    await issuer.post(f"/admin/parcels/{parcel.id}/documents", {"title": "x"}, files={"file": ("a.pdf", PDF)})
    document = await parcel_service.ParcelDocument.get()
    assert (await issuer.get(f"/admin/parcels/{other.id}/documents/{document.id}")).status_code == 404


async def test_area_and_district_are_frozen_once_tickets_are_issued(sign_in):
    from registry import register
    from registry.models import TicketKind

    forestry = await sign_in(StaffRole.FORESTRY)
    village, parcel = await village_with_parcel()
    await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=1000,
        serial_prefix="F-1",
        parcel=parcel,
        unit_area_m2=Decimal("100"),
    )
    for changes in ({"area_mu": "151"}, {"area_mu": "150", "district_code": "640105"}):
        response = await forestry.post(f"/admin/parcels/{parcel.id}", parcel_form(**changes))
        assert response.status_code == 400 and "不能修改面积或区县" in response.text
    same_area = await forestry.post(f"/admin/parcels/{parcel.id}", parcel_form(area_mu="150", village="春林新村"))
    assert same_area.status_code == 303
    await parcel.refresh_from_db()
    assert (parcel.area_mu, parcel.district_code, parcel.village) == (Decimal("150"), "640104", "春林新村")


async def test_an_oversized_request_is_refused_before_it_is_read(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    _village, parcel = await village_with_parcel()
    big = b"%PDF-" + b"0" * (13 * 1024 * 1024)
    response = await issuer.post(
        f"/admin/parcels/{parcel.id}/documents", {"title": "x"}, files={"file": ("a.pdf", big)}
    )
    assert response.status_code == 413
    assert await parcel_service.ParcelDocument.all().count() == 0
