"""Back-office staff accounts: argon2id password hashes, login throttling, password changes.

Throttling counts failures in :class:`LoginThrottle` rows, each with one atomic statement (an upsert that adds
one and returns the new count, so parallel guesses cannot overwrite each other's failures on PostgreSQL): per
account *and* address (5 failures lock that account for that address only, so a guesser elsewhere cannot lock
a clerk out) and per address (20 failures, whatever the accounts, lock the address). A lock lasts
:data:`LOCK_BASE` and doubles with every further failure (exponential back-off, at most :data:`LOCK_MAX`);
failures are forgotten after :data:`FAILURE_MEMORY` without any. Hashing runs in :mod:`registry.cpu`'s pool,
off the event loop.

A password change or reset and a deactivation end every session of the account (:mod:`registry.sessions`) in the
same transaction as the change, so no copied cookie outlives it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise import connections, fields
from tortoise.expressions import F, Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import audit, cpu, sessions
from registry.districts import DISTRICTS
from registry.errors import RegisterError
from registry.models import StaffRole, StaffUser

ACCOUNT_MAX_FAILURES = 5  # per account from one address
ADDRESS_MAX_FAILURES = 20  # per address, whatever the accounts
LOCK_BASE = timedelta(minutes=1)  # the first lock; each further failure doubles it
LOCK_MAX = timedelta(hours=24)
FAILURE_MEMORY = timedelta(hours=24)  # failures are forgotten this long after the last failure or lock
MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
DISTRICT_ROLES = (StaffRole.ISSUER, StaffRole.GREENING)  # always act for one district; forestry may

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106 low-memory)
_DUMMY_HASH = _hasher.hash("linpiao-dummy-password-for-timing")


class LoginThrottle(Model):
    """Failed logins of one address (``ip:…``) or of one account from one address (``acct:…``)."""

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
    http_status = 429


class WeakPassword(StaffError):
    code = "weak_password"
    message = "密码至少需要10个字符"


class OwnPasswordReset(StaffError):
    code = "own_password_reset"
    message = "请通过“修改密码”更改自己的密码"


class InvalidStaff(StaffError):
    code = "invalid_staff"
    message = "用户名、角色或辖区无效"


class DuplicateUsername(StaffError):
    code = "duplicate_username"
    message = "该用户名已存在"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def _hash(password: str) -> str:
    return await cpu.hash_work(hash_password, password)


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def _verify(stored: str, password: str) -> bool:
    """Check a password against its hash in the password pool (never on the event loop)."""
    return await cpu.hash_work(_matches, stored, password)


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
    password_hash = await _hash(password)
    async with in_transaction():
        if await StaffUser.filter(username=username).exists():
            raise DuplicateUsername(username)
        staff = await StaffUser.create(
            username=username,
            role=role,
            password_hash=password_hash,
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
    """Deactivate (every session of the account ends) or reactivate an account."""
    async with in_transaction():
        staff.is_active = active
        if active:
            staff.failed_logins = 0
            staff.locked_until = None
        ended = None if active else await sessions.revoke_all(staff.id, sessions.RevokeReason.DEACTIVATED)
        await staff.save(update_fields=["is_active", "failed_logins", "locked_until"])
        await audit.record(
            actor, "staff.activate" if active else "staff.deactivate", f"staff:{staff.username}", sessions_ended=ended
        )
    return staff


def _pair_key(username: str, ip: str) -> str:
    """The row of one account name from one address (hashed: names and IPv6 addresses would not fit)."""
    return "acct:" + hashlib.sha256(f"{username}\x00{ip}".encode()).hexdigest()[:40]


def _address_key(ip: str) -> str:
    return f"ip:{ip[:64]}"


def lock_length(failures: int, threshold: int) -> timedelta | None:
    """How long ``failures`` consecutive failures lock: nothing below ``threshold``, then :data:`LOCK_BASE`,
    doubled by every further failure, at most :data:`LOCK_MAX`."""
    if failures < threshold:
        return None
    doublings = failures - threshold
    return LOCK_MAX if doublings >= 20 else min(LOCK_BASE * 2**doublings, LOCK_MAX)


async def _is_locked(keys: list[str], now: datetime) -> bool:
    return await LoginThrottle.filter(key__in=keys, locked_until__gt=now).exists()


# One statement: insert the row or add one to it (starting afresh when the last failure and the last lock are older
# than FAILURE_MEMORY), returning the count. Parallel failures each see their own number, on SQLite and PostgreSQL.
_COUNT_SQL = (
    'INSERT INTO "login_throttle" ("key", "failures", "updated_at") VALUES ({0}, 1, {1}) '
    'ON CONFLICT ("key") DO UPDATE SET "failures" = CASE WHEN "login_throttle"."updated_at" < {2} '
    'AND ("login_throttle"."locked_until" IS NULL OR "login_throttle"."locked_until" < {3}) THEN 1 '
    'ELSE "login_throttle"."failures" + 1 END, "updated_at" = EXCLUDED."updated_at" RETURNING "failures"'
)


async def _count_failure(key: str, threshold: int, now: datetime) -> int:
    """Count one failure under ``key`` atomically and lock it when the count reaches ``threshold``."""
    conn = connections.get("default")
    marks = ["?"] * 4 if conn.capabilities.dialect == "sqlite" else ["$1", "$2", "$3", "$4"]
    now = now.astimezone(UTC)
    stale = now - FAILURE_MEMORY
    rows = await conn.execute_query_dict(_COUNT_SQL.format(*marks), [key, now, stale, stale])
    failures = int(rows[0]["failures"])
    length = lock_length(failures, threshold)
    if length is not None:
        until = now + length
        # only ever lengthen a lock: a parallel failure with a higher count may have set a later one
        await LoginThrottle.filter(Q(key=key) & (Q(locked_until__isnull=True) | Q(locked_until__lt=until))).update(
            locked_until=until
        )
    return failures


async def authenticate(username: str, password: str, *, ip: str, now: datetime | None = None) -> StaffUser:
    """Check a login. Raises :class:`LoginLocked` while the address, or this account from this address, is
    locked (even for the right password), :class:`LoginFailed` otherwise; every attempt is audited.

    The same counting applies to names no account has, so a lock does not tell a guesser which names exist;
    an unknown name is checked against a dummy hash so that it takes as long as a known one."""
    now = now or clock.now()
    username = username.strip()[:64]
    pair, address = _pair_key(username, ip), _address_key(ip)
    staff = await StaffUser.get_or_none(username=username)
    if await _is_locked([pair, address], now):
        await audit.record_login(username, ip, "login.locked", staff)
        raise LoginLocked()
    matched = await _verify(staff.password_hash if staff is not None else _DUMMY_HASH, password)
    if not (matched and staff is not None and staff.is_active):
        await _count_failure(address, ADDRESS_MAX_FAILURES, now)
        await _count_failure(pair, ACCOUNT_MAX_FAILURES, now)
        if staff is not None:  # failures since the last sign-in, for the record; it locks nothing by itself
            await StaffUser.filter(id=staff.id).update(failed_logins=F("failed_logins") + 1)
        await audit.record_login(username, ip, "login.failed", staff)
        raise LoginFailed()
    new_hash = await _hash(password) if _hasher.check_needs_rehash(staff.password_hash) else None
    async with in_transaction():
        await LoginThrottle.filter(key=pair).delete()  # this address knows the password: its count starts over
        staff.failed_logins = 0
        staff.locked_until = None
        update = ["failed_logins", "locked_until"]
        if new_hash is not None:
            staff.password_hash = new_hash
            update.append("password_hash")
        await staff.save(update_fields=update)
        await audit.record_login(username, ip, "login.ok", staff)
    return staff


async def change_password(staff: StaffUser, *, current: str, new: str, actor: audit.Actor) -> StaffUser:
    """Change one's own password; the current one must be given. Every session of the account ends, the one
    making the change too (the caller opens a fresh one for it: a copy of its cookie must not survive)."""
    if not await _verify(staff.password_hash, current):
        raise LoginFailed()
    _check_password(new)
    new_hash = await _hash(new)
    async with in_transaction():
        staff.password_hash = new_hash
        staff.password_changed_at = clock.now()
        await staff.save(update_fields=["password_hash", "password_changed_at"])
        await sessions.revoke_all(staff.id, sessions.RevokeReason.PASSWORD)
        await audit.record(actor, "staff.password", f"staff:{staff.username}")
    return staff


async def reset_password(staff: StaffUser, *, new: str, actor: audit.Actor) -> StaffUser:
    """The administrator sets a new password for another account (重置密码); every session of it ends."""
    if actor.staff is not None and actor.staff.id == staff.id:
        raise OwnPasswordReset()
    _check_password(new)
    new_hash = await _hash(new)
    async with in_transaction():
        staff.password_hash = new_hash
        staff.password_changed_at = clock.now()
        staff.failed_logins = 0
        await staff.save(update_fields=["password_hash", "password_changed_at", "failed_logins"])
        ended = await sessions.revoke_all(staff.id, sessions.RevokeReason.PASSWORD)
        await audit.record(actor, "staff.password_reset", f"staff:{staff.username}", sessions_ended=ended)
    return staff
