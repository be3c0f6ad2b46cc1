"""Public verification and the PDF by code, over HTTP."""

from __future__ import annotations

import httpx
import pytest

from certificates import pdf, service
from certificates.codes import group_code
from factories.certificates import carbon_certificate, holding_certificate
from kernel.ratelimit import RateLimits
from registry.models import Certificate, TicketKind
from tests.certificates.conftest import pdf_text, qr_codes

UNKNOWN = "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"


async def test_valid_certificate_page(client: httpx.AsyncClient) -> None:
    certificate = await carbon_certificate(120, name="王小明")
    response = await client.get(f"/verify/{group_code(certificate.code)}")
    assert response.status_code == 200
    page = response.text
    assert "证书有效" in page and "碳汇林票认购证书" in page
    assert "王*明" in page and "王小明" not in page
    assert "120" in page
    assert certificate.serial_ranges.split(" – ")[0] in page
    assert certificate.data["date"] in page


async def test_typed_codes_with_odd_spacing_and_case(client: httpx.AsyncClient) -> None:
    certificate = await carbon_certificate()
    code = certificate.code
    typed = f"  {code[:3].lower()} {code[3:9]}-{code[9:].lower()} "
    response = await client.get("/verify", params={"code": typed})
    assert response.status_code == 303
    assert response.headers["location"] == f"/verify/{group_code(code)}"
    # the path accepts the same variety directly (e.g. a code pasted into the URL)
    response = await client.get(f"/verify/{code.lower()}")
    assert response.status_code == 200 and "证书有效" in response.text


async def test_verify_form_and_malformed_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/verify")
    assert response.status_code == 200 and 'name="code"' in response.text
    response = await client.get("/verify", params={"code": "12345"})
    assert response.status_code == 400 and "验证码格式不正确" in response.text


@pytest.mark.parametrize("status", ["reissued", "revoked", "refunded"])
async def test_no_longer_valid_says_why(client: httpx.AsyncClient, status: str) -> None:
    certificate = await carbon_certificate()
    if status == "reissued":
        replacement = await service.reissue(certificate, actor="staff", reason="证书遗失")
    elif status == "revoked":
        await service.revoke(certificate, reason="信息登记错误")
    else:
        await service.mark_refunded(await certificate.order, reason="买家申请退款")
    page = (await client.get(f"/verify/{group_code(certificate.code)}")).text
    assert "证书无效" in page
    expected = {"reissued": "证书遗失", "revoked": "信息登记错误", "refunded": "买家申请退款"}[status]
    assert expected in page
    data = (await client.get(f"/api/v1/certificates/{certificate.code}")).json()
    assert data["status"] == status and data["valid"] is False and data["reason"] == expected
    if status == "reissued":
        # nothing points to the new certificate
        assert replacement.code not in page and group_code(replacement.code) not in page
        assert replacement.code not in str(data) and group_code(replacement.code) not in str(data)
        new_page = (await client.get(f"/verify/{group_code(replacement.code)}")).text
        assert "证书有效" in new_page
    # an invalid certificate is not handed out as a PDF any more
    response = await client.get(f"/certificates/{group_code(certificate.code)}.pdf")
    assert response.status_code == 410


async def test_json_api(client: httpx.AsyncClient) -> None:
    certificate = await holding_certificate(TicketKind.COLLECTIVE, units=40)
    response = await client.get(f"/api/v1/certificates/{group_code(certificate.code).lower()}")
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is True and data["status"] == "valid"
    assert data["kind"] == "collective_holding"
    assert data["holder_name"] == "兴庆区掌政镇春林村股份经济合作社"
    assert data["quantity"] == 40
    assert data["serial_ranges"] == [certificate.serial_ranges]
    assert data["verification_url"] == f"http://testserver/verify/{group_code(certificate.code)}"
    assert "id_number" not in str(data)


async def test_unknown_codes_are_plainly_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/verify/{UNKNOWN}")
    assert response.status_code == 404 and "未找到该验证码对应的证书" in response.text
    response = await client.get(f"/api/v1/certificates/{UNKNOWN}")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "未找到该验证码对应的证书"}}
    assert (await client.get("/certificates/not-a-code.pdf")).status_code == 404


async def test_unknown_codes_are_rate_limited_per_client(app, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    app.state.verify_limiter = RateLimits().window("verify", 3, 600)
    certificate = await carbon_certificate()
    for _ in range(3):
        assert (await client.get(f"/verify/{UNKNOWN}")).status_code == 404
    # blocked now, even for a real code, so guesses teach nothing
    response = await client.get(f"/verify/{group_code(certificate.code)}")
    assert response.status_code == 429
    assert "查询过于频繁" in response.text
    assert int(response.headers["retry-after"]) > 0
    api = await client.get(f"/api/v1/certificates/{certificate.code}")
    assert api.status_code == 429 and api.json()["error"]["code"] == "rate_limited"
    assert (await client.get(f"/certificates/{certificate.code}.pdf")).status_code == 429
    # another client is not affected
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        assert (await other.get(f"/verify/{group_code(certificate.code)}")).status_code == 200


async def test_valid_lookups_are_not_counted(app, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    app.state.verify_limiter = RateLimits().window("verify", 2, 600)
    certificate = await carbon_certificate()
    for _ in range(5):
        assert (await client.get(f"/verify/{group_code(certificate.code)}")).status_code == 200


async def test_pdf_by_code_is_rendered_once(client: httpx.AsyncClient) -> None:
    certificate = await carbon_certificate(77, name="<b>张三</b>")
    before = pdf.render_count()
    first = await client.get(f"/certificates/{group_code(certificate.code)}.pdf")
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    second = await client.get(f"/certificates/{certificate.code.lower()}.pdf")
    assert second.content == first.content
    assert pdf.render_count() == before + 1
    assert (await Certificate.get(id=certificate.id)).pdf == first.content
    assert "<b>张三</b>" in pdf_text(first.content)
    assert qr_codes(first.content) == [f"http://testserver/verify/{group_code(certificate.code)}"]


async def test_english_page(client: httpx.AsyncClient) -> None:
    certificate = await carbon_certificate()
    page = (await client.get(f"/verify/{group_code(certificate.code)}", params={"lang": "en"})).text
    assert "Valid certificate" in page and "Carbon-sink forest ticket certificate" in page
