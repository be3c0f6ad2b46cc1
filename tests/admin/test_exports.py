"""Register exports of more than 10,000 rows (admin/exports.py) are written by a background job: the request
queues it and answers at once, a page reloads itself until the file is there, and only the account that asked
downloads it — the same bytes as a direct export."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from admin import exports
from factories import make_batch
from registry import jobs
from registry.jobs import Job
from registry.models import StaffRole, TicketKind


@pytest.fixture
async def entries(db) -> int:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await make_batch(TicketKind.CARBON, units=100)
    return 3


async def test_a_large_export_is_a_job_and_only_its_owner_downloads_it(sign_in, settings, entries, monkeypatch):
    auditor = await sign_in(StaffRole.AUDITOR, "auditor-export")
    direct = await auditor.get("/admin/register.csv")  # 3 rows: written in the request, as before
    assert direct.status_code == 200 and direct.headers["content-type"].startswith("text/csv")
    assert await Job.all().count() == 0

    monkeypatch.setattr(exports, "INLINE_ROWS", 2)  # as if there were more than 10,000
    queued = await auditor.get("/admin/register.csv")
    assert queued.status_code == 303
    url = queued.headers["location"]
    assert url.startswith("/admin/register/exports/")
    [job] = await Job.filter(name="admin.register_export")
    assert job.args["fmt"] == "csv" and job.args["staff_id"] == auditor.user.id
    waiting = await auditor.get(url)
    assert waiting.status_code == 200 and 'id="export-waiting"' in waiting.text
    assert '<meta http-equiv="refresh" content="3">' in waiting.text
    assert (await auditor.get(url + "?download=1")).status_code == 200  # not ready: still the waiting page
    colleague = await sign_in(StaffRole.AUDITOR, "auditor-other")
    assert (await colleague.get(url)).status_code == 404  # another account's export is nobody else's

    assert await jobs.Worker(settings, periodic=False).run_due() == 1
    ready = await auditor.get(url)
    assert 'id="export-download"' in ready.text and 'http-equiv="refresh"' not in ready.text
    download = await auditor.get(url + "?download=1")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert download.content == direct.content  # the same rows and cells as the direct export
    assert (await colleague.get(url + "?download=1")).status_code == 404
    assert await jobs.Worker(settings, periodic=False).run_due() == 0  # done once


async def test_a_large_xlsx_export_is_a_job_too(sign_in, settings, entries, monkeypatch):
    forestry = await sign_in(StaffRole.FORESTRY, "forestry-export")
    monkeypatch.setattr(exports, "INLINE_ROWS", 2)
    queued = await forestry.get("/admin/register.xlsx?kind=carbon")
    assert queued.status_code == 303
    await jobs.Worker(settings, periodic=False).run_due()
    download = await forestry.get(queued.headers["location"] + "?download=1")
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None and sheet.max_row == 1 + entries  # the header and every entry


async def test_an_unknown_or_malformed_export_token_is_not_found(sign_in, entries):
    auditor = await sign_in(StaffRole.AUDITOR, "auditor-tokens")
    for token in ("nope", "A" * 32, "../../etc/passwd"):
        assert (await auditor.get(f"/admin/register/exports/{token}")).status_code == 404
