"""Certificates in the back-office: look one up by its code and reissue (补发) a lost one.

Who may reissue follows who issues: the district's issuer for collective holding certificates of its own
district; for state holding certificates the forestry department covering the batch's district (the city's, or
the county/district's for its own district: :func:`registry.applications.forestry_covers`); the city forestry
department for every other kind. The reissue and its audit line are one transaction.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response
from tortoise.transactions import in_transaction

from admin.session import AdminContext
from admin.web import page, redirect
from certificates import service as certificate_service
from certificates.codes import group_code
from linpiao.i18n import gettext as _
from registry import audit
from registry.applications import forestry_covers
from registry.errors import RegisterError
from registry.models import Batch, Certificate, CertificateKind, StaffRole


async def may_reissue(ctx: AdminContext, certificate: Certificate) -> bool:
    if certificate.kind == CertificateKind.COLLECTIVE_HOLDING:
        batch = await Batch.get_or_none(id=certificate.batch_id)
        return (
            ctx.staff.role == StaffRole.ISSUER and batch is not None and batch.district_code == ctx.staff.district_code
        )
    if certificate.kind == CertificateKind.STATE_HOLDING:
        batch = await Batch.get_or_none(id=certificate.batch_id)
        return batch is not None and forestry_covers(ctx.staff, batch.district_code)
    return ctx.staff.role == StaffRole.FORESTRY and not ctx.staff.district_code


async def _lookup(ctx: AdminContext, typed: str, error: str = "", status: int = 200) -> Response:
    certificate = await certificate_service.find_certificate(typed) if typed else None
    data = {
        "typed": typed[:64],
        "certificate": certificate,
        "record": certificate_service.public_record(certificate) if certificate else None,
        "may_reissue": bool(certificate and await may_reissue(ctx, certificate)),
        "error": error or (_("未找到该验证码对应的证书") if typed and certificate is None else ""),
    }
    return page(ctx, "certificates.html", data, status=status if certificate or not typed else 404)


async def certificate_lookup(ctx: AdminContext) -> Response:
    return await _lookup(ctx, ctx.request.query_params.get("code", "").strip())


async def certificate_reissue(ctx: AdminContext) -> Response:
    typed = str(ctx.request.path_params.get("code", ""))
    certificate = await certificate_service.find_certificate(typed)
    if certificate is None:
        raise HTTPException(404)
    if not await may_reissue(ctx, certificate):
        raise HTTPException(403, _("只有该证书的发证机关可以补发"))
    reason = ctx.field("reason").strip()[:200]
    if not reason:
        return await _lookup(ctx, typed, _("请填写补发原因"), 400)
    try:
        async with in_transaction():
            replacement = await certificate_service.reissue(certificate, actor=ctx.actor.label, reason=reason)
            await audit.record(
                ctx.actor,
                "certificate.reissue",
                f"certificate:{certificate.id}",
                replacement=replacement.id,
                reason=reason,
            )
    except RegisterError as exc:
        return await _lookup(ctx, typed, _(exc.message), 400)
    return redirect(f"/admin/certificates?code={group_code(replacement.code)}")
