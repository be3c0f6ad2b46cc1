"""Staff accounts: argon2id hashes, throttled logins, session cookies, CSRF, password change (sessions in detail:
test_sessions.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kernel import clock
from registry import staff as staff_service
from registry.models import AuditLog, StaffRole, StaffUser
from registry.staff import LoginThrottle
from tests.admin.conftest import PASSWORD, csrf_of, login, make_staff


async def test_create_staff_hashes_with_argon2id(db):
    staff = await staff_service.create_staff(
        username="liu.issuer",
        role=StaffRole.ISSUER,
        password=PASSWORD,
        district_code="640104",
        display_name="刘发放",
    )
    assert staff.password_hash.startswith("$argon2id$")
    assert PASSWORD not in staff.password_hash
    assert await AuditLog.filter(action="staff.create", target="staff:liu.issuer").exists()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"role": StaffRole.ISSUER, "district_code": None}, staff_service.InvalidStaff),  # issuers need a district
        ({"role": StaffRole.ISSUER, "district_code": "110101"}, staff_service.InvalidStaff),  # not in the city
        ({"role": StaffRole.GREENING, "district_code": None}, staff_service.InvalidStaff),  # a district's office
        ({"role": StaffRole.FORESTRY, "district_code": "110101"}, staff_service.InvalidStaff),  # not in the city
        ({"role": StaffRole.FINANCE, "password": "short"}, staff_service.WeakPassword),
        ({"role": StaffRole.FINANCE, "username": "a b"}, staff_service.InvalidStaff),
    ],
)
async def test_create_staff_refusals(db, kwargs, error):
    values = {"username": "someone", "password": PASSWORD, **kwargs}
    with pytest.raises(error):
        await staff_service.create_staff(**values)
    assert await StaffUser.all().count() == 0


async def test_duplicate_username_is_refused(db):
    await make_staff(StaffRole.AUDITOR, "dup")
    with pytest.raises(staff_service.DuplicateUsername):
        await make_staff(StaffRole.FINANCE, "dup")


async def test_only_issuers_greening_offices_and_forestry_have_a_district(db):
    for role in (StaffRole.LANDSCAPING, StaffRole.FINANCE, StaffRole.AUDITOR, StaffRole.ADMIN):
        staff = await make_staff(role, f"no-district-{role}", district="640104")
        assert staff.district_code is None
    city = await make_staff(StaffRole.FORESTRY, "forest")  # the city forestry department
    county = await make_staff(StaffRole.FORESTRY, "forest-xixia", district="640105")  # 西夏区's
    greening = await make_staff(StaffRole.GREENING, "greening-xixia", district="640105")
    assert (city.district_code, county.district_code, greening.district_code) == (None, "640105", "640105")


async def test_the_administrator_gives_a_forestry_account_its_district(sign_in):
    admin = await sign_in(StaffRole.ADMIN, "admin-districts")
    page = await admin.get("/admin/staff")
    assert 'value="greening"' in page.text and "区绿化委员会办公室" in page.text
    response = await admin.post(
        "/admin/staff",
        {"username": "lin.xixia", "role": "forestry", "district_code": "640105", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert (await StaffUser.get(username="lin.xixia")).district_code == "640105"
    listing = await admin.get("/admin/staff")
    assert "林草主管部门" in listing.text and "西夏区" in listing.text


async def test_failures_lock_the_account_only_for_the_address_that_failed(db):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    now = clock.now()
    for _ in range(staff_service.ACCOUNT_MAX_FAILURES):
        with pytest.raises(staff_service.LoginFailed):
            await staff_service.authenticate("auditor1", "wrong-password", ip="10.0.0.1", now=now)
    with pytest.raises(staff_service.LoginLocked):  # even the right password, from the guessing address
        await staff_service.authenticate("auditor1", PASSWORD, ip="10.0.0.1", now=now)
    # the clerk at another desk is not locked out by someone else's guesses
    staff = await staff_service.authenticate("auditor1", PASSWORD, ip="10.0.0.2", now=now)
    assert staff.failed_logins == 0 and staff.locked_until is None
    later = now + staff_service.LOCK_BASE + timedelta(seconds=1)
    assert await staff_service.authenticate("auditor1", PASSWORD, ip="10.0.0.1", now=later)
    assert await AuditLog.filter(action="login.failed").count() == staff_service.ACCOUNT_MAX_FAILURES
    assert await AuditLog.filter(action="login.locked", ip="10.0.0.1").count() == 1


async def test_forty_parallel_bad_logins_lock_the_address_and_spare_the_others(db):
    await make_staff(StaffRole.ADMIN, "admin")
    now = clock.now()
    attempts = [staff_service.authenticate("admin", f"guess-{n}", ip="203.0.113.7", now=now) for n in range(40)]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, staff_service.LoginFailed)]
    refused = [o for o in outcomes if isinstance(o, staff_service.LoginLocked)]  # arrived once the lock was on
    assert len(failed) + len(refused) == 40 and len(failed) >= staff_service.ADDRESS_MAX_FAILURES
    # every failure counted (no lost updates), whatever the database
    address = await LoginThrottle.get(key="ip:203.0.113.7")
    assert address.failures == len(failed) and address.locked_until is not None and address.locked_until > now
    assert await AuditLog.filter(action="login.failed").count() == len(failed)
    with pytest.raises(staff_service.LoginLocked):
        await staff_service.authenticate("admin", PASSWORD, ip="203.0.113.7", now=now)
    assert (await staff_service.authenticate("admin", PASSWORD, ip="198.51.100.4", now=now)).username == "admin"


async def test_the_lock_doubles_with_every_further_failure(db):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    moment = clock.now()

    async def fail() -> None:
        with pytest.raises(staff_service.LoginFailed):
            await staff_service.authenticate("auditor1", "wrong-password", ip="10.0.0.9", now=moment)

    async def locked_at(at: datetime) -> bool:
        try:
            await staff_service.authenticate("auditor1", PASSWORD, ip="10.0.0.9", now=at)
        except staff_service.LoginLocked:
            return True
        raise AssertionError("signed in: a successful login would reset the count")

    for _ in range(staff_service.ACCOUNT_MAX_FAILURES):
        await fail()
    second = timedelta(seconds=1)
    for n in range(4):  # each time the lock runs out, one more wrong guess locks for twice as long
        length = staff_service.LOCK_BASE * 2**n
        assert await locked_at(moment + length - second)
        moment += length + second
        await fail()  # LoginFailed, not LoginLocked: the lock had run out
    assert staff_service.lock_length(10_000, 5) == staff_service.LOCK_MAX
    assert staff_service.lock_length(4, 5) is None


async def test_failures_are_forgotten_after_a_quiet_day(db):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    now = clock.now()
    for _ in range(staff_service.ACCOUNT_MAX_FAILURES - 1):
        with pytest.raises(staff_service.LoginFailed):
            await staff_service.authenticate("auditor1", "wrong-password", ip="10.0.0.3", now=now)
    later = now + staff_service.FAILURE_MEMORY + timedelta(minutes=1)
    with pytest.raises(staff_service.LoginFailed):  # the count starts over: not the 5th failure
        await staff_service.authenticate("auditor1", "wrong-password", ip="10.0.0.3", now=later)
    assert await staff_service.authenticate("auditor1", PASSWORD, ip="10.0.0.3", now=later)


async def test_unknown_names_are_counted_like_known_ones(db):
    """A lock must not tell a guesser which names are accounts."""
    now = clock.now()
    for _ in range(staff_service.ACCOUNT_MAX_FAILURES):
        with pytest.raises(staff_service.LoginFailed):
            await staff_service.authenticate("nobody", "wrong-password", ip="10.0.0.5", now=now)
    with pytest.raises(staff_service.LoginLocked):
        await staff_service.authenticate("nobody", "wrong-password", ip="10.0.0.5", now=now)


async def test_password_hashing_runs_off_the_event_loop(db, monkeypatch):
    """Four logins whose hash takes 0.3 s each: a heartbeat on the loop keeps ticking meanwhile, and every hash
    (the dummy one for an unknown name too) runs in a worker thread."""
    await make_staff(StaffRole.AUDITOR, "auditor1")
    real = staff_service._hasher
    threads: list[str] = []

    class SlowHasher:
        def verify(self, stored: str, password: str) -> bool:
            threads.append(threading.current_thread().name)
            time.sleep(0.3)  # like argon2, blocks its thread (and releases the GIL)
            return real.verify(stored, password)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    monkeypatch.setattr(staff_service, "_hasher", SlowHasher())
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    names = ["auditor1", "auditor1", "nobody", "auditor1"]
    outcomes = await asyncio.gather(
        *(staff_service.authenticate(n, "wrong-password", ip=f"10.1.0.{i}") for i, n in enumerate(names)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    stop.set()
    await beat
    assert all(isinstance(o, staff_service.LoginFailed) for o in outcomes)
    assert len(threads) == 4 and threading.main_thread().name not in threads
    # on the loop the heartbeat would stall for the whole 1.2 s of hashing: ~0 ticks; off it, most of them
    assert ticks >= 0.5 * elapsed / 0.01, (ticks, elapsed)


async def test_an_address_locks_after_failures_across_many_accounts(db):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    now = datetime.now(UTC)
    for n in range(staff_service.ADDRESS_MAX_FAILURES):
        with pytest.raises(staff_service.LoginFailed):
            await staff_service.authenticate(f"guess{n}", "password123", ip="203.0.113.9", now=now)
    with pytest.raises(staff_service.LoginLocked):
        await staff_service.authenticate("auditor1", PASSWORD, ip="203.0.113.9", now=now)
    assert await staff_service.authenticate("auditor1", PASSWORD, ip="198.51.100.1", now=now)


async def test_deactivated_accounts_cannot_sign_in(db):
    staff = await make_staff(StaffRole.AUDITOR, "gone")
    staff.is_active = False
    await staff.save()
    with pytest.raises(staff_service.LoginFailed):
        await staff_service.authenticate("gone", PASSWORD, ip="10.0.0.1")


async def test_login_sets_an_httponly_lax_cookie(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    response = await login(client, "auditor1")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("linpiao_admin="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # served over plain http in the test
    assert (await client.get("/admin/")).status_code == 200


async def test_cookie_is_secure_over_https(db, settings):
    from linpiao.app import create_app

    app = create_app(settings.with_(base_url="https://linpiao.example"), manage_db=False)
    await make_staff(StaffRole.AUDITOR, "auditor1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as http:
        response = await login(http, "auditor1")
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("linpiao_admin="))
    assert "Secure" in cookie


async def test_wrong_password_shows_a_chinese_error_and_no_session(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    response = await login(client, "auditor1", "not-the-password")
    assert response.status_code == 400
    assert "用户名或密码错误" in response.text
    assert (await client.get("/admin/")).status_code == 303


async def test_login_form_needs_its_csrf_token(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    await client.get("/admin/login")
    response = await client.post("/admin/login", data={"username": "auditor1", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 403
    assert not await AuditLog.filter(action="login.ok").exists()


async def test_login_is_throttled_over_http(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    for _ in range(staff_service.ACCOUNT_MAX_FAILURES):
        assert (await login(client, "auditor1", "wrong-password")).status_code == 400
    response = await login(client, "auditor1")
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text


async def test_next_only_goes_inside_the_back_office(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    page = await client.get("/admin/login?next=https://evil.example/")
    response = await client.post(
        "/admin/login",
        data={
            "username": "auditor1",
            "password": PASSWORD,
            "csrf": csrf_of(page.text),
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/admin/"


async def test_session_ends_after_idle_timeout(client, settings):
    with clock.use(clock.FixedClock(datetime.now(UTC))) as fixed:
        await make_staff(StaffRole.AUDITOR, "auditor1")
        await login(client, "auditor1")
        assert (await client.get("/admin/")).status_code == 200
        fixed.advance(timedelta(minutes=settings.admin_idle_minutes, seconds=5))
        response = await client.get("/admin/")
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")


async def test_a_tampered_cookie_is_no_session(client):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    await login(client, "auditor1")
    value = client.cookies.get("linpiao_admin")
    tampered = value[:-3] + ("abd" if value.endswith("abc") else "abc")  # never the signature itself
    client.cookies.set("linpiao_admin", tampered, path="/admin")
    assert (await client.get("/admin/")).status_code == 303


async def test_logout_ends_the_session(sign_in):
    staff = await sign_in(StaffRole.AUDITOR)
    response = await staff.post("/admin/logout")
    assert response.status_code == 303
    assert (await staff.get("/admin/")).status_code == 303
    assert await AuditLog.filter(action="logout").exists()


async def test_csrf_token_is_required_on_state_changing_forms(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    data = {"username": "new.user", "role": "auditor", "password": PASSWORD}
    missing = await admin.client.post("/admin/staff", data=data)
    wrong = await admin.client.post("/admin/staff", data={**data, "csrf": "forged"})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert not await StaffUser.filter(username="new.user").exists()
    assert (await admin.post("/admin/staff", data)).status_code == 303
    assert await StaffUser.filter(username="new.user").exists()


async def test_password_change_ends_other_sessions(sign_in, app):
    staff = await sign_in(StaffRole.AUDITOR)
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await login(other, staff.user.username)
        assert (await other.get("/admin/")).status_code == 200
        wrong = await staff.post(
            "/admin/password",
            {
                "current_password": "nope-nope-nope",
                "new_password": "another-long-one",
                "repeat_password": "another-long-one",
            },
        )
        assert wrong.status_code == 400
        response = await staff.post(
            "/admin/password",
            {
                "current_password": PASSWORD,
                "new_password": "another-long-one",
                "repeat_password": "another-long-one",
            },
        )
        assert response.status_code == 303
        assert (await staff.get("/admin/")).status_code == 200  # this session goes on
        assert (await other.get("/admin/")).status_code == 303  # the other one ended
    assert await staff_service.authenticate(staff.user.username, "another-long-one", ip="x")


async def test_administrator_creates_and_deactivates_accounts(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    response = await admin.post(
        "/admin/staff",
        {
            "username": "wang.issuer",
            "role": "issuer",
            "district_code": "640121",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 303
    created = await StaffUser.get(username="wang.issuer")
    assert created.district_code == "640121"
    refused = await admin.post("/admin/staff", {"username": "x.issuer", "role": "issuer", "password": PASSWORD})
    assert refused.status_code == 400 and "用户名、角色或辖区无效" in refused.text
    assert (await admin.post(f"/admin/staff/{created.id}/toggle")).status_code == 303
    await created.refresh_from_db()
    assert not created.is_active
    assert (await admin.post(f"/admin/staff/{admin.user.id}/toggle")).status_code == 400  # not oneself
    actions = set(await AuditLog.filter(username=admin.user.username).values_list("action", flat=True))
    assert {"staff.create", "staff.deactivate", "login.ok"} <= actions


async def test_deactivation_ends_a_running_session(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    victim = await sign_in(StaffRole.AUDITOR)
    await admin.post(f"/admin/staff/{victim.user.id}/toggle")
    assert (await victim.get("/admin/")).status_code == 303


async def test_audit_log_is_filterable(sign_in):
    auditor = await sign_in(StaffRole.AUDITOR)
    await sign_in(StaffRole.FINANCE)
    page = await auditor.get("/admin/audit", params={"username": "finance-user"})
    assert page.status_code == 200
    assert "finance-user" in page.text and "login.ok" in page.text
    assert "auditor-user" not in page.text.split("audit-table")[1]
    page = await auditor.get("/admin/audit", params={"action": "staff.create", "date_from": "2000-01-01"})
    assert "login.ok" not in page.text.split("audit-table")[1]
    assert "staff.create" in page.text
