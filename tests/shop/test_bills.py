"""Daily bills (对账单) of Alipay and WeChat Pay against the register: every difference is reported."""

from __future__ import annotations

import os
import subprocess

from factories import shop as factories
from kernel import clock
from registry.models import Order
from shop.bills import compare_bills
from tests.live import ROOT
from tests.shop.paying import DESKTOP_UA, PHONE_UA, buy, choose, outside, provider_env
from tests.timetravel import python_module


async def paid_with_alipay(client, fake, quantity: int, name: str, *, notify: bool = True):
    order = await buy(client, quantity, name=name)
    cashier = await choose(client, order, "alipay", PHONE_UA)
    await outside(cashier.headers["location"])
    await order.refresh_from_db()
    params = fake.pay(str(order.provider_ref))
    if notify:
        await client.post(
            "/webhooks/alipay",
            content=fake.encode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    await order.refresh_from_db()
    return order


async def paid_with_wechat(client, fake, quantity: int, name: str):
    order = await buy(client, quantity, name=name)
    await choose(client, order, "wechat_pay", DESKTOP_UA)
    await order.refresh_from_db()
    headers, body = fake.pay(str(order.provider_ref))
    await client.post("/webhooks/wechatpay", content=body, headers=headers)
    await order.refresh_from_db()
    return order


async def bills_with_every_difference(client, fake_alipay, fake_wechatpay) -> list[Order]:
    """Today's bills with one difference of each kind; the orders: fine (Alipay), fulfilled but missing from the
    bill (Alipay), paid with the notification lost (Alipay), amount differs (WeChat Pay), refunded at WeChat Pay
    only — and an Alipay trade the register does not know (``LP424242_deadbeef``, ¥5.00)."""
    await factories.quota(1000)
    fine = await paid_with_alipay(client, fake_alipay, 1, "fine")
    missing = await paid_with_alipay(client, fake_alipay, 2, "fulfilled, not in the bill")
    unsettled = await paid_with_alipay(client, fake_alipay, 3, "paid, notification lost", notify=False)
    wrong = await paid_with_wechat(client, fake_wechatpay, 4, "amount differs")
    refunded_there = await paid_with_wechat(client, fake_wechatpay, 1, "refunded at WeChat Pay only")
    fake_alipay.bill_lines[:] = [
        line for line in fake_alipay.bill_lines if line["out_trade_no"] != missing.provider_ref
    ]
    fake_alipay.bill_lines.append(
        {"kind": "交易", "out_trade_no": "LP424242_deadbeef", "trade_no": "2026000", "amount_fen": 500}
    )
    next(line for line in fake_wechatpay.bill_lines if line["trade"] == wrong.provider_ref)["amount_fen"] = 399
    fake_wechatpay.bill_lines.append(
        {"state": "REFUND", "trade": refunded_there.provider_ref, "amount_fen": 100, "refund": "portal-1"}
    )
    return [fine, missing, unsettled, wrong, refunded_there]


async def test_matching_bills_report_no_difference(china_client, china_settings, fake_alipay, fake_wechatpay):
    await factories.quota(1000)
    await paid_with_alipay(china_client, fake_alipay, 1, "a")
    await paid_with_wechat(china_client, fake_wechatpay, 2, "b")
    report = await compare_bills(china_settings, clock.today())
    assert report.lines == {"alipay": 1, "wechat_pay": 1}
    assert report.clean and "no differences" in str(report)


async def test_every_kind_of_difference_is_reported(china_client, china_settings, fake_alipay, fake_wechatpay):
    fine, missing, unsettled, wrong, refunded_there = await bills_with_every_difference(
        china_client, fake_alipay, fake_wechatpay
    )

    report = await compare_bills(china_settings, clock.today())
    found = {(d.provider, d.kind, d.order_id) for d in report.differences}
    assert found == {
        ("alipay", "fulfilled_not_paid", missing.id),
        ("alipay", "paid_not_fulfilled", unsettled.id),
        ("alipay", "paid_not_fulfilled", None),  # a trade the register does not know
        ("wechat_pay", "amount_mismatch", wrong.id),
        ("wechat_pay", "refund_not_recorded", refunded_there.id),
    }
    mismatch = next(d for d in report.differences if d.kind == "amount_mismatch")
    assert (mismatch.bill_fen, mismatch.register_fen) == (399, 400)
    assert "¥3.99" in str(report) and "5 difference(s)" in str(report)
    assert fine.id not in {d.order_id for d in report.differences}


async def test_linpiao_bills_prints_the_report_and_fails_on_a_difference(
    china_client, china_settings, fake_alipay, fake_wechatpay, db
):
    await factories.quota(1000)
    await paid_with_alipay(china_client, fake_alipay, 1, "fine")
    fake_wechatpay.bill_lines.append({"state": "SUCCESS", "trade": "LP777_0000beef", "amount_fen": 100})
    env = {**os.environ, "LINPIAO_DATABASE_URL": db, **provider_env(china_settings)}
    done = subprocess.run(
        [*python_module("linpiao.cli"), "bills", "--date", clock.today().isoformat()],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "alipay 1 line(s), wechat_pay 1 line(s)" in done.stdout
    assert "wechat_pay paid_not_fulfilled: LP777_0000beef" in done.stdout


async def test_the_daily_job_logs_yesterdays_differences(china_client, china_settings, fake_wechatpay, caplog):
    from registry import jobs
    from shop.jobs import compare_yesterdays_bills

    assert jobs.spec("shop.bills").cron == "30 2 * * *"  # 10:30 in Beijing, when both bills are ready
    fake_wechatpay.bill_lines.append({"state": "SUCCESS", "trade": "LP888_0000beef", "amount_fen": 100})
    with caplog.at_level("WARNING", logger="linpiao.shop.jobs"):
        await compare_yesterdays_bills(jobs.JobContext(settings=china_settings, name="shop.bills"))
    assert "wechat_pay paid_not_fulfilled: LP888_0000beef" in caplog.text
