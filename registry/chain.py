"""The hash chain of the register: every entry stores the hash of the one before it.

Appends are serialised through the single :class:`RegisterHead` row. Each register transaction
(:func:`register_transaction`) writes that row first (:func:`lock_register`), which on PostgreSQL takes its row
lock and on SQLite takes the database's write lock before anything is read, so two workers can never read the same
stock or the same chain tip.

The lock is taken once per transaction: the same statement returns the chain's tip (``UPDATE … RETURNING``), which
the transaction keeps, so further :func:`lock_register` calls cost nothing and :func:`append_entry` writes the head
and the entry without reading the head again. The head is written with the tip it expects (``WHERE seq = …``): if a
savepoint rolled back an append the transaction remembered, the tip is read again, so a remembered tip can never
put a wrong link into the chain.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from registry import clock, sqlrows
from registry.models import Batch, EntryKind, Holder, RegisterEntry, RegisterHead

GENESIS = "0" * 64


@dataclass
class LockState:
    """What a transaction holding the register lock remembers: the chain's tip, and rows it read under the lock."""

    seq: int
    last_hash: str
    fresh: dict[tuple[str, int], object] = field(default_factory=dict)


# keyed by the outermost transaction's client (what the ORM's connection resolves to inside it)
_locks: weakref.WeakKeyDictionary[Any, LockState] = weakref.WeakKeyDictionary()
_LOCK_SQL = 'UPDATE "register_head" SET "seq" = "seq" WHERE "id" = 1 RETURNING "seq", "last_hash"'
# the tip moves only from the tip this transaction expects
_ADVANCE_SQL = 'UPDATE "register_head" SET "seq" = ?, "last_hash" = ? WHERE "id" = 1 AND "seq" = ?'


def _transaction() -> Any | None:
    conn = connections.get("default")
    return conn if isinstance(conn, TransactionalDBClient) else None


def lock_state() -> LockState | None:
    """The current transaction's lock, when it holds the register lock."""
    txn = _transaction()
    return _locks.get(txn) if txn is not None else None


def forget_lock() -> None:
    """The savepoint that took the lock was rolled back (PostgreSQL then releases the row lock): take it again."""
    txn = _transaction()
    if txn is not None:
        _locks.pop(txn, None)


async def lock_register() -> None:
    """Take the register's write lock for the current transaction (once: later calls within it cost nothing)."""
    txn = _transaction()
    if txn is not None and txn in _locks:
        return
    conn = connections.get("default")
    rows = await conn.execute_query_dict(_LOCK_SQL)
    if not rows:
        with contextlib.suppress(IntegrityError):  # another worker created it first; its row is ours to lock now
            await RegisterHead.create(id=1, seq=0, last_hash=GENESIS)
        rows = await conn.execute_query_dict(_LOCK_SQL)
    if txn is not None:
        _locks[txn] = LockState(int(rows[0]["seq"]), str(rows[0]["last_hash"]))


@contextlib.asynccontextmanager
async def register_transaction() -> AsyncIterator[None]:
    """A transaction of the register: ``async with register_transaction(): …`` opens a transaction (a savepoint
    inside an outer one, which it joins) and takes the register lock before anything is read. The lock is taken once
    per outer transaction (:func:`lock_register`); when the block that took it is rolled back as a savepoint, the
    lock is forgotten with it, so the outer transaction takes it again rather than trust a released lock."""
    async with in_transaction():
        had_lock = lock_state() is not None
        await lock_register()
        try:
            yield
        except BaseException:
            if not had_lock:  # the savepoint that took the lock is rolled back, and with it the lock
                forget_lock()
            raise


def remember_fresh(obj: Any) -> None:
    """``obj`` (a model instance) was just read under the register lock of this transaction."""
    state = lock_state()
    if state is not None:
        state.fresh[(type(obj).__name__, int(obj.pk))] = obj


def is_fresh(obj: Any) -> bool:
    """Whether ``obj`` is the very instance read under this transaction's register lock (no need to read it
    again before checking a rule on it)."""
    state = lock_state()
    return state is not None and state.fresh.get((type(obj).__name__, int(obj.pk))) is obj


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
        "batch": entry.batch_id,
        "from": entry.from_holder_id,
        "to": entry.to_holder_id,
        "quantity": entry.quantity,
        "ranges": entry.ranges,
        "price_fen": entry.price_fen,
        "purpose": entry.purpose,
        "details": entry.details,
        "actor": entry.actor,
        "created_at": _canonical_time(entry.created_at),
        "prev": entry.prev_hash,
    }


def hashed_content(entry: RegisterEntry) -> dict[str, Any]:
    """Exactly what an entry's hash covers: the public retirements export carries it, so that anyone can
    recompute ``entry_hash(hashed_content(entry)) == entry.hash`` without the database."""
    return _content(entry)


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
    from_holder_id: int | None = None,
) -> RegisterEntry:
    """Append one entry. Must run inside a transaction that called :func:`lock_register`. ``from_holder_id``
    names the giving holder by id when the caller has no need to load it."""
    state = lock_state()
    if state is None:
        head = await RegisterHead.get(id=1)
        state = LockState(int(head.seq), head.last_hash)
    make = functools.partial(
        _next_entry,
        kind=kind,
        batch=batch,
        from_holder=from_holder,
        to_holder=to_holder,
        quantity=quantity,
        ranges=ranges,
        price_fen=price_fen,
        purpose=purpose,
        details=details,
        actor=actor,
        from_holder_id=from_holder_id,
    )
    entry = make(state)
    if not await sqlrows.execute(_ADVANCE_SQL, [entry.seq, entry.hash, state.seq]):
        head = await RegisterHead.get(id=1)  # the remembered tip was rolled back: link to the real one
        state.seq, state.last_hash = int(head.seq), head.last_hash
        entry = make(state)
        await RegisterHead.filter(id=1).update(seq=entry.seq, last_hash=entry.hash)
    await entry.save()
    state.seq, state.last_hash = int(entry.seq), entry.hash
    return entry


def _next_entry(
    state: LockState,
    kind: EntryKind,
    *,
    batch: Batch | None,
    from_holder: Holder | None,
    to_holder: Holder | None,
    quantity: int,
    ranges: list[list[int]] | None,
    price_fen: int | None,
    purpose: str,
    details: dict[str, Any] | None,
    actor: str,
    from_holder_id: int | None,
) -> RegisterEntry:
    entry = RegisterEntry(
        seq=state.seq + 1,
        kind=kind,
        batch_id=batch.id if batch is not None else None,
        from_holder_id=from_holder.id if from_holder is not None else from_holder_id,
        to_holder_id=to_holder.id if to_holder is not None else None,
        quantity=quantity,
        ranges=ranges or [],
        price_fen=price_fen,
        purpose=purpose,
        details=details or {},
        actor=actor,
        created_at=clock.now(),
        prev_hash=state.last_hash,
        hash="",
    )
    entry.hash = entry_hash(_content(entry))
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
