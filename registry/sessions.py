"""Back-office sessions (登录会话) as server-side records: the cookie carries only an opaque random id.

A session's id is 256 random bits (``secrets.token_urlsafe(32)``: 43 URL-safe characters) handed to the browser
once; the database keeps only its SHA-256 (:class:`StaffSession.id`), so a dump of the table yields no cookie that
works. Every request loads its row (one primary-key lookup joined to the account) and refuses it when revoked,
past its absolute limit (``expires_at``, fixed at sign-in and never extended), idle for longer than its idle
limit, or when the account is deactivated. ``last_seen_at`` moves at most once per :data:`TOUCH_EVERY`, so an
active clerk costs one write a minute, not one a request; the idle limit is therefore enforced to within that
minute, on the strict side (a session may end up to a minute early, never late).

Sessions end by revocation (``revoked_at`` set): sign-out ends that one; a password change or reset and a
deactivation end every session of the account, in the same transaction as the change (:mod:`registry.staff`).
Ended rows are deleted a day after they ended, opportunistically at each sign-in (:func:`prune`), so the table
holds the live sessions plus a day of history.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import audit
from registry.models import StaffUser

TOKEN_BYTES = 32  # 256 bits
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what token_urlsafe(32) yields; anything else is not looked up
TOUCH_EVERY = timedelta(minutes=1)
KEEP_ENDED = timedelta(days=1)
USER_AGENT_LENGTH = 200


class RevokeReason:
    LOGOUT = "logout"
    PASSWORD = "password"  # the account's password was changed or reset
    DEACTIVATED = "deactivated"
    REVOKED = "revoked"  # ended by its owner from the session list
    REPLACED = "replaced"  # the same browser signed in again


class StaffSession(Model):
    """One signed-in browser of a staff account. ``id`` is the SHA-256 (hex) of the token in the cookie."""

    id = fields.CharField(max_length=64, primary_key=True)
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="sessions", on_delete=fields.CASCADE, db_index=True
    )
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)  # the absolute limit, fixed at sign-in
    idle_seconds = fields.IntField()
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=USER_AGENT_LENGTH, default="")
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=16, default="")

    class Meta:
        table = "staff_session"


@dataclass(frozen=True)
class Limits:
    """How long a session lives: ``idle`` without a request, ``lifetime`` from sign-in whatever happens."""

    idle: timedelta
    lifetime: timedelta


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_token(value: str) -> bool:
    return bool(TOKEN_RE.match(value))


async def open_session(
    staff: StaffUser, limits: Limits, *, ip: str = "", user_agent: str = "", now: datetime | None = None
) -> tuple[str, StaffSession]:
    """Start a session for ``staff``; returns the token for the cookie (never stored) and the row.
    Sessions that ended more than :data:`KEEP_ENDED` ago are pruned on the way."""
    now = clock.utc(now or clock.now())
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with in_transaction():
        await prune(limits, now=now)
        session = await StaffSession.create(
            id=hash_token(token),
            staff=staff,
            created_at=now,
            last_seen_at=now,
            expires_at=now + limits.lifetime,
            idle_seconds=int(limits.idle.total_seconds()),
            ip=ip[:64],
            user_agent=user_agent[:USER_AGENT_LENGTH],
        )
    return token, session


def _alive(session: StaffSession, limits: Limits, now: datetime) -> bool:
    # the row's limits were the settings at sign-in; lowered settings apply to running sessions at once
    idle = min(timedelta(seconds=session.idle_seconds), limits.idle)
    return (
        session.revoked_at is None
        and now < session.expires_at
        and now < session.created_at + limits.lifetime
        and now - session.last_seen_at < idle
    )


async def session_for(token: str, limits: Limits, *, now: datetime | None = None) -> StaffSession | None:
    """The live session of ``token`` with its account loaded (one indexed query), or None. Moves
    ``last_seen_at`` when it is at least :data:`TOUCH_EVERY` old."""
    if not is_token(token):
        return None
    now = clock.utc(now or clock.now())
    session = await StaffSession.filter(id=hash_token(token)).select_related("staff").first()
    if session is None or not _alive(session, limits, now) or not session.staff.is_active:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        # conditional: a revocation that committed since the read is never undone
        await StaffSession.filter(id=session.id, revoked_at__isnull=True).update(last_seen_at=now)
        session.last_seen_at = now
    return session


async def revoke(session_id: str, reason: str, *, staff_id: int | None = None, now: datetime | None = None) -> bool:
    """End one session (of ``staff_id`` only, when given); True when a live one was ended."""
    query = StaffSession.filter(id=session_id, revoked_at__isnull=True)
    if staff_id is not None:
        query = query.filter(staff_id=staff_id)
    return bool(await query.update(revoked_at=clock.utc(now or clock.now()), revoked_reason=reason))


async def revoke_token(token: str, reason: str, *, now: datetime | None = None) -> bool:
    """End the session of a cookie's token, whatever state it is in."""
    return is_token(token) and await revoke(hash_token(token), reason, now=now)


async def revoke_all(staff_id: int, reason: str, *, keep: str | None = None, now: datetime | None = None) -> int:
    """End every session of an account (but ``keep``, a session id); returns how many were live."""
    query = StaffSession.filter(staff_id=staff_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    return int(await query.update(revoked_at=clock.utc(now or clock.now()), revoked_reason=reason))


async def sign_out(session: StaffSession, actor: audit.Actor) -> None:
    """End the session a staff member signs out of, with its audit line."""
    async with in_transaction():
        await revoke(session.id, RevokeReason.LOGOUT)
        await audit.record(actor, "logout", f"staff:{actor.username}")


async def revoke_own(staff: StaffUser, session_id: str, actor: audit.Actor) -> bool:
    """A staff member ends one of their own sessions (from the list); False when it is not theirs or not live."""
    async with in_transaction():
        if not await revoke(session_id[:64], RevokeReason.REVOKED, staff_id=staff.id):
            return False
        await audit.record(actor, "session.revoke", f"staff:{staff.username}", session=session_id[:12])
    return True


async def revoke_others(staff: StaffUser, keep: str, actor: audit.Actor) -> int:
    """A staff member ends every session of theirs but ``keep`` (the one asking)."""
    async with in_transaction():
        ended = await revoke_all(staff.id, RevokeReason.REVOKED, keep=keep)
        await audit.record(actor, "session.revoke_others", f"staff:{staff.username}", sessions_ended=ended)
    return ended


async def live_sessions(staff_id: int, limits: Limits, *, now: datetime | None = None) -> list[StaffSession]:
    """The account's sessions that still work, most recently used first."""
    now = clock.utc(now or clock.now())
    rows = await StaffSession.filter(
        staff_id=staff_id, revoked_at__isnull=True, expires_at__gt=now, last_seen_at__gt=now - limits.idle
    ).order_by("-last_seen_at")
    return [row for row in rows if _alive(row, limits, now)]


async def prune(limits: Limits, *, now: datetime | None = None) -> int:
    """Delete sessions that ended more than :data:`KEEP_ENDED` ago (revoked, past their absolute limit, or idle)."""
    cutoff = clock.utc(now or clock.now()) - KEEP_ENDED
    return int(
        await StaffSession.filter(
            Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff) | Q(last_seen_at__lt=cutoff - limits.idle)
        ).delete()
    )
