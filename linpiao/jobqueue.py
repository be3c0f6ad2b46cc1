"""The job engine, wired (see :mod:`registry.jobs` for the interface and the promises).

* PostgreSQL: ``procrastinate``. Its schema (tables ``procrastinate_*``, functions, triggers) is applied by
  ``linpiao migrate`` — and so by ``linpiao serve`` — when it is missing (:func:`apply_schema`). Each job function
  of :data:`registry.jobs.TASKS` becomes a procrastinate task of the same name, retried with
  ``RetryStrategy(max_attempts=retries, exponential_wait=backoff)``; a job's lock is its ``lock`` and its
  ``queueing_lock``; periodic jobs are procrastinate periodic tasks; jobs of a worker that stopped sending heartbeats
  are retried by a periodic task of their own.
* SQLite: the ``job`` table and the asyncio :class:`registry.jobs.Worker`.

``linpiao serve`` runs a worker inside each server process unless ``--no-worker`` (``LINPIAO_IN_PROCESS_WORKER=0``);
``linpiao worker`` runs one on its own, for as many machines as needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kernel import clock
from kernel.settings import Settings
from registry import jobs
from registry.jobs import JobSpec, JobStatus, JobView

log = logging.getLogger("linpiao.jobs")

# Modules whose import registers job functions (each registers its own, once).
JOB_MODULES = ("shop.jobs", "planting.shop.jobs", "admin.exports", "registry.county_import")
# pg_advisory_lock key: two servers starting at once apply procrastinate's schema once
SCHEMA_LOCK = 7_465_301
STALLED_AFTER_SECONDS = 60
KEEP_SUCCEEDED_HOURS = 24 * 7

_STATUS: dict[str, JobStatus] = {
    "todo": JobStatus.QUEUED,
    "doing": JobStatus.RUNNING,
    "succeeded": JobStatus.DONE,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.FAILED,
    "aborted": JobStatus.FAILED,
}


def load_job_modules() -> None:
    for module in JOB_MODULES:
        importlib.import_module(module)


def uses_procrastinate(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://"))


def conninfo(database_url: str) -> str:
    """A libpq URI for psycopg from the ORM's URL (Tortoise's pool options in the query string dropped)."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


async def apply_schema(database_url: str) -> bool:
    """Create procrastinate's tables, types and functions when they are missing; ``True`` if it did."""
    import psycopg
    from procrastinate.schema import SchemaManager

    async with await psycopg.AsyncConnection.connect(conninfo(database_url), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return False
            await conn.execute(SchemaManager.get_schema())  # no parameters: sent as one script
            log.info("applied procrastinate's schema")
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class ProcrastinateBackend:
    """:mod:`registry.jobs`' backend on PostgreSQL."""

    name = "procrastinate"

    def __init__(self, database_url: str, settings: Any, *, pool_size: int = 4) -> None:
        import procrastinate

        self.settings = settings
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=pool_size)
        )
        self._tasks: dict[str, Any] = {}
        for job_spec in jobs.TASKS.values():
            self._register(job_spec)
        self._register_housekeeping()

    def _register(self, job_spec: JobSpec) -> Any:
        import procrastinate

        async def run(context: procrastinate.JobContext, **kwargs: Any) -> None:
            kwargs.pop("timestamp", None)  # what procrastinate passes to periodic tasks
            job = context.job
            ctx = jobs.JobContext(
                settings=self.settings, name=job_spec.name, job_id=job.id, attempt=int(job.attempts or 0) + 1
            )
            await jobs.run_job(job_spec, ctx, kwargs, engine=self.name)

        retry = (  # procrastinate reads max_attempts=0 as "no limit": no retries is retry=False
            procrastinate.RetryStrategy(max_attempts=job_spec.retries, exponential_wait=job_spec.backoff)
            if job_spec.retries > 0
            else False
        )
        task = self.app.task(name=job_spec.name, pass_context=True, retry=retry)(run)
        if job_spec.cron:
            lock = job_spec.lock_for({})
            self.app.periodic(cron=job_spec.cron, lock=lock, queueing_lock=lock)(task)  # type: ignore[arg-type]
        self._tasks[job_spec.name] = task
        return task

    def _register_housekeeping(self) -> None:
        import procrastinate
        from procrastinate.jobs import Status

        manager = self.app.job_manager

        async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> None:
            """Jobs whose worker stopped sending heartbeats (killed, machine gone) run again, or fail when their
            retries are spent — what the in-process engine's ``recover_stale`` does."""
            for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS):
                assert job.id is not None
                job_spec = jobs.TASKS.get(job.task_name)
                attempt = int(job.attempts or 0) + 1
                await jobs.record_failure(
                    self.name, job.id, job.task_name, attempt, f"worker {job.worker_id} stopped during the job"
                )
                if job_spec is None or job_spec.retry_delay(attempt) is None:
                    await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
                else:
                    await manager.retry_job(job)

        async def remove_old_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
            await manager.delete_old_jobs(nb_hours=KEEP_SUCCEEDED_HOURS)

        for name, func, cron in (
            ("jobs.retry_stalled", retry_stalled, "* * * * *"),
            ("jobs.remove_old", remove_old_jobs, "17 3 * * *"),
        ):
            task = self.app.task(name=name, pass_context=True)(func)
            self.app.periodic(cron=cron, queueing_lock=name)(task)

    async def open(self) -> None:
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def run_worker(self, *, install_signal_handlers: bool, concurrency: int = 1) -> None:
        await self.app.run_worker_async(
            install_signal_handlers=install_signal_handlers,
            concurrency=concurrency,
            update_heartbeat_interval=10,
            stalled_worker_timeout=STALLED_AFTER_SECONDS,
            fetch_job_polling_interval=2.0,
        )

    # --- registry.jobs.Backend ---------------------------------------------------------------------------

    async def defer(self, spec: JobSpec, args: dict[str, Any]) -> int | None:
        from procrastinate.exceptions import AlreadyEnqueued

        task = self._tasks.get(spec.name) or self._register(spec)
        lock = spec.lock_for(args)
        try:
            return int(await task.configure(lock=lock, queueing_lock=lock).defer_async(**args))
        except AlreadyEnqueued:
            return None

    async def list_jobs(
        self,
        *,
        status: JobStatus | None,
        before: int | None,
        limit: int,
        after: int | None = None,
        oldest_first: bool = False,
    ) -> list[JobView]:
        statuses = [raw for raw, mapped in _STATUS.items() if mapped is status] if status else None
        direction = "ASC" if oldest_first else "DESC"
        rows = await self.app.connector.execute_query_all_async(
            query=f"""
            SELECT j.id, j.task_name, j.args, j.status::text AS status, j.attempts, j.scheduled_at,
                   (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'deferred')
                       AS created_at,
                   (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started')
                       AS started_at,
                   (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id
                       AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at,
                   (SELECT count(*) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started')
                       AS runs
              FROM procrastinate_jobs j
             WHERE (%(statuses)s::text[] IS NULL OR j.status::text = ANY(%(statuses)s::text[]))
               AND (%(before)s::bigint IS NULL OR j.id < %(before)s::bigint)
               AND (%(after)s::bigint IS NULL OR j.id > %(after)s::bigint)
             ORDER BY j.id {direction}
             LIMIT %(limit)s
            """,  # noqa: S608 — the only text put in is ``direction``, one of two literals, never input
            statuses=statuses,
            before=before,
            after=after,
            limit=limit,
        )
        failures = await jobs._failures(self.name, [int(r["id"]) for r in rows])
        views = []
        for row in rows:
            mapped = _STATUS.get(row["status"], JobStatus.FAILED)
            error, failed = failures.get(int(row["id"]), ("", 0))
            views.append(
                JobView(
                    id=int(row["id"]),
                    name=row["task_name"],
                    args={k: v for k, v in dict(row["args"]).items() if k != "timestamp"},
                    status=mapped,
                    attempts=int(row["runs"]),  # runs started (procrastinate's own count also counts retries)
                    run_after=(row["scheduled_at"] or row["created_at"]) if mapped is JobStatus.QUEUED else None,
                    created_at=row["created_at"],
                    started_at=row["started_at"],
                    finished_at=row["finished_at"],
                    error=error or (f"procrastinate: {row['status']}" if mapped is JobStatus.FAILED else ""),
                    failures=failed,
                )
            )
        return views

    async def counts(self) -> dict[JobStatus, int]:
        rows = await self.app.connector.execute_query_all_async(
            query="SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs GROUP BY status"
        )
        found = dict.fromkeys(JobStatus, 0)
        for row in rows:
            found[_STATUS.get(row["status"], JobStatus.FAILED)] += int(row["n"])
        return found

    async def retry(self, job_id: int) -> bool:
        rows = await self.app.connector.execute_query_all_async(
            query="SELECT status::text AS status FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
        )
        if not rows or rows[0]["status"] != "failed":
            return False
        await self.app.job_manager.retry_job_by_id_async(job_id, retry_at=clock.now())
        return True


@dataclass
class JobRuntime:
    """What a process holds while it uses the job engine: the backend it installed and, maybe, a worker."""

    backend: jobs.Backend
    previous: jobs.Backend
    worker_task: asyncio.Task[None] | None = None
    table_worker: jobs.Worker | None = None

    async def stop(self) -> None:
        if self.worker_task is not None:
            self.worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker_task
        if self.table_worker is not None:
            await self.table_worker.requeue_own()
        if isinstance(self.backend, ProcrastinateBackend):
            await self.backend.close()
        jobs.use_backend(self.previous)


async def start(settings: Settings, *, worker: bool) -> JobRuntime:
    """Install the backend for ``settings.database_url`` (the ORM must be connected) and, with ``worker``, run a
    worker as a task of this event loop — the server's in-process worker."""
    load_job_modules()
    backend: jobs.Backend
    if uses_procrastinate(settings.database_url):
        await apply_schema(settings.database_url)
        backend = ProcrastinateBackend(settings.database_url, settings)
        await backend.open()
        runtime = JobRuntime(backend=backend, previous=jobs.use_backend(backend))
        if worker:
            runtime.worker_task = asyncio.create_task(backend.run_worker(install_signal_handlers=False))
        return runtime
    backend = jobs.TableBackend()
    runtime = JobRuntime(backend=backend, previous=jobs.use_backend(backend))
    if worker:
        runtime.table_worker = jobs.Worker(settings)
        runtime.worker_task = asyncio.create_task(runtime.table_worker.run_forever())
    return runtime


async def run_worker(settings: Settings, *, concurrency: int = 1) -> None:
    """``linpiao worker``: run jobs until SIGINT or SIGTERM."""
    runtime = await start(settings, worker=False)
    try:
        if isinstance(runtime.backend, ProcrastinateBackend):
            await runtime.backend.run_worker(install_signal_handlers=True, concurrency=concurrency)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runtime.table_worker = jobs.Worker(settings)
        await runtime.table_worker.run_forever(stop)
    finally:
        await runtime.stop()
