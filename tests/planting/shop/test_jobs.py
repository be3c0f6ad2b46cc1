"""A large roster's certificates are made by a background job (planting/shop/jobs.py): the payment event makes
none of them, the management page shows the progress and refreshes itself, the worker makes each person's
certificate exactly once — after a failure, after a crash half-way, when run twice — and builds the zip."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from factories import resident_id
from kernel import clock
from planting.domain.models import PlantingPurchase, RosterSubmission
from planting.domain.rosters import allot_serials
from planting.domain.rules import set_rule
from planting.shop import jobs as planting_jobs
from registry import jobs
from registry.jobs import Job, JobFailure, JobStatus
from registry.models import Certificate, Holding, HoldingState, Order, OrderStatus, RegisterEntry
from registry.quotas import open_quota
from shop.orders import EventKind, PaymentEvent, apply_event
from tests.planting.shop.test_pages import YEAR, roster_csv, upload

PEOPLE = 120  # more than INLINE_CERTIFICATES (50): made by the job, in chunks of 50


def big_roster(people: int = PEOPLE) -> bytes:
    return roster_csv(*[f"职工{i},{resident_id('640121', '19800101', seq=i)},E{i:04d}," for i in range(people)])


async def open_sale() -> None:
    """A carbon quota on sale and the year's tree-planting rule: 3 trees a person, 10 tickets a tree."""
    await open_quota(units=100_000)
    await set_rule(
        year=YEAR, tickets_per_tree=10, trees_per_duty=3, receiving_body="银川市绿化基金会", source="2026 年第 1 号通知"
    )


@pytest.fixture
async def on_sale(db):  # type: ignore[no-untyped-def]
    await open_sale()


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The shop's inventory limits (shop/limits.py) made wide enough for one organisation's large roster."""
    return settings.with_(order_share_percent=100, max_pending_units=10_000_000)


@pytest.fixture
def fixed() -> Iterator[clock.FixedClock]:
    with clock.use(clock.FixedClock(datetime.now(UTC))) as moved:
        assert isinstance(moved, clock.FixedClock)
        yield moved


def worker(settings) -> jobs.Worker:  # type: ignore[no-untyped-def]
    return jobs.Worker(settings, periodic=False)


async def paid_roster(client) -> tuple[str, Order]:  # type: ignore[no-untyped-def]
    """Upload a roster of PEOPLE, pay through the demo page; returns the roster's token and its order."""
    response = await upload(client, big_roster())
    assert response.status_code == 303, response.text
    token = response.headers["location"].rsplit("/", 1)[1]
    pay = await client.post(f"/planting/org/{token}/pay")
    path = pay.headers["location"].removeprefix("http://testserver")
    assert (await client.get(path)).status_code == 200
    confirmed = await client.post(path, data={"action": "confirm"})  # the payment event's request
    assert confirmed.status_code == 303
    return token, await Order.get()


async def certificates_of(order: Order) -> list[Certificate]:
    return await Certificate.filter(order_id=order.id).order_by("id")


async def assert_each_person_once(order: Order) -> None:
    """Every person has one certificate, with their own serials; no certificate without a person."""
    purchases = await PlantingPurchase.filter(order_id=order.id).order_by("id")
    made = await certificates_of(order)
    assert len(made) == len(purchases) == PEOPLE
    assert sorted(p.certificate_id for p in purchases) == sorted(c.id for c in made)  # type: ignore[attr-defined]
    entry = await RegisterEntry.get(id=order.details["certificates"]["entry"])
    shares = allot_serials(entry.ranges, [int(p.tickets) for p in purchases])
    by_id = {c.id: c for c in made}
    quota = await entry.batch
    for purchase, share in zip(purchases, shares, strict=True):
        certificate = by_id[purchase.certificate_id]  # type: ignore[attr-defined]
        assert certificate.serial_ranges == "\n".join(quota.serial_range(a, b) for a, b in share)
        assert certificate.holder_name == purchase.name


async def test_the_payment_event_retires_at_once_and_leaves_the_certificates_to_the_job(
    client, on_sale, settings, fixed
):
    token, order = await paid_roster(client)
    # the request did the register's part in its transaction ...
    assert order.status is OrderStatus.FULFILLED
    retired = await Holding.filter(order_id=order.id, state=HoldingState.RETIRED)
    assert sum(h.quantity for h in retired) == order.quantity == PEOPLE * 3 * 10
    # ... and generated no certificate: one job is queued for them
    assert await Certificate.filter(order_id=order.id).count() == 0
    [job] = await Job.filter(name="planting.certify")
    assert job.status is JobStatus.QUEUED and job.args == {"order_id": order.id}
    assert order.details["certificates"]["total"] == PEOPLE

    page = await client.get(f"/planting/org/{token}")
    assert 'id="certificate-progress"' in page.text and "已生成 0 / 120 张证书" in page.text
    assert '<meta http-equiv="refresh" content="5">' in page.text  # no script: the page reloads itself
    english = await client.get(f"/planting/org/{token}?lang=en")
    assert "0 of 120 certificates made" in english.text
    await client.get(f"/planting/org/{token}?lang=zh_CN")

    assert await worker(settings).run_due() == 2  # the certificates, then the zip
    await assert_each_person_once(order)
    page = await client.get(f"/planting/org/{token}")
    assert 'id="certificate-progress"' not in page.text and 'http-equiv="refresh"' not in page.text
    assert "下载全部证书（120 份，ZIP）" in page.text

    # the zip was built by the job: the download is the stored file, every PDF rendered once
    submission = await RosterSubmission.get(token=token)
    rows = await planting_jobs.certificate_rows(submission)
    stored = settings.data_dir / planting_jobs.zip_key(submission, rows)  # the default storage: the data folder
    assert stored.is_file()
    assert await Certificate.filter(order_id=order.id, pdf__isnull=True).count() == 0
    download = await client.get(f"/planting/org/{token}/certificates.zip")
    assert download.status_code == 200 and download.headers["x-total-count"] == "120"
    assert download.content == stored.read_bytes()
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert len(names) == 121 and names[0] == "清单.csv"


async def test_running_the_job_again_or_replaying_the_payment_makes_nothing_twice(client, on_sale, settings, fixed):
    _token, order = await paid_roster(client)
    await worker(settings).run_due()
    first = [c.code for c in await certificates_of(order)]
    # the provider sends the payment event again, and someone queues the job again
    replay = PaymentEvent("demo", f"demo:{order.id}:paid", EventKind.PAID, amount_fen=int(order.amount_fen))
    await apply_event(order.id, replay)
    assert await jobs.defer("planting.certify", order_id=order.id) is not None
    await worker(settings).run_due()
    # two runs at once (a retry racing a slow worker) take turns chunk by chunk
    await asyncio.gather(planting_jobs.certify_order(order.id), planting_jobs.certify_order(order.id))
    assert [c.code for c in await certificates_of(order)] == first
    await assert_each_person_once(order)


async def test_a_crash_half_way_resumes_without_duplicates(client, on_sale, settings, fixed, monkeypatch):
    token, order = await paid_roster(client)
    issue = planting_jobs.certify_purchase
    made = 0

    async def killed_after_60(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal made
        certificate = await issue(*args, **kwargs)
        made += 1
        if made == 60:  # the worker dies in the middle of its second chunk (10 of 50 made, not committed)
            asyncio.current_task().cancel()  # type: ignore[union-attr]
        return certificate

    monkeypatch.setattr(planting_jobs, "certify_purchase", killed_after_60)
    dying = asyncio.create_task(worker(settings).run_due())
    with pytest.raises(asyncio.CancelledError):
        await dying
    [job] = await Job.filter(name="planting.certify")
    assert job.status is JobStatus.RUNNING  # the dead worker never said otherwise
    assert await Certificate.filter(order_id=order.id).count() == 50  # the first chunk only: the second rolled back
    page = await client.get(f"/planting/org/{token}")
    assert "已生成 50 / 120 张证书" in page.text

    monkeypatch.setattr(planting_jobs, "certify_purchase", issue)
    assert await worker(settings).run_due() == 0  # its heartbeat is fresh: the worker may still be alive
    fixed.advance(timedelta(minutes=2))  # no heartbeat for two minutes: it is dead
    assert await worker(settings).run_due() == 2
    job = await Job.get(id=job.id)
    assert job.status is JobStatus.DONE and job.attempts == 2
    assert "stopped during the job" in (await JobFailure.get(job_id=job.id)).error
    await assert_each_person_once(order)


async def test_a_failing_job_is_retried_with_back_off(client, on_sale, settings, fixed, monkeypatch):
    _token, order = await paid_roster(client)
    chunk = planting_jobs._certify_chunk
    failures = [RuntimeError("database is locked")]

    async def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return await chunk(*args, **kwargs)

    monkeypatch.setattr(planting_jobs, "_certify_chunk", flaky)
    assert await worker(settings).run_due() == 1
    [job] = await Job.filter(name="planting.certify")
    assert job.status is JobStatus.QUEUED and job.attempts == 1
    assert job.run_after == clock.now() + timedelta(seconds=2)
    [view] = [v for v in await jobs.list_jobs() if v.id == job.id]
    assert "database is locked" in view.error
    assert await worker(settings).run_due() == 0  # not before its back-off
    fixed.advance(timedelta(seconds=2))
    assert await worker(settings).run_due() == 2
    await assert_each_person_once(order)


async def test_a_refund_before_the_job_runs_leaves_no_certificate(client, on_sale, settings, fixed):
    token, order = await paid_roster(client)
    await apply_event(order.id, PaymentEvent("demo", "refund-big", EventKind.REFUNDED))
    assert await worker(settings).run_due() == 1
    assert await Certificate.filter(order_id=order.id).count() == 0
    page = await client.get(f"/planting/org/{token}")
    assert 'id="certificate-progress"' not in page.text


async def test_the_sweep_queues_certificates_that_were_never_queued(client, on_sale, settings, fixed):
    _token, order = await paid_roster(client)
    await Job.all().delete()  # the process stopped between the payment's commit and queueing the job
    assert await planting_jobs.sweep() == 1
    assert await planting_jobs.sweep() == 1  # queued once: the lock keeps a second one out
    assert await Job.filter(name="planting.certify").count() == 1
    await worker(settings).run_due()
    await assert_each_person_once(order)
    assert await planting_jobs.sweep() == 0
