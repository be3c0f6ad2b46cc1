"""Background jobs (系统管理员): what the job engine has queued, is running, finished and failed — with the error —
and a retry button for a failed job (registry/jobs.py; procrastinate on PostgreSQL, the job table on SQLite)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.sorting import Sorting
from admin.web import page, path_id, redirect
from linpiao import inputs
from registry import audit, jobs
from registry.jobs import JobStatus

PAGE = 50
# the job table grows without end: only its primary key orders it (the number, which is the order jobs were queued
# in), both ways, with keyset pages; the other columns have no index that would serve an order and do not sort
JOB_SORTS = Sorting({"id": ("id",)}, default="-id")
# the names of the jobs, as staff read them (registry/jobs.py TASKS)
JOB_LABELS = {
    "planting.certify": "生成单位名单的证书",
    "planting.zip": "打包单位名单的证书（ZIP）",
    "planting.sweep": "检查单位名单证书是否遗漏",
    "shop.expire_reservations": "释放过期的预留林票",
    "shop.reconcile": "与支付机构核对待支付订单",
    "jobs.retry_stalled": "重新排队中断的任务",
    "jobs.remove_old": "清理已完成的旧任务",
}
STATUS_LABELS = {
    JobStatus.QUEUED: "排队中",
    JobStatus.RUNNING: "运行中",
    JobStatus.DONE: "已完成",
    JobStatus.FAILED: "失败",
}


async def job_list(ctx: AdminContext) -> Response:
    params = ctx.request.query_params
    raw_status = params.get("status", "")
    status = JobStatus(raw_status) if raw_status in set(JobStatus) else None
    sort = JOB_SORTS.of(ctx.request)
    oldest_first = sort.key == "id"
    cursor = inputs.record_id(params.get("before" if not oldest_first else "after", ""))
    rows = await jobs.list_jobs(
        status=status,
        before=None if oldest_first else cursor,
        after=cursor if oldest_first else None,
        oldest_first=oldest_first,
        limit=PAGE + 1,
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return page(
        ctx,
        "jobs.html",
        {
            "rows": rows,
            "counts": await jobs.counts(),
            "status": status,
            "statuses": list(JobStatus),
            "status_labels": {s: _(label) for s, label in STATUS_LABELS.items()},
            "job_labels": {name: _(label) for name, label in JOB_LABELS.items()},
            "next_cursor": rows[-1].id if more and rows else None,
            "cursor_name": "after" if oldest_first else "before",
            "sort": sort,
            "engine": jobs.current_backend().name,
        },
    )


async def job_retry(ctx: AdminContext) -> Response:
    job_id = path_id(ctx)
    if not await jobs.retry(job_id):
        raise HTTPException(404)  # no such job, or it has not failed
    await audit.record(ctx.actor, "job.retry", f"job:{job_id}", engine=jobs.current_backend().name)
    return redirect("/admin/jobs?status=queued")
