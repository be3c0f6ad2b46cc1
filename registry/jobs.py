"""Background jobs: one way to defer work, one table of job functions, and the in-process engine.

Work that need not happen inside a request — the certificates of a large roster, their zip, releasing expired
reservations, settling missed payment events — is a *job*: a registered async function and JSON arguments.

    @jobs.task("planting.certify", lock="planting.certify:{order_id}")
    async def certify(ctx: jobs.JobContext, *, order_id: int) -> None: ...

    await jobs.defer("planting.certify", order_id=order.id)

Job functions are registered once, by name, when their module is imported; :func:`defer` is the one interface
every caller uses, whatever runs the jobs. Two backends run them:

* on PostgreSQL, ``procrastinate`` (wired in :mod:`linpiao.jobqueue`): its own tables, its workers
  (``linpiao worker`` or the one ``linpiao serve`` starts), its retries and periodic schedule;
* on the embedded SQLite default, the :class:`TableBackend` here: a small ``job`` table read by an asyncio
  :class:`Worker` in the server process (or in ``linpiao worker``), so queued work survives a restart.

Both keep the same promises. A job that raises is retried ``retries`` times with exponential back-off
(``backoff`` ** attempt seconds: 2, 4, 8, …) and then stays *failed*, with its error, until staff retry it from
``/admin/jobs``. Each job may name a ``lock`` (formatted from its arguments): a job is not queued again while an
identical one waits (``defer`` then returns ``None``), and two jobs with one lock never run at the same time.
Jobs must be idempotent — running one again after it finished, or after a crash half-way, changes nothing that
was already done — because a worker can die at any point. A running job whose worker stops sending heartbeats is
put back in the queue (or failed, when its retries are spent).

Every failed attempt is kept in ``job_failure`` (on both backends), which is how the back-office shows the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock

log = logging.getLogger("linpiao.jobs")

MAX_ERROR = 4000
# A periodic slot missed by more than this (the server was down) is skipped, as procrastinate does.
PERIODIC_MAX_DELAY = timedelta(minutes=10)
# How long finished jobs are kept: periodic ones (one a minute) a day, the others a month.
KEEP_PERIODIC = timedelta(days=1)
KEEP_DONE = timedelta(days=30)


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker (or for its back-off to pass)
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # retries spent; staff may retry it


class Job(Model):
    """A job of the in-process engine (the SQLite default). PostgreSQL keeps its jobs in procrastinate's tables."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    args = fields.JSONField(default=dict)
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.QUEUED)
    attempts = fields.IntField(default=0)  # runs started
    run_after = fields.DatetimeField()  # not before this instant (back-off)
    lock = fields.CharField(max_length=200, null=True, db_index=True)  # never two running with one lock
    # the lock while the job waits for its first run: a second identical job is not queued beside it
    queueing_lock = fields.CharField(max_length=200, null=True, unique=True)
    periodic_key = fields.CharField(max_length=200, null=True, unique=True)  # "name@slot": one job per slot
    worker = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "job"
        indexes = (("status", "run_after"),)


class JobFailure(Model):
    """One failed attempt of a job, on either engine: what the back-office shows as the job's error."""

    id = fields.IntField(primary_key=True)
    engine = fields.CharField(max_length=16)  # "table" or "procrastinate"
    job_id = fields.BigIntField()
    name = fields.CharField(max_length=100)
    attempt = fields.IntField()
    error = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "job_failure"
        indexes = (("engine", "job_id"),)


# ---------------------------------------------------------------------------------------------------------
# Job functions
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobContext:
    """What a job function gets besides its arguments: the application's settings (whatever the composition
    root passed to the worker), and which job and attempt this is."""

    settings: Any
    name: str
    job_id: int | None = None
    attempt: int = 1


JobFunction = Callable[..., Awaitable[object]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunction
    retries: int = 5
    backoff: int = 2
    lock: str | None = None  # a format string over the arguments, e.g. "planting.certify:{order_id}"
    cron: str | None = None  # periodic: a cron line in UTC, e.g. "*/5 * * * *"

    def lock_for(self, args: dict[str, Any]) -> str | None:
        return self.lock.format(**args) if self.lock else None

    def retry_delay(self, attempts: int) -> timedelta | None:
        """After the ``attempts``-th run failed: how long until the next, or ``None`` when retries are spent.
        The same formula as procrastinate's ``RetryStrategy(exponential_wait=backoff)``."""
        if attempts > self.retries:
            return None
        return timedelta(seconds=self.backoff**attempts)


TASKS: dict[str, JobSpec] = {}


class UnknownJob(LookupError):
    pass


def task(
    name: str, *, retries: int = 5, backoff: int = 2, lock: str | None = None, cron: str | None = None
) -> Callable[[JobFunction], JobFunction]:
    """Register ``func(ctx, **args)`` as the job ``name`` (once; registering a name twice is a mistake).
    A periodic job (``cron``) is locked by its name, so two runs never overlap."""

    def register(func: JobFunction) -> JobFunction:
        known = TASKS.get(name)
        if known is not None and known.func is not func:
            raise ValueError(f"job {name!r} is registered twice")
        TASKS[name] = JobSpec(
            name=name, func=func, retries=retries, backoff=backoff, lock=lock or (name if cron else None), cron=cron
        )
        return func

    return register


def spec(name: str) -> JobSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownJob(name) from None


def error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc, limit=-6))
    return text[-MAX_ERROR:]


async def record_failure(engine: str, job_id: int, name: str, attempt: int, error: str) -> None:
    await JobFailure.create(
        engine=engine, job_id=job_id, name=name, attempt=attempt, error=error[-MAX_ERROR:], created_at=clock.now()
    )


async def run_job(spec: JobSpec, ctx: JobContext, args: dict[str, Any], *, engine: str) -> None:
    """Run one attempt of a job; a failure is recorded (with its traceback) and raised again for the engine to
    retry. Cancellation (a worker stopping) is not a failure: the job is picked up again later."""
    try:
        await spec.func(ctx, **args)
    except Exception as exc:
        log.warning("job %s #%s attempt %s failed: %s", spec.name, ctx.job_id, ctx.attempt, exc)
        if ctx.job_id is not None:
            await record_failure(engine, ctx.job_id, spec.name, ctx.attempt, error_text(exc))
        raise


# ---------------------------------------------------------------------------------------------------------
# Deferring, through whichever backend the composition root installed
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobView:
    """One job as the back-office lists it, whatever engine keeps it."""

    id: int
    name: str
    args: dict[str, Any]
    status: JobStatus
    attempts: int
    run_after: datetime | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = ""
    failures: int = 0


class Backend(Protocol):
    name: str

    async def defer(self, spec: JobSpec, args: dict[str, Any]) -> int | None: ...

    async def list_jobs(
        self,
        *,
        status: JobStatus | None,
        before: int | None,
        limit: int,
        after: int | None = None,
        oldest_first: bool = False,
    ) -> list[JobView]: ...

    async def counts(self) -> dict[JobStatus, int]: ...

    async def retry(self, job_id: int) -> bool: ...


_after_commit: ContextVar[list[tuple[JobSpec, dict[str, Any]]] | None] = ContextVar("jobs_after_commit", default=None)


@contextlib.asynccontextmanager
async def after_commit() -> AsyncIterator[None]:
    """Jobs deferred inside this block are queued when it ends without an error — wrap it around a transaction,
    so a worker never sees a job before the change it works on has committed (procrastinate keeps its queue on
    its own connection), and a rolled-back change queues nothing."""
    outer = _after_commit.get()
    if outer is not None:  # already collecting: the outermost block queues them
        yield
        return
    pending: list[tuple[JobSpec, dict[str, Any]]] = []
    token = _after_commit.set(pending)
    try:
        yield
    finally:
        _after_commit.reset(token)
    for job_spec, args in pending:
        try:
            await _backend.defer(job_spec, args)
        except Exception:  # the change is committed: do not fail its request now (a periodic sweep finds the work)
            log.exception("could not queue job %s %s after commit", job_spec.name, args)


async def defer(name: str, **args: Any) -> int | None:
    """Queue the job ``name`` with ``args`` (JSON values). Returns its id, or ``None`` when an identical job (same
    lock) is already waiting — or when called inside :func:`after_commit`, which queues it at the end."""
    job_spec = spec(name)
    json.dumps(args)  # arguments must survive the queue: refuse anything that is not JSON now, not in the worker
    pending = _after_commit.get()
    if pending is not None:
        pending.append((job_spec, args))
        return None
    return await _backend.defer(job_spec, args)


async def list_jobs(
    *,
    status: JobStatus | None = None,
    before: int | None = None,
    limit: int = 50,
    after: int | None = None,
    oldest_first: bool = False,
) -> list[JobView]:
    """Newest first (``oldest_first``: by id ascending, the order they were queued in); ``before`` (newest first)
    or ``after`` (oldest first) the last id shown: the next page (keyset pagination on the primary key)."""
    return await _backend.list_jobs(status=status, before=before, limit=limit, after=after, oldest_first=oldest_first)


async def counts() -> dict[JobStatus, int]:
    return await _backend.counts()


async def retry(job_id: int) -> bool:
    """Queue a failed job again at once (staff's retry button); ``False`` when there is no such failed job."""
    return await _backend.retry(job_id)


# ---------------------------------------------------------------------------------------------------------
# The in-process engine: the ``job`` table and an asyncio worker
# ---------------------------------------------------------------------------------------------------------

_local_workers: set[Worker] = set()


class TableBackend:
    """Jobs in the ``job`` table of the application's own database (the SQLite default)."""

    name = "table"

    async def defer(self, spec: JobSpec, args: dict[str, Any]) -> int | None:
        now = clock.now()
        lock = spec.lock_for(args)
        if lock is not None and await Job.filter(queueing_lock=lock).exists():
            return None
        try:
            async with in_transaction():  # a savepoint inside a caller's transaction: a clash spoils nothing else
                job = await Job.create(
                    name=spec.name,
                    args=args,
                    run_after=now,
                    lock=lock,
                    queueing_lock=lock,
                    created_at=now,
                )
        except IntegrityError:  # the same job was queued a moment ago
            return None
        for worker in list(_local_workers):
            worker.wake()
        return int(job.id)

    async def list_jobs(
        self,
        *,
        status: JobStatus | None,
        before: int | None,
        limit: int,
        after: int | None = None,
        oldest_first: bool = False,
    ) -> list[JobView]:
        query = Job.all()
        if status is not None:
            query = query.filter(status=status)
        if before is not None:
            query = query.filter(id__lt=before)
        if after is not None:
            query = query.filter(id__gt=after)
        rows = await query.order_by("id" if oldest_first else "-id").limit(limit)
        failures = await _failures("table", [int(j.id) for j in rows])
        return [
            JobView(
                id=int(j.id),
                name=j.name,
                args=dict(j.args),
                status=JobStatus(j.status),
                attempts=int(j.attempts),
                run_after=j.run_after if j.status is JobStatus.QUEUED else None,
                created_at=j.created_at,
                started_at=j.started_at,
                finished_at=j.finished_at,
                error=failures.get(int(j.id), ("", 0))[0],
                failures=failures.get(int(j.id), ("", 0))[1],
            )
            for j in rows
        ]

    async def counts(self) -> dict[JobStatus, int]:
        return {status: await Job.filter(status=status).count() for status in JobStatus}

    async def retry(self, job_id: int) -> bool:
        updated = await Job.filter(id=job_id, status=JobStatus.FAILED).update(
            status=JobStatus.QUEUED, run_after=clock.now(), finished_at=None
        )
        for worker in list(_local_workers):
            worker.wake()
        return bool(updated)


async def _failures(engine: str, job_ids: list[int]) -> dict[int, tuple[str, int]]:
    """Job id → (its latest error, how many attempts failed)."""
    if not job_ids:
        return {}
    found: dict[int, tuple[str, int]] = {}
    for failure in await JobFailure.filter(engine=engine, job_id__in=job_ids).order_by("id"):
        _previous, count = found.get(int(failure.job_id), ("", 0))
        found[int(failure.job_id)] = (failure.error, count + 1)
    return found


_backend: Backend = TableBackend()


def use_backend(backend: Backend) -> Backend:
    """Install the backend :func:`defer` uses; returns the one it replaces."""
    global _backend
    previous, _backend = _backend, backend
    return previous


def current_backend() -> Backend:
    return _backend


class Worker:
    """Runs the ``job`` table's jobs, one at a time, in this process: due jobs in order, periodic jobs on their
    schedule, heartbeats while a job runs, and jobs of dead workers back into the queue."""

    def __init__(
        self,
        settings: Any = None,
        *,
        name: str | None = None,
        poll_seconds: float = 2.0,
        heartbeat_seconds: float = 10.0,
        stale_after: timedelta = timedelta(seconds=60),
        periodic: bool = True,
    ) -> None:
        self.settings = settings
        self.periodic = periodic  # False: run only what was deferred (benches, tests of one job)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after = stale_after
        self._wakeup: asyncio.Event | None = None
        self._last_cleanup: datetime | None = None

    def wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def run_due(self) -> int:
        """Schedule periodic jobs, then run every job that is due now; returns how many ran."""
        if self.periodic:
            await self.schedule_periodic()
        await self.recover_stale()
        ran = 0
        while (job := await self._claim_next()) is not None:
            await self._run(job)
            ran += 1
        return ran

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop`` is set (or the task is cancelled): run what is due, then sleep until woken by a job
        deferred in this process or for ``poll_seconds`` (jobs deferred by other processes are found then)."""
        self._wakeup = asyncio.Event()
        _local_workers.add(self)
        try:
            while stop is None or not stop.is_set():
                self._wakeup.clear()
                try:
                    await self.run_due()
                    await self.cleanup()
                except Exception:  # the database went away a moment: try again at the next poll
                    log.exception("job worker %s: poll failed", self.name)
                waits = [asyncio.ensure_future(self._wakeup.wait())]
                if stop is not None:
                    waits.append(asyncio.ensure_future(stop.wait()))
                try:
                    await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in waits:
                        waiting.cancel()
        finally:
            _local_workers.discard(self)

    async def requeue_own(self) -> int:
        """After a graceful stop: this worker's interrupted job waits for the next worker, at once."""
        return await Job.filter(status=JobStatus.RUNNING, worker=self.name).update(
            status=JobStatus.QUEUED, run_after=clock.now(), worker=""
        )

    async def schedule_periodic(self) -> None:
        """Queue each periodic job's latest slot once (``periodic_key`` is unique, so several processes agree)."""
        from croniter import croniter

        now = clock.now()
        for job_spec in TASKS.values():
            if job_spec.cron is None:
                continue
            slot: datetime = croniter(job_spec.cron, now).get_prev(datetime)
            if slot < now - PERIODIC_MAX_DELAY:
                continue
            key = f"{job_spec.name}@{clock.utc(slot).isoformat(timespec='minutes')}"
            if await Job.filter(periodic_key=key).exists():
                continue
            with contextlib.suppress(IntegrityError):
                await Job.create(
                    name=job_spec.name,
                    args={},
                    run_after=now,
                    lock=job_spec.lock_for({}),
                    periodic_key=key,
                    created_at=now,
                )

    async def recover_stale(self) -> int:
        """Jobs left running by a worker that stopped beating (killed, machine gone) run again, or fail when their
        retries are spent."""
        now = clock.now()
        recovered = 0
        for job in await Job.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - self.stale_after):
            job_spec = TASKS.get(job.name)
            error = f"worker {job.worker} stopped during the job (no heartbeat since {job.heartbeat_at})"
            await record_failure("table", int(job.id), job.name, int(job.attempts), error)
            spent = job_spec is None or job_spec.retry_delay(int(job.attempts)) is None
            recovered += await Job.filter(id=job.id, status=JobStatus.RUNNING, worker=job.worker).update(
                status=JobStatus.FAILED if spent else JobStatus.QUEUED,
                run_after=now,
                worker="",
                finished_at=now if spent else None,
            )
        return recovered

    async def cleanup(self) -> None:
        now = clock.now()
        if self._last_cleanup is not None and now - self._last_cleanup < timedelta(minutes=10):
            return
        self._last_cleanup = now
        done = Job.filter(status=JobStatus.DONE)
        await done.filter(periodic_key__not_isnull=True, finished_at__lt=now - KEEP_PERIODIC).delete()
        await done.filter(finished_at__lt=now - KEEP_DONE).delete()

    async def _claim_next(self) -> Job | None:
        now = clock.now()
        candidates = await Job.filter(status=JobStatus.QUEUED, run_after__lte=now).order_by("run_after", "id").limit(20)
        running_locks = Subquery(Job.filter(status=JobStatus.RUNNING, lock__not_isnull=True).values("lock"))
        for job in candidates:
            # one statement: it is ours only if still queued and nothing with its lock runs (other processes too)
            claimed = await (
                Job.filter(id=job.id, status=JobStatus.QUEUED)
                .filter(Q(lock__isnull=True) | ~Q(lock__in=running_locks))
                .update(
                    status=JobStatus.RUNNING,
                    attempts=F("attempts") + 1,
                    worker=self.name,
                    queueing_lock=None,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            if claimed:
                await job.refresh_from_db()
                return job
        return None

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await Job.filter(id=job_id, status=JobStatus.RUNNING, worker=self.name).update(heartbeat_at=clock.now())

    async def _run(self, job: Job) -> None:
        job_spec = TASKS.get(job.name)
        ctx = JobContext(settings=self.settings, name=job.name, job_id=int(job.id), attempt=int(job.attempts))
        beat = asyncio.ensure_future(self._heartbeat(int(job.id)))
        try:
            if job_spec is None:
                error = f"unknown job {job.name!r}"
                await record_failure("table", int(job.id), job.name, int(job.attempts), error)
                raise UnknownJob(job.name)
            await run_job(job_spec, ctx, dict(job.args), engine="table")
        except Exception:
            now = clock.now()
            delay = job_spec.retry_delay(int(job.attempts)) if job_spec is not None else None
            if delay is None:
                await Job.filter(id=job.id).update(status=JobStatus.FAILED, finished_at=now, worker="")
            else:
                await Job.filter(id=job.id).update(status=JobStatus.QUEUED, run_after=now + delay, worker="")
        else:
            await Job.filter(id=job.id).update(status=JobStatus.DONE, finished_at=clock.now(), worker="")
        finally:
            beat.cancel()
