"""The customer-service desk's rules: finding orders by each key, the timeline, resending the link."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from factories import shop as factories
from kernel import clock
from registry import service_desk
from registry.audit import Actor
from registry.models import AuditLog, Certificate, Order, OrderStatus
from registry.service_desk import (
    Channel,
    ChannelUnavailable,
    DeliveryFailed,
    InvalidContactSearch,
    InvalidSearch,
    InvalidSerial,
    NoContact,
    OrderSearch,
    ResendLimited,
    Step,
)
from tests.desk import RecordingMessenger, paid_order

DESK = Actor(None, "10.0.0.9", system="desk-test")
pytestmark = pytest.mark.usefixtures("db")


async def _ids(search: OrderSearch, **kwargs) -> list[int]:  # type: ignore[no-untyped-def]
    return [o.id for o in (await service_desk.search_orders(search, **kwargs)).orders]


async def test_find_by_certificate_code_serial_contact_amount_and_date(settings):
    batch = await factories.quota(1000)
    first = await paid_order(settings, 10, contact="Zhang.San@Example.com")
    second = await paid_order(settings, 7, contact="138 0013 8000")
    third = await paid_order(settings, 12, contact="13912345678")
    certificate = await Certificate.get(order_id=second.id)

    assert await _ids(OrderSearch(certificate_code=certificate.code)) == [second.id]
    # serials: the second order holds units 11..17; the number may be typed with fewer zeros, any dash, any case
    assert await _ids(OrderSearch(serial=batch.serial(11))) == [second.id]
    typed = f"{batch.serial_prefix.lower()}—000017"
    assert await _ids(OrderSearch(serial=typed)) == [second.id]
    assert await _ids(OrderSearch(serial=batch.serial(18))) == [third.id]
    assert await _ids(OrderSearch(serial=batch.serial(999))) == []  # still in the pool: no order
    assert await _ids(OrderSearch(serial=f"{batch.serial_prefix}-{batch.total_units + 1}")) == []
    # contacts: an e-mail exactly (any case), a phone number whole or by its last digits
    assert await _ids(OrderSearch(contact="zhang.san@example.com")) == [first.id]
    assert await _ids(OrderSearch(contact="8000")) == [second.id]
    assert await _ids(OrderSearch(contact="138 0013 8000")) == [second.id]
    assert await _ids(OrderSearch(contact="5678")) == [third.id]
    # amount in fen (the page parses yuan), and every key together must match
    assert await _ids(OrderSearch(amount_fen=700)) == [second.id]
    assert await _ids(OrderSearch(amount_fen=700, contact="5678")) == []
    today = clock.today()
    assert await _ids(OrderSearch(day=today)) == [third.id, second.id, first.id]  # newest first
    assert await _ids(OrderSearch(day=today - timedelta(days=1))) == []


async def test_the_date_is_the_beijing_date_the_order_was_made(settings):
    await factories.quota(1000)
    late = await paid_order(settings, 10)
    early = await paid_order(settings, 10)
    # 23:59 on 31 March and 00:01 on 1 April in Yinchuan (15:59 and 16:01 UTC)
    await Order.filter(id=late.id).update(created_at=datetime(2026, 3, 31, 15, 59, tzinfo=UTC))
    await Order.filter(id=early.id).update(created_at=datetime(2026, 3, 31, 16, 1, tzinfo=UTC))
    assert await _ids(OrderSearch(day=date(2026, 3, 31))) == [late.id]
    assert await _ids(OrderSearch(day=date(2026, 4, 1))) == [early.id]


async def test_results_page_by_keyset(settings):
    await factories.quota(10_000)
    made = [await paid_order(settings, 10, contact="13800001111") for _ in range(7)]
    first = await service_desk.search_orders(OrderSearch(contact="1111"), limit=3)
    assert [o.id for o in first.orders] == [o.id for o in made[::-1][:3]]
    second = await service_desk.search_orders(OrderSearch(contact="1111"), before=first.next_before, limit=3)
    assert [o.id for o in second.orders] == [o.id for o in made[::-1][3:6]]
    last = await service_desk.search_orders(OrderSearch(contact="1111"), before=second.next_before, limit=3)
    assert [o.id for o in last.orders] == [made[0].id] and last.next_before is None


@pytest.mark.parametrize(
    ("search", "error"),
    [
        (OrderSearch(), InvalidSearch),
        (OrderSearch(serial="not a serial"), InvalidSerial),
        (OrderSearch(serial="YC-TH-2026-001-0"), InvalidSerial),
        (OrderSearch(contact="12"), InvalidContactSearch),  # too few digits would match half the shop
    ],
)
async def test_unusable_searches_are_refused(db, search, error):
    with pytest.raises(error):
        await service_desk.search_orders(search)


async def test_the_timeline_tells_the_order_from_creation_to_reissue(settings):
    batch = await factories.quota(1000)
    order = await paid_order(settings, 10, contact="a@example.com")
    steps = [e.step for e in await service_desk.timeline(order)]
    assert steps[0] is Step.CREATED
    for step in (Step.PAYMENT, Step.RESERVED, Step.RETIRED, Step.FULFILLED, Step.CERTIFICATE):
        assert step in steps, step
    retired = next(e for e in await service_desk.timeline(order) if e.step is Step.RETIRED)
    assert batch.serial_range(1, 10) in retired.detail

    from certificates.service import reissue

    certificate = await Certificate.get(order_id=order.id)
    replacement = await reissue(certificate, actor="staff:desk", reason="证书遗失")
    reissued = [e for e in await service_desk.timeline(order) if e.step is Step.REISSUED]
    assert [(e.code, e.detail, e.actor) for e in reissued] == [(replacement.code, "证书遗失", "staff:desk")]


async def test_the_timeline_shows_a_lapsed_reservation_released(settings):
    from registry import register
    from shop.limits import TRUSTED
    from shop.orders import OrderRequest, create_order

    await factories.quota(1000)
    order, _ = await create_order(
        settings, OrderRequest(quantity=10, purpose="travel", certificate_name="李四"), provider="demo", buyer=TRUSTED
    )
    await register.expire_reservations(now=clock.now() + timedelta(hours=2))
    steps = [e.step for e in await service_desk.timeline(order)]
    assert steps == [Step.CREATED, Step.RESERVED, Step.RELEASED]
    other = await paid_order(settings, 10)  # another order's entries never appear
    assert Step.RELEASED not in [e.step for e in await service_desk.timeline(other)]


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ("a.b@example.com", (Channel.EMAIL, "a.b@example.com")),
        ("138 0013 8000", (Channel.SMS, "13800138000")),
        ("+86-139-1234-5678", (Channel.SMS, "13912345678")),
        ("0951-1234567", None),  # a landline cannot take a text
        ("微信 zhangsan", None),
        ("", None),
    ],
)
def test_the_channel_follows_the_contact_the_buyer_gave(contact, expected):
    assert service_desk.contact_channel(contact) == expected


async def test_resend_sends_the_link_to_the_buyers_contact_audited(settings):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="buyer@example.com")
    sink = RecordingMessenger()
    channel = await service_desk.resend_link(order, messenger=sink, base_url="https://lp.example", actor=DESK)
    assert channel is Channel.EMAIL
    [(kind, to, text)] = sink.sent
    assert (kind, to) == ("email", "buyer@example.com")
    assert f"https://lp.example/orders/{order.token}" in text
    line = await AuditLog.get(action="order.resend")
    assert line.target == f"order:{order.id}" and line.details == {"channel": "email", "to": "b***@example.com"}
    assert order.token not in str(line.details)  # the audit log never holds the key to the order

    texted = await paid_order(settings, 10, contact="13800138000")
    await service_desk.resend_link(texted, messenger=sink, base_url="https://lp.example", actor=DESK)
    assert sink.sent[-1][:2] == ("sms", "13800138000") and texted.token in sink.sent[-1][2]


async def test_resend_is_limited_per_order_and_the_limit_lifts_after_an_hour(settings):
    await factories.quota(1000)
    order = await paid_order(settings, 10, contact="buyer@example.com")
    other = await paid_order(settings, 10, contact="other@example.com")
    sink = RecordingMessenger()
    for _ in range(service_desk.RESEND_LIMIT):
        await service_desk.resend_link(order, messenger=sink, base_url="http://x", actor=DESK)
    with pytest.raises(ResendLimited):
        await service_desk.resend_link(order, messenger=sink, base_url="http://x", actor=DESK)
    assert len(sink.sent) == service_desk.RESEND_LIMIT
    assert await AuditLog.filter(action="order.resend").count() == service_desk.RESEND_LIMIT
    await service_desk.resend_link(other, messenger=sink, base_url="http://x", actor=DESK)  # per order
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61), tick=True):
        await service_desk.resend_link(order, messenger=sink, base_url="http://x", actor=DESK)
    assert len(sink.sent) == service_desk.RESEND_LIMIT + 2


async def test_resend_refusals_and_failures(settings):
    await factories.quota(1000)
    silent = await paid_order(settings, 10)
    with pytest.raises(NoContact):
        await service_desk.resend_link(silent, messenger=RecordingMessenger(), base_url="http://x", actor=DESK)
    phone = await paid_order(settings, 10, contact="13800138000")
    with pytest.raises(ChannelUnavailable):
        await service_desk.resend_link(
            phone, messenger=RecordingMessenger(channels=(Channel.EMAIL,)), base_url="http://x", actor=DESK
        )
    assert not await AuditLog.filter(action__startswith="order.resend").exists()  # nothing was tried
    with pytest.raises(DeliveryFailed):
        await service_desk.resend_link(phone, messenger=RecordingMessenger(fail=True), base_url="http://x", actor=DESK)
    actions = await AuditLog.filter(target=f"order:{phone.id}").order_by("id").values_list("action", flat=True)
    assert actions == ["order.resend", "order.resend_failed"]  # the attempt counts against the limit
    steps = [e.step for e in await service_desk.timeline(phone)]
    assert Step.RESEND in steps and Step.RESEND_FAILED in steps


async def test_what_may_be_refunded(settings):
    await factories.quota(1000)
    order = await paid_order(settings, 10)
    assert order.status is OrderStatus.FULFILLED and service_desk.refundable(order)
    order.status = OrderStatus.PENDING
    assert not service_desk.refundable(order)
    order.status = OrderStatus.FAILED
    assert not service_desk.refundable(order)
    order.details = {**order.details, "refund_due": True}
    assert service_desk.refundable(order)
    order.status = OrderStatus.REFUNDED
    assert not service_desk.refundable(order)


def test_contacts_are_masked_in_lists():
    assert service_desk.mask_contact("zhang@example.com") == "z***@example.com"
    assert service_desk.mask_contact("13800138000") == "138****8000"
