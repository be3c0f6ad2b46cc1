"""Back-office staff accounts: argon2id password hashes, login throttling, password changes.

Throttling counts failures per account (the account's own row) and per address (:class:`LoginThrottle`), so
a guesser is slowed down whether it tries many passwords on one account or one password on many accounts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise import fields
from tortoise.expressions import F
from tortoise.models import Model
from tortoise.transactions import in_transaction

from registry import audit, clock
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.models import StaffRole, StaffUser

ACCOUNT_MAX_FAILURES = 5
ADDRESS_MAX_FAILURES = 20
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
DISTRICT_ROLES = (StaffRole.ISSUER, StaffRole.GREENING)  # always act for one district; forestry may

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106 low-memory)
_DUMMY_HASH = _hasher.hash("linpiao-dummy-password-for-timing")


class LoginThrottle(Model):
    """Failed logins from one address within the current lock window."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=100, unique=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "login_throttle"


class StaffError(RegisterError):
    code = "staff_error"
    message = "账号操作被拒绝"


class LoginFailed(StaffError):
    code = "login_failed"
    message = "用户名或密码错误"


class LoginLocked(StaffError):
    code = "login_locked"
    message = "登录失败次数过多，请稍后再试"


class WeakPassword(StaffError):
    code = "weak_password"
    message = "密码至少需要10个字符"


class InvalidStaff(StaffError):
    code = "invalid_staff"
    message = "用户名、角色或辖区无效"


class DuplicateUsername(StaffError):
    code = "duplicate_username"
    message = "该用户名已存在"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()


async def create_staff(
    *,
    username: str,
    role: StaffRole,
    password: str,
    district_code: str | None = None,
    display_name: str = "",
    actor: audit.Actor | None = None,
) -> StaffUser:
    """Create a back-office account. Issuers and greening committee offices (区绿委办) must name their district
    (区县); a forestry account may name one — the county/district forestry department (本级林草主管部门) — or
    none, the city's; other roles have none."""
    role = StaffRole(role)
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise InvalidStaff(username)
    district_code = (district_code or "").strip() or None
    if role in DISTRICT_ROLES and district_code not in DISTRICTS:
        raise InvalidStaff(f"{role} needs a district: {district_code}")
    if role is StaffRole.FORESTRY and district_code is not None and district_code not in DISTRICTS:
        raise InvalidStaff(f"unknown district: {district_code}")
    if role not in DISTRICT_ROLES and role is not StaffRole.FORESTRY:
        district_code = None
    _check_password(password)
    async with in_transaction():
        if await StaffUser.filter(username=username).exists():
            raise DuplicateUsername(username)
        staff = await StaffUser.create(
            username=username,
            role=role,
            password_hash=hash_password(password),
            district_code=district_code,
            display_name=display_name.strip()[:100],
            password_changed_at=clock.now(),
        )
        await audit.record(
            actor or audit.Actor(None, "cli"),
            "staff.create",
            f"staff:{username}",
            role=str(role),
            district=district_code,
        )
    return staff


async def set_active(staff: StaffUser, active: bool, *, actor: audit.Actor) -> StaffUser:
    async with in_transaction():
        staff.is_active = active
        if active:
            staff.failed_logins = 0
            staff.locked_until = None
        await staff.save(update_fields=["is_active", "failed_logins", "locked_until"])
        await audit.record(actor, "staff.activate" if active else "staff.deactivate", f"staff:{staff.username}")
    return staff


async def _address_locked(ip: str, now: datetime) -> bool:
    row = await LoginThrottle.get_or_none(key=f"ip:{ip}")
    return row is not None and row.locked_until is not None and row.locked_until > now


async def _count_address_failure(ip: str, now: datetime) -> None:
    row, _ = await LoginThrottle.get_or_create(key=f"ip:{ip}")
    if row.locked_until is not None and row.locked_until <= now:
        row.failures = 0  # the previous lock has run out: start counting again
        row.locked_until = None
    row.failures += 1
    if row.failures >= ADDRESS_MAX_FAILURES:
        row.locked_until = now + timedelta(minutes=LOCK_MINUTES)
    await row.save()


async def authenticate(username: str, password: str, *, ip: str, now: datetime | None = None) -> StaffUser:
    """Check a login. Raises :class:`LoginLocked` while the account or the address is locked (even for the
    right password), :class:`LoginFailed` otherwise; every attempt is audited."""
    now = now or clock.now()
    username = username.strip()[:64]
    staff = await StaffUser.get_or_none(username=username)
    if await _address_locked(ip, now) or (
        staff is not None and staff.locked_until is not None and staff.locked_until > now
    ):
        await audit.record_login(username, ip, "login.locked", staff)
        raise LoginLocked()
    try:
        _hasher.verify(staff.password_hash if staff is not None else _DUMMY_HASH, password)
        ok = staff is not None and staff.is_active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok:
        async with in_transaction():
            await _count_address_failure(ip, now)
            if staff is not None:
                # counted in the database, so parallel guesses cannot overwrite each other's failures
                await StaffUser.filter(id=staff.id).update(failed_logins=F("failed_logins") + 1)
                await staff.refresh_from_db(fields=["failed_logins"])
                if staff.failed_logins >= ACCOUNT_MAX_FAILURES:
                    staff.failed_logins = 0
                    staff.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                    await staff.save(update_fields=["failed_logins", "locked_until"])
            await audit.record_login(username, ip, "login.failed", staff)
        raise LoginFailed()
    assert staff is not None
    async with in_transaction():
        staff.failed_logins = 0
        staff.locked_until = None
        update = ["failed_logins", "locked_until"]
        if _hasher.check_needs_rehash(staff.password_hash):
            staff.password_hash = hash_password(password)
            update.append("password_hash")
        await staff.save(update_fields=update)
        await audit.record_login(username, ip, "login.ok", staff)
    return staff


async def change_password(staff: StaffUser, *, current: str, new: str, actor: audit.Actor) -> StaffUser:
    """Change one's own password; the current one must be given. Existing sessions end (see admin.session)."""
    try:
        _hasher.verify(staff.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise LoginFailed() from None
    _check_password(new)
    async with in_transaction():
        staff.password_hash = hash_password(new)
        staff.password_changed_at = clock.now()
        await staff.save(update_fields=["password_hash", "password_changed_at"])
        await audit.record(actor, "staff.password", f"staff:{staff.username}")
    return staff
