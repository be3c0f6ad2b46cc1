"""Back-office sessions are server-side records: the cookie holds only an opaque id, whose hash is all the
database keeps; sign-out, password change or reset and deactivation end them; idle and absolute limits hold."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admin.session import SESSION_COOKIE, csrf_token
from kernel import clock
from registry import sessions
from registry.models import AuditLog, StaffRole
from registry.sessions import StaffSession
from tests.admin.conftest import PASSWORD, Staff, csrf_of, login, make_staff

NEW_PASSWORD = "another-long-password"
IDLE = timedelta(minutes=30)  # the settings' defaults (LINPIAO_ADMIN_IDLE_MINUTES, LINPIAO_ADMIN_SESSION_HOURS)
LIFETIME = timedelta(hours=12)


class Copy:
    """Someone holding a copy of a session cookie, sending it from a browser of their own."""

    def __init__(self, app, cookie: str) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.cookie = cookie

    async def _send(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = {"cookie": f"{SESSION_COOKIE}={self.cookie}"}
            return await http.request(method, url, data=data, headers=headers)

    async def get(self, url: str) -> httpx.Response:
        return await self._send("GET", url)

    async def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return await self._send("POST", url, data)

    async def works(self) -> bool:
        response = await self.get("/admin/")
        assert response.status_code in (200, 303), response.status_code
        return response.status_code == 200


async def another_browser(app, staff: Staff) -> Staff:  # type: ignore[no-untyped-def]
    """The same account signed in from a second browser (its own cookie jar)."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    return await Staff(http, staff.user).sign_in()


def cookie_of(staff: Staff) -> str:
    value = staff.client.cookies.get(SESSION_COOKIE)
    assert value
    return value


async def test_the_cookie_holds_only_an_opaque_random_id(sign_in, client):
    staff = await make_staff(StaffRole.AUDITOR, "auditor1")
    response = await login(client, "auditor1")
    set_cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}="))
    assert f"Max-Age={int(LIFETIME.total_seconds())}" in set_cookie  # the browser drops it at the absolute limit
    value = client.cookies.get(SESSION_COOKIE)
    assert sessions.is_token(value)
    assert len(base64.urlsafe_b64decode(value + "=")) == 32  # 256 random bits, nothing else
    assert "auditor1" not in value and "." not in value  # no name, no signed payload
    # a second sign-in of the same account gets an unrelated id
    other = await sign_in(StaffRole.AUDITOR, "auditor2")
    assert cookie_of(other) != value
    # pages never rewrite the cookie: the absolute limit cannot be pushed back by activity
    page = await client.get("/admin/")
    assert page.status_code == 200 and not page.headers.get_list("set-cookie")
    row = await StaffSession.get(staff_id=staff.id)
    assert row.expires_at == row.created_at + LIFETIME


async def test_the_database_keeps_only_the_hash_of_the_id(sign_in, app):
    staff = await sign_in(StaffRole.AUDITOR)
    token = cookie_of(staff)
    row = await StaffSession.get(staff_id=staff.user.id)
    assert row.id == sessions.hash_token(token) and len(row.id) == 64
    stored = await StaffSession.filter(staff_id=staff.user.id).values()
    assert all(token not in str(value) for value in stored[0].values())
    # what a database dump yields is no cookie: the stored id, sent as a cookie, opens nothing
    assert not await Copy(app, row.id).works()
    assert await Copy(app, token).works()


@pytest.mark.parametrize(
    "forged",
    [
        secrets.token_urlsafe(32),  # the right shape, but no session
        "A" * 43,
        "x" * 2000,
        "1",
        "eyJ1IjoxLCJjIjoiYWJjIn0.ZZZ.sig",  # what the old signed cookies looked like
        "../../etc/passwd",
    ],
)
async def test_a_forged_or_random_id_is_refused(sign_in, app, forged):
    staff = await sign_in(StaffRole.ADMIN)
    copy = Copy(app, forged)
    response = await copy.get("/admin/staff")
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    refused = await copy.post("/admin/staff", {"csrf": staff.csrf, "username": "x.intruder", "role": "auditor"})
    assert refused.status_code == 401


async def test_a_copied_cookie_stops_working_after_logout(sign_in, app):
    staff = await sign_in(StaffRole.AUDITOR)
    copy = Copy(app, cookie_of(staff))
    assert await copy.works()
    assert (await staff.post("/admin/logout")).status_code == 303
    assert not await copy.works()
    assert (await copy.post("/admin/password", {"csrf": staff.csrf})).status_code == 401
    row = await StaffSession.get(staff_id=staff.user.id)
    assert row.revoked_at is not None and row.revoked_reason == sessions.RevokeReason.LOGOUT
    assert await AuditLog.filter(action="logout", staff_id=staff.user.id).exists()


async def test_a_copied_cookie_stops_working_after_a_password_change(sign_in, app):
    staff = await sign_in(StaffRole.AUDITOR)
    elsewhere = await sign_in(StaffRole.FINANCE, "finance1")  # another account's session is not touched
    copy = Copy(app, cookie_of(staff))
    assert await copy.works()
    old_csrf = staff.csrf
    response = await staff.post(
        "/admin/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert not await copy.works()  # the copy of the very session that made the change ends too
    assert (await staff.get("/admin/")).status_code == 200  # this browser goes on in a fresh session
    assert cookie_of(staff) != copy.cookie
    assert (await staff.client.post("/admin/logout", data={"csrf": old_csrf})).status_code == 403  # new token
    assert (await elsewhere.get("/admin/")).status_code == 200
    assert await StaffSession.filter(staff_id=staff.user.id, revoked_reason=sessions.RevokeReason.PASSWORD).exists()


async def test_an_administrator_reset_ends_every_session_of_the_account(sign_in, app):
    admin = await sign_in(StaffRole.ADMIN)
    victim = await sign_in(StaffRole.AUDITOR)
    copy = Copy(app, cookie_of(victim))
    assert await copy.works()
    weak = await admin.post(f"/admin/staff/{victim.user.id}/password", {"new_password": "short"})
    assert weak.status_code == 400 and "密码至少需要10个字符" in weak.text
    assert await copy.works()  # a refused reset ends nothing
    response = await admin.post(f"/admin/staff/{victim.user.id}/password", {"new_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert not await copy.works() and (await victim.get("/admin/")).status_code == 303
    assert (await admin.get("/admin/staff")).status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as fresh:
        assert (await login(fresh, victim.user.username, NEW_PASSWORD)).status_code == 303
    audit = await AuditLog.get(action="staff.password_reset")
    assert audit.details == {"sessions_ended": 1} and audit.target == f"staff:{victim.user.username}"
    # one's own password is changed with the current one, not reset
    own = await admin.post(f"/admin/staff/{admin.user.id}/password", {"new_password": NEW_PASSWORD})
    assert own.status_code == 400 and "修改密码" in own.text


async def test_a_copied_cookie_stops_working_after_deactivation(sign_in, app):
    admin = await sign_in(StaffRole.ADMIN)
    victim = await sign_in(StaffRole.AUDITOR)
    copy = Copy(app, cookie_of(victim))
    assert await copy.works()
    assert (await admin.post(f"/admin/staff/{victim.user.id}/toggle")).status_code == 303
    assert not await copy.works()
    assert await StaffSession.filter(staff_id=victim.user.id, revoked_reason=sessions.RevokeReason.DEACTIVATED).exists()
    # reactivating the account does not bring the old session back
    assert (await admin.post(f"/admin/staff/{victim.user.id}/toggle")).status_code == 303
    assert not await copy.works()


async def test_an_active_session_ends_at_its_absolute_limit(sign_in, app):
    start = datetime.now(UTC).replace(microsecond=0)
    with clock.use(clock.FixedClock(start)) as fixed:
        staff = await sign_in(StaffRole.AUDITOR)
        copy = Copy(app, cookie_of(staff))
        step = timedelta(minutes=5)  # a clerk who clicks every five minutes never goes idle
        while clock.now() + step < start + LIFETIME:
            fixed.advance(step)
            assert (await staff.get("/admin/")).status_code == 200, clock.now() - start
        assert await copy.works()
        fixed.set(start + LIFETIME)
        response = await staff.get("/admin/")
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
        assert not await copy.works()
        assert (await staff.post("/admin/logout")).status_code == 401


async def test_a_session_ends_after_the_idle_limit(sign_in, app):
    start = datetime.now(UTC).replace(microsecond=0)
    with clock.use(clock.FixedClock(start)) as fixed:
        staff = await sign_in(StaffRole.AUDITOR)
        fixed.advance(IDLE - timedelta(minutes=1))
        assert (await staff.get("/admin/")).status_code == 200  # the idle clock restarts here
        fixed.advance(IDLE - timedelta(minutes=1))
        assert (await staff.get("/admin/")).status_code == 200
        fixed.advance(IDLE)
        assert (await staff.get("/admin/")).status_code == 303
        fixed.advance(timedelta(minutes=1))  # and it stays ended: a late request does not revive it
        assert (await staff.get("/admin/")).status_code == 303


async def test_last_seen_moves_at_most_once_a_minute(sign_in):
    start = datetime.now(UTC).replace(microsecond=0)
    with clock.use(clock.FixedClock(start)) as fixed:
        staff = await sign_in(StaffRole.AUDITOR)
        for _ in range(5):  # five requests within the minute: no write
            fixed.advance(timedelta(seconds=10))
            assert (await staff.get("/admin/")).status_code == 200
        row = await StaffSession.get(staff_id=staff.user.id)
        assert row.last_seen_at == start
        fixed.advance(timedelta(seconds=10))  # a minute after sign-in
        assert (await staff.get("/admin/")).status_code == 200
        row = await StaffSession.get(staff_id=staff.user.id)
        assert row.last_seen_at == start + timedelta(minutes=1)


async def test_the_csrf_token_belongs_to_one_session(sign_in, app):
    first = await sign_in(StaffRole.ADMIN)
    second = await another_browser(app, first)
    assert first.csrf != second.csrf
    assert first.csrf == csrf_token(app.state.settings, cookie_of(first))
    data = {"username": "new.user", "role": "auditor", "password": PASSWORD}
    crossed = await first.client.post("/admin/staff", data={**data, "csrf": second.csrf})
    assert crossed.status_code == 403
    assert (await first.post("/admin/staff", data)).status_code == 303


async def test_signing_in_again_in_the_same_browser_ends_the_old_session(client, app):
    await make_staff(StaffRole.AUDITOR, "auditor1")
    await make_staff(StaffRole.FINANCE, "finance1")
    await login(client, "auditor1")
    copy = Copy(app, client.cookies.get(SESSION_COOKIE))
    assert await copy.works()
    client.cookies.delete(SESSION_COOKIE)  # the login form is only shown to a browser without a live session
    form = await client.get("/admin/login")
    client.cookies.set(SESSION_COOKIE, copy.cookie, path="/admin")  # the old session's cookie is sent along
    page = await client.post(
        "/admin/login", data={"username": "finance1", "password": PASSWORD, "csrf": csrf_of(form.text)}
    )
    assert page.status_code == 303 and page.headers["location"] == "/admin/"
    assert not await copy.works()
    assert await StaffSession.filter(revoked_reason=sessions.RevokeReason.REPLACED).count() == 1


async def test_my_sessions_are_listed_and_can_be_ended(sign_in, app):
    staff = await sign_in(StaffRole.ISSUER)
    laptop = await another_browser(app, staff)
    phone = Copy(app, cookie_of(await another_browser(app, staff)))
    stranger = await sign_in(StaffRole.AUDITOR)
    page = await staff.get("/admin/password")
    mine = sessions.hash_token(cookie_of(staff))
    live = await StaffSession.filter(staff_id=staff.user.id, revoked_at__isnull=True).values_list("id", flat=True)
    assert len(live) == 3 and all(f'value="{sid}"' in page.text for sid in live)
    assert "当前会话" in page.text and page.text.count("结束此会话") == 2
    # someone else's session cannot be ended from here
    theirs = sessions.hash_token(cookie_of(stranger))
    refused = await staff.post("/admin/sessions/revoke", {"session": theirs})
    assert refused.status_code == 404 and (await stranger.get("/admin/")).status_code == 200
    # one session
    phone_id = sessions.hash_token(phone.cookie)
    assert (await staff.post("/admin/sessions/revoke", {"session": phone_id})).status_code == 303
    assert not await phone.works() and (await laptop.get("/admin/")).status_code == 200
    assert await AuditLog.filter(action="session.revoke", staff_id=staff.user.id).exists()
    # every other one
    assert (await staff.post("/admin/sessions/revoke", {"session": "others"})).status_code == 303
    assert (await laptop.get("/admin/")).status_code == 303 and (await staff.get("/admin/")).status_code == 200
    # and this one: signed out
    response = await staff.post("/admin/sessions/revoke", {"session": mine})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert (await staff.get("/admin/")).status_code == 303


async def test_ended_sessions_are_pruned_a_day_later_at_sign_in(db):
    staff = await make_staff(StaffRole.AUDITOR, "auditor1")
    limits = sessions.Limits(idle=IDLE, lifetime=LIFETIME)
    start = datetime.now(UTC)
    _, revoked = await sessions.open_session(staff, limits, now=start)
    await sessions.revoke(revoked.id, sessions.RevokeReason.LOGOUT, now=start)
    _, idle = await sessions.open_session(staff, limits, now=start)
    _, live = await sessions.open_session(staff, limits, now=start + timedelta(hours=11))
    await sessions.open_session(staff, limits, now=start + timedelta(hours=11, minutes=50))
    assert await StaffSession.filter(id__in=[revoked.id, idle.id]).count() == 2  # ended less than a day ago
    await sessions.open_session(staff, limits, now=start + timedelta(days=1, minutes=31))
    remaining = set(await StaffSession.all().values_list("id", flat=True))
    assert revoked.id not in remaining and idle.id not in remaining and live.id in remaining
    assert len(remaining) == 3


async def test_lowered_limits_apply_to_running_sessions(db):
    staff = await make_staff(StaffRole.AUDITOR, "auditor1")
    start = datetime.now(UTC)
    token, _ = await sessions.open_session(staff, sessions.Limits(idle=IDLE, lifetime=LIFETIME), now=start)
    later = start + timedelta(minutes=20)
    shorter_idle = sessions.Limits(idle=timedelta(minutes=10), lifetime=LIFETIME)
    shorter_life = sessions.Limits(idle=IDLE, lifetime=timedelta(minutes=15))
    assert await sessions.session_for(token, shorter_idle, now=later) is None
    assert await sessions.session_for(token, shorter_life, now=later) is None
    assert await sessions.session_for(token, sessions.Limits(idle=IDLE, lifetime=LIFETIME), now=later) is not None


def test_the_limits_come_from_the_settings():
    from kernel.settings import SettingsError, load_settings

    settings = load_settings({"LINPIAO_ADMIN_IDLE_MINUTES": "15", "LINPIAO_ADMIN_SESSION_HOURS": "8"}, env_file="-")
    assert (settings.admin_idle_minutes, settings.admin_session_hours) == (15, 8)
    with pytest.raises(SettingsError):
        settings.with_(admin_idle_minutes=0).check()
