"""/admin/jobs: the administrator sees the job engine's queued, running, done and failed jobs — a failed one with
its error — and retries a failed one; nobody else sees the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from registry import jobs
from registry.jobs import Job, JobStatus
from registry.models import AuditLog, StaffRole

T0 = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)
outcomes: list[str] = []


async def _job(ctx: jobs.JobContext, *, order_id: int) -> None:
    if outcomes and outcomes.pop(0) == "fail":
        raise ValueError(f"证书模板缺失 (order {order_id})")


@pytest.fixture(autouse=True)
def page_jobs() -> Iterator[None]:
    saved = dict(jobs.TASKS)
    jobs.TASKS.clear()
    jobs.TASKS["planting.certify"] = jobs.JobSpec("planting.certify", _job, retries=0, lock="c:{order_id}")
    try:
        yield
    finally:
        jobs.TASKS.clear()
        jobs.TASKS.update(saved)


async def test_the_administrator_sees_every_state_and_retries_a_failed_job(sign_in):
    outcomes[:] = ["ok", "fail"]
    done = await jobs.defer("planting.certify", order_id=1)
    failed = await jobs.defer("planting.certify", order_id=2)
    await jobs.Worker(periodic=False).run_due()
    queued = await jobs.defer("planting.certify", order_id=3)
    running = await Job.create(
        name="planting.certify", args={"order_id": 4}, status=JobStatus.RUNNING, run_after=T0, created_at=T0
    )
    admin = await sign_in(StaffRole.ADMIN, "sysadmin")

    page = await admin.get("/admin/jobs")
    assert page.status_code == 200 and 'href="/admin/jobs"' in page.text  # the navigation leads here
    text = page.text
    for ident, state in ((done, "done"), (failed, "failed"), (queued, "queued"), (running.id, "running")):
        assert f'data-job="{ident}" data-status="{state}"' in text
    assert "生成单位名单的证书" in text and "ValueError: 证书模板缺失 (order 2)" in text
    assert text.count('/retry"') == 1  # the failed one only
    assert 'id="job-engine">table<' in text
    only_failed = await admin.get("/admin/jobs?status=failed")
    assert f'data-job="{failed}"' in only_failed.text and f'data-job="{done}"' not in only_failed.text
    english = await admin.get("/admin/jobs?lang=en")
    assert "Background jobs" in english.text and "Make the certificates of an organisation" in english.text

    assert (await admin.post(f"/admin/jobs/{done}/retry")).status_code == 404  # only a failed job is retried
    retried = await admin.post(f"/admin/jobs/{failed}/retry")
    assert retried.status_code == 303
    assert (await Job.get(id=failed)).status is JobStatus.QUEUED
    assert await AuditLog.filter(action="job.retry", target=f"job:{failed}", username="sysadmin").exists()
    await jobs.Worker(periodic=False).run_due()
    assert (await Job.get(id=failed)).status is JobStatus.DONE


async def test_older_jobs_are_a_page_away(sign_in):
    ids = [await jobs.defer("planting.certify", order_id=n) for n in range(55)]
    admin = await sign_in(StaffRole.ADMIN, "sysadmin")
    first = await admin.get("/admin/jobs")
    assert f'data-job="{ids[-1]}"' in first.text and f'data-job="{ids[0]}"' not in first.text
    assert f'href="/admin/jobs?before={ids[5]}"' in first.text
    older = await admin.get(f"/admin/jobs?before={ids[5]}")
    assert [f'data-job="{i}"' in older.text for i in ids[:6]] == [True] * 5 + [False]


async def test_the_jobs_sort_oldest_first_and_page_on(sign_in):
    ids = [await jobs.defer("planting.certify", order_id=n) for n in range(55)]
    admin = await sign_in(StaffRole.ADMIN, "sysadmin")
    first = await admin.get("/admin/jobs?sort=id")
    shown = [int(i) for i in re.findall(r'data-job="(\d+)"', first.text)]
    assert shown == ids[:50] and 'aria-sort="ascending"' in first.text
    assert f'href="/admin/jobs?sort=id&amp;after={ids[49]}"' in first.text
    later = await admin.get(f"/admin/jobs?sort=id&after={ids[49]}")
    assert [int(i) for i in re.findall(r'data-job="(\d+)"', later.text)] == ids[50:]
    assert "older-jobs" not in later.text  # the last page
    for sort in ("name", "-status", "id;--"):  # no other column sorts: the default, newest first
        other = await admin.get(f"/admin/jobs?sort={sort}")
        assert [int(i) for i in re.findall(r'data-job="(\d+)"', other.text)] == ids[::-1][:50]


async def test_only_the_administrator_sees_the_jobs(sign_in):
    failed = await Job.create(name="planting.certify", args={}, status=JobStatus.FAILED, run_after=T0, created_at=T0)
    for role in (StaffRole.FORESTRY, StaffRole.AUDITOR, StaffRole.FINANCE):
        staff = await sign_in(role, f"jobs-{role}")
        assert (await staff.get("/admin/jobs")).status_code == 403
        assert (await staff.post(f"/admin/jobs/{failed.id}/retry")).status_code == 403
        assert 'href="/admin/jobs"' not in (await staff.get("/admin/")).text
    assert (await Job.get(id=failed.id)).status is JobStatus.FAILED
