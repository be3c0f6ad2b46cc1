"""Onboarding a county (区县数据导入): upload the holders and parcels a county keeps in a spreadsheet, see every
row's problems, confirm (:mod:`registry.county_import` reads, rehearses and imports; this module only carries the
file and renders).

The upload is bounded before it is read (``linpiao/bodylimit.py`` refuses a larger body from its declared length;
the file itself is read at most one byte past :data:`registry.county_import.MAX_BYTES`) and parsed in the file
worker pool, off the event loop.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.web import page, redirect
from linpiao.errors import status_of
from registry import access, cpu
from registry import county_import as imports
from registry.districts import DISTRICTS
from registry.errors import RegisterError

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _districts(ctx: AdminContext) -> list[str]:
    """The districts this account may import into (its own; every one for the city's forestry department)."""
    return [code for code in DISTRICTS if access.may(ctx.actor, access.Action.PARCEL_EDIT, access.place(code))]


def _form(
    ctx: AdminContext,
    *,
    error: str = "",
    status: int = 200,
    preview: imports.ImportPreview | None = None,
    staged: imports.CountyImport | None = None,
    done: imports.CountyImport | None = None,
    district: str = "",
    informed: bool = False,
) -> Response:
    choices = _districts(ctx)
    return page(
        ctx,
        "import.html",
        {
            "choices": choices,
            "district": district or ctx.staff.district_code or (choices[0] if choices else ""),
            "informed": informed,
            "error": error,
            "preview": preview,
            "staged": staged,
            "done": done,
            "problems": imports.PROBLEMS,
            "max_mb": imports.MAX_BYTES // (1024 * 1024),
            "max_rows": imports.MAX_ROWS,
            "holder_columns": imports.HOLDER_COLUMNS,
            "parcel_columns": imports.PARCEL_COLUMNS,
        },
        status,
    )


async def import_page(ctx: AdminContext) -> Response:
    """``GET /admin/import``: the upload form; after an import, what it did (``?done=<token>``)."""
    done = None
    token = ctx.request.query_params.get("done", "")
    if token:
        try:
            done = await imports.staged_upload(token, ctx.actor)
        except imports.ImportNotFound:
            done = None
        if done is not None and done.imported_at is None:
            done = None
    return _form(ctx, done=done)


async def import_preview(ctx: AdminContext) -> Response:
    """``POST /admin/import``: read and rehearse the file; show every row's problems, or the confirm button."""
    district = ctx.field("district_code")
    informed = ctx.field("informed") == "1"
    if district not in DISTRICTS:
        return _form(ctx, error=_("请选择区县"), status=400, informed=informed)
    imports.check_district(ctx.actor, district)  # another district: 403 before the file is read
    assert ctx.form is not None
    upload = ctx.form.get("file")
    if not isinstance(upload, UploadFile):
        return _form(ctx, error=_("请选择要上传的文件"), status=400, district=district, informed=informed)
    data = await upload.read(imports.MAX_BYTES + 1)
    try:
        if len(data) > imports.MAX_BYTES:
            raise imports.ImportFileTooLarge()
        preview, staged = await imports.preview_upload(
            data, upload.filename or "", district=district, informed=informed, actor=ctx.actor
        )
    except RegisterError as exc:
        if isinstance(exc, access.NotPermitted):
            raise
        return _form(ctx, error=_(exc.message), status=status_of(exc), district=district, informed=informed)
    status = 200 if staged is not None else 422
    error = "" if staged is not None else _(imports.ImportHasProblems.message)
    return _form(ctx, preview=preview, staged=staged, district=district, informed=informed, error=error, status=status)


async def import_confirm(ctx: AdminContext) -> Response:
    """``POST /admin/import/confirm``: import the previewed upload in one transaction (a second click: once)."""
    try:
        outcome = await imports.confirm_import(ctx.field("token"), actor=ctx.actor)
    except RegisterError as exc:
        if isinstance(exc, access.NotPermitted):
            raise
        return _form(ctx, error=_(exc.message), status=status_of(exc))
    if outcome.preview is not None:  # the register refused a row at confirmation: nothing was imported
        return _form(
            ctx,
            preview=outcome.preview,
            district=outcome.staged.district_code,
            informed=outcome.staged.informed,
            error=_(imports.ImportChanged.message),
            status=409,
        )
    return redirect(f"/admin/import?done={outcome.staged.token}")


async def template_xlsx(ctx: AdminContext) -> Response:
    content = await cpu.file_work(imports.template_xlsx)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"},
    )


async def template_csv(ctx: AdminContext) -> Response:
    """``/admin/import/holders.csv`` or ``parcels.csv``: one table's header row, UTF-8 with BOM."""
    table = imports.Table(ctx.request.url.path.rsplit("/", 1)[-1].removesuffix(".csv"))
    return Response(
        imports.template_csv(table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{table.value}.csv"'},
    )
