"""The shop's periodic jobs (run by the job engine, :mod:`registry.jobs`; the planting ones are in
:mod:`planting.shop.jobs`).

* ``shop.expire_reservations`` (every minute): reservations past their expiry give their tickets back and their
  orders expire — checkout also does this before it finds too little stock, this keeps the shop's "tickets left"
  true between checkouts. Then each order purpose tidies what orders that ended unpaid left behind (a roster's
  rows go back to be paid again: :mod:`shop.purposes`), which no page does on a GET.
* ``shop.reconcile`` (every five minutes): ``linpiao reconcile`` on a schedule — orders pending for more than 30
  minutes are looked up at their payment provider and settled, refunds that failed are tried again.

* ``shop.bills`` (daily, 10:30 Beijing time): yesterday's Alipay and WeChat Pay bills compared with the register
  (:mod:`shop.bills`); differences are logged as warnings.

The first two are idempotent by nature: each acts only on what is still pending when it runs; the third only reads.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from kernel import clock
from registry import jobs, register
from shop import purposes
from shop.bills import compare_bills, direct_providers
from shop.reconcile import reconcile  # (the worker also loads planting.shop.jobs: its order purpose is registered)

log = logging.getLogger("linpiao.shop.jobs")


@jobs.task("shop.expire_reservations", cron="* * * * *", retries=2)
async def expire_reservations(ctx: jobs.JobContext) -> None:
    expired = await register.expire_reservations()
    if expired:
        log.info("released the reservations of %d expired order(s)", expired)
    for purpose in purposes.registered():
        if purpose.sweep is not None and (tidied := await purpose.sweep()):
            log.info("%s: tidied after %d order(s) that ended unpaid", purpose.name, tidied)


@jobs.task("shop.reconcile", cron="*/5 * * * *", retries=2)
async def reconcile_pending(ctx: jobs.JobContext) -> None:
    summary = await reconcile(ctx.settings)
    if summary.checked:
        log.info("%s", summary)


@jobs.task("shop.bills", cron="30 2 * * *", retries=3)
async def compare_yesterdays_bills(ctx: jobs.JobContext) -> None:
    """``linpiao bills`` every day at 10:30 Beijing time (02:30 UTC), when Alipay's and WeChat Pay's bills of the
    day before are ready: each difference with the register is logged as a warning for finance staff."""
    if not direct_providers(ctx.settings):
        return
    report = await compare_bills(ctx.settings, clock.today() - timedelta(days=1))
    if report.clean:
        log.info("%s", report)
    else:
        log.warning("%s", report)
