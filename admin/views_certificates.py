"""Certificates in the back-office: look one up by its code and reissue (补发) a lost one.

Who may reissue follows who issues (:mod:`registry.access`, action ``certificate.reissue``): the district's issuer
for collective holding certificates of its own district; for state holding certificates the forestry department
covering the batch's district (the city's, or the county/district's for its own district); the city forestry
department for every other kind. The reissue and its audit line are one transaction.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin.i18n import gettext as _
from admin.session import AdminContext
from admin.web import page, redirect
from certificates import service as certificate_service
from certificates.codes import group_code
from linpiao.errors import status_of
from registry import access
from registry.errors import RegisterError
from registry.models import Certificate


async def may_reissue(ctx: AdminContext, certificate: Certificate) -> bool:
    return access.may(ctx.actor, access.Action.CERTIFICATE_REISSUE, await access.certificate_target(certificate))


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
    # only the certificate's issuing authority (403 with the reason)
    access.check(ctx.actor, access.Action.CERTIFICATE_REISSUE, await access.certificate_target(certificate))
    reason = ctx.field("reason").strip()[:200]
    if not reason:
        return await _lookup(ctx, typed, _("请填写补发原因"), 400)
    try:
        replacement = await certificate_service.reissue_for_staff(certificate, actor=ctx.actor, reason=reason)
    except RegisterError as exc:
        return await _lookup(ctx, typed, _(exc.message), status_of(exc))
    return redirect(f"/admin/certificates?code={group_code(replacement.code)}")
