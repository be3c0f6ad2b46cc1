"""The customer-service desk's pages: search, the order's timeline, resend, refund, reissue, and who may."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from factories import shop as factories
from registry.models import AuditLog, Certificate, CertificateStatus, Order, OrderStatus, StaffRole
from tests.admin.test_permissions import snapshot
from tests.desk import RecordingMessenger, paid_order


@pytest.fixture
def sink(app) -> RecordingMessenger:  # type: ignore[no-untyped-def]
    """Every message the desk sends, kept instead of sent."""
    messenger = RecordingMessenger()
    app.state.messenger = messenger
    return messenger


def _order_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-order="(\d+)"', html)]


async def _search(clerk, query: dict[str, str]):  # type: ignore[no-untyped-def]
    """The search form as a browser sends it (POST), then the results page it redirects to; the URL holds no
    contact."""
    posted = await clerk.post("/admin/service/search", query)
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    contact = query.get("contact", "")
    assert location.startswith("/admin/service")
    # the contact travels only sealed, in "s" (whose random text may happen to hold the same digits)
    plain = {k: v for k, v in parse_qsl(urlsplit(location).query) if k != "s"}
    assert not contact or (all(contact not in v for v in plain.values()) and "contact" not in location)
    return await clerk.get(location)


async def test_a_clerk_finds_an_order_by_each_key(sign_in, settings):
    batch = await factories.quota(1000)
    first = await paid_order(settings, 10, contact="zhang@example.com")
    second = await paid_order(settings, 7, contact="13800138000", name="李四")
    code = (await Certificate.get(order_id=second.id)).code
    clerk = await sign_in(StaffRole.FORESTRY, "desk-forestry")
    grouped = "-".join(code[i : i + 4] for i in range(0, 20, 4)).lower()
    for query, expected in (
        ({"code": grouped}, [second.id]),
        ({"serial": batch.serial(12)}, [second.id]),
        ({"contact": "ZHANG@example.com"}, [first.id]),
        ({"contact": "8000"}, [second.id]),
        ({"amount": "7"}, [second.id]),
        ({"amount": "10.00"}, [first.id]),
        ({"date": _beijing_date(first)}, [second.id, first.id]),
    ):
        response = await _search(clerk, query)
        assert response.status_code == 200, (query, response.text)
        assert _order_ids(response.text) == expected, query
    page = await _search(clerk, {"contact": "8000"})
    assert "138****8000" in page.text and "13800138000" not in page.text  # lists show contacts masked


def _beijing_date(order: Order) -> str:
    from kernel import clock

    return clock.local_date(order.created_at).isoformat()


async def test_bad_search_input_is_a_400_with_the_reason(sign_in, db):
    clerk = await sign_in(StaffRole.FORESTRY, "desk-forestry")
    for query, reason in (
        ({"amount": "abc"}, "金额请填写元"),
        ({"code": "123"}, "验证码应为20位"),
        ({"serial": "nonsense"}, "林票编号格式"),
        ({"contact": "12"}, "后四位以上"),
        ({"date": "2026-13-01"}, "日期格式"),
    ):
        response = await _search(clerk, query)
        assert response.status_code == 400 and reason in response.text, query
    assert (await clerk.get("/admin/service")).status_code == 200  # an empty form is just the form


async def test_results_page_with_a_next_link(sign_in, settings):
    await factories.quota(10_000)
    made = [await paid_order(settings, 10, contact="13800001111") for _ in range(27)]
    clerk = await sign_in(StaffRole.FINANCE, "desk-finance")
    first = await _search(clerk, {"contact": "1111"})
    assert _order_ids(first.text) == [o.id for o in made[::-1][:25]]
    next_url = re.search(r'href="(\?[^"]+)" data-testid="next-page"', first.text)
    assert next_url
    second = await clerk.get("/admin/service" + next_url.group(1).replace("&amp;", "&"))
    assert _order_ids(second.text) == [made[1].id, made[0].id]
    assert 'data-testid="next-page"' not in second.text


async def test_the_order_page_shows_its_timeline(sign_in, settings):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="zhang@example.com")
    clerk = await sign_in(StaffRole.AUDITOR, "desk-auditor")
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    assert page.status_code == 200
    steps = re.findall(r'data-step="([a-z_]+)"', page.text)
    assert steps[0] == "created" and {"payment", "reserved", "retired", "fulfilled", "certificate"} <= set(steps)
    assert "zhang@example.com" in page.text  # the detail shows the whole contact, to confirm a caller
    assert order.token not in page.text  # but never the private link
    assert 'action="/admin/service/orders' not in page.text  # the auditor reads only
    assert (await clerk.get("/admin/service/orders/999999")).status_code == 404


async def test_resend_from_the_page_is_audited_and_limited(sign_in, settings, sink):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="zhang@example.com")
    clerk = await sign_in(StaffRole.FORESTRY, "desk-forestry")
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    assert "z***@example.com" in page.text
    for _ in range(3):
        response = await clerk.post(f"/admin/service/orders/{order.id}/resend")
        assert response.status_code == 303
    assert [(c, to) for c, to, _t in sink.sent] == [("email", "zhang@example.com")] * 3
    assert f"http://testserver/orders/{order.token}" in sink.sent[0][2]
    refused = await clerk.post(f"/admin/service/orders/{order.id}/resend")
    assert refused.status_code == 429 and "一小时内已发送三次" in refused.text
    assert len(sink.sent) == 3
    lines = await AuditLog.filter(action="order.resend").values_list("username", "target")
    assert lines == [("desk-forestry", f"order:{order.id}")] * 3
    timeline = await clerk.get(f"/admin/service/orders/{order.id}")
    assert re.findall(r'data-step="([a-z_]+)"', timeline.text).count("resend") == 3


async def test_the_demo_notifier_logs_the_sms(sign_in, settings, caplog):
    import logging

    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="13800138000")
    clerk = await sign_in(StaffRole.FORESTRY, "desk-forestry")
    with caplog.at_level(logging.INFO, logger="linpiao.notify"):
        response = await clerk.post(f"/admin/service/orders/{order.id}/resend")
    assert response.status_code == 303
    assert any("13800138000" in r.getMessage() and order.token in r.getMessage() for r in caplog.records)


async def test_refund_and_reissue_from_the_page(sign_in, settings):
    await factories.quota(1000)
    order = await paid_order(settings, 10)
    clerk = await sign_in(StaffRole.FORESTRY, "desk-forestry")
    certificate = await Certificate.get(order_id=order.id)
    missing_reason = await clerk.post(
        f"/admin/service/orders/{order.id}/reissue", {"certificate": certificate.code, "reason": ""}
    )
    assert missing_reason.status_code == 400 and "请填写补发原因" in missing_reason.text
    reissued = await clerk.post(
        f"/admin/service/orders/{order.id}/reissue", {"certificate": certificate.code, "reason": "证书遗失"}
    )
    assert reissued.status_code == 303
    await certificate.refresh_from_db()
    assert certificate.status is CertificateStatus.REISSUED
    replacement = await Certificate.get(order_id=order.id, status=CertificateStatus.VALID)
    audit_line = await AuditLog.get(action="certificate.reissue")
    assert audit_line.details["order"] == order.id and audit_line.details["replacement"] == replacement.id

    no_reason = await clerk.post(f"/admin/service/orders/{order.id}/refund", {"reason": " "})
    assert no_reason.status_code == 400 and "请填写原因" in no_reason.text
    refunded = await clerk.post(f"/admin/service/orders/{order.id}/refund", {"reason": "买家要求"})
    assert refunded.status_code == 303
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert (await Certificate.get(id=replacement.id)).status is CertificateStatus.REFUNDED
    again = await clerk.post(f"/admin/service/orders/{order.id}/refund", {"reason": "买家要求"})
    assert again.status_code == 409
    page = await clerk.get(f"/admin/service/orders/{order.id}")
    steps = re.findall(r'data-step="([a-z_]+)"', page.text)
    assert {"reissued", "refund"} <= set(steps)
    assert 'data-testid="refund"' not in page.text and 'data-testid="reissue"' not in page.text


@pytest.mark.parametrize(
    ("role", "district"),
    [(StaffRole.FINANCE, None), (StaffRole.AUDITOR, None), (StaffRole.FORESTRY, "640105")],
)
async def test_who_may_not_act_changes_nothing(sign_in, settings, sink, role, district):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="zhang@example.com")
    code = (await Certificate.get(order_id=order.id)).code
    staff = await sign_in(role, f"desk-{role}", district)
    before = await snapshot()
    for action, data in (
        ("resend", {}),
        ("refund", {"reason": "x"}),
        ("reissue", {"certificate": code, "reason": "x"}),
    ):
        response = await staff.post(f"/admin/service/orders/{order.id}/{action}", data)
        assert response.status_code == 403, (role, action)
    assert await snapshot() == before and sink.sent == []


@pytest.mark.parametrize(
    ("role", "district"),
    [
        (StaffRole.ISSUER, "640104"),
        (StaffRole.LANDSCAPING, None),
        (StaffRole.ADMIN, None),
        (StaffRole.FORESTRY, "640105"),
    ],
)
async def test_who_may_not_even_look(sign_in, settings, role, district):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="zhang@example.com")
    staff = await sign_in(role, f"desk-{role}", district)
    assert (await staff.get("/admin/service", params={"amount": "10"})).status_code == 403
    assert (await staff.post("/admin/service/search", {"contact": "zhang@example.com"})).status_code == 403
    assert (await staff.get(f"/admin/service/orders/{order.id}")).status_code == 403
    assert 'href="/admin/service"' not in (await staff.get("/admin/")).text


async def test_a_search_by_phone_or_e_mail_keeps_them_out_of_every_url(sign_in, settings):
    await factories.quota(10_000)
    made = [await paid_order(settings, 10, contact="13912345678") for _ in range(27)]
    mailed = await paid_order(settings, 5, contact="li.si@example.com")
    clerk = await sign_in(StaffRole.FORESTRY, "desk-sealed")
    for contact, wanted in (("13912345678", [o.id for o in made[::-1][:25]]), ("li.si@example.com", [mailed.id])):
        posted = await clerk.post("/admin/service/search", {"contact": contact, "amount": ""})
        location = posted.headers["location"]
        assert posted.status_code == 303 and location.startswith("/admin/service?s=")
        for part in (contact, contact.split("@")[0], contact[-4:]):
            assert part not in unquote(location)
        page = await clerk.get(location)
        assert page.status_code == 200 and _order_ids(page.text) == wanted
        assert f'value="{contact}"' in page.text  # the form shows what was typed, in the page, not the URL
        for href in re.findall(r'href="([^"]+)"', page.text):
            assert contact not in unquote(href) and contact[-4:] not in unquote(href), href
    # the next page keeps the sealed search and shows the rest
    page = await _search(clerk, {"contact": "13912345678"})
    following = re.search(r'href="(\?[^"]+)" data-testid="next-page"', page.text)
    assert following and "s=" in following.group(1)
    rest = await clerk.get("/admin/service" + following.group(1).replace("&amp;", "&"))
    assert _order_ids(rest.text) == [made[1].id, made[0].id]
    # order number, amount and date searches stay plain, bookmarkable GETs
    plain = await clerk.post("/admin/service/search", {"amount": "5", "contact": ""})
    assert plain.headers["location"] == "/admin/service?amount=5"
    # a contact typed into the URL by hand is not read; a sealed search expires
    typed = await clerk.get("/admin/service", params={"contact": "13912345678"})
    assert typed.status_code == 400 and _order_ids(typed.text) == []
    sealed = (await clerk.post("/admin/service/search", {"contact": "13912345678"})).headers["location"]
    from kernel import clock

    with clock.use(clock.FixedClock(clock.now() + timedelta(minutes=16))):
        expired = await clerk.get(sealed)
    assert expired.status_code == 400 and "已过期" in expired.text and _order_ids(expired.text) == []
