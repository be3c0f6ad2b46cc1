"""Daily digests of the register (登记簿每日摘要), so that anyone can prove later that no past entry was rewritten.

For every closed Beijing day the register publishes one :class:`RegisterDigest`:

* ``chains``: the head of every hash chain at the end of the day — its name, the place in its chain and hash of
  its last entry: one chain per batch (``batch-<id>``), one for entries without a batch (``no-batch``) and, on a
  register that had it, ``register``, the single chain kept before (:mod:`registry.chain`);
* ``merkle_root``: a Merkle root over those heads;
* ``entries_root``: a Merkle root over the hashes of the entries appended that day (ordered by chain name, then
  place in the chain), so a single exported entry can be checked against the day's digest with a short proof
  (:func:`proof_for`) instead of the whole register;
* ``entry_count`` (entries in the register at the end of the day) and ``day_entries`` (appended that day).

**Pairing rule** (RFC 6962 style, SHA-256): a leaf is ``sha256(0x00 ‖ data)``, an inner node
``sha256(0x01 ‖ left ‖ right)``; a level with an odd number of nodes carries its last node up unchanged; the
root of no leaves is ``sha256("")``. A chain head's data is the UTF-8 text ``"{chain}:{head_seq}:{head_hash}"``,
heads sorted by chain name; an entry's data is the 32 bytes of its hash. A proof lists, from the leaf up, each
sibling as ``L<hex>`` (it sits left) or ``R<hex>`` (it sits right).

Digests are written by ``linpiao digest`` (run it after midnight) and, for any closed day that lacks one, on
demand when ``/api/v1/register/digests`` is read (``published_by`` says which). A stored digest is never
recomputed: it is what was published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Max
from tortoise.models import Model

from kernel import clock
from registry.chain import GENESIS, NO_BATCH, chain_name
from registry.errors import RegisterError
from registry.models import RegisterEntry

REGISTER_CHAIN = "register"
TIMEZONE = clock.CITY_TZ.key  # "Asia/Shanghai", named in published digests
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
PAIRING_RULE = (
    "SHA-256; leaf = sha256(0x00 || data), node = sha256(0x01 || left || right); an odd node is carried up "
    "unchanged; no leaves: sha256(''). Chain heads: data = UTF-8 '{chain}:{head_seq}:{head_hash}', sorted by chain. "
    "Entries of the day: data = the 32 bytes of each entry hash, ordered by chain then seq. "
    "Proof: siblings from the leaf up, 'L<hex>' on the left, 'R<hex>' on the right."
)


class DayNotClosed(RegisterError):
    code = "day_not_closed"
    message = "该日尚未结束（北京时间），还没有摘要"


class PublishedBy(StrEnum):
    CLI = "cli"  # `linpiao digest`
    ON_DEMAND = "on_demand"  # first read of /api/v1/register/digests after the day closed


# --- Merkle trees -----------------------------------------------------------------------------------------


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> str:
    if not leaves:
        return EMPTY_ROOT
    return _levels(leaves)[-1][0].hex()


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[str]:
    """The siblings from leaf ``index`` up to the root, as ``L<hex>`` / ``R<hex>``."""
    proof: list[str] = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(("L" if sibling < index else "R") + level[sibling].hex())
        index //= 2
    return proof


def verify_proof(leaf_hash: bytes, proof: Sequence[str], root: str) -> bool:
    current = leaf_hash
    for step in proof:
        side, sibling = step[:1], bytes.fromhex(step[1:])
        current = node(sibling, current) if side == "L" else node(current, sibling)
    return current.hex() == root


# --- chains -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """The last entry of one hash chain at some moment (``head_seq`` 0 and the genesis hash: still empty)."""

    chain: str
    head_seq: int
    head_hash: str

    def as_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "head_seq": self.head_seq, "head_hash": self.head_hash}


def head_leaf(head: ChainHead) -> bytes:
    return leaf(f"{head.chain}:{head.head_seq}:{head.head_hash}".encode())


def heads_root(heads: Sequence[ChainHead]) -> str:
    """The Merkle root over every chain's head, heads sorted by chain name."""
    return merkle_root([head_leaf(h) for h in sorted(heads, key=lambda h: h.chain)])


def entry_leaf(entry_hash: str) -> bytes:
    return leaf(bytes.fromhex(entry_hash))


def _chain_of(batch_id: int | None, chain_seq: int | None, block_id: int | None = None) -> str:
    return REGISTER_CHAIN if chain_seq is None else chain_name(_chain_key(batch_id), block_id)


def _chain_key(batch_id: int | None) -> int:
    return NO_BATCH if batch_id is None else int(batch_id)


async def chain_heads(until: datetime) -> list[ChainHead]:
    """The head of every chain just before ``until``: every batch's (``batch-<id>``) and every stock block's
    (``batch-<id>/block-<id>``), the entries' without a batch (``no-batch``), and ``register``, the single chain
    kept before one per batch, when the register has one (:mod:`registry.chain`). An empty register has the one
    empty chain ``register``."""
    heads: list[ChainHead] = []
    last = await RegisterEntry.filter(created_at__lt=until, chain_seq__isnull=True).order_by("-seq").first()
    if last is not None:
        heads.append(ChainHead(REGISTER_CHAIN, int(last.seq), last.hash))
    tips = (
        await RegisterEntry.filter(created_at__lt=until, chain_seq__isnull=False)
        .annotate(tip=Max("chain_seq"))
        .group_by("batch_id", "block_id")
        .order_by("batch_id", "block_id")
        .values_list("batch_id", "block_id", "tip")
    )
    if tips:
        wanted = Q(*(Q(batch_id=b, block_id=k, chain_seq=t) for b, k, t in tips), join_type="OR")
        for batch_id, block_id, chain_seq, value in await RegisterEntry.filter(wanted).values_list(
            "batch_id", "block_id", "chain_seq", "hash"
        ):
            heads.append(ChainHead(_chain_of(batch_id, chain_seq, block_id), int(chain_seq), str(value)))
    if not heads:
        return [ChainHead(REGISTER_CHAIN, 0, GENESIS)]
    return sorted(heads, key=lambda h: h.chain)


async def day_leaves(day: date) -> list[tuple[int, str]]:
    """``(seq, hash)`` of the entries appended on a Beijing day, in the order the day's tree takes them: by chain
    name, then by place in the chain."""
    rows = await RegisterEntry.filter(
        created_at__gte=clock.day_start(day), created_at__lt=clock.day_end(day)
    ).values_list("seq", "hash", "batch_id", "chain_seq", "block_id")
    ordered = sorted(rows, key=lambda r: (_chain_of(r[2], r[3], r[4]), int(r[3] if r[3] is not None else r[0])))
    return [(int(seq), str(value)) for seq, value, _batch, _place, _block in ordered]


# --- digests ----------------------------------------------------------------------------------------------


class RegisterDigest(Model):
    """What the register published for one closed Beijing day."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    entry_count = fields.BigIntField()
    day_entries = fields.BigIntField()
    chains = fields.JSONField(default=list)  # [{"chain", "head_seq", "head_hash"}]
    merkle_root = fields.CharField(max_length=64)
    entries_root = fields.CharField(max_length=64)
    published_by = fields.CharEnumField(PublishedBy, max_length=16)
    published_at = fields.DatetimeField()

    class Meta:
        table = "register_digest"


def digest_json(digest: RegisterDigest) -> dict[str, Any]:
    return {
        "day": digest.day.isoformat(),
        "timezone": TIMEZONE,
        "entry_count": int(digest.entry_count),
        "day_entries": int(digest.day_entries),
        "chains": list(digest.chains),
        "merkle_root": digest.merkle_root,
        "entries_root": digest.entries_root,
        "published_by": str(digest.published_by),
        "published_at": clock.local(digest.published_at).isoformat(timespec="seconds"),
    }


async def compute_digest(day: date) -> dict[str, Any]:
    """The digest of a Beijing day as the register stands now (not stored)."""
    end = clock.day_end(day)
    heads = await chain_heads(end)
    leaves = await day_leaves(day)
    return {
        "day": day,
        "entry_count": await RegisterEntry.filter(created_at__lt=end).count(),
        "day_entries": len(leaves),
        "chains": [h.as_json() for h in sorted(heads, key=lambda h: h.chain)],
        "merkle_root": heads_root(heads),
        "entries_root": merkle_root([entry_leaf(h) for _, h in leaves]),
    }


def _check_closed(day: date) -> None:
    if day >= clock.today():
        raise DayNotClosed(day.isoformat())


async def publish_digest(day: date, *, published_by: PublishedBy) -> RegisterDigest:
    """Store the digest of a closed day, or return the one already published (never recomputed)."""
    _check_closed(day)
    existing = await RegisterDigest.get_or_none(day=day)
    if existing is not None:
        return existing
    values = await compute_digest(day)
    try:
        return await RegisterDigest.create(**values, published_by=published_by, published_at=clock.now())
    except IntegrityError:  # another worker published it a moment ago: theirs stands
        return await RegisterDigest.get(day=day)


async def first_day() -> date | None:
    first = await RegisterEntry.all().order_by("created_at").first()
    return clock.local_date(first.created_at) if first is not None else None


async def publish_missing(*, published_by: PublishedBy) -> list[RegisterDigest]:
    """Publish a digest for every closed day since the register's first entry that has none."""
    start = await first_day()
    if start is None:
        return []
    last = clock.today() - timedelta(days=1)
    have = set(await RegisterDigest.filter(day__gte=start).values_list("day", flat=True))
    made = []
    day = start
    while day <= last:
        if day not in have:
            made.append(await publish_digest(day, published_by=published_by))
        day += timedelta(days=1)
    return made


async def digests(*, before: date | None = None, limit: int = 31) -> list[RegisterDigest]:
    """Published digests, newest first (keyset on the day)."""
    query = RegisterDigest.all()
    if before is not None:
        query = query.filter(day__lt=before)
    return await query.order_by("-day").limit(limit)


async def digest_of(day: date) -> RegisterDigest | None:
    """The published digest of ``day``; a closed day since the first entry without one is published now."""
    if day >= clock.today():
        return None
    existing = await RegisterDigest.get_or_none(day=day)
    if existing is not None:
        return existing
    start = await first_day()
    if start is None or day < start:
        return None
    return await publish_digest(day, published_by=PublishedBy.ON_DEMAND)


async def latest_digest() -> RegisterDigest | None:
    return await RegisterDigest.all().order_by("-day").first()


class DayTrees:
    """Proofs for entries against the ``entries_root`` of their day, each day's leaves read once."""

    def __init__(self) -> None:
        self._days: dict[date, tuple[list[bytes], dict[int, int]]] = {}

    async def proof(self, entry: RegisterEntry) -> tuple[date, list[str]] | None:
        """``(day, proof)`` for a closed day's entry; ``None`` while its day is still open."""
        day = clock.local_date(entry.created_at)
        if day >= clock.today():
            return None
        if day not in self._days:
            await digest_of(day)  # an export only names days whose digest is published
            rows = await day_leaves(day)
            self._days[day] = ([entry_leaf(h) for _, h in rows], {seq: i for i, (seq, _) in enumerate(rows)})
        leaves, index = self._days[day]
        position = index.get(int(entry.seq))
        if position is None:  # pragma: no cover - the entry was read from the same table a moment ago
            return None
        return day, merkle_proof(leaves, position)
