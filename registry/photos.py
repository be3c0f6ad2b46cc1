"""Photos of parcels (现场照片): uploaded images read as hostile input, and the renditions the public sees.

An upload whose first bytes say PNG or JPEG is decoded in full with Pillow, restricted to that one format, before
it is kept: a file that only starts like an image, is truncated, or would decode to more than
:data:`MAX_PIXELS` pixels (a "decompression bomb": a small file that unpacks to gigabytes) is refused with a
reason in Chinese. The public never gets the uploaded bytes of a photo: publishing makes new ones
(:func:`renditions`) — turned upright by their EXIF orientation, then re-encoded from the pixels alone, so no
EXIF (camera, time, GPS position), comment, text chunk or colour profile of the upload goes along — at most
:data:`PUBLIC_SIDE` pixels on the long side, with a thumbnail of :data:`THUMB_SIDE`.

These functions are CPU work: call them through :func:`registry.cpu.file_work`, never on the event loop.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from registry.errors import RegisterError

MAX_PIXELS = 50_000_000  # 50 megapixels: more than any phone or camera photo of a parcel needs
PUBLIC_SIDE = 1600
THUMB_SIDE = 400
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


class InvalidImage(RegisterError):
    code = "invalid_image"
    message = "文件开头标明是 JPEG 或 PNG 图片，但内容无法按该格式读取（文件损坏或伪装），已拒收"


class ImageTooLarge(RegisterError):
    code = "image_too_large"
    message = "图片像素过多（超过 5000 万像素），请缩小后再上传"


def check_image(content: bytes, content_type: str) -> tuple[int, int]:
    """Decode the whole image as the format its first bytes claim; its (width, height), or a refusal."""
    fmt = FORMATS[content_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content), formats=[fmt]) as image:
                size = image.size
                if size[0] * size[1] > MAX_PIXELS:  # from the header alone, before any pixel is decoded
                    raise ImageTooLarge(f"{size[0]}x{size[1]}")
                image.verify()  # the structure (chunks and their checksums, markers)
            with Image.open(io.BytesIO(content), formats=[fmt]) as image:
                image.load()  # and every pixel: a truncated or corrupt stream fails here
        except ImageTooLarge:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLarge() from None
        except Exception as exc:  # hostile bytes raise whatever the decoder meets: refuse them all alike
            raise InvalidImage(type(exc).__name__) from None
    return size


@dataclass(frozen=True)
class Renditions:
    content_type: str
    image: bytes
    thumbnail: bytes
    thumb_size: tuple[int, int]


def renditions(content: bytes, content_type: str) -> Renditions:
    """The public photo and its thumbnail: upright, pixels only (no metadata), size-capped, in the upload's
    format (JPEG stays JPEG, PNG stays PNG)."""
    check_image(content, content_type)
    fmt = FORMATS[content_type]
    with Image.open(io.BytesIO(content), formats=[fmt]) as opened:
        upright = ImageOps.exif_transpose(opened)
        mode = (
            "RGB"
            if fmt == "JPEG"
            else ("RGBA" if "A" in upright.getbands() or "transparency" in upright.info else "RGB")
        )
        pixels = upright.convert(mode)
    pixels.info.clear()  # nothing of the upload's metadata is carried by the image object either

    def encode(side: int) -> tuple[bytes, tuple[int, int]]:
        copy = pixels.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if fmt == "JPEG":
            copy.save(out, "JPEG", quality=85, optimize=True, progressive=True)
        else:
            copy.save(out, "PNG", optimize=True)
        return out.getvalue(), copy.size

    image, _size = encode(PUBLIC_SIDE)
    thumbnail, thumb_size = encode(THUMB_SIDE)
    return Renditions(content_type, image, thumbnail, thumb_size)
