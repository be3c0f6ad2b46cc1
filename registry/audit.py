"""The back-office audit trail (操作日志): who did what, when, and from which address.

Service functions of the back-office take an :class:`Actor` and call :func:`record` inside their own
transaction, so an action and its audit line are written together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise.queryset import QuerySet

from kernel import clock
from registry import sqlrows
from registry.models import AuditLog, StaffUser


@dataclass(frozen=True)
class Actor:
    """A staff member acting from an address; ``label`` is what the register's ``actor`` column records."""

    staff: StaffUser | None
    ip: str = ""
    system: str = ""  # an operator's command acting without a staff account, e.g. "cli" or "demo"

    @property
    def username(self) -> str:
        return self.staff.username if self.staff is not None else self.system

    @property
    def label(self) -> str:
        if self.staff is not None:
            return f"staff:{self.username}"
        return f"system:{self.system}" if self.system else "anonymous"


SYSTEM = Actor(None, system="system")  # seeds and scripts that name no one


async def record(actor: Actor, action: str, target: str = "", **details: Any) -> AuditLog:
    """Append one audit line. Call it inside the transaction that does the action."""
    return await AuditLog.create(
        staff=actor.staff,
        username=actor.username,
        action=action,
        target=target[:200],
        details={k: v for k, v in details.items() if v is not None},
        ip=actor.ip[:64],
    )


async def record_login(username: str, ip: str, action: str, staff: StaffUser | None = None) -> AuditLog:
    """Login attempts are audited even when no account matches the name."""
    return await AuditLog.create(staff=staff, username=username[:64], action=action, ip=ip[:64])


def search(
    *, username: str = "", action: str = "", date_from: date | None = None, date_to: date | None = None
) -> QuerySet[AuditLog]:
    """Audit lines filtered by user, action (prefix) and local calendar dates, newest first."""
    query = AuditLog.all()
    if username:
        query = query.filter(username=username)
    if action:
        query = query.filter(action__startswith=action)
    if date_from:
        query = query.filter(created_at__gte=clock.day_start(date_from))
    if date_to:
        query = query.filter(created_at__lt=clock.day_end(date_to))
    return query.order_by("-id")


# The action names written so far, read by skipping through the ``action`` index (a "loose index scan"): each step
# is one seek for the next name above the last, so the cost grows with the number of names (a few dozen), not
# with the log. ``SELECT DISTINCT action`` would read every line. Plain SQL both SQLite and PostgreSQL accept.
ACTIONS_SQL = """
WITH RECURSIVE seen(action) AS (
    SELECT MIN(action) FROM audit_log
    UNION ALL
    SELECT (SELECT MIN(later.action) FROM audit_log AS later WHERE later.action > seen.action)
    FROM seen WHERE seen.action IS NOT NULL
)
SELECT action FROM seen WHERE action IS NOT NULL LIMIT 1000
"""


async def actions() -> list[str]:
    """Every action name in the log, in order: the audit page's filter choices."""
    return [str(row["action"]) for row in await sqlrows.rows(ACTIONS_SQL)]
