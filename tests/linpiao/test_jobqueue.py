"""The job engine as deployed (linpiao/jobqueue.py): a worker started separately (`linpiao worker`) runs what a
server queued — through the job table on SQLite, through procrastinate on PostgreSQL — and procrastinate's own
schema, locks, retries and listing on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from kernel.settings import Settings, load_settings
from linpiao import jobqueue
from linpiao.cli import build_parser
from registry import jobs
from registry.jobs import JobFailure, JobStatus
from registry.models import Certificate
from tests.conftest import PG_URL
from tests.live import start_worker, stop_worker
from tests.planting.shop.test_jobs import PEOPLE, assert_each_person_once, open_sale, paid_roster

ON_POSTGRES = PG_URL.startswith(("postgres://", "postgresql://"))
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="procrastinate needs PostgreSQL: set LINPIAO_TEST_DATABASE_URL=postgres://… (CI does)",
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(order_share_percent=100, max_pending_units=10_000_000)


@pytest.fixture
async def engine(db: str, settings: Settings) -> AsyncIterator[jobqueue.JobRuntime]:
    """The backend a server process installs for the suite's database (no worker in this process)."""
    runtime = await jobqueue.start(settings, worker=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


def test_serve_no_worker_and_the_worker_command_parse() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--no-worker"]).no_worker is True
    assert parser.parse_args(["serve"]).no_worker is False
    assert parser.parse_args(["worker", "--concurrency", "4"]).concurrency == 4
    assert load_settings({"LINPIAO_IN_PROCESS_WORKER": "0"}, env_file="/nonexistent").in_process_worker is False
    assert load_settings({}, env_file="/nonexistent").in_process_worker is True


def test_the_backend_follows_the_database() -> None:
    assert jobqueue.uses_procrastinate("postgres://u@h:5432/db")
    assert not jobqueue.uses_procrastinate("sqlite://linpiao.db")
    assert jobqueue.conninfo("postgres://u:p@h:5432/db?minsize=2") == "postgresql://u:p@h:5432/db"


async def test_a_worker_started_separately_runs_the_queued_job(client, settings, engine, tmp_path):
    """What a server queued (the certificates of a paid roster), `linpiao worker` in another process runs; SIGTERM
    stops it cleanly. On the suite's database: the job table on SQLite, procrastinate on PostgreSQL."""
    await open_sale()
    _token, order = await paid_roster(client)
    assert await Certificate.filter(order_id=order.id).count() == 0
    env = {
        **os.environ,
        "LINPIAO_DATABASE_URL": settings.database_url,
        "LINPIAO_DATA_DIR": str(settings.data_dir),
        "LINPIAO_BASE_URL": settings.base_url,
    }
    process = start_worker(env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while await Certificate.filter(order_id=order.id).count() < PEOPLE:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the worker did not make the certificates"
            await asyncio.sleep(0.2)
        await assert_each_person_once(order)
        for _ in range(100):  # the job is marked done just after its last chunk commits
            certify = [v for v in await jobs.list_jobs() if v.name == "planting.certify"]
            if certify and certify[0].status is JobStatus.DONE:
                break
            await asyncio.sleep(0.1)
        assert [(v.args, v.status) for v in certify] == [({"order_id": order.id}, JobStatus.DONE)]
    finally:
        output = stop_worker(process)
    assert process.returncode == 0, output
    assert "job worker" in output


@needs_postgres
async def test_procrastinate_applies_its_schema_once_and_keeps_the_jobs(db, settings, engine):
    backend = engine.backend
    assert isinstance(backend, jobqueue.ProcrastinateBackend)
    assert await jobqueue.apply_schema(settings.database_url) is False  # present since start-up: not again

    outcomes = ["fail", "ok"]

    async def flaky(ctx: jobs.JobContext, *, n: int) -> None:
        if outcomes.pop(0) == "fail":
            raise RuntimeError(f"provider unreachable ({n})")

    saved = dict(jobs.TASKS)
    jobs.TASKS["tests.pg"] = jobs.JobSpec("tests.pg", flaky, retries=0, lock="tests.pg:{n}")
    try:
        first = await jobs.defer("tests.pg", n=1)
        assert first is not None
        assert await jobs.defer("tests.pg", n=1) is None  # procrastinate's queueing lock
        [view] = await jobs.list_jobs()
        assert (view.id, view.name, view.args, view.status) == (first, "tests.pg", {"n": 1}, JobStatus.QUEUED)
        await backend.app.run_worker_async(wait=False, install_signal_handlers=False)
        [view] = await jobs.list_jobs(status=JobStatus.FAILED)
        assert view.id == first and "RuntimeError: provider unreachable (1)" in view.error
        assert await JobFailure.filter(engine="procrastinate", job_id=first).count() == 1
        assert (await jobs.counts())[JobStatus.FAILED] == 1
        assert await jobs.retry(first)
        assert not await jobs.retry(first)
        await backend.app.run_worker_async(wait=False, install_signal_handlers=False)
        [view] = [v for v in await jobs.list_jobs() if v.name == "tests.pg"]
        assert view.status is JobStatus.DONE and view.attempts == 2
        second = await jobs.defer("tests.pg", n=2)  # queued behind the first: the two orders, and a page after
        oldest = [v.id for v in await jobs.list_jobs(oldest_first=True)]
        assert oldest == sorted(oldest) and oldest[-1] == second and first in oldest
        assert [v.id for v in await jobs.list_jobs()] == oldest[::-1]
        assert [v.id for v in await jobs.list_jobs(oldest_first=True, after=oldest[0])] == oldest[1:]
    finally:
        jobs.TASKS.clear()
        jobs.TASKS.update(saved)


@needs_postgres
async def test_procrastinate_retries_with_exponential_back_off(db, settings, engine):
    backend = engine.backend
    assert isinstance(backend, jobqueue.ProcrastinateBackend)

    async def broken(ctx: jobs.JobContext) -> None:
        raise RuntimeError("still broken")

    saved = dict(jobs.TASKS)
    jobs.TASKS["tests.broken"] = jobs.JobSpec("tests.broken", broken, retries=3, backoff=2)
    try:
        task = backend._register(jobs.TASKS["tests.broken"])
        job_id = await jobs.defer("tests.broken")
        await backend.app.run_worker_async(wait=False, install_signal_handlers=False)
        [view] = [v for v in await jobs.list_jobs() if v.name == "tests.broken"]
        assert view.id == job_id and view.status is JobStatus.QUEUED and view.attempts == 1
        assert view.run_after is not None and view.started_at is not None
        assert 1 <= (view.run_after - view.started_at).total_seconds() <= 4  # 2 s after the first failure
        import procrastinate

        # the same schedule as the in-process engine: 2, 4, 8 s, then failed
        assert task.retry_strategy == procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2)
    finally:
        jobs.TASKS.clear()
        jobs.TASKS.update(saved)
