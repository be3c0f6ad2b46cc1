"""Preview, then confirm (预览后确认): what an irreversible action will do, shown before it is done.

A form's button sends ``step=preview``: the view checks the form as for the real thing and *rehearses* the action —
the register's own workflow runs, with every rule and refusal, inside a transaction that is then rolled back — and
shows what it produced (the serials each party gets, the price) with a confirm button. Nothing is written: the
rollback takes the entries, the trade, the audit line and the register lock with it. The confirm button sends the
same fields with ``step=confirm`` and the form's token; the workflow checks everything again at that moment (the
register may have moved since the preview) and, the token being remembered with the action
(:mod:`registry.idempotency`), a second confirm records nothing more and leads to the same record.

*Decision*: there is no third way. A POST without ``step`` (or with any other value) is a preview, so no form and no
script acts on one click; a script that must act sends ``step=confirm`` with a fresh form token — the same
idempotent path the confirm button takes (an empty or malformed token is refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.transactions import in_transaction

from registry.idempotency import new_form_token

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
    """``confirm`` (the action itself), ``edit`` (back to the form), or ``preview`` — anything else, a missing
    step included: nothing acts without being confirmed."""
    return form_step if form_step in ("confirm", "edit") else "preview"


@dataclass
class Outcome(Generic[T]):
    """What :func:`preview_or_confirm` did: a rehearsal's description to show, or the confirmed action's result."""

    preview: dict[str, Any] | None = None
    result: T | None = None


async def preview_or_confirm(
    form_step: str,
    form_token: str,
    work: Callable[[str | None], Awaitable[T]],
    describe: Callable[[T], Awaitable[dict[str, Any]]],
) -> Outcome[T]:
    """The one path of every previewed action: ``work(None)`` rehearsed and described for a preview, or
    ``work(form_token)`` for the confirm (its workflow refuses a missing token and remembers a used one)."""
    if step(form_step) == "confirm":
        return Outcome(result=await work(form_token))
    return Outcome(preview=await rehearse(lambda: work(None), describe))


def confirm_token(form_token: str) -> str:
    """The token the preview's confirm button carries: the form's own, or a fresh one for a button that had none
    (an action on a record's page); each preview of such a button is one action, confirmed at most once."""
    return form_token or new_form_token()
