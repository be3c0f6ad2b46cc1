"""Who owned what, reconstructed from the register entries (the hash-chained record, no snapshot table).

A unit counts as owned by its holder while held or reserved for an order; a retirement or withdrawal ends
ownership (the units are spent), reservations and releases change nothing. Dividends read their record date's
holders from here, and the register view shows past balances with it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from kernel import clock
from registry.models import Batch, EntryKind, RegisterEntry


def ownership_changes(entry: RegisterEntry) -> dict[int, int]:
    """How many units each holder gained (+) or lost (−) in the batch by this entry."""
    kind = entry.kind
    q = int(entry.quantity)
    src: int | None = entry.from_holder_id
    dst: int | None = entry.to_holder_id
    changes: dict[int, int] = defaultdict(int)
    if kind is EntryKind.ISSUE and dst is not None:
        changes[dst] += q
    elif kind in (EntryKind.TRANSFER, EntryKind.SUBSCRIPTION):
        if src is not None:
            changes[src] -= q
        if dst is not None:
            changes[dst] += q
    elif kind is EntryKind.INHERITANCE:
        if src is not None:
            changes[src] -= q
        for move in entry.details.get("moves", []):
            changes[int(move["to"])] += int(move["quantity"])
    elif kind in (EntryKind.RETIREMENT, EntryKind.WITHDRAWAL) and src is not None:
        changes[src] -= q
    return {holder: delta for holder, delta in changes.items() if delta}


async def balances_before(batch: Batch, moment: datetime) -> dict[int, int]:
    """Units of ``batch`` each holder owned (held or reserved) just before ``moment``; zero balances omitted."""
    balances: dict[int, int] = defaultdict(int)
    entries = await RegisterEntry.filter(batch_id=batch.id, created_at__lt=clock.utc(moment)).order_by("seq")
    for entry in entries:
        for holder, delta in ownership_changes(entry).items():
            balances[holder] += delta
    return {holder: units for holder, units in balances.items() if units}


async def balances_on(batch: Batch, record_date: date) -> dict[int, int]:
    """Units owned at the end of ``record_date`` (local time)."""
    return await balances_before(batch, clock.day_end(record_date))
