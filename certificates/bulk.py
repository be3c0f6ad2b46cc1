"""Bulk download: many certificates as one zip, streamed.

The zip is written by :mod:`zipfile` into a small buffer that is drained after every file, so memory holds
one PDF at a time however many certificates an organisation has. Each certificate is loaded by id when its
turn comes (its cached PDF, or a fresh rendering that is then cached). Entries use data descriptors, so the
archive never needs seeking.

Progress: the response carries ``X-Total-Count`` (how many certificates the zip will hold) and the zip's
first entry, ``清单.csv``, lists them all (file, code, kind, holder, quantity, serials, status — kinds and
statuses in words of the request's language, never raw codes); the server logs progress every tenth of the
way. Content-Length is unknown in advance, so a browser shows bytes received.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from starlette.responses import StreamingResponse

from certificates.codes import group_code
from certificates.i18n import gettext as _
from certificates.pdf import certificate_pdf
from certificates.service import KIND_LABELS, STATUS_LABELS
from kernel import clock
from registry.models import Certificate

log = logging.getLogger("linpiao.certificates.bulk")
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


@dataclass(frozen=True)
class ManifestWords:
    """The manifest's header and its words for kinds and statuses, in one language."""

    header: tuple[str, ...]
    kinds: dict[str, str]
    statuses: dict[str, str]


def manifest_words() -> ManifestWords:
    """The words of the current request's language (read before streaming starts)."""
    return ManifestWords(
        header=(_("文件"), _("验证码"), _("种类"), _("持有人"), _("数量"), _("林票序号"), _("状态")),
        kinds={str(k): _(v) for k, v in KIND_LABELS.items()},
        statuses={str(k): _(v) for k, v in STATUS_LABELS.items()},
    )


def _ids(certificates: Iterable[Certificate | int]) -> list[int]:
    return [c if isinstance(c, int) else int(c.id) for c in certificates]


def entry_name(certificate: Certificate) -> str:
    return f"{certificate.kind}-{group_code(certificate.code)}.pdf"


async def stream_zip(
    certificates: Iterable[Certificate | int],
    base_url: str,
    *,
    manifest: bool = True,
    words: ManifestWords | None = None,
) -> AsyncIterator[bytes]:
    """Yield a zip archive of the given certificates (objects or ids), a chunk per file.

    Only ids are kept from what is passed in; each certificate is read from the database when its turn
    comes, so the PDFs are never all in memory together. ``words`` is the manifest's language (the current
    one when not given)."""
    ids = _ids(certificates)
    total = len(ids)
    sink = _Drain()
    step = max(1, total // 10)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        if manifest:
            archive.writestr(_info(MANIFEST, None), await _manifest(ids, words or manifest_words()))
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
        t = clock.local(certificate.issued_at)
        stamp = (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second // 2 * 2)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _cell(text: str) -> str:
    # names can come from uploaded rosters: never let a spreadsheet run one as a formula (CSV injection)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


async def _manifest(ids: list[int], words: ManifestWords) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(words.header)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = {
            c.id: c
            for c in await Certificate.filter(id__in=chunk).only(
                "id", "code", "kind", "holder_name", "quantity", "serial_ranges", "status", "issued_at"
            )
        }
        for certificate_id in chunk:
            c = rows[certificate_id]
            writer.writerow(
                [
                    entry_name(c),
                    group_code(c.code),
                    words.kinds.get(str(c.kind), str(c.kind)),
                    _cell(c.holder_name),
                    c.quantity,
                    "; ".join(line for line in c.serial_ranges.split("\n") if line),
                    words.statuses.get(str(c.status), str(c.status)),
                ]
            )
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV correctly


def zip_response(certificates: Iterable[Certificate | int], base_url: str, filename: str) -> StreamingResponse:
    """A streaming download of ``certificates`` as ``filename`` (ASCII), with ``X-Total-Count``."""
    ids = _ids(certificates)
    return StreamingResponse(
        stream_zip(ids, base_url, words=manifest_words()),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Total-Count": str(len(ids)),
            "Cache-Control": "private, no-store",
        },
    )
