"""The hash chain of the register: every entry stores the hash of the one before it.

Appends are serialised through the single :class:`RegisterHead` row. Each register transaction writes that row
first (:func:`lock_register`), which on PostgreSQL takes its row lock and on SQLite takes the database's write
lock before anything is read, so two workers can never read the same stock or the same chain tip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from registry import clock
from registry.models import Batch, EntryKind, Holder, RegisterEntry, RegisterHead

GENESIS = "0" * 64


async def lock_register() -> None:
    """Take the register's write lock for the current transaction (idempotent within it)."""
    updated = await RegisterHead.filter(id=1).update(seq=F("seq"))
    if not updated:
        try:
            await RegisterHead.create(id=1, seq=0, last_hash=GENESIS)
        except IntegrityError:  # another worker created it first; its row is ours to lock now
            await RegisterHead.filter(id=1).update(seq=F("seq"))


def _canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of an entry's content and its predecessor's hash."""
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _content(entry: RegisterEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "kind": str(entry.kind),
        "batch": entry.batch_id,  # type: ignore[attr-defined]
        "from": entry.from_holder_id,  # type: ignore[attr-defined]
        "to": entry.to_holder_id,  # type: ignore[attr-defined]
        "quantity": entry.quantity,
        "ranges": entry.ranges,
        "price_fen": entry.price_fen,
        "purpose": entry.purpose,
        "details": entry.details,
        "actor": entry.actor,
        "created_at": _canonical_time(entry.created_at),
        "prev": entry.prev_hash,
    }


async def append_entry(
    kind: EntryKind,
    *,
    batch: Batch | None = None,
    from_holder: Holder | None = None,
    to_holder: Holder | None = None,
    quantity: int = 0,
    ranges: list[list[int]] | None = None,
    price_fen: int | None = None,
    purpose: str = "",
    details: dict[str, Any] | None = None,
    actor: str = "",
) -> RegisterEntry:
    """Append one entry. Must run inside a transaction that called :func:`lock_register`."""
    head = await RegisterHead.get(id=1)
    entry = RegisterEntry(
        seq=head.seq + 1,
        kind=kind,
        batch=batch,
        from_holder=from_holder,
        to_holder=to_holder,
        quantity=quantity,
        ranges=ranges or [],
        price_fen=price_fen,
        purpose=purpose,
        details=details or {},
        actor=actor,
        created_at=clock.now(),
        prev_hash=head.last_hash,
        hash="",
    )
    entry.hash = entry_hash(_content(entry))
    await entry.save()
    await RegisterHead.filter(id=1).update(seq=entry.seq, last_hash=entry.hash)
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries_checked: int
    first_bad_seq: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


async def verify_chain(page_size: int = 5000) -> ChainReport:
    """Recompute every entry's hash in order; name the first entry that does not match."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        page = await RegisterEntry.filter(seq__gt=last_seq).order_by("seq").limit(page_size)
        if not page:
            break
        for entry in page:
            last_seq = entry.seq
            if entry.seq != expected_seq:
                return ChainReport(checked, expected_seq, f"entry {expected_seq} is missing")
            if entry.prev_hash != prev:
                return ChainReport(checked, entry.seq, "previous hash does not match")
            if entry_hash(_content(entry)) != entry.hash:
                return ChainReport(checked, entry.seq, "content does not match its hash")
            prev = entry.hash
            expected_seq += 1
            checked += 1
    head = await RegisterHead.get_or_none(id=1)
    if head is not None and checked and head.last_hash != prev:
        return ChainReport(checked, expected_seq, "entries are missing after the last one")
    return ChainReport(checked, None)
