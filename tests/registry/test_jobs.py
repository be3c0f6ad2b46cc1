"""The in-process job engine (registry/jobs.py): queueing locks, retries with exponential back-off, a failed job
kept with its error until it is retried, locks that keep two runs apart, periodic slots queued once, and jobs of a
dead worker picked up again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from kernel import clock
from registry import jobs
from registry.jobs import Job, JobFailure, JobStatus

T0 = datetime(2026, 3, 12, 2, 0, 30, tzinfo=UTC)
calls: list[tuple[str, dict]] = []
failures_left: dict[str, int] = {}


async def _ok(ctx: jobs.JobContext, **args: object) -> None:
    calls.append((ctx.name, dict(args)))


async def _flaky(ctx: jobs.JobContext, *, key: str) -> None:
    calls.append((ctx.name, {"key": key, "attempt": ctx.attempt}))
    if failures_left.get(key, 0) > 0:
        failures_left[key] -= 1
        raise RuntimeError(f"provider unreachable ({key})")


@pytest.fixture(autouse=True)
def test_jobs() -> Iterator[None]:
    """These tests' own job functions, and only them (the application's periodic jobs are not run here)."""
    calls.clear()
    failures_left.clear()
    saved = dict(jobs.TASKS)
    jobs.TASKS.clear()
    jobs.TASKS.update(
        {
            "tests.ok": jobs.JobSpec("tests.ok", _ok, lock="tests.ok:{n}"),
            "tests.flaky": jobs.JobSpec("tests.flaky", _flaky, retries=3, backoff=2, lock="tests.flaky:{key}"),
        }
    )
    try:
        yield
    finally:
        jobs.TASKS.clear()
        jobs.TASKS.update(saved)


def add_periodic() -> None:
    jobs.TASKS["tests.tick"] = jobs.JobSpec("tests.tick", _ok, cron="*/5 * * * *", lock="tests.tick")


@pytest.fixture
def fixed() -> Iterator[clock.FixedClock]:
    with clock.use(clock.FixedClock(T0)) as moved:
        assert isinstance(moved, clock.FixedClock)
        yield moved


async def test_a_job_runs_once_and_an_identical_one_is_not_queued_beside_it(db, fixed):
    first = await jobs.defer("tests.ok", n=1)
    assert first is not None
    assert await jobs.defer("tests.ok", n=1) is None  # the same lock is waiting already
    assert await jobs.defer("tests.ok", n=2) is not None
    assert await jobs.Worker().run_due() == 2
    assert calls == [("tests.ok", {"n": 1}), ("tests.ok", {"n": 2})]
    assert {j.status for j in await Job.all()} == {JobStatus.DONE}
    assert await jobs.defer("tests.ok", n=1) is not None  # once it ran, it may be queued again


async def test_arguments_must_be_json_and_names_known(db):
    with pytest.raises(TypeError):
        await jobs.defer("tests.ok", n=object())
    with pytest.raises(jobs.UnknownJob):
        await jobs.defer("tests.no-such-job")
    assert await Job.all().count() == 0


async def test_a_failing_job_is_retried_with_exponential_back_off_then_fails_with_its_error(db, fixed):
    failures_left["a"] = 10  # never succeeds
    job_id = await jobs.defer("tests.flaky", key="a")
    worker = jobs.Worker()
    waits = []
    for attempt in range(1, 5):
        assert await worker.run_due() == 1
        job = await Job.get(id=job_id)
        assert job.attempts == attempt
        if attempt <= 3:  # retries=3: queued again after 2, 4, 8 seconds
            assert job.status is JobStatus.QUEUED
            waits.append((job.run_after - clock.now()).total_seconds())
            fixed.advance(timedelta(seconds=1))
            assert await worker.run_due() == 0  # not before its back-off has passed
            fixed.set(job.run_after)
    assert waits == [2, 4, 8]
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.FAILED and job.finished_at == clock.now()
    errors = await JobFailure.filter(job_id=job_id).order_by("attempt")
    assert [e.attempt for e in errors] == [1, 2, 3, 4]
    assert "RuntimeError: provider unreachable (a)" in errors[-1].error and "Traceback" in errors[-1].error
    [view] = await jobs.list_jobs(status=JobStatus.FAILED)
    assert view.id == job_id and view.failures == 4 and "provider unreachable" in view.error
    fixed.advance(timedelta(hours=1))
    assert await worker.run_due() == 0  # a failed job stays failed

    failures_left["a"] = 0  # the provider is back: staff retry it
    assert await jobs.retry(job_id)
    assert not await jobs.retry(job_id)  # it is queued now, not failed
    assert await worker.run_due() == 1
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.DONE and job.attempts == 5


async def test_a_job_that_fails_once_succeeds_on_its_retry(db, fixed):
    failures_left["b"] = 1
    job_id = await jobs.defer("tests.flaky", key="b")
    worker = jobs.Worker()
    await worker.run_due()
    fixed.advance(timedelta(seconds=2))
    await worker.run_due()
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.DONE and job.attempts == 2
    assert [c[1]["attempt"] for c in calls] == [1, 2]


async def test_two_jobs_with_one_lock_never_run_at_the_same_time(db, fixed):
    running = await Job.create(
        name="tests.ok",
        args={"n": 7},
        status=JobStatus.RUNNING,
        lock="tests.ok:7",
        run_after=T0,
        created_at=T0,
        heartbeat_at=T0,
        worker="elsewhere",
        attempts=1,
    )
    waiting = await jobs.defer("tests.ok", n=7)  # queued (the other one is running, not waiting)
    assert waiting is not None
    assert await jobs.Worker().run_due() == 0  # its lock is taken by the running one
    running.status = JobStatus.DONE
    await running.save()
    assert await jobs.Worker().run_due() == 1


async def test_a_dead_workers_job_is_picked_up_again(db, fixed):
    job_id = await jobs.defer("tests.ok", n=3)
    # a worker claimed it, then died (SIGKILL, machine gone): the row says running, and no heartbeat comes
    await Job.filter(id=job_id).update(status=JobStatus.RUNNING, worker="dead:1", heartbeat_at=T0, attempts=1)
    worker = jobs.Worker(stale_after=timedelta(seconds=60))
    assert await worker.run_due() == 0  # still fresh: it may be alive
    fixed.advance(timedelta(seconds=61))
    assert await worker.run_due() == 1
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.DONE and job.attempts == 2
    assert "stopped during the job" in (await JobFailure.get(job_id=job_id)).error


async def test_a_dead_workers_job_with_its_retries_spent_fails(db, fixed):
    job_id = await jobs.defer("tests.flaky", key="c")
    await Job.filter(id=job_id).update(status=JobStatus.RUNNING, worker="dead:2", heartbeat_at=T0, attempts=4)
    fixed.advance(timedelta(minutes=5))
    assert await jobs.Worker().run_due() == 0
    assert (await Job.get(id=job_id)).status is JobStatus.FAILED


async def test_a_graceful_stop_puts_the_interrupted_job_back_at_once(db):
    started = asyncio.Event()

    async def slow(ctx: jobs.JobContext) -> None:
        started.set()
        await asyncio.sleep(30)

    jobs.TASKS["tests.slow"] = jobs.JobSpec("tests.slow", slow)
    job_id = await jobs.defer("tests.slow")
    worker = jobs.Worker(poll_seconds=0.05)
    task = asyncio.create_task(worker.run_forever())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await Job.get(id=job_id)).status is JobStatus.RUNNING
    assert await worker.requeue_own() == 1
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.QUEUED and job.worker == ""


async def test_the_worker_wakes_for_a_job_deferred_in_its_process(db):
    worker = jobs.Worker(poll_seconds=60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    try:
        await asyncio.sleep(0.05)
        await jobs.defer("tests.ok", n=9)
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.02)
        assert calls == [("tests.ok", {"n": 9})]  # long before the 60 s poll
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_periodic_job_is_queued_once_per_slot(db, fixed):
    add_periodic()
    worker = jobs.Worker()
    other = jobs.Worker()  # a second server process
    await worker.schedule_periodic()
    await other.schedule_periodic()
    slots = await Job.filter(name="tests.tick").values_list("periodic_key", flat=True)
    assert slots == ["tests.tick@2026-03-12T02:00+00:00"]
    fixed.advance(timedelta(minutes=4))  # 02:04:30: still the 02:00 slot
    await worker.schedule_periodic()
    assert await Job.filter(name="tests.tick").count() == 1
    fixed.advance(timedelta(minutes=1))  # 02:05:30
    assert await worker.run_due() >= 2
    assert await Job.filter(name="tests.tick", status=JobStatus.DONE).count() == 2


async def test_jobs_deferred_in_a_transaction_that_rolls_back_are_not_queued(db):
    with pytest.raises(RuntimeError):
        async with jobs.after_commit(), in_transaction():
            assert await jobs.defer("tests.ok", n=4) is None  # held until the transaction commits
            raise RuntimeError("refused")
    assert await Job.all().count() == 0
    async with jobs.after_commit(), in_transaction():
        await jobs.defer("tests.ok", n=5)
        assert await Job.all().count() == 0
    assert await Job.filter(name="tests.ok").count() == 1


async def test_the_job_list_pages_by_id(db, fixed):
    ids = [await jobs.defer("tests.ok", n=n) for n in range(5)]
    first = await jobs.list_jobs(limit=2)
    assert [j.id for j in first] == ids[:-3:-1]
    older = await jobs.list_jobs(limit=2, before=first[-1].id)
    assert [j.id for j in older] == [ids[2], ids[1]]
    assert (await jobs.counts())[JobStatus.QUEUED] == 5
