"""Parcel photos (registry/photos.py): uploads decoded as hostile input, public renditions without metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from factories import images
from registry import photos


def test_a_real_png_and_jpeg_pass_with_their_size() -> None:
    assert photos.check_image(images.png(64, 48), "image/png") == (64, 48)
    assert photos.check_image(images.jpeg_with_gps(400, 300), "image/jpeg") == (400, 300)


@pytest.mark.parametrize(
    ("content", "content_type", "refusal"),
    [
        (images.fake_png(), "image/png", photos.InvalidImage),  # PNG's magic bytes, then a script
        (images.truncated_jpeg(), "image/jpeg", photos.InvalidImage),  # half a photo
        (images.png(), "image/jpeg", photos.InvalidImage),  # a PNG claiming (by the sniffed type) to be a JPEG
        (images.pixel_bomb(), "image/png", photos.ImageTooLarge),  # 7 KB that would unpack to 60 megapixels
    ],
)
def test_hostile_images_are_refused_with_a_chinese_reason(content: bytes, content_type: str, refusal: type) -> None:
    with pytest.raises(refusal) as caught:
        photos.check_image(content, content_type)
    assert any("\u4e00" <= c <= "\u9fff" for c in caught.value.message)


def test_the_public_photo_is_upright_capped_and_carries_no_exif_or_position() -> None:
    upload = images.jpeg_with_gps(2400, 1200)  # landscape pixels, EXIF: turn 90°, GPS, camera
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(images.GPS_IFD)  # the upload does carry them
    shown = photos.renditions(upload, "image/jpeg")
    for body, side in ((shown.image, photos.PUBLIC_SIDE), (shown.thumbnail, photos.THUMB_SIDE)):
        image = Image.open(io.BytesIO(body))
        assert image.format == "JPEG"
        assert image.size == (side // 2, side)  # upright (portrait) and at most `side` on the long side
        assert not dict(image.getexif()) and "exif" not in image.info and "icc_profile" not in image.info
        assert images.CAMERA.encode() not in body and b"Exif" not in body
    assert shown.thumb_size == (photos.THUMB_SIDE // 2, photos.THUMB_SIDE)


def test_a_png_stays_a_png_and_a_small_one_is_not_enlarged() -> None:
    shown = photos.renditions(images.png(64, 48), "image/png")
    image = Image.open(io.BytesIO(shown.image))
    assert image.format == "PNG" and image.size == (64, 48) and shown.content_type == "image/png"
    assert Image.open(io.BytesIO(shown.thumbnail)).size == (64, 48)
