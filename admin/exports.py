"""Register exports of more than :data:`INLINE_ROWS` rows are written by a background job, not in the request.

``/admin/register.csv`` (or ``.xlsx``) with more matching entries than that queues the job ``admin.register_export``
with the filters as the account may read them (already narrowed to its batches) and sends the browser to
``/admin/register/exports/{token}``, a page that reloads itself until the file is there and then downloads it. The
file is written to the file storage (``LINPIAO_DATA_DIR`` or object storage: :mod:`registry.storage`) under
``exports/{staff id}/`` — only the account that asked finds it (the key holds its id and a 192-bit token) — whole
or not at all, so the job can run again after a crash; files older than a day are removed the next time that
account exports.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import fields
from datetime import date, timedelta
from typing import Any

from kernel import clock
from kernel.settings import Settings
from registry import jobs
from registry import register_view as view
from registry.models import EntryKind, TicketKind
from registry.storage import Download, storage_of

INLINE_ROWS = 10_000
EXPORT_LIMIT = 100_000
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
KEEP = timedelta(days=1)


def filter_args(flt: view.EntryFilter) -> dict[str, Any]:
    """The filter as JSON for the job's arguments."""
    args: dict[str, Any] = {}
    for item in fields(flt):
        value = getattr(flt, item.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif value is not None and not isinstance(value, int):
            value = str(value)
        args[item.name] = value
    return args


def filter_from(args: dict[str, Any]) -> view.EntryFilter:
    def day(text: str | None) -> date | None:
        return date.fromisoformat(text) if text else None

    return view.EntryFilter(
        batch_id=args.get("batch_id"),
        holder_id=args.get("holder_id"),
        ticket_kind=TicketKind(args["ticket_kind"]) if args.get("ticket_kind") else None,
        entry_kind=EntryKind(args["entry_kind"]) if args.get("entry_kind") else None,
        date_from=day(args.get("date_from")),
        date_to=day(args.get("date_to")),
        within=frozenset(args["within"]) if args.get("within") is not None else None,
    )


def folder(staff_id: int) -> str:
    """The account's folder in the file storage (:func:`registry.storage.storage_of`)."""
    return f"exports/{int(staff_id)}"


def _token_ok(token: str) -> bool:
    return 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


async def ticket(settings: Settings, staff_id: int, token: str) -> dict[str, Any] | None:
    """What was asked for under ``token`` by this account (format, file name, rows), or ``None``."""
    if not _token_ok(token):
        return None
    about = await storage_of(settings).get(f"{folder(staff_id)}/{token}.json")
    return json.loads(about) if about is not None else None


def result_key(staff_id: int, token: str, fmt: str) -> str | None:
    return f"{folder(staff_id)}/{token}.{fmt}" if _token_ok(token) and fmt in FORMATS else None


async def ready(settings: Settings, staff_id: int, token: str, fmt: str) -> bool:
    key = result_key(staff_id, token, fmt)
    return key is not None and await storage_of(settings).exists(key)


async def open_result(settings: Settings, staff_id: int, token: str, fmt: str) -> Download | None:
    key = result_key(staff_id, token, fmt)
    return await storage_of(settings).open(key) if key is not None else None


async def start(settings: Settings, staff_id: int, flt: view.EntryFilter, fmt: str, filename: str, rows: int) -> str:
    """Queue the export and remember what it is; returns the token of its page."""
    token = secrets.token_urlsafe(24)
    storage = storage_of(settings)
    now = clock.now()
    for old in await storage.list(folder(staff_id) + "/"):  # yesterday's exports of this account
        if now - old.modified > KEEP:
            await storage.delete(old.key)
    about = {"format": fmt, "filename": filename, "rows": rows, "asked_at": now.isoformat()}
    await storage.put(f"{folder(staff_id)}/{token}.json", json.dumps(about).encode(), content_type="application/json")
    await jobs.defer("admin.register_export", token=token, staff_id=staff_id, fmt=fmt, filters=filter_args(flt))
    return token


async def write_export(settings: Settings, *, token: str, staff_id: int, fmt: str, filters: dict[str, Any]) -> str:
    """The job's body: the same rows and cells as the direct download, written to the account's folder;
    returns its storage key."""
    key = result_key(staff_id, token, fmt)
    if key is None:
        raise ValueError(f"not an export: {token!r} {fmt!r}")
    if await storage_of(settings).exists(key):
        return key  # done before: nothing to do again
    rows = await view.find_entries(filter_from(filters), limit=EXPORT_LIMIT)
    render = view.export_xlsx if fmt == "xlsx" else view.export_csv
    body = await asyncio.to_thread(render, rows)  # CPU work off the event loop the server shares
    await storage_of(settings).put(key, body, content_type=FORMATS[fmt])  # whole or absent: never half a file
    return key


@jobs.task("admin.register_export", lock="admin.register_export:{token}", retries=3)
async def register_export_job(
    ctx: jobs.JobContext, *, token: str, staff_id: int, fmt: str, filters: dict[str, Any]
) -> None:
    await write_export(ctx.settings, token=token, staff_id=staff_id, fmt=fmt, filters=filters)
