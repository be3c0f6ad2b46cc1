"""Public certificate routes: the PDF by code, verification (page, form and JSON) and bulk download; and the
public verification of an ecological compensation case by its case number.

The code is the secret: whoever holds it may see the PDF. Unknown codes (and unknown case numbers) get a plain
"not found", and a client that keeps trying unknown ones is refused for a while (429) before it can learn
anything. A case shows what the register holds of it — never the offender.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from certificates import service, share_card
from certificates.bulk import zip_response
from certificates.codes import group_code, normalise_code, verification_url
from certificates.i18n import gettext as _
from certificates.pdf import certificate_pdf, is_printable
from kernel.proxy import client_ip
from kernel.ratelimit import Window, shared
from kernel.templating import render
from linpiao.errors import error_response
from registry.models import Certificate
from registry.offsets import public_compensation

MAX_BULK = 500
# Failed look-ups of codes and case numbers one client may make in any 10 minutes, across every app server when
# LINPIAO_REDIS_URL is set (kernel/ratelimit.py).
VERIFY_FAILURES = 20
VERIFY_WINDOW_SECONDS = 600


def limiter(request: Request) -> Window:
    """The application's window of failed look-ups (tests may replace ``app.state.verify_limiter``)."""
    state = request.app.state
    if getattr(state, "verify_limiter", None) is None:
        state.verify_limiter = shared(request.app).window("verify", VERIFY_FAILURES, VERIFY_WINDOW_SECONDS)
    return state.verify_limiter


def _client(request: Request) -> str:
    return client_ip(request) or "unknown"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _too_many(request: Request) -> Response | None:
    key = _client(request)
    if not await limiter(request).blocked(key):
        return None
    headers = {"Retry-After": str(await limiter(request).retry_after(key))}
    message = _("查询过于频繁，请稍后再试")
    if _wants_json(request):
        return JSONResponse({"error": {"code": "rate_limited", "message": message}}, 429, headers=headers)
    response = render(request, "certificates/verify.html", {"typed": "", "error": message}, 429)
    response.headers.update(headers)
    return response


async def _not_found(request: Request, typed: str) -> Response:
    await limiter(request).record(_client(request))
    message = _("未找到该验证码对应的证书")
    if _wants_json(request):
        return JSONResponse({"error": {"code": "not_found", "message": message}}, 404)
    return render(request, "certificates/verify.html", {"typed": typed, "error": message}, 404)


async def _lookup(request: Request) -> Certificate | Response:
    refused = await _too_many(request)
    if refused is not None:
        return refused
    typed = request.path_params["code"]
    certificate = await service.find_certificate(typed)
    if certificate is None:
        return await _not_found(request, typed)
    return certificate


def _base_url(request: Request) -> str:
    return str(request.app.state.settings.base_url)


MAX_CASE_NUMBER = 100


def case_path(case_number: str) -> str:
    """The public page of a case (its number quoted whole, slashes included)."""
    return f"/verify/case/{quote(case_number, safe='')}"


async def verify_form(request: Request) -> Response:
    """``/verify``: type a code (any spacing or case); ``?code=`` goes to its page, ``?case=`` to a case's."""
    typed = request.query_params.get("code")
    case_typed = request.query_params.get("case")
    if typed is None and case_typed is not None:
        number = case_typed.strip()
        if not number or len(number) > MAX_CASE_NUMBER:
            context = {
                "typed": "",
                "error": "",
                "case_typed": case_typed[:200],
                "case_error": _("请填写案号（不超过100字）"),
            }
            return render(request, "certificates/verify.html", context, 400)
        return RedirectResponse(case_path(number), status_code=303)
    if typed is None:
        return render(request, "certificates/verify.html", {"typed": "", "error": ""})
    code = normalise_code(typed)
    if code is None:
        refused = await _too_many(request)
        if refused is not None:
            return refused
        await limiter(request).record(_client(request))
        return render(
            request,
            "certificates/verify.html",
            {"typed": typed, "error": _("验证码格式不正确：应为20位字母和数字，可含空格或短横线")},
            400,
        )
    return RedirectResponse(f"/verify/{group_code(code)}", status_code=303)


async def verify_page(request: Request) -> Response:
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    record = service.public_record(found)
    return render(request, "certificates/certificate.html", {"record": record, "labels": _labels()})


async def verify_json(request: Request) -> Response:
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    record = service.public_record(found)
    record["verification_url"] = verification_url(_base_url(request), found.code)
    return JSONResponse(record, headers={"Cache-Control": "no-store"})


async def certificate_file(request: Request) -> Response:
    """``/certificates/{code}.pdf``: the stored PDF (rendered once, on first request)."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    if not is_printable(found):
        return render(
            request,
            "certificates/certificate.html",
            {"record": service.public_record(found), "labels": _labels(), "no_pdf": True},
            410,
        )
    content = await certificate_pdf(found, _base_url(request))
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="linpiao-{group_code(found.code)}.pdf"',
            "Cache-Control": "private, max-age=86400",
        },
    )


async def share_card_file(request: Request) -> Response:
    """``/certificates/{code}/share.png``: a carbon certificate's card for WeChat Moments (share_card.py)."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    if not is_printable(found) or not share_card.is_shareable(found):
        return await _not_found(request, request.path_params["code"])
    try:
        content = await share_card.share_card(found, _base_url(request))
    except share_card.ShareCardUnavailable:
        return Response(_("分享卡片暂时无法生成"), status_code=503, media_type="text/plain; charset=utf-8")
    return Response(
        content,
        media_type="image/png",
        headers={
            "Content-Disposition": f'inline; filename="linpiao-{group_code(found.code)}.png"',
            "Cache-Control": "private, max-age=86400",
        },
    )


async def bulk_zip(request: Request) -> Response:
    """``/certificates/bulk.zip?code=…&code=…``: several certificates (by their codes) in one zip."""
    refused = await _too_many(request)
    if refused is not None:
        return refused
    typed = request.query_params.getlist("code")
    codes = [normalise_code(t) for t in typed]
    if not typed or len(typed) > MAX_BULK:
        return error_response(request, 400, "bad_request", _("请提供1至%(max)s个验证码", max=MAX_BULK))
    wanted = [c for c in codes if c is not None]
    found = {c.code: c.id for c in await Certificate.filter(code__in=wanted).only("id", "code")}
    if len(wanted) < len(codes) or any(c not in found for c in wanted):
        return await _not_found(request, "")
    ids = list(dict.fromkeys(found[c] for c in wanted))
    return zip_response(ids, _base_url(request), "linpiao-certificates.zip")


async def _case_lookup(request: Request) -> dict[str, Any] | Response:
    refused = await _too_many(request)
    if refused is not None:
        return refused
    typed = request.path_params["case_number"]
    record = await public_compensation(typed)
    if record is None:
        await limiter(request).record(_client(request))
        message = _("未找到该案号对应的已履行生态补偿案件")
        if _wants_json(request):
            return JSONResponse({"error": {"code": "not_found", "message": message}}, 404)
        context = {"typed": "", "error": "", "case_typed": typed[:200], "case_error": message}
        return render(request, "certificates/verify.html", context, 404)
    return record


async def verify_case_page(request: Request) -> Response:
    """``/verify/case/{case_number}``: a completed ecological compensation case, as the public may see it."""
    found = await _case_lookup(request)
    if isinstance(found, Response):
        return found
    return render(request, "certificates/case.html", {"case": found})


async def verify_case_json(request: Request) -> Response:
    found = await _case_lookup(request)
    if isinstance(found, Response):
        return found
    record = {**found, "verification_url": _base_url(request).rstrip("/") + case_path(found["case_number"])}
    return JSONResponse(record, headers={"Cache-Control": "no-store"})


def _labels() -> dict[str, dict[str, str]]:
    return {
        "kinds": {str(k): _(v) for k, v in service.KIND_LABELS.items()},
        "statuses": {str(k): _(v) for k, v in service.STATUS_LABELS.items()},
    }


routes: list[BaseRoute] = [
    Route("/verify", verify_form, methods=["GET"]),
    Route("/verify/case/{case_number:path}", verify_case_page, methods=["GET"]),
    Route("/verify/{code}", verify_page, methods=["GET"]),
    Route("/api/v1/certificates/{code}", verify_json, methods=["GET"]),
    Route("/api/v1/compensation-cases/{case_number:path}", verify_case_json, methods=["GET"]),
    Route("/certificates/bulk.zip", bulk_zip, methods=["GET"]),
    Route("/certificates/{code}.pdf", certificate_file, methods=["GET"]),
    Route("/certificates/{code}/share.png", share_card_file, methods=["GET"]),
]
