"""The daily bills around Beijing midnight: Alipay's and WeChat Pay's bills are of a Beijing date (their day ends at
midnight in Beijing, 16:00 UTC), so a payment at 23:59 and one at 00:01 Beijing time — the same UTC date — belong to
two days' comparisons, and "yesterday" is the Beijing yesterday. The whole process (the app, the fake gateways and
their signatures' timestamps) travels with ``time-machine``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta

import time_machine

from factories import shop as factories
from kernel import clock
from kernel.clock import CITY_TZ
from registry import jobs
from registry.models import Order
from shop.bills import compare_bills
from shop.jobs import compare_yesterdays_bills
from tests.live import ROOT
from tests.shop.paying import PHONE_UA, buy, choose, outside, provider_env
from tests.shop.test_bills import paid_with_alipay, paid_with_wechat
from tests.timetravel import OFFSET_VARIABLE


def next_beijing_midnight() -> datetime:
    """The coming midnight in Beijing (a date after today's quota opened, so it is on sale)."""
    return datetime.combine(clock.today() + timedelta(days=2), time.min, CITY_TZ)


async def test_payments_at_2359_and_0001_beijing_land_in_their_own_days_bill(
    china_client, china_settings, fake_alipay, fake_wechatpay
):
    midnight = next_beijing_midnight()
    before, after = midnight - timedelta(minutes=1), midnight + timedelta(minutes=1)
    first_day, second_day = before.date(), after.date()
    assert before.astimezone(UTC).date() == after.astimezone(UTC).date()  # one UTC date, two Beijing days
    await factories.quota(1000)
    with time_machine.travel(before, tick=True):
        late_alipay = await paid_with_alipay(china_client, fake_alipay, 1, "23:59 Alipay")
        late_wechat = await paid_with_wechat(china_client, fake_wechatpay, 2, "23:59 WeChat Pay")
        assert clock.local_date(late_alipay.paid_at) == first_day
    with time_machine.travel(after, tick=True):
        early_alipay = await paid_with_alipay(china_client, fake_alipay, 3, "00:01 Alipay")
        early_wechat = await paid_with_wechat(china_client, fake_wechatpay, 4, "00:01 WeChat Pay")
        assert clock.local_date(early_alipay.paid_at) == second_day

    for day in (first_day, second_day):
        report = await compare_bills(china_settings, day)
        assert report.lines == {"alipay": 1, "wechat_pay": 1}, str(report)
        assert report.clean, str(report)
    assert fake_wechatpay.bill_days == [first_day.isoformat(), second_day.isoformat()]

    # a payment missing from its own day's bill is reported in that day's comparison, and only there
    alipay_lines, wechat_lines = fake_alipay.bill_lines, fake_wechatpay.bill_lines
    alipay_lines[:] = [line for line in alipay_lines if line["out_trade_no"] != late_alipay.provider_ref]
    wechat_lines[:] = [line for line in wechat_lines if line["trade"] != early_wechat.provider_ref]
    first = await compare_bills(china_settings, first_day)
    second = await compare_bills(china_settings, second_day)
    assert {(d.provider, d.kind, d.order_id) for d in first.differences} == {
        ("alipay", "fulfilled_not_paid", late_alipay.id)
    }
    assert {(d.provider, d.kind, d.order_id) for d in second.differences} == {
        ("wechat_pay", "fulfilled_not_paid", early_wechat.id)
    }
    assert late_wechat.id and early_alipay.id


async def test_a_payment_just_before_midnight_notified_just_after_is_of_the_day_it_was_paid(
    china_client, china_settings, fake_alipay, fake_wechatpay
):
    """The provider's bill puts a payment on the day the payer paid; the register must compare it there too, even
    when the notification (or the query that settled it) only arrived after midnight."""
    midnight = next_beijing_midnight()
    await factories.quota(1000)
    with time_machine.travel(midnight - timedelta(seconds=30), tick=True):
        order = await buy(china_client, 2, name="paid 23:59:30")
        cashier = await choose(china_client, order, "alipay", PHONE_UA)
        await outside(cashier.headers["location"])
        await order.refresh_from_db()
        notification = fake_alipay.pay(str(order.provider_ref))  # paid at Alipay at 23:59:30
        wechat_order = await buy(china_client, 3, name="paid 23:59:30 by WeChat Pay")
        await choose(china_client, wechat_order, "wechat_pay", "Mozilla/5.0 (X11; Linux x86_64)")
        await wechat_order.refresh_from_db()
        wechat_notification = fake_wechatpay.pay(str(wechat_order.provider_ref))
    with time_machine.travel(midnight + timedelta(seconds=40), tick=True):  # ... the notifications arrive after
        answer = await china_client.post(
            "/webhooks/alipay",
            content=fake_alipay.encode(notification),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.text == "success"
        headers, body = wechat_notification
        # WeChat Pay signs a redelivery afresh: the same notification, signed now
        headers = {**headers, **fake_wechatpay.signed_headers(body.decode())}
        assert (await china_client.post("/webhooks/wechatpay", content=body, headers=headers)).status_code == 204
    await order.refresh_from_db()
    await wechat_order.refresh_from_db()
    assert order.paid_at is not None and wechat_order.paid_at is not None
    for day in (midnight.date() - timedelta(days=1), midnight.date()):
        report = await compare_bills(china_settings, day)
        assert report.clean, str(report)
    assert await Order.filter(id__in=[order.id, wechat_order.id], status="fulfilled").count() == 2


async def test_yesterday_is_the_beijing_yesterday_just_after_midnight(
    china_client, china_settings, fake_alipay, fake_wechatpay, db
):
    """At 00:30 in Beijing (16:30 UTC the day before) the job and ``linpiao bills`` ask for the Beijing yesterday,
    not the UTC one (two days back)."""
    midnight = next_beijing_midnight()
    half_past = midnight + timedelta(minutes=30)
    yesterday = (midnight - timedelta(days=1)).date()
    with time_machine.travel(half_past, tick=True):
        await compare_yesterdays_bills(jobs.JobContext(settings=china_settings, name="shop.bills"))
    assert fake_wechatpay.bill_days == [yesterday.isoformat()]
    [asked] = [r for r in fake_alipay.requests if r["method"] == "alipay.data.dataservice.bill.downloadurl.query"]
    assert f'"bill_date":"{yesterday.isoformat()}"' in asked["params"]["biz_content"]

    # ``linpiao bills`` without --date, in a child process on the same travelled clock as the fake gateways here
    # the child's offset is from the real clock: this process may itself be travelling (LINPIAO_TEST_CLOCK)
    offset = (half_past - datetime.now(CITY_TZ)).total_seconds() + float(os.environ.get(OFFSET_VARIABLE) or 0)
    env = {**os.environ, "LINPIAO_DATABASE_URL": db, **provider_env(china_settings), OFFSET_VARIABLE: str(offset)}
    with time_machine.travel(half_past, tick=True):
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "timetravel.py"), "linpiao.cli", "bills"],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"bills of {yesterday.isoformat()}:" in done.stdout
    assert fake_wechatpay.bill_days[-1] == yesterday.isoformat()
