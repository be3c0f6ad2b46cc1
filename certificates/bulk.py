"""Bulk download: many certificates as one zip, streamed.

The zip is written by :mod:`zipfile` into a small buffer that is drained after every file, so memory holds
one PDF at a time however many certificates an organisation has. Each certificate is loaded by id when its
turn comes (its cached PDF, or a fresh rendering that is then cached). Entries use data descriptors, so the
archive never needs seeking.

Progress: the response carries ``X-Total-Count`` (how many certificates the zip will hold) and the zip's
first entry, ``清单.csv``, lists them all (code, kind, holder, quantity); the server logs progress every
tenth of the way. Content-Length is unknown in advance, so a browser shows bytes received.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import AsyncIterator, Iterable
from zoneinfo import ZoneInfo

from starlette.responses import StreamingResponse

from certificates.codes import group_code
from certificates.pdf import certificate_pdf
from registry.models import Certificate

log = logging.getLogger("linpiao.certificates.bulk")
CHINA = ZoneInfo("Asia/Shanghai")
MANIFEST = "清单.csv"


class _Drain(io.RawIOBase):
    """A write-only, unseekable file whose contents are taken away after each zip entry."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        chunk, self._chunks = b"".join(self._chunks), []
        return chunk


def _ids(certificates: Iterable[Certificate | int]) -> list[int]:
    return [c if isinstance(c, int) else int(c.id) for c in certificates]


def entry_name(certificate: Certificate) -> str:
    return f"{certificate.kind}-{group_code(certificate.code)}.pdf"


async def stream_zip(
    certificates: Iterable[Certificate | int], base_url: str, *, manifest: bool = True
) -> AsyncIterator[bytes]:
    """Yield a zip archive of the given certificates (objects or ids), a chunk per file.

    Only ids are kept from what is passed in; each certificate is read from the database when its turn
    comes, so the PDFs are never all in memory together."""
    ids = _ids(certificates)
    total = len(ids)
    sink = _Drain()
    step = max(1, total // 10)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        if manifest:
            archive.writestr(_info(MANIFEST, None), await _manifest(ids))
            yield sink.take()
        for done, certificate_id in enumerate(ids, start=1):
            certificate = await Certificate.get(id=certificate_id)
            content = await certificate_pdf(certificate, base_url)
            archive.writestr(_info(entry_name(certificate), certificate), content)
            del certificate, content
            if done % step == 0 or done == total:
                log.info("bulk zip: %d/%d certificates", done, total)
            yield sink.take()
    yield sink.take()  # the central directory


def _info(name: str, certificate: Certificate | None) -> zipfile.ZipInfo:
    # a fixed timestamp per file, so the same certificates always give the same archive
    if certificate is None:
        stamp = (1980, 1, 1, 0, 0, 0)
    else:
        t = certificate.issued_at.astimezone(CHINA)
        stamp = (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second // 2 * 2)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _cell(text: str) -> str:
    # names can come from uploaded rosters: never let a spreadsheet run one as a formula (CSV injection)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


async def _manifest(ids: list[int]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["文件", "验证码", "种类", "持有人", "数量", "状态"])
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = {
            c.id: c
            for c in await Certificate.filter(id__in=chunk).only(
                "id", "code", "kind", "holder_name", "quantity", "status", "issued_at"
            )
        }
        for certificate_id in chunk:
            c = rows[certificate_id]
            holder = _cell(c.holder_name)
            writer.writerow([entry_name(c), group_code(c.code), str(c.kind), holder, c.quantity, str(c.status)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV correctly


def zip_response(certificates: Iterable[Certificate | int], base_url: str, filename: str) -> StreamingResponse:
    """A streaming download of ``certificates`` as ``filename`` (ASCII), with ``X-Total-Count``."""
    ids = _ids(certificates)
    return StreamingResponse(
        stream_zip(ids, base_url),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Total-Count": str(len(ids)),
            "Cache-Control": "private, no-store",
        },
    )
