"""Photos and documents forestry chooses to publish (issue 14): published from a parcel's back-office page (asked
of registry/access.py, audited), shown on /forests/{batch} — a photo re-encoded without EXIF or GPS and capped in
size, a PDF as a link — and nothing unpublished ever served to the public. Every test runs on the local folder and
on S3-compatible object storage (moto's S3 server on loopback)."""

from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
from PIL import Image

from factories import images, make_batch
from kernel.settings import Settings
from registry import parcels as parcel_service
from registry import photos
from registry.models import AuditLog, Batch, StaffRole, TicketKind
from registry.storage import storage_of
from tests.fakes3 import s3_bucket, s3_server, with_s3

__all__ = ["s3_bucket", "s3_server"]  # fixtures
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PRIVATE_TITLE = "马建国家的林权证照片"  # a title naming a person: it must never reach a public page


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "local":
        return settings
    return with_s3(settings, request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))


async def upload(staff, parcel_id: int, title: str, name: str, content: bytes):  # type: ignore[no-untyped-def]
    return await staff.post(f"/admin/parcels/{parcel_id}/documents", {"title": title}, files={"file": (name, content)})


async def publish(staff, document, on: bool = True):  # type: ignore[no-untyped-def]
    url = f"/admin/parcels/{document.parcel_id}/documents/{document.id}/publish"
    return await staff.post(url, {"publish": "1" if on else "0"})


async def test_forestry_publishes_a_photo_and_a_pdf_and_the_public_sees_only_those(sign_in, client, settings):
    batch = await make_batch(TicketKind.COLLECTIVE)
    parcel_id, prefix = int(batch.parcel_id), batch.serial_prefix  # type: ignore[attr-defined]
    issuer = await sign_in(StaffRole.ISSUER)
    upload_bytes = images.jpeg_with_gps()
    for title, name, content in (
        ("造林现场", "IMG_0001.jpg", upload_bytes),
        ("验收报告", "验收.pdf", PDF),
        (PRIVATE_TITLE, "private.png", images.png()),
    ):
        assert (await upload(issuer, parcel_id, title, name, content)).status_code == 303
    photo, report, private = await parcel_service.ParcelDocument.filter(parcel_id=parcel_id).order_by("id")

    # the issuer uploads, but only forestry publishes (registry/access.py: parcel.document.publish)
    refused = await publish(issuer, photo)
    assert refused.status_code == 403 and not (await parcel_service.ParcelDocument.get(id=photo.id)).public
    page = await client.get(f"/forests/{prefix}")
    assert (
        'id="published"' not in page.text
        and (await client.get(f"/forests/{prefix}/photos/{photo.id}")).status_code == 404
    )

    forestry = await sign_in(StaffRole.FORESTRY)
    admin_page = await forestry.get(f"/admin/parcels/{parcel_id}")
    assert 'id="publish-hint"' in admin_page.text and "在林票公开页公开" in admin_page.text
    assert (await publish(forestry, photo)).status_code == 303
    assert (await publish(forestry, report)).status_code == 303
    assert (await publish(forestry, report)).status_code == 303  # again: nothing changes, nothing audited twice
    lines = await AuditLog.filter(action="parcel.document.publish").order_by("id")
    assert [(line.username, line.details["document"]) for line in lines] == [
        (forestry.user.username, photo.id),
        (forestry.user.username, report.id),
    ]
    assert f'data-public="{photo.id}"' in (await forestry.get(f"/admin/parcels/{parcel_id}")).text

    page = await client.get(f"/forests/{prefix}")
    assert page.status_code == 200
    assert f'src="/forests/{prefix}/photos/{photo.id}/thumb"' in page.text and "造林现场" in page.text
    assert f'href="/forests/{prefix}/documents/{report.id}"' in page.text and "验收报告" in page.text
    assert PRIVATE_TITLE not in page.text and f"/{private.id}" not in page.text
    assert "IMG_0001" not in page.text and "验收.pdf" not in page.text  # uploaded names stay in the back-office

    shown = await client.get(f"/forests/{prefix}/photos/{photo.id}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(shown.content))
    assert max(image.size) == photos.PUBLIC_SIDE and not dict(image.getexif())
    assert images.CAMERA.encode() not in shown.content and shown.content != upload_bytes
    thumb = await client.get(f"/forests/{prefix}/photos/{photo.id}/thumb")
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) == photos.THUMB_SIDE
    pdf = await client.get(f"/forests/{prefix}/documents/{report.id}")
    assert pdf.status_code == 200 and pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
    assert unquote(pdf.headers["content-disposition"].split("UTF-8''")[1]) == "验收报告.pdf"

    # unpublished, the wrong kind of link, another batch, or no such thing: the same 404
    other = await make_batch(TicketKind.COLLECTIVE)
    for path in (
        f"/forests/{prefix}/photos/{private.id}",
        f"/forests/{prefix}/photos/{private.id}/thumb",
        f"/forests/{prefix}/documents/{private.id}",
        f"/forests/{prefix}/documents/{photo.id}",  # the uploaded bytes of a photo are never public
        f"/forests/{prefix}/photos/{report.id}",
        f"/forests/{other.serial_prefix}/photos/{photo.id}",
        f"/forests/NO-SUCH-BATCH/photos/{photo.id}",
        f"/forests/{prefix}/photos/99999999999",
    ):
        assert (await client.get(path)).status_code == 404, path

    # withdrawn: gone from the page and the links, and the public renditions are deleted from the storage
    renditions = [(await parcel_service.ParcelDocument.get(id=photo.id)).public_image]
    assert await storage_of(settings).exists(renditions[0])
    assert (await publish(forestry, photo, on=False)).status_code == 303
    assert (await client.get(f"/forests/{prefix}/photos/{photo.id}")).status_code == 404
    assert f"/photos/{photo.id}" not in (await client.get(f"/forests/{prefix}")).text
    assert not await storage_of(settings).exists(renditions[0])
    [withdrawn] = await AuditLog.filter(action="parcel.document.withdraw")
    assert withdrawn.details["document"] == photo.id and withdrawn.username == forestry.user.username
    # the back-office still has the upload, byte for byte
    assert (await forestry.get(f"/admin/parcels/{parcel_id}/documents/{photo.id}")).content == upload_bytes


async def test_district_forestry_publishes_only_in_its_district(sign_in, settings):
    batch = await make_batch(TicketKind.COLLECTIVE)  # a parcel of 兴庆区 640104
    issuer = await sign_in(StaffRole.ISSUER)
    await upload(issuer, int(batch.parcel_id), "造林现场", "a.png", images.png())  # type: ignore[attr-defined]
    photo = await parcel_service.ParcelDocument.get()
    xixia = await sign_in(StaffRole.FORESTRY, "forestry-xixia", "640105")
    assert (await publish(xixia, photo)).status_code in (403, 404)
    assert not (await parcel_service.ParcelDocument.get(id=photo.id)).public


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("photo.png", images.fake_png(), "内容无法按该格式读取"),
        ("photo.jpg", images.truncated_jpeg(), "内容无法按该格式读取"),
        ("bomb.png", images.pixel_bomb(), "图片像素过多"),
    ],
)
async def test_a_png_that_is_not_a_png_is_refused_with_a_chinese_reason(sign_in, settings, name, content, reason):
    batch = await make_batch(TicketKind.COLLECTIVE)
    issuer = await sign_in(StaffRole.ISSUER)
    response = await upload(issuer, int(batch.parcel_id), "照片", name, content)  # type: ignore[attr-defined]
    assert response.status_code == 400 and reason in response.text
    assert await parcel_service.ParcelDocument.all().count() == 0
    assert await storage_of(settings).list(parcel_service.DOCUMENT_FOLDER + "/") == []


async def test_a_quota_has_no_parcel_and_so_no_photos(client, db):
    quota = await make_batch(TicketKind.CARBON)
    page = await client.get(f"/forests/{quota.serial_prefix}")
    assert page.status_code == 200 and 'id="published"' not in page.text
    assert (await client.get(f"/forests/{quota.serial_prefix}/photos/1")).status_code == 404
    assert await Batch.filter(id=quota.id).exists()
