"""Preview, then confirm (预览后确认): what an irreversible action will do, shown before it is done.

A form's button sends ``step=preview``: the view checks the form as for the real thing and *rehearses* the action —
the register's own workflow runs, with every rule and refusal, inside a transaction that is then rolled back — and
shows what it produced (the serials each party gets, the price) with a confirm button. Nothing is written: the
rollback takes the entries, the trade, the audit line and the register lock with it. The confirm button sends the
same fields with ``step=confirm`` and the form's token; the workflow checks everything again at that moment (the
register may have moved since the preview) and, the token being remembered with the action
(:mod:`registry.idempotency`), a second confirm records nothing more and leads to the same record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

T = TypeVar("T")


class _Rehearsed(Exception):
    """Raised at the end of a rehearsal so its transaction rolls back."""


async def rehearse(
    work: Callable[[], Awaitable[T]], describe: Callable[[T], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``work`` (a register workflow, called without a form token) and ``describe`` its result, then roll both
    back; a refusal of the workflow propagates as it would from the real action."""
    outcome: dict[str, Any] = {}
    try:
        async with in_transaction():
            result = await work()
            outcome.update(await describe(result))
            raise _Rehearsed
    except _Rehearsed:
        pass
    return outcome


def step(form_step: str) -> str:
    """``preview``, ``edit`` (back to the form), or ``confirm`` (anything else: the action itself)."""
    return form_step if form_step in ("preview", "edit") else "confirm"
