"""Holdings are serial ranges: moving a million units writes as many rows as moving one."""

from __future__ import annotations

from factories import make_batch, make_holder
from registry import register
from registry.models import ChainHead, Holding, RegisterEntry, RegisterHead, TicketKind


async def _rows() -> dict[tuple[str, int], tuple]:
    """Every row of the tables an operation may write, keyed by table and id."""
    rows: dict[tuple[str, int], tuple] = {}
    for h in await Holding.all():
        rows[("holding", h.id)] = (h.holder_id, h.first_no, h.last_no, str(h.state), h.order_id, h.purpose)
    for e in await RegisterEntry.all():
        rows[("entry", e.id)] = (e.hash,)
    for head in await RegisterHead.all():
        rows[("head", head.id)] = (head.seq, head.last_hash)
    for tip in await ChainHead.all():
        rows[("chain head", tip.chain)] = (tip.seq, tip.last_hash)
    return rows


def _written(before: dict, after: dict) -> int:
    inserted = len(after.keys() - before.keys())
    deleted = len(before.keys() - after.keys())
    updated = sum(1 for key in before.keys() & after.keys() if before[key] != after[key])
    return inserted + deleted + updated


async def _transfer_rows(quantity: int) -> int:
    seller = await make_holder()
    buyer = await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=2_000_000, holder=seller)
    before = await _rows()
    await register.transfer_units(batch=batch, from_holder=seller, to_holder=buyer, quantity=quantity)
    return _written(before, await _rows())


async def test_transfer_of_one_and_of_a_million_write_the_same_rows(db):
    one = await _transfer_rows(1)
    million = await _transfer_rows(1_000_000)
    assert one == million
    assert one == 4  # the split range, the new range, the entry, the batch's chain head
