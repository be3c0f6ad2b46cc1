"""More than one machine (issue 12): two app servers — two uvicorn processes, as two machines behind nginx would
run — on one PostgreSQL database and one Redis share everything a user relies on. A staff session made on one
works on the other and a sign-out on either ends it on both; a login lock and the limit of failed certificate
look-ups count across both; buyers racing on both never oversell the last tickets of a quota; a job queued by one is
run by a worker started separately; and a file stored through one is downloaded from the other — each server (and
the worker) has a data folder of its own, and files live in S3-compatible object storage (moto's S3 server on
loopback, tests/fakes3.py), as on machines without a shared volume.

Needs PostgreSQL (``LINPIAO_TEST_DATABASE_URL``) and Redis (``LINPIAO_TEST_REDIS_URL``, by default 127.0.0.1:6379);
on the embedded SQLite default, or without Redis, it skips and says why. CI runs both."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from certificates.routes import VERIFY_FAILURES
from factories import images, make_batch
from factories import shop as factories
from linpiao import jobqueue
from planting.domain.models import RosterSubmission
from planting.shop import jobs as planting_jobs
from registry import jobs
from registry.jobs import JobStatus
from registry.models import Certificate, Holding, HoldingState, Order, OrderStatus, StaffRole, TicketKind
from registry.parcels import DOCUMENT_FOLDER, ParcelDocument
from registry.staff import ACCOUNT_MAX_FAILURES, create_staff
from shop.limits import TRUSTED
from tests.conftest import PG_URL
from tests.fakes3 import S3Server, objects, s3_bucket, s3_env, s3_server
from tests.linpiao.test_jobqueue import engine
from tests.live import free_port, start_server, start_worker, stop_server, stop_worker
from tests.planting.shop.test_jobs import PEOPLE, open_sale, paid_roster
from tests.services import drop_prefix, fresh_prefix, needs_redis

__all__ = ["engine", "s3_bucket", "s3_server"]  # fixtures (engine: this process reads procrastinate's jobs)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PG_URL.startswith(("postgres://", "postgresql://")),
        reason="two servers share one database only on PostgreSQL (SQLite is one file on one machine): "
        "set LINPIAO_TEST_DATABASE_URL=postgres://… (CI does)",
    ),
]

PASSWORD = "correct-horse-battery-staple"
SESSION_COOKIE = "linpiao_admin"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
UNKNOWN_CODE = "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"


@dataclass(frozen=True)
class Servers:
    a: str
    b: str
    env: dict[str, str]  # what both were started with (a worker started separately gets the same)
    bucket: str


@pytest.fixture
def servers(
    db: str, server_env: dict[str, str], s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> Iterator[Servers]:
    """Server A and server B: the same settings (database, secret, Redis, object storage), each its own process,
    port and data folder, no in-process job worker (`linpiao serve --no-worker`). Requests say who the client is
    through X-Forwarded-For, as nginx would, so one test can be many buyers."""
    redis_url = needs_redis()
    prefix = fresh_prefix()
    env = {
        **server_env,
        **s3_env(s3_server, s3_bucket),
        "LINPIAO_REDIS_URL": redis_url,
        "LINPIAO_REDIS_PREFIX": prefix,
        "LINPIAO_IN_PROCESS_WORKER": "0",
        "LINPIAO_TRUSTED_PROXIES": "127.0.0.1",
        # one organisation's roster of 120 people is one large order (tests/planting/shop/test_jobs.py)
        "LINPIAO_ORDER_SHARE_PERCENT": "100",
        "LINPIAO_MAX_PENDING_UNITS": "10000000",
    }

    def start(port: int) -> tuple[subprocess.Popen, str]:
        own = {"LINPIAO_BASE_URL": f"http://127.0.0.1:{port}", "LINPIAO_DATA_DIR": str(tmp_path / f"server-{port}")}
        return start_server({**env, **own}, port=port)

    with ThreadPoolExecutor(2) as pool:  # both start at once
        starting = [pool.submit(start, free_port()) for _ in range(2)]
        started = [future.result() for future in starting if future.exception() is None]
    try:
        if len(started) < 2:
            raise RuntimeError("a server did not start") from next(f.exception() for f in starting if f.exception())
        yield Servers(a=started[0][1], b=started[1][1], env=env, bucket=s3_bucket)
    finally:
        for process, _base in started:
            stop_server(process)
        drop_prefix(prefix, redis_url)


def browser(base: str, address: str = "203.0.113.9") -> httpx.AsyncClient:
    """A client of one server, with its own cookie jar, seen by the server as coming from ``address``."""
    return httpx.AsyncClient(base_url=base, headers={"x-forwarded-for": address}, timeout=30)


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/admin/login")
    return await client.post(
        "/admin/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)}
    )


async def test_a_session_made_on_one_server_works_on_the_other_until_signed_out_on_either(servers: Servers) -> None:
    await create_staff(username="clerk", role=StaffRole.ADMIN, password=PASSWORD)
    async with browser(servers.a) as on_a, browser(servers.b) as on_b:
        assert (await login(on_a, "clerk")).status_code == 303
        token = on_a.cookies[SESSION_COOKIE]
        on_b.cookies.set(SESSION_COOKIE, token)  # nginx sends the browser's next request to the other server
        page_b = await on_b.get("/admin/password")
        assert page_b.status_code == 200 and "clerk" in page_b.text
        # the session's CSRF token (from server A's page) is good on server B: sign out there
        csrf = csrf_of((await on_a.get("/admin/password")).text)
        assert (await on_b.post("/admin/logout", data={"csrf": csrf})).status_code == 303
        on_a.cookies.set(SESSION_COOKIE, token)  # even a browser that kept the cookie is signed out on A
        after = await on_a.get("/admin/password")
        assert after.status_code == 303 and after.headers["location"].startswith("/admin/login")


async def test_a_login_lock_made_on_one_server_holds_on_the_other(servers: Servers) -> None:
    await create_staff(username="clerk", role=StaffRole.ADMIN, password=PASSWORD)
    async with browser(servers.a) as on_a, browser(servers.b) as on_b:
        for attempt in range(ACCOUNT_MAX_FAILURES):  # wrong passwords, alternately on A and on B
            assert (await login(on_a if attempt % 2 else on_b, "clerk", "wrong")).status_code == 400
        for client in (on_a, on_b):  # locked on both, even with the right password
            refused = await login(client, "clerk")
            assert refused.status_code == 429 and SESSION_COOKIE not in client.cookies
    async with browser(servers.b, "198.51.100.7") as elsewhere:  # the lock is this account from that address
        assert (await login(elsewhere, "clerk")).status_code == 303


async def test_failed_lookups_on_both_servers_count_toward_one_limit(servers: Servers) -> None:
    """A guesser who spreads certificate codes over both servers gets the limit once, not once per server
    (the window is in Redis)."""
    url = f"/api/v1/certificates/{UNKNOWN_CODE}"
    async with browser(servers.a) as on_a, browser(servers.b) as on_b:
        for attempt in range(VERIFY_FAILURES):
            assert (await (on_a if attempt % 2 else on_b).get(url)).status_code == 404
        for client in (on_a, on_b):
            refused = await client.get(url)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
            assert 0 < int(refused.headers["retry-after"]) <= 600
        page = await on_b.get(f"/verify/case/{'案-1'}")  # case numbers share the limit
        assert page.status_code == 429
    async with browser(servers.a, "198.51.100.7") as someone_else:
        assert (await someone_else.get(url)).status_code == 404


async def test_buyers_racing_on_both_servers_sell_the_last_50_exactly(servers: Servers, settings) -> None:  # type: ignore[no-untyped-def]
    """300 buyers, each from an address of their own, half on each server and all at once, for the last 50
    tickets of a quota: exactly 50 orders, 50 distinct serial numbers, and nothing left."""
    batch = await factories.quota(1000, price_fen=500)
    await factories.order(settings, 950, buyer=TRUSTED)  # sold before the rush
    gate = asyncio.Semaphore(60)

    async def buy(i: int) -> tuple[str, int]:
        base = servers.a if i % 2 else servers.b
        async with gate, browser(base, f"10.1.{i // 250}.{i % 250 + 1}") as client:
            payload = {"quantity": 1, "purpose": "daily", "certificate_name": f"买家{i}"}
            return base, (await client.post("/api/v1/orders", json=payload)).status_code

    outcomes = await asyncio.gather(*(buy(i) for i in range(300)))
    codes = [code for _base, code in outcomes]
    assert codes.count(201) == 50 and codes.count(409) == 250, sorted(set(codes))
    assert {base for base, code in outcomes if code == 201} == {servers.a, servers.b}  # both servers sold
    reserved = await Holding.filter(batch_id=batch.id, state=HoldingState.RESERVED)
    serials = [n for h in reserved for n in range(h.first_no, h.last_no + 1)]
    assert len(serials) == len(set(serials)) == 1000
    assert await Order.filter(status=OrderStatus.PENDING, quantity=1).count() == 50
    for base in (servers.a, servers.b):
        async with browser(base) as client:
            assert (await client.get("/api/v1/quota")).json()["units_left"] == 0


async def test_a_job_queued_by_one_server_is_run_by_a_worker_started_separately(
    servers: Servers, engine: jobqueue.JobRuntime, tmp_path: Path
):
    """A roster of 120 people paid through server A: the payment's request queues the certificates (no server runs
    a worker). `linpiao worker`, started on its own with its own data folder, makes them and the zip, which it
    writes to the object storage; server B hands that very zip to the organisation."""
    await open_sale()
    async with browser(servers.a) as on_a:
        token, order = await paid_roster(on_a)
    assert await Certificate.filter(order_id=order.id).count() == 0
    assert [(v.name, v.status) for v in await jobs.list_jobs()] == [("planting.certify", JobStatus.QUEUED)]
    env = {**os.environ, **servers.env, "LINPIAO_DATA_DIR": str(tmp_path / "worker"), "LINPIAO_BASE_URL": servers.a}
    worker = start_worker(env, tmp_path)
    try:
        submission = await RosterSubmission.get(token=token)
        deadline = time.monotonic() + 180
        while True:
            rows = await planting_jobs.certificate_rows(submission)
            key = planting_jobs.zip_key(submission, rows)
            if len(rows) == PEOPLE and key in objects_of(servers):
                break
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            assert time.monotonic() < deadline, "the worker did not make the certificates and the zip"
            await asyncio.sleep(0.5)
    finally:
        output = stop_worker(worker)
    assert worker.returncode == 0, output
    stored = objects_of(servers)[key]
    async with browser(servers.b) as on_b:
        download = await on_b.get(f"/planting/org/{token}/certificates.zip")
    assert download.status_code == 200 and download.headers["x-total-count"] == str(PEOPLE)
    assert download.content == stored  # the worker's zip, from the bucket, through the other server
    assert not any((tmp_path / "worker").rglob("*.zip"))  # nothing on the worker's own disk


async def test_a_file_stored_through_one_server_is_downloaded_from_the_other(servers: Servers, tmp_path: Path):
    """A photo uploaded to server A is in the bucket, not on A's disk; server B serves it to staff, publishes it,
    and server A shows the public rendition — no shared volume."""
    batch = await make_batch(TicketKind.COLLECTIVE)
    await create_staff(username="forester", role=StaffRole.FORESTRY, password=PASSWORD)
    photo = images.jpeg_with_gps(800, 600)
    async with browser(servers.a) as on_a, browser(servers.b) as on_b:
        assert (await login(on_a, "forester")).status_code == 303
        on_b.cookies.set(SESSION_COOKIE, on_a.cookies[SESSION_COOKIE])
        csrf = csrf_of((await on_a.get("/admin/password")).text)
        parcel = f"/admin/parcels/{batch.parcel_id}"  # type: ignore[attr-defined]
        stored = await on_a.post(
            f"{parcel}/documents", data={"csrf": csrf, "title": "造林现场"}, files={"file": ("a.jpg", photo)}
        )
        assert stored.status_code == 303, stored.text
        document = await ParcelDocument.get()
        assert objects_of(servers)[f"{DOCUMENT_FOLDER}/{document.storage_name}"] == photo
        assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no server wrote it to its own disk
        download = await on_b.get(f"{parcel}/documents/{document.id}")
        assert download.status_code == 200 and download.content == photo
        published = await on_b.post(f"{parcel}/documents/{document.id}/publish", data={"csrf": csrf, "publish": "1"})
        assert published.status_code == 303
        public = await on_a.get(f"/forests/{batch.serial_prefix}/photos/{document.id}")
        assert public.status_code == 200 and public.headers["content-type"] == "image/jpeg"
        assert images.CAMERA.encode() not in public.content


def objects_of(servers: Servers) -> dict[str, bytes]:
    """The bucket's objects, read from the S3 server directly."""
    return objects(S3Server(servers.env["LINPIAO_S3_ENDPOINT"]), servers.bucket)
