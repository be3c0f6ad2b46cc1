"""Stock blocks (库存分块): a carbon quota's serials cut into slices that buyers lock one at a time.

One hash chain and one head row per batch keep the register honest, but they make every order of one quota wait
for the one before it. So a quota's serials ``1..total`` are cut, when it opens, into at most :data:`MAX_BLOCKS`
consecutive blocks (:class:`registry.models.StockBlock`) of at least :data:`MIN_BLOCK` tickets. Each block has its
own chain (starting from an entry of the batch's chain) and its own counters, and every range the pool holds or
has reserved lies inside one block — so an order reserves, is paid and is retired inside one block, under that
block's lock only, and buyers of one quota proceed side by side (:mod:`registry.chain`: ``claim_block``).

An order larger than what any one block has left (or one that needs reservations that lapsed to be given back)
takes the batch's lock instead, which waits for the blocks' transactions, and may take tickets from several
blocks: its entries go to the batch's chain, its counts to each block by serial.

:func:`cut_blocks` is the one writer of blocks: :func:`registry.quotas.open_quota` calls it right after the issue,
the migration that adds blocks calls it for every open quota (:func:`cut_open_quotas`).
"""

from __future__ import annotations

from registry import chain, counters, sqlrows
from registry.counters import BatchStock
from registry.models import Batch, Holding, HoldingState, StockBlock, TicketKind

MAX_BLOCKS = 64
MIN_BLOCK = 100


def plan(total_units: int) -> list[tuple[int, int]]:
    """The serial ranges of the blocks of a quota of ``total_units``: as many as fit :data:`MIN_BLOCK` tickets
    each, at most :data:`MAX_BLOCKS`, of equal size but the last."""
    count = max(1, min(MAX_BLOCKS, total_units // MIN_BLOCK))
    size = -(-total_units // count)
    return [(first, min(total_units, first + size - 1)) for first in range(1, total_units + 1, size)]


async def _split_at(batch: Batch, bounds: list[int]) -> None:
    """Cut the batch's ranges that may still change (held or reserved) at the blocks' first serials, so that each
    lies inside one block. A retired range never changes again and stays as it is. Units do not change hands or
    state here: the counters are shared out by :func:`registry.counters.share_with_blocks` right after."""
    live = [str(HoldingState.HELD), str(HoldingState.RESERVED)]
    for cut in bounds:
        where = '"m"."batch_id" = ? AND "m"."first_no" < ? AND "m"."last_no" >= ? AND "m"."state" IN (?, ?)'
        for holding in await sqlrows.select(Holding, where, [batch.id, cut, cut, *live]):
            last = int(holding.last_no)
            holding.last_no = cut - 1
            await holding.save(update_fields=["last_no"])
            await Holding.create(
                batch_id=batch.id,
                holder_id=holding.holder_id,
                first_no=cut,
                last_no=last,
                state=holding.state,
                order_id=holding.order_id,
                reserved_until=holding.reserved_until,
                retirement_id=holding.retirement_id,
                purpose=holding.purpose,
            )


async def cut_blocks(batch: Batch) -> list[StockBlock]:
    """Cut a carbon quota into stock blocks (:func:`plan`), once: inside a register transaction that holds the
    batch's own lock or the whole register. Returns the blocks (those it had, when it was cut before)."""
    if batch.kind is not TicketKind.CARBON:
        raise ValueError("only a carbon quota is sold in blocks")
    state = chain.lock_state()
    if state is None or state.blocks:
        raise RuntimeError("cut a quota into blocks under its batch's lock or the whole register's")
    tip = (await chain.lock_register([batch.id])).tips[batch.id]
    have = await StockBlock.filter(batch_id=batch.id).order_by("first_no")
    if have:
        return list(have)
    stock = await BatchStock.get(batch_id=batch.id)
    ranges = plan(int(batch.total_units))
    await _split_at(batch, [first for first, _last in ranges[1:]])
    blocks = [
        await StockBlock.create(
            batch_id=batch.id,
            issuer_id=stock.issuer_id,
            first_no=first,
            last_no=last,
            seq=0,
            last_hash=tip.last_hash,
            anchor_hash=tip.last_hash,
        )
        for first, last in ranges
    ]
    await counters.share_with_blocks({batch.id: stock})
    await stock.save(update_fields=list(counters.COUNTS))
    state.spans.pop(batch.id, None)
    return blocks


async def cut_open_quotas() -> int:
    """The migration's step: cut every open carbon quota not yet cut (under the whole register's lock). Pending
    orders keep reserving from the batch (their ``block_id`` is NULL) and are paid under its lock. Returns the
    quotas cut."""
    cut = 0
    async with chain.register_transaction(whole=True):
        blocked = set(await StockBlock.all().distinct().values_list("batch_id", flat=True))
        for batch in await Batch.filter(kind=TicketKind.CARBON, is_open=True).order_by("id"):
            if batch.id not in blocked and await BatchStock.exists(batch_id=batch.id):
                await cut_blocks(batch)
                cut += 1
    return cut
