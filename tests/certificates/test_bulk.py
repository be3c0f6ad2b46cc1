"""Bulk download: a zip that streams a file at a time and holds every certificate."""

from __future__ import annotations

import io
import zipfile

import httpx

from certificates import bulk, pdf
from certificates.codes import group_code
from factories.certificates import carbon_certificate, holding_certificate
from tests.certificates.conftest import pdf_text


async def test_stream_zip_yields_a_chunk_per_certificate(db: str) -> None:
    certificates = [await carbon_certificate(10 + n, name=f"单位{n}") for n in range(5)]
    certificates.append(await holding_certificate())
    await pdf.certificate_pdf(certificates[0], "http://testserver")  # one already cached, the rest not
    before = pdf.render_count()
    chunks = [chunk async for chunk in bulk.stream_zip(certificates, "http://testserver")]
    assert pdf.render_count() == before + 5
    # manifest, one per certificate, central directory: never the whole archive in one piece
    assert len(chunks) == len(certificates) + 2
    assert max(len(c) for c in chunks) < sum(len(c) for c in chunks) / 3
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == bulk.MANIFEST
    for certificate in certificates:
        name = f"{certificate.kind}-{group_code(certificate.code)}.pdf"
        assert name in names
        assert certificate.holder_name in pdf_text(archive.read(name))
    manifest = archive.read(bulk.MANIFEST).decode("utf-8-sig")
    assert "单位3" in manifest and group_code(certificates[3].code) in manifest
    # the PDFs rendered for the zip are now cached too
    again = [chunk async for chunk in bulk.stream_zip(certificates, "http://testserver")]
    assert pdf.render_count() == before + 5
    assert b"".join(again) == b"".join(chunks)


async def test_bulk_route(client: httpx.AsyncClient) -> None:
    certificates = [await carbon_certificate(5) for _ in range(3)]
    params = [("code", group_code(c.code).lower()) for c in certificates]
    async with client.stream("GET", "/certificates/bulk.zip", params=params) as response:
        assert response.status_code == 200
        assert response.headers["x-total-count"] == "3"
        assert response.headers["content-type"] == "application/zip"
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert len(zipfile.ZipFile(io.BytesIO(body)).namelist()) == 4
    response = await client.get("/certificates/bulk.zip", params=[*params, ("code", "ZZZZZZZZZZZZZZZZZZZZ")])
    assert response.status_code == 404
    assert (await client.get("/certificates/bulk.zip")).status_code == 400
