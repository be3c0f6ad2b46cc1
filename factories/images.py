"""Sample images for the photo tests: a real PNG, a JPEG carrying EXIF with a GPS position and an orientation, and
files that only look like images."""

from __future__ import annotations

import io

from PIL import Image

GPS_LATITUDE = (38.0, 28.0, 51.0)  # 38°28'51" N: a position in 兴庆区 a published photo must not carry
GPS_IFD = 0x8825
ORIENTATION = 0x0112
CAMERA = "LinpiaoCam-SN-0042"  # the camera's make, in the EXIF, also gone from the published photo


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (47, 107, 58)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(width: int = 2400, height: int = 1200, *, rotated: bool = True) -> bytes:
    """A landscape JPEG whose EXIF says: taken at GPS_LATITUDE, by CAMERA, and (rotated) to be shown turned
    90° (orientation 6), so it is upright as a portrait."""
    image = Image.new("RGB", (width, height), (120, 160, 90))
    for x in range(0, width, 50):  # some detail, so it is not one flat colour
        image.paste((30, 60, 30), (x, 0, x + 10, height))
    exif = Image.Exif()
    exif[0x010F] = CAMERA  # Make
    if rotated:
        exif[ORIENTATION] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = GPS_LATITUDE
    gps[3] = "E"
    gps[4] = (106.0, 16.0, 30.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def fake_png() -> bytes:
    """PNG's eight magic bytes, then something else entirely (a script)."""
    return b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" + b"\x00" * 64


def truncated_jpeg() -> bytes:
    whole = jpeg_with_gps(400, 300, rotated=False)
    return whole[: len(whole) // 2]


def pixel_bomb() -> bytes:
    """A small PNG file that would decode to 60 megapixels (above registry.photos.MAX_PIXELS)."""
    out = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(out, "PNG", optimize=True)
    return out.getvalue()
