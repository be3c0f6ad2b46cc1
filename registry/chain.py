"""The hash chains of the register: one chain per batch, every entry storing the hash of the one before it.

**Chains.** Each batch's entries form their own chain (``RegisterEntry.chain_seq`` 1, 2, … within the batch, and
``prev_hash`` the hash of the batch's entry before), with its tip in that batch's :class:`ChainHead` row; entries
without a batch form a chain of their own (``chain`` 0). Every entry also carries ``seq``, a number unique across
the register that orders it among all entries (PostgreSQL draws it from a sequence, SQLite counts on, its writers
being serialised anyway) and is covered by its hash. The first entry of every chain links to the **anchor**: the
hash of the last entry of the single chain the register kept before it had one chain per batch (entries with
``chain_seq`` NULL, ``seq`` 1…N, whose tip :class:`RegisterHead` row 1 still holds), or the genesis hash on a
register that never had one. That history stays verifiable as it was written.

**Locks.** A register transaction (:func:`register_transaction`) locks the heads of the batches it changes, in
the order of their ids, before it reads anything about them, so register changes to different batches never
wait for each other while two changes of one batch take turns. On PostgreSQL each batch's head row is locked
(``SELECT … FOR UPDATE``), under a shared advisory lock on the whole register; a transaction that does not say
which batches it changes (a back-office action, issuing a new batch, an inheritance over several batches) takes
that advisory lock exclusively instead — the register lock of old: it waits for every running change and keeps
every other out. On SQLite the first statement writes the head rows (or row 1), which takes the database's write
lock: writers are serialised there anyway.

Heads are locked once per transaction and remembered with their tips (:class:`LockState`), so
:func:`append_entry` writes each head and entry without reading the head again. A head is written with the tip
it expects (``WHERE seq = …``): if a savepoint rolled back an append the transaction remembered, the tip is read
again, so a remembered tip never puts a wrong link into a chain. A savepoint that took locks and is rolled back
forgets them (PostgreSQL released them with it), so the transaction takes them again.

**Blocks.** A carbon quota's serials are cut into stock blocks (:class:`registry.models.StockBlock`,
:mod:`registry.blocks`), each with a chain of its own (chain key ``-block id``, its tip on the block's row) that
starts from an entry of the batch's chain. A buyer's transaction *claims* a block with enough unsold tickets
(:func:`claim_block`: ``FOR UPDATE SKIP LOCKED``, so concurrent buyers take different blocks) or locks the block
its order reserved from (:func:`lock_block`), and works inside that block only: its entries go to the block's
chain, its counts to the block's row. On PostgreSQL a block transaction holds the batch's advisory key
``(1, batch)`` shared, and a transaction that locks the batch's own head holds it exclusively: work on the whole
batch (closing a quota, an order larger than any block, a payment after its reservation was given back) waits for
the running block transactions and keeps new ones out. A block transaction never widens its locks (two could
wait for each other): it raises :class:`WiderLockNeeded`, and :func:`stock_transaction` runs the work again under
the batch's lock.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from kernel import clock
from registry import sqlrows
from registry.models import Batch, ChainHead, EntryKind, Holder, RegisterEntry, RegisterHead, StockBlock

T = TypeVar("T")

GENESIS = "0" * 64
NO_BATCH = 0  # the chain of the entries without a batch
_REGISTER_KEY = 0x6C696E70  # the advisory lock of the whole register (PostgreSQL): shared per batch, or exclusive


@dataclass
class Tip:
    seq: int
    last_hash: str


@dataclass(frozen=True)
class Span:
    """A stock block: its id and the serials ``first_no..last_no`` of its batch."""

    id: int
    batch_id: int
    first_no: int
    last_no: int

    def covers(self, first: int, last: int) -> bool:
        return self.first_no <= first and last <= self.last_no


class WiderLockNeeded(Exception):
    """A block transaction met work outside its block (another block, the whole batch): run it again under the
    batch's lock (:func:`stock_transaction`)."""


@dataclass
class LockState:
    """What a transaction holding register locks remembers: the tips of the chains it locked, whether it holds
    the whole register, and rows it read under its locks."""

    tips: dict[int, Tip] = field(default_factory=dict)
    whole: bool = False
    fresh: dict[tuple[str, int], object] = field(default_factory=dict)
    # register-wide numbers (``seq``) the lock statement already drew (PostgreSQL), or the highest one taken
    # when it ran (SQLite, whose writers take turns): appending needs no statement of its own to number an entry
    spare: list[int] = field(default_factory=list)
    top: int | None = None
    blocks: dict[int, Span] = field(default_factory=dict)  # batch id → the block of it this transaction holds
    names: set[str] = field(default_factory=set)  # named locks held (lock_name)
    spans: dict[int, list[Span]] = field(default_factory=dict)  # batch id → its blocks, read once when needed

    def holds(self, chain: int) -> bool:
        return self.whole or chain in self.tips

    def holds_batch(self, batch_id: int | None) -> bool:
        """Whether the batch's stock may be changed here: its head, the whole register, or one of its blocks
        (then only inside that block)."""
        return self.holds(_chain_of(batch_id)) or (batch_id is not None and batch_id in self.blocks)


# keyed by the outermost transaction's client (what the ORM's connection resolves to inside it)
_locks: weakref.WeakKeyDictionary[Any, LockState] = weakref.WeakKeyDictionary()

_ANCHOR_SQL = 'SELECT "last_hash" FROM "register_head" WHERE "id" = 1'
_CREATE_ANCHOR_SQL = (
    'INSERT INTO "register_head" ("id", "seq", "last_hash") VALUES (1, 0, CAST(? AS VARCHAR)) ON CONFLICT DO NOTHING'
)
# a new chain starts from the anchor (the old single chain's tip, which no longer moves)
_CREATE_HEAD_SQL = (
    'INSERT INTO "chain_head" ("chain", "seq", "last_hash") '
    'SELECT CAST(? AS BIGINT), 0, COALESCE((SELECT "last_hash" FROM "register_head" WHERE "id" = 1), '
    "CAST(? AS VARCHAR)) "
    "ON CONFLICT DO NOTHING"
)
_ADVANCE_SQL = 'UPDATE "chain_head" SET "seq" = ?, "last_hash" = ? WHERE "chain" = ? AND "seq" = ?'
_PG_SHARED = f"SELECT pg_advisory_xact_lock_shared({_REGISTER_KEY})"
_PG_NEXT = "nextval(pg_get_serial_sequence('register_entry', 'id'))"
_SQLITE_TOP = 'SELECT COALESCE(MAX("seq"), 0) FROM "register_entry"'
_PG_WHOLE = f"SELECT pg_advisory_xact_lock({_REGISTER_KEY})"
_PG_BATCH_KEY = "pg_advisory_xact_lock{mode}(1, CAST(? AS INTEGER))"  # a batch's key: (1, id), apart from the above
_SQLITE_WHOLE = 'UPDATE "register_head" SET "seq" = "seq" WHERE "id" = 1'


def _transaction() -> Any | None:
    conn = connections.get("default")
    return conn if isinstance(conn, TransactionalDBClient) else None


def lock_state() -> LockState | None:
    """The current transaction's locks, when it holds any."""
    txn = _transaction()
    return _locks.get(txn) if txn is not None else None


def forget_lock() -> None:
    """The savepoint that took the locks was rolled back (PostgreSQL then releases them): take them again."""
    txn = _transaction()
    if txn is not None:
        _locks.pop(txn, None)


def _chain_of(batch_id: int | None) -> int:
    return NO_BATCH if batch_id is None else int(batch_id)


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


async def _lock_heads(
    chains: list[int], *, postgres: bool, shared: bool = False, state: LockState | None = None
) -> dict[int, Tip]:
    """Lock the head rows of ``chains`` (sorted), creating those that do not exist yet; their tips. ``shared``
    (PostgreSQL): take the shared lock of the whole register first, in the same statement."""
    if not chains:
        return {}
    marks = _marks(len(chains))
    if postgres:  # rows locked in the order of the sort: two transactions never wait for each other in a circle
        # the one-row subquery takes the shared advisory lock before any head row is locked (rows are locked
        # above the sort, once every row has been joined)
        # and each batch's own key exclusively (block transactions of the batch hold it shared), in order
        keys = [c for c in chains if c > NO_BATCH]
        locks = [f"pg_advisory_xact_lock_shared({_REGISTER_KEY})"] if shared else []
        locks += [_PG_BATCH_KEY.format(mode="") for _ in keys]
        register = f"(SELECT {', '.join(locks)}) AS r, " if locks else ""
        sql = (  # placeholders only: every value is a parameter; one register-wide number drawn per head
            f'SELECT h."chain", h."seq", h."last_hash", {_PG_NEXT} AS "n" FROM {register}"chain_head" AS h '  # noqa: S608
            f'WHERE h."chain" IN ({marks}) ORDER BY h."chain" FOR UPDATE OF h'
        )
        params: list[int] = [*keys, *chains]
    else:  # the write takes SQLite's write lock before anything is read
        sql = (  # placeholders only: every value is a parameter
            f'UPDATE "chain_head" SET "seq" = "seq" WHERE "chain" IN ({marks}) '  # noqa: S608
            f'RETURNING "chain", "seq", "last_hash", ({_SQLITE_TOP}) AS "n"'
        )
        params = list(chains)
    found = await sqlrows.rows(sql, params)
    if len(found) < len(chains):
        if postgres:  # a new chain: the register's shared lock before creating its head (the join may not have run)
            await sqlrows.execute(_PG_SHARED)
        have = {int(r["chain"]) for r in found}
        for chain in chains:
            if chain not in have:  # another worker may create it first: then its row is ours to lock
                await sqlrows.execute(_CREATE_HEAD_SQL, [chain, GENESIS])
        found = await sqlrows.rows(sql, params)
    if state is not None and found:
        if postgres:
            state.spare.extend(sorted(int(r["n"]) for r in found))
        else:
            state.top = max(int(found[0]["n"]), state.top or 0)
    return {int(r["chain"]): Tip(int(r["seq"]), str(r["last_hash"])) for r in found}


async def lock_register(batches: Iterable[int | Batch | None] | None = None) -> LockState:
    """Take the register locks of the current transaction: the heads of ``batches`` (ids, batches, or None for
    the chain without a batch), or the whole register when ``batches`` is None. Locks already held cost nothing;
    chains named later in a transaction are locked then (keep to one call naming them all where you can: locks
    taken in one call are taken in the order of the ids)."""
    txn = _transaction()
    state = _locks.get(txn) if txn is not None else None
    postgres = sqlrows.is_postgres()
    if state is not None and state.blocks and not state.whole:
        wanted_chains = None if batches is None else {_chain_of(b.id if isinstance(b, Batch) else b) for b in batches}
        if wanted_chains is None or any(c > NO_BATCH and c not in state.tips for c in wanted_chains):
            raise WiderLockNeeded()
    if batches is None:
        if state is not None and state.whole:
            return state
        if postgres:
            await sqlrows.execute(_PG_WHOLE)
        elif not await sqlrows.execute(_SQLITE_WHOLE):
            await sqlrows.execute(_CREATE_ANCHOR_SQL, [GENESIS])
        if state is None:
            state = LockState()
        state.whole = True
        if txn is not None:
            _locks[txn] = state
        return state
    chains = sorted({_chain_of(b.id if isinstance(b, Batch) else b) for b in batches})
    wanted = [c for c in chains if state is None or c not in state.tips]
    if state is not None and not wanted:
        return state
    first = state is None
    if state is None:
        state = LockState()
        if not wanted:  # pragma: no cover - lock_register([]) is asked by nobody; it locks nothing but the register
            await sqlrows.execute(_PG_SHARED if postgres else _SQLITE_WHOLE)
    # the first locks of a PostgreSQL transaction take the shared lock of the whole register in the same statement
    shared = first and postgres and not state.whole
    state.tips.update(await _lock_heads(wanted, postgres=postgres, shared=shared, state=state))
    if txn is not None:
        _locks[txn] = state
    return state


async def lock_batches(*batches: int | Batch | None) -> None:
    """Make sure the current register transaction holds the heads of ``batches`` (before reading their stock)."""
    state = lock_state()
    ids = [b.id if isinstance(b, Batch) else b for b in batches]
    if state is not None and all(state.holds_batch(b) for b in ids):
        return
    await lock_register(ids)


async def hold_order(batch_id: int, block_id: int | None) -> bool:
    """Whether this transaction held the stock an order reserved — its block (``block_id``), or its batch — already.
    When it did not (the order, read under another lock, was reserved again meanwhile), it is locked now (or
    :class:`WiderLockNeeded` is raised) and the caller reads the order again before trusting it."""
    state = lock_state()
    if state is not None and (state.holds(_chain_of(batch_id)) or (block_id is not None and state.holds(-block_id))):
        return True
    if block_id is None:
        await lock_register([batch_id])
    else:
        await lock_block(batch_id, block_id)
    return False


@contextlib.asynccontextmanager
async def register_transaction(*batches: int | Batch | None, whole: bool = False) -> AsyncIterator[None]:
    """A transaction of the register: ``async with register_transaction(batch_id, …): …`` opens a transaction (a
    savepoint inside an outer one, which it joins) and locks the heads of the batches it will change before
    anything is read; without batches (or with ``whole``) it locks the whole register. Locks are taken once per
    outer transaction; when the block that took them is rolled back as a savepoint, they are forgotten with it,
    so the outer transaction takes them again rather than trust a released lock."""
    async with tracked_transaction():
        await lock_register(None if whole or not batches else batches)
        yield


@contextlib.asynccontextmanager
async def tracked_transaction() -> AsyncIterator[None]:
    """A transaction (a savepoint inside another) that takes no lock itself but forgets, when it is rolled back,
    the register locks taken inside it (PostgreSQL released them with it)."""
    async with in_transaction():
        state = lock_state()
        before = (set(state.tips), state.whole, set(state.blocks)) if state is not None else None
        try:
            yield
        except BaseException:
            _roll_back_locks(before)
            raise


@contextlib.asynccontextmanager
async def block_transaction(batch_id: int, block_id: int) -> AsyncIterator[None]:
    """A register transaction holding one stock block of ``batch_id`` (:func:`lock_block`)."""
    async with tracked_transaction():
        await lock_block(batch_id, block_id)
        yield


async def stock_transaction(batch_id: int, block_id: int | None, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` in one register transaction holding the stock of an order: its block when it reserved from
    one, else its batch — and again under the batch's lock when the block turned out too narrow
    (:class:`WiderLockNeeded`; the first attempt was rolled back whole). Jobs deferred by ``work`` are queued
    after the commit of the attempt that stood."""
    from registry import jobs

    if block_id is not None:
        try:
            async with jobs.after_commit(), block_transaction(batch_id, block_id):
                return await work()
        except WiderLockNeeded:
            pass
    async with jobs.after_commit(), register_transaction(batch_id):
        return await work()


def _roll_back_locks(before: tuple[set[int], bool, set[int]] | None) -> None:
    """Forget the locks a rolled-back savepoint took (those held before it stay held)."""
    if before is None:
        forget_lock()
        return
    state = lock_state()
    if state is None:  # pragma: no cover - the outer transaction's state outlives the savepoint
        return
    chains, whole, blocks = before
    for chain in set(state.tips) - chains:
        del state.tips[chain]
    for batch_id in set(state.blocks) - blocks:
        del state.blocks[batch_id]
    state.whole = whole


# --- blocks --------------------------------------------------------------------------------------------------

_BLOCK_COLUMNS = 'b."id", b."batch_id", b."first_no", b."last_no", b."seq", b."last_hash"'
_BLOCK_ADVANCE_SQL = 'UPDATE "stock_block" SET "seq" = ?, "last_hash" = ? WHERE "id" = ? AND "seq" = ?'
_BLOCK_TIP_SQL = 'SELECT "seq", "last_hash" FROM "stock_block" WHERE "id" = ?'


def _pg_block_sql(where: str, tail: str, *, named: bool = False) -> str:
    """A block row locked under the register's key and the batch's key, both shared, taken first (and a named
    lock, :func:`lock_name`, when ``named``)."""
    locks = f"pg_advisory_xact_lock_shared({_REGISTER_KEY}), {_PG_BATCH_KEY.format(mode='_shared')}"
    if named:
        locks += f", {_PG_NAME_KEY}"
    return (  # placeholders only: every value is a parameter
        f'SELECT {_BLOCK_COLUMNS}, {_PG_NEXT} AS "n" FROM (SELECT {locks}) AS l, "stock_block" AS b '  # noqa: S608
        f"WHERE {where} {tail}"
    )


_PG_NAME_KEY = "pg_advisory_xact_lock(2, hashtext(CAST(? AS TEXT)))"
_CLAIM_WHERE = 'b."batch_id" = ? AND b."issuer_held" >= ?'
_CLAIM_FREE = 'ORDER BY b."id" LIMIT 1 FOR UPDATE OF b SKIP LOCKED'
# no free block was unlocked: wait for a busy one that has enough (its row is checked again once its holder commits)
_CLAIM_WAIT = 'ORDER BY b."issuer_held" DESC, b."id" LIMIT 1 FOR UPDATE OF b'
_PG_CLAIMS = {
    named: (
        _pg_block_sql(_CLAIM_WHERE, _CLAIM_FREE, named=named),
        _pg_block_sql(_CLAIM_WHERE, _CLAIM_WAIT, named=named),
    )
    for named in (False, True)
}
_PG_BLOCK_BY_ID = _pg_block_sql('b."id" = ?', "FOR UPDATE OF b")
_SQLITE_RETURNING = f'RETURNING "id", "batch_id", "first_no", "last_no", "seq", "last_hash", ({_SQLITE_TOP}) AS "n"'
_SQLITE_CLAIM = (  # the write takes SQLite's write lock: writers take turns, so the first block with enough is free
    'UPDATE "stock_block" SET "seq" = "seq" WHERE "id" = (SELECT "id" FROM "stock_block" '  # noqa: S608
    f'WHERE "batch_id" = ? AND "issuer_held" >= ? ORDER BY "id" LIMIT 1) {_SQLITE_RETURNING}'
)
_SQLITE_BLOCK_BY_ID = f'UPDATE "stock_block" SET "seq" = "seq" WHERE "id" = ? {_SQLITE_RETURNING}'  # noqa: S608


def _hold_block(row: dict[str, Any]) -> Span:
    """Remember a block row just locked by this transaction."""
    span = Span(int(row["id"]), int(row["batch_id"]), int(row["first_no"]), int(row["last_no"]))
    txn = _transaction()
    state = _locks.get(txn) if txn is not None else None
    if state is None:
        state = LockState()
        if txn is not None:
            _locks[txn] = state
    state.tips[-span.id] = Tip(int(row["seq"]), str(row["last_hash"]))
    state.blocks[span.batch_id] = span
    if sqlrows.is_postgres():
        state.spare.append(int(row["n"]))
    else:
        state.top = max(int(row["n"]), state.top or 0)
    return span


async def claim_block(batch_id: int, quantity: int, *, name: str | None = None) -> Span | None:
    """Lock a block of ``batch_id`` whose pool holds at least ``quantity`` unsold tickets — one that no other
    transaction holds, when there is one — or None when no block has that many (the order needs the whole batch:
    its tickets are spread over blocks, or are in reservations that lapsed). Inside a transaction, as its first
    lock; ``name``: take that named lock (:func:`lock_name`) in the same statement, before the block's."""
    if sqlrows.is_postgres():
        keys = [batch_id] if name is None else [batch_id, name]
        for sql in _PG_CLAIMS[name is not None]:
            # SKIP LOCKED finding nothing does not mean sold out: the blocks with enough may all be busy
            found = await sqlrows.rows(sql, [*keys, batch_id, quantity])
            if found:
                span = _hold_block(found[0])
                state = lock_state()
                if name is not None and state is not None:
                    state.names.add(name)
                return span
        return None
    found = await sqlrows.rows(_SQLITE_CLAIM, [batch_id, quantity])
    return _hold_block(found[0]) if found else None


async def lock_block(batch_id: int, block_id: int) -> Span:
    """Lock the block ``block_id`` of ``batch_id`` (the one an order reserved from)."""
    state = lock_state()
    if state is not None and -block_id in state.tips and batch_id in state.blocks:
        return state.blocks[batch_id]
    if state is not None and state.blocks.get(batch_id, None) is not None:
        raise WiderLockNeeded()  # another block of the same batch: not in a block transaction
    if sqlrows.is_postgres():
        found = await sqlrows.rows(_PG_BLOCK_BY_ID, [batch_id, block_id])
    else:
        found = await sqlrows.rows(_SQLITE_BLOCK_BY_ID, [block_id])
    if not found:
        raise WiderLockNeeded()  # pragma: no cover - blocks are never deleted
    return _hold_block(found[0])


async def spans_of(batch_ids: Iterable[int]) -> dict[int, list[Span]]:
    """The blocks of ``batch_ids`` (none for a batch without), read once per transaction."""
    state = lock_state()
    known = state.spans if state is not None else {}
    missing = sorted({int(b) for b in batch_ids} - set(known))
    if missing:
        found: dict[int, list[Span]] = {b: [] for b in missing}
        rows = (
            await StockBlock.filter(batch_id__in=missing)
            .order_by("first_no")
            .values_list("id", "batch_id", "first_no", "last_no")
        )
        for block_id, batch_id, first, last in rows:
            found[int(batch_id)].append(Span(int(block_id), int(batch_id), int(first), int(last)))
        known.update(found)
    return {int(b): known[int(b)] for b in batch_ids}


async def lock_name(name: str) -> None:
    """Serialise the transactions that take the lock of ``name`` (say, one buyer's unpaid orders, counted against
    a cap) until they end: buyers of different stock blocks no longer take turns on their quota, so a rule about
    one buyer's rows takes its own lock. PostgreSQL: an advisory key ``(2, hash)``; SQLite's writers take turns
    anyway. Take it before reading the rows it protects (a statement of its own: the next one reads after it)."""
    state = lock_state()
    if state is not None and name in state.names:
        return
    if sqlrows.is_postgres():
        await sqlrows.rows(f'SELECT {_PG_NAME_KEY} IS NULL AS "locked"', [name])
    if state is not None:
        state.names.add(name)


def span_at(spans: list[Span], serial: int) -> Span | None:
    """The block holding ``serial``, if any."""
    return next((s for s in spans if s.first_no <= serial <= s.last_no), None)


def remember_fresh(obj: Any) -> None:
    """``obj`` (a model instance) was just read under this transaction's register lock."""
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
    content = {
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
    if entry.chain_seq is not None:  # an entry of a batch's chain (the old single chain's entries have none)
        content["chain_seq"] = entry.chain_seq
    if entry.block_id is not None:  # an entry of a stock block's chain
        content["block"] = entry.block_id
    return content


def hashed_content(entry: RegisterEntry) -> dict[str, Any]:
    """Exactly what an entry's hash covers: the public retirements export carries it, so that anyone can
    recompute ``entry_hash(hashed_content(entry)) == entry.hash`` without the database."""
    return _content(entry)


async def _next_seq(state: LockState) -> int:
    """The entry's number across the register: a sequence on PostgreSQL (no lock), the next one on SQLite (whose
    writers take turns). The lock statement drew one already, mostly."""
    if sqlrows.is_postgres():
        if state.spare:
            return state.spare.pop(0)
        rows = await sqlrows.rows(f'SELECT {_PG_NEXT} AS "n"')
        return int(rows[0]["n"])
    if state.top is None:
        state.top = int((await sqlrows.rows(f'SELECT ({_SQLITE_TOP}) AS "n"'))[0]["n"])
    state.top += 1
    return state.top


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
    """Append one entry to its batch's chain. Runs inside a register transaction; the batch's head is locked now
    if the transaction does not hold it yet. ``from_holder_id`` names the giving holder by id when the caller
    has no need to load it."""
    state = lock_state()
    span = state.blocks.get(batch.id) if state is not None and batch is not None and not state.whole else None
    chain = -span.id if span is not None else _chain_of(batch.id if batch is not None else None)
    if state is None or chain not in state.tips:
        state = await lock_register([chain])
    tip = state.tips[chain]
    seq = await _next_seq(state)
    make = functools.partial(
        _next_entry,
        seq=seq,
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
        block_id=span.id if span is not None else None,
    )
    entry = make(tip)
    advance, key = (_BLOCK_ADVANCE_SQL, -chain) if chain < NO_BATCH else (_ADVANCE_SQL, chain)
    if not await sqlrows.execute(advance, [entry.chain_seq, entry.hash, key, tip.seq]):
        # the remembered tip (or the head row itself) was rolled back with a savepoint: lock and read it again
        if chain < NO_BATCH:  # the block's row is locked by this transaction still (or it would not be here)
            row = (await sqlrows.rows(_BLOCK_TIP_SQL, [key]))[0]
            again = Tip(int(row["seq"]), str(row["last_hash"]))
        else:
            again = (await _lock_heads([chain], postgres=sqlrows.is_postgres()))[chain]
        tip.seq, tip.last_hash = again.seq, again.last_hash
        entry = make(tip)
        await sqlrows.execute(advance, [entry.chain_seq, entry.hash, key, tip.seq])
    await entry.save()
    tip.seq, tip.last_hash = int(entry.chain_seq or 0), entry.hash
    return entry


def _next_entry(
    tip: Tip,
    *,
    seq: int,
    kind: EntryKind,
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
    block_id: int | None,
) -> RegisterEntry:
    values: dict[str, Any] = {"id": seq} if sqlrows.is_postgres() else {}  # id and seq drawn from one sequence
    entry = RegisterEntry(
        **values,
        seq=seq,
        chain_seq=tip.seq + 1,
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
        prev_hash=tip.last_hash,
        hash="",
        block_id=block_id,
    )
    entry.hash = entry_hash(_content(entry))
    return entry


async def settled_seq() -> int | None:
    """The highest ``seq`` below which every entry is committed or never will be (for readers that go on from
    the last ``seq`` they saw), or None when any visible entry is (SQLite: writers take turns, so entries become
    visible in the order of their ``seq``). On PostgreSQL, changes of different batches commit in any order: a
    moment's exclusive lock of the whole register waits for the changes running now, so that every ``seq``
    drawn before it is settled; later ones are higher."""
    if not sqlrows.is_postgres():
        return None
    async with in_transaction():
        await sqlrows.execute(_PG_WHOLE)
        rows = await sqlrows.rows('SELECT COALESCE(MAX("seq"), 0) AS n FROM "register_entry"')
    return int(rows[0]["n"])


async def start_batch_chains() -> int:
    """The migration to one chain per batch (run once, after the schema adds ``chain_head`` and
    ``register_entry.chain_seq``). The entries already written stay as they are — the single chain of old,
    verified as it was written (``chain_seq`` NULL) —, and its tip in :class:`RegisterHead` row 1 stops moving:
    it is the anchor every batch's chain starts from. This writes a head for every batch (and for the entries
    without one) at that anchor, and on PostgreSQL moves the sequence that numbers entries past the old numbers.
    Returns the heads written. A new database has nothing to start from: its chains start as they are used."""
    if not await RegisterEntry.all().exists() and not await Batch.all().exists():
        return 0
    async with register_transaction(whole=True):
        if await RegisterHead.get_or_none(id=1) is None:
            last = await RegisterEntry.filter(chain_seq__isnull=True).order_by("-seq").first()
            await RegisterHead.create(id=1, seq=last.seq if last else 0, last_hash=last.hash if last else GENESIS)
        chains = [NO_BATCH, *await Batch.all().order_by("id").values_list("id", flat=True)]
        have = set(await ChainHead.all().values_list("chain", flat=True))
        for chain in chains:
            if chain not in have:
                await sqlrows.execute(_CREATE_HEAD_SQL, [chain, GENESIS])
        if sqlrows.is_postgres():
            await sqlrows.rows(
                "SELECT setval(pg_get_serial_sequence('register_entry', 'id'), "
                'GREATEST((SELECT COALESCE(MAX("id"), 0) FROM "register_entry"), '
                '(SELECT COALESCE(MAX("seq"), 0) FROM "register_entry"), 1))'
            )
    return len([c for c in chains if c not in have])


# --- verifying ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    entries_checked: int
    first_bad_seq: int | None
    reason: str = ""
    batch_id: int | None = None  # the batch whose chain failed (None: the old single chain, or no batch)
    chain: str = ""  # "history", "batch <id>", "batch <id> block <id>" or "no batch"
    chain_seq: int | None = None  # the failing entry's place in its batch's chain
    chains_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None

    def describe(self) -> str:
        where = f"{self.chain} " if self.chain else ""
        place = f" (#{self.chain_seq} of its chain)" if self.chain_seq is not None else ""
        return f"{where}entry seq={self.first_bad_seq}{place}: {self.reason}"


def chain_name(chain: int | None, block_id: int | None = None) -> str:
    """How reports and digests name a chain: ``batch-<id>``, ``batch-<id>/block-<id>``, ``no-batch`` or
    ``register`` (the old single one)."""
    if chain is None:
        return "register"
    name = "no-batch" if chain == NO_BATCH else f"batch-{chain}"
    return name if block_id is None else f"{name}/block-{block_id}"


async def anchor_hash() -> str:
    """What the first entry of every batch's chain links to: the old single chain's tip (or genesis)."""
    rows = await sqlrows.rows(_ANCHOR_SQL)
    return str(rows[0]["last_hash"]) if rows else GENESIS


async def _verify_history(page_size: int) -> tuple[ChainReport | None, int]:
    """The single chain the register kept before one per batch: seq 1…N, linked one to the next."""
    prev, expected, checked = GENESIS, 1, 0
    last_seq = 0
    history = RegisterEntry.filter(chain_seq__isnull=True)
    while True:
        page = await history.filter(seq__gt=last_seq).order_by("seq").limit(page_size)
        if not page:
            break
        for entry in page:
            last_seq = entry.seq
            if entry.seq != expected:
                return ChainReport(checked, expected, f"entry {expected} is missing", chain="history"), checked
            if entry.prev_hash != prev:
                return ChainReport(checked, entry.seq, "previous hash does not match", chain="history"), checked
            if entry_hash(_content(entry)) != entry.hash:
                return ChainReport(checked, entry.seq, "content does not match its hash", chain="history"), checked
            prev, expected, checked = entry.hash, expected + 1, checked + 1
    head = await RegisterHead.get_or_none(id=1)
    if head is not None and checked and head.last_hash != prev:
        return ChainReport(checked, expected, "entries are missing after the last one", chain="history"), checked
    return None, checked


async def _verify_one(
    chain: int, anchor: str, head: ChainHead | StockBlock | None, page_size: int
) -> tuple[ChainReport | None, int]:
    """One chain: a batch's (``chain`` its id; 0: entries without a batch) or a block's (``head`` the block)."""
    block = head if isinstance(head, StockBlock) else None
    name = "no batch" if chain == NO_BATCH else f"batch {chain}"
    batch_id = None if chain == NO_BATCH else chain
    entries = RegisterEntry.filter(chain_seq__isnull=False)
    entries = entries.filter(batch_id__isnull=True) if chain == NO_BATCH else entries.filter(batch_id=chain)
    if block is not None:
        name = f"{name} block {block.id}"
        entries = entries.filter(block_id=block.id)
    else:
        entries = entries.filter(block_id__isnull=True)
    prev, expected, checked, last_seq = anchor, 1, 0, 0

    def bad(entry_seq: int | None, chain_seq: int, reason: str) -> tuple[ChainReport, int]:
        return ChainReport(checked, entry_seq, reason, batch_id, name, chain_seq), checked

    while True:
        page = await entries.filter(chain_seq__gte=expected).order_by("chain_seq").limit(page_size)
        if not page:
            break
        for entry in page:
            if entry.chain_seq != expected:
                return bad(entry.seq, expected, f"entry {expected} of the chain is missing")
            if entry.prev_hash != prev:
                return bad(entry.seq, expected, "previous hash does not match")
            if entry_hash(_content(entry)) != entry.hash:
                return bad(entry.seq, expected, "content does not match its hash")
            prev, expected, checked, last_seq = entry.hash, expected + 1, checked + 1, int(entry.seq)
    if head is not None and (int(head.seq) != checked or head.last_hash != prev):
        # entries missing after the last one, or the last one rewritten and re-hashed: the head names another tip
        return bad(last_seq, checked, "the chain's head does not match its last entry")
    return None, checked


async def _block_anchor_bad(block: StockBlock) -> ChainReport | None:
    """A block's chain must start from an entry of its batch's own chain."""
    if await RegisterEntry.filter(batch_id=block.batch_id, block_id__isnull=True, hash=block.anchor_hash).exists():
        return None
    name = f"batch {block.batch_id} block {block.id}"
    first = await RegisterEntry.filter(block_id=block.id).order_by("chain_seq").first()
    reason = "the block's chain does not start from its batch's chain"
    return ChainReport(0, int(first.seq) if first else 0, reason, block.batch_id, name, 1)


async def verify_chain(page_size: int = 5000) -> ChainReport:
    """Recompute every entry's hash, chain by chain (the old single chain first, then every batch's in the order
    of its id, each followed by its blocks'); name the first chain and entry that does not match."""
    report, total = await _verify_history(page_size)
    if report is not None:
        return report
    history = 1 if total else 0
    anchor = await anchor_hash()
    heads: dict[int, ChainHead] = {int(h.chain): h for h in await ChainHead.all()}
    chains = set(heads)
    chained = RegisterEntry.filter(chain_seq__isnull=False).order_by("batch_id").distinct()
    chains.update(_chain_of(row["batch_id"]) for row in await chained.values("batch_id"))
    blocks: dict[int, list[StockBlock]] = {}
    for block in await StockBlock.all().order_by("id"):
        blocks.setdefault(int(block.batch_id), []).append(block)
    stray = (
        await RegisterEntry.filter(block_id__isnull=False)
        .exclude(block_id__in=[b.id for v in blocks.values() for b in v])
        .first()
    )
    if stray is not None:
        return ChainReport(total, int(stray.seq), "the entry names a block that does not exist", stray.batch_id, "")
    runs: list[tuple[int, str, ChainHead | StockBlock | None]] = []
    for chain in sorted(chains | set(blocks)):
        runs.append((chain, anchor, heads.get(chain)))
        runs.extend((chain, b.anchor_hash, b) for b in blocks.get(chain, []))
    for chain, start, head in runs:
        report = await _block_anchor_bad(head) if isinstance(head, StockBlock) else None
        checked = 0
        if report is None:
            report, checked = await _verify_one(chain, start, head, page_size)
        if report is not None:
            return ChainReport(
                total + report.entries_checked,
                report.first_bad_seq,
                report.reason,
                report.batch_id,
                report.chain,
                report.chain_seq,
                len(runs) + history,
            )
        total += checked
    return ChainReport(total, None, chains_checked=len(runs) + history)
