"""Public verification of ecological compensation cases by case number (page, form and JSON), and the JSON
verification answers checked against the OpenAPI document."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import httpx
from jsonschema import Draft202012Validator

from certificates.codes import group_code
from factories import id_of, make_holder
from factories.certificates import carbon_certificate, holding_certificate
from factories.trades import make_actor, state_batch, token
from kernel import clock
from kernel.ratelimit import RateLimits
from registry.models import StaffRole, TicketKind
from registry.offsets import CompensationCase, open_case, order_compensation, record_compensation_payment
from shop.openapi import openapi_document

CASE = "银林罚决字〔2026〕第12号"
DOC = openapi_document("http://testserver")


def check(response: httpx.Response, path: str) -> dict:
    """The answer matches the OpenAPI document's schema for ``GET path`` and its status."""
    operation = DOC["paths"][path]["get"]
    assert str(response.status_code) in operation["responses"], response.status_code
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(response.json())
    return response.json()  # type: ignore[no-any-return]


async def completed_case(number: str = CASE, *, pay: bool = True) -> tuple[CompensationCase, str, str]:
    """A case of illegal logging ordered by area (2,000 m² → 3 units of 666.6667 m²), paid unless told."""
    batch, _unit = await state_batch(units=100)
    offender = await make_holder("王某某")
    forestry = await make_actor(StaffRole.FORESTRY)
    case = await open_case(
        case_number=number,
        offence="illegal_logging",
        deciding_body="银川市自然资源局",
        offender=offender,
        decided_on=date(2026, 5, 1),
        actor=forestry,
    )
    await order_compensation(case, batch=batch, area_m2="2000", unit_price_fen=30_000, actor=forestry)
    if pay:
        await record_compensation_payment(case, payment_ref="缴款书 0001", actor=forestry, form_token=token())
    return case, offender.name, id_of(offender)


async def test_the_public_page_of_a_case_shows_the_case_never_the_offender(client: httpx.AsyncClient) -> None:
    _case, name, id_number = await completed_case()
    page = await client.get(f"/verify/case/{quote(CASE)}")
    assert page.status_code == 200
    text = page.text
    assert f'<dd class="case-number">{CASE}</dd>' in text and "盗伐林木" in text
    assert '<dd class="deciding-body">银川市自然资源局</dd>' in text and "2026-05-01" in text
    assert '<dd class="quantity">3</dd>' in text and "2000 平方米（3 亩）" in text
    assert f'<dd class="retired-on">{clock.today().isoformat()}</dd>' in text
    assert "T-GY-" in text and "00000001" in text and "00000003" in text  # the serials retired
    assert name not in text and id_number not in text and id_number[-4:] not in text
    english = await client.get(f"/verify/case/{quote(CASE)}?lang=en")
    assert "Ecological compensation case" in english.text and "2000 m² (3 mu)" in english.text
    assert "Illegal logging" in english.text and "Tickets retired" in english.text
    await client.get("/verify?lang=zh_CN")


async def test_the_json_api_of_a_case_matches_the_openapi_document(client: httpx.AsyncClient) -> None:
    _case, name, id_number = await completed_case()
    response = await client.get(f"/api/v1/compensation-cases/{quote(CASE)}")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    data = check(response, "/compensation-cases/{case_number}")
    assert (data["case_number"], data["units"], data["area_m2"], data["area_mu"]) == (CASE, 3, "2000", "3")
    assert data["deciding_body"] == "银川市自然资源局" and data["retired_on"] == clock.today().isoformat()
    assert data["offence"] == "illegal_logging" and data["ordered_area_m2"] == "2000"
    assert data["verification_url"] == f"http://testserver/verify/case/{quote(CASE, safe='')}"
    assert name not in str(data) and id_number not in str(data)


async def test_the_verify_form_takes_a_case_number(client: httpx.AsyncClient) -> None:
    await completed_case("银林罚/2026/7号")  # a slash in the number still finds its page
    form = await client.get("/verify")
    assert 'name="case"' in form.text and 'name="code"' in form.text
    response = await client.get("/verify", params={"case": "  银林罚/2026/7号 "})
    assert response.status_code == 303
    assert response.headers["location"] == "/verify/case/" + quote("银林罚/2026/7号", safe="")
    page = await client.get(response.headers["location"])
    assert page.status_code == 200 and "银林罚/2026/7号" in page.text
    blank = await client.get("/verify", params={"case": "  "})
    assert blank.status_code == 400 and "请填写案号" in blank.text


async def test_unknown_or_unpaid_cases_are_plainly_not_found(client: httpx.AsyncClient) -> None:
    await completed_case("案-未缴", pay=False)
    for number in ("案-不存在", "案-未缴"):
        page = await client.get(f"/verify/case/{quote(number)}")
        assert page.status_code == 404 and "未找到该案号对应的已履行生态补偿案件" in page.text
        api = await client.get(f"/api/v1/compensation-cases/{quote(number)}")
        assert api.json() == {"error": {"code": "not_found", "message": "未找到该案号对应的已履行生态补偿案件"}}
        check(api, "/compensation-cases/{case_number}")


async def test_failed_case_lookups_share_the_verification_rate_limit(app, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    app.state.verify_limiter = RateLimits().window("verify", 3, 600)
    await completed_case()
    certificate = await carbon_certificate()
    for number in ("案-1", "案-2"):
        assert (await client.get(f"/verify/case/{quote(number)}")).status_code == 404
    assert (await client.get("/verify/ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ")).status_code == 404  # the third failure
    # blocked now, for real cases and certificates alike, so guessing teaches nothing
    page = await client.get(f"/verify/case/{quote(CASE)}")
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
    api = await client.get(f"/api/v1/compensation-cases/{quote(CASE)}")
    assert api.status_code == 429 and check(api, "/compensation-cases/{case_number}")["error"]["code"] == "rate_limited"
    assert (await client.get(f"/verify/{group_code(certificate.code)}")).status_code == 429
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        assert (await other.get(f"/verify/case/{quote(CASE)}")).status_code == 200


async def test_certificate_verification_answers_match_the_openapi_document(client: httpx.AsyncClient) -> None:
    for certificate in (await carbon_certificate(120), await holding_certificate(TicketKind.COLLECTIVE, units=40)):
        data = check(await client.get(f"/api/v1/certificates/{certificate.code}"), "/certificates/{code}")
        assert data["code"] == group_code(certificate.code)
    check(await client.get("/api/v1/certificates/ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"), "/certificates/{code}")
