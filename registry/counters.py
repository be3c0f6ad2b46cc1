"""Counters of the register (库存计数): what the public figures read instead of scanning holdings and orders.

Two tables, kept by the register's own functions in the same transaction as each change
(:mod:`registry.register`: every holding row it writes reports its change here, and the operation writes the sums
before it ends), so a figure costs the same with one order sold or a million:

* :class:`BatchStock` — one row per batch: units held, reserved and retired (all holders together), and the same
  three for the holder the batch was issued to (its *issuer*: for a carbon quota, the city's carbon pool, which
  the shop sells from). ``held + reserved + retired`` is always the batch's ``total_units``.
* :class:`BatchSales` — units, fen and retirements of one batch by purpose and Beijing day, plus one all-time row
  per purpose (``day == ALL_TIME``). The purpose is the retired order's ``Order.purpose`` (``travel`` …
  ``planting``), ``compensation`` / ``green_land_offset`` for those workflows, ``other`` otherwise.

Lapsed reservations: a reservation past its expiry counts as available (its order lapsed) even before
:func:`registry.register.expire_reservations` hands the units back. The counters keep reservations as reserved
until that happens; readers add the lapsed part with :func:`lapsed_units`, one aggregate over the *reserved*
rows whose expiry has passed (index ``holding(state, reserved_until)``), so it costs what the open reservations
cost, never what was sold.

:func:`rebuild_counters` recomputes both tables from the holdings and the register entries (the migration that
adds them and ``linpiao rebuild-counters`` call it); :func:`recount` computes the same without writing, which the
property test compares with the stored rows after every step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model

from kernel import clock
from registry import chain, sqlrows
from registry.chain import Span
from registry.models import Batch, EntryKind, Holding, HoldingState, Order, RegisterEntry, StockBlock

ALL_TIME = date(1, 1, 1)  # BatchSales.day of the all-time row of a purpose
STATES = (HoldingState.HELD, HoldingState.RESERVED, HoldingState.RETIRED)
REBUILD_PAGE = 5000


class BatchStock(Model):
    """Units of one batch by state, for all holders and for the holder it was issued to."""

    id = fields.IntField(primary_key=True)
    batch: fields.OneToOneRelation[Batch] = fields.OneToOneField(
        "models.Batch", related_name="stock", on_delete=fields.RESTRICT
    )
    # the holder the batch was issued to: a carbon quota's pool (registry.pool), a land batch's first holder
    issuer: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Holder", related_name="issued_stock", on_delete=fields.RESTRICT
    )
    held = fields.BigIntField(default=0)
    reserved = fields.BigIntField(default=0)
    retired = fields.BigIntField(default=0)
    issuer_held = fields.BigIntField(default=0)
    issuer_reserved = fields.BigIntField(default=0)
    issuer_retired = fields.BigIntField(default=0)

    class Meta:
        table = "batch_stock"

    @property
    def retired_to_others(self) -> int:
        """Units retired to someone other than the issuer: for a carbon quota, the tickets sold."""
        return int(self.retired) - int(self.issuer_retired)


class BatchSales(Model):
    """Retirements of one batch for one purpose on one Beijing day (``ALL_TIME``: ever)."""

    id = fields.IntField(primary_key=True)
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="sales", on_delete=fields.RESTRICT
    )
    purpose = fields.CharField(max_length=32)
    day = fields.DateField()
    units = fields.BigIntField(default=0)
    amount_fen = fields.BigIntField(default=0)
    entries = fields.BigIntField(default=0)
    # 0, or the stock block whose sales the row counts (buyers of different blocks never write one row)
    shard = fields.BigIntField(default=0)

    class Meta:
        table = "batch_sales"
        unique_together = (("batch", "purpose", "day", "shard"),)


# ---------------------------------------------------------------------------------------------------------
# Keeping them: a tally per register operation, written once at its end
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one register operation changed: units by (batch, holder, state, first serial of the range: which
    stock block counts them), and sales by (batch, purpose, day, shard)."""

    units: defaultdict[tuple[int, int, HoldingState, int], int] = field(default_factory=lambda: defaultdict(int))
    sales: defaultdict[tuple[int, str, date, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )


_current: ContextVar[Tally | None] = ContextVar("register_tally", default=None)


def _tally() -> Tally:
    tally = _current.get()
    if tally is None:
        raise RuntimeError("holdings change only inside a register operation (registry.register)")
    return tally


def holding_changed(batch_id: int, holder_id: int, state: HoldingState | str, units: int, first_no: int) -> None:
    """``units`` (negative: fewer) of ``holder_id``'s units of a batch, in the range starting at ``first_no``,
    are now (no longer) in ``state``."""
    if units:
        _tally().units[(batch_id, holder_id, HoldingState(state), int(first_no))] += units


def _block_held(batch_id: int) -> Span | None:
    state = chain.lock_state()
    return state.blocks.get(batch_id) if state is not None and not state.whole else None


def retired_for(batch_id: int, purpose: str, moment: datetime, units: int, amount_fen: int | None) -> None:
    """A retirement entry of ``units`` for ``purpose`` written at ``moment`` (its Beijing day counts), in the
    rows of the stock block this transaction holds (so buyers of different blocks never write one row)."""
    day = clock.local_date(moment)
    block = _block_held(batch_id)
    shard = block.id if block is not None else 0
    for key in ((batch_id, purpose, day, shard), (batch_id, purpose, ALL_TIME, shard)):
        row = _tally().sales[key]
        row[0] += units
        row[1] += int(amount_fen or 0)
        row[2] += 1


@asynccontextmanager
async def keeping() -> AsyncIterator[Tally]:
    """Collect the changes of one register operation and write them when it ends without an error (inside its
    transaction: a rolled-back operation leaves the counters as they were). Nested operations keep their own."""
    tally = Tally()
    token = _current.set(tally)
    try:
        yield tally
    finally:
        _current.reset(token)
    await flush(tally)


async def _targets(tally: Tally) -> dict[tuple[str, int], dict[tuple[int, HoldingState], int]]:
    """The tally's units by the row that counts them: ``("block", id)`` for ranges inside a stock block,
    ``("batch", id)`` for the rest. A block transaction changes its own block only (anything else is a bug that
    must not write: it raises); other transactions read the blocks of the batches they changed, once."""
    changed = {batch_id for (batch_id, _h, _s, _f), units in tally.units.items() if units}
    held = {b: span for b in changed if (span := _block_held(b)) is not None}
    spans = await chain.spans_of(changed - set(held)) if changed - set(held) else {}
    targets: dict[tuple[str, int], dict[tuple[int, HoldingState], int]] = defaultdict(lambda: defaultdict(int))
    for (batch_id, holder_id, state, first), units in tally.units.items():
        if not units:
            continue
        if batch_id in held:
            if not held[batch_id].covers(first, first):
                raise RuntimeError(f"a block transaction changed serial {first} outside its block")
            target = ("block", held[batch_id].id)
        else:
            span = chain.span_at(spans.get(batch_id, []), first)
            target = ("block", span.id) if span is not None else ("batch", batch_id)
        targets[target][(holder_id, state)] += units
    return targets


async def flush(tally: Tally) -> None:
    """One UPDATE per batch or stock block touched (a CASE gives the issuer its part), one upsert for the sales."""
    conn = sqlrows.connection()
    for (table, row_id), changes in sorted((await _targets(tally)).items()):
        sets: list[str] = []
        params: list[Any] = []
        for state in STATES:
            total = sum(units for (_h, s), units in changes.items() if s is state)
            if total:  # CAST: PostgreSQL would type a bare parameter as the integer it is compared with
                sets.append(f'"{state}" = "{state}" + CAST(? AS BIGINT)')
                params.append(total)
            mine = [(holder, units) for (holder, s), units in changes.items() if s is state]
            if mine:
                whens = " ".join("WHEN ? THEN CAST(? AS BIGINT)" for _ in mine)
                sets.append(f'"issuer_{state}" = "issuer_{state}" + CASE "issuer_id" {whens} ELSE 0 END')
                params.extend(value for pair in mine for value in pair)
        if not sets:
            continue
        where = (
            '"stock_block" SET {} WHERE "id" = ?' if table == "block" else '"batch_stock" SET {} WHERE "batch_id" = ?'
        )
        # table and column names are this module's constants; every value is a parameter
        sql = "UPDATE " + where.format(", ".join(sets))
        updated, _rows = await conn.execute_query(sqlrows.numbered(sql, conn), [*params, row_id])
        if not updated and table == "batch":  # a batch issued before the counters existed (or just issued): count it
            counted = await _count_batch(row_id)
            if counted.issuer_id is not None:
                await _store_stock([counted])
    sales = [(key, row) for key, row in tally.sales.items() if row[2]]
    if sales:
        postgres = sqlrows.is_postgres(conn)
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in sales)
        sql = (  # placeholders only: every value is a parameter
            'INSERT INTO "batch_sales" ("batch_id", "purpose", "day", "shard", "units", "amount_fen", "entries") '  # noqa: S608
            f'VALUES {values} ON CONFLICT ("batch_id", "purpose", "day", "shard") DO UPDATE SET '
            '"units" = "batch_sales"."units" + excluded."units", '
            '"amount_fen" = "batch_sales"."amount_fen" + excluded."amount_fen", '
            '"entries" = "batch_sales"."entries" + excluded."entries"'
        )
        params = []
        for (batch_id, purpose, day, shard), (units, amount, entries) in sorted(sales):
            params.extend([batch_id, purpose, day if postgres else day.isoformat(), shard, units, amount, entries])
        await conn.execute_query(sqlrows.numbered(sql, conn), params)


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


COUNTS = ("held", "reserved", "retired", "issuer_held", "issuer_reserved", "issuer_retired")


async def add_blocks(rows: Iterable[BatchStock]) -> None:
    """Add each batch's stock blocks to its counters row (in memory): a quota's row counts what lies outside its
    blocks, each block what lies inside it. One statement, ≤ 64 blocks per quota."""
    by_batch = {int(row.batch_id): row for row in rows}
    if not by_batch:
        return
    for batch_id, *values in await StockBlock.filter(batch_id__in=sorted(by_batch)).values_list("batch_id", *COUNTS):
        row = by_batch[int(batch_id)]
        for name, value in zip(COUNTS, values, strict=True):
            setattr(row, name, int(getattr(row, name)) + int(value))


async def stocks(batch_ids: Iterable[int] | None = None, **filters: Any) -> list[BatchStock]:
    """The counters of ``batch_ids`` (all batches: None), blocks included, each with its batch; ``filters`` narrow
    the rows as the ORM's ``filter`` does (``batch__kind=…``)."""
    query = BatchStock.filter(**filters) if batch_ids is None else BatchStock.filter(batch_id__in=list(batch_ids))
    if batch_ids is not None and filters:
        query = query.filter(**filters)
    rows = await query.select_related("batch")
    await add_blocks(rows)
    return rows


async def stock_of(batch: Batch | int) -> BatchStock:
    """The batch's counters (counted from its holdings, without writing, when it has no row yet)."""
    batch_id = batch if isinstance(batch, int) else batch.id
    row = await BatchStock.get_or_none(batch_id=batch_id)
    if row is None:
        return await _count_batch(batch_id)
    await add_blocks([row])
    return row


async def lapsed_units(
    batch_id: int | None = None, holder_id: int | None = None, *, now: datetime | None = None
) -> int:
    """Units reserved for orders whose reservation has run out (they count as available again)."""
    query = Holding.filter(state=HoldingState.RESERVED, reserved_until__lt=clock.utc(now or clock.now()))
    if batch_id is not None:
        query = query.filter(batch_id=batch_id)
    if holder_id is not None:
        query = query.filter(holder_id=holder_id)
    return sum(int(last) - int(first) + 1 for first, last in await query.values_list("first_no", "last_no"))


async def lapsed_by_batch(*, now: datetime | None = None) -> dict[int, int]:
    """Lapsed reserved units of every batch (all holders)."""
    lapsed_rows = Holding.filter(state=HoldingState.RESERVED, reserved_until__lt=clock.utc(now or clock.now()))
    rows = await lapsed_rows.values_list("batch_id", "first_no", "last_no")
    lapsed: dict[int, int] = defaultdict(int)
    for batch_id, first, last in rows:
        lapsed[int(batch_id)] += int(last) - int(first) + 1
    return dict(lapsed)


async def available(batch: Batch | int, holder_id: int, *, now: datetime | None = None) -> int:
    """Units ``holder_id`` holds free to sell: held, plus reserved past their expiry. O(1) for the batch's issuer
    (the counters), otherwise the holder's own ranges."""
    batch_id = batch if isinstance(batch, int) else batch.id
    stock = await BatchStock.get_or_none(batch_id=batch_id)
    if stock is not None:
        await add_blocks([stock])
    if stock is not None and stock.issuer_id == holder_id:
        held = int(stock.issuer_held)
    else:
        ranges = await Holding.filter(batch_id=batch_id, holder_id=holder_id, state=HoldingState.HELD).values_list(
            "first_no", "last_no"
        )
        held = sum(int(last) - int(first) + 1 for first, last in ranges)
    return held + await lapsed_units(batch_id, holder_id, now=now)


@dataclass(frozen=True)
class SalesFigures:
    units: int = 0
    amount_fen: int = 0
    entries: int = 0


async def sales_by_purpose(
    batch_ids: Iterable[int] | None = None, *, since: date | None = None
) -> dict[str, SalesFigures]:
    """Retirements by purpose: all time, or from the Beijing day ``since`` on (rows per day: at most a week's
    worth for "this week")."""
    query = BatchSales.all()
    if batch_ids is not None:
        query = query.filter(batch_id__in=list(batch_ids))
    query = query.filter(day=ALL_TIME) if since is None else query.filter(day__gte=since)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for purpose, units, amount, entries in await query.values_list("purpose", "units", "amount_fen", "entries"):
        row = totals[str(purpose)]
        row[0] += int(units)
        row[1] += int(amount)
        row[2] += int(entries)
    return {purpose: SalesFigures(*row) for purpose, row in totals.items()}


# ---------------------------------------------------------------------------------------------------------
# Counting from scratch: the rebuild, and the recount the property test compares with
# ---------------------------------------------------------------------------------------------------------


def sale_purpose(entry_details: Any, order_purpose: str | None) -> str:
    """The purpose a retirement is counted under (see the module's docstring)."""
    if order_purpose:
        return order_purpose
    details = entry_details if isinstance(entry_details, dict) else {}
    if details.get("compensation_case"):
        return "compensation"
    if details.get("green_land_offset"):
        return "green_land_offset"
    return "other"


def order_id_of(details: Any) -> int | None:
    value = details.get("order") if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _issuers(batch_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Each batch's issuer: the holder its issue entry gave the units to."""
    query = RegisterEntry.filter(kind=EntryKind.ISSUE)
    if batch_ids is not None:
        query = query.filter(batch_id__in=list(batch_ids))
    return {int(b): int(h) for b, h in await query.values_list("batch_id", "to_holder_id") if b is not None}


async def _count_batch(batch_id: int) -> BatchStock:
    counted = (await _count_stock([batch_id])).get(batch_id)
    return counted if counted is not None else BatchStock(batch_id=batch_id, issuer_id=None)


async def _count_stock(batch_ids: Iterable[int] | None = None) -> dict[int, BatchStock]:
    issuers = await _issuers(batch_ids)
    stock = {b: BatchStock(batch_id=b, issuer_id=h) for b, h in issuers.items()}
    query = Holding.all() if batch_ids is None else Holding.filter(batch_id__in=list(batch_ids))
    last_id = 0
    while True:  # page by id: a rebuild of a large register never holds every row at once
        page = (
            await query.filter(id__gt=last_id)
            .order_by("id")
            .limit(REBUILD_PAGE)
            .values_list("id", "batch_id", "holder_id", "state", "first_no", "last_no")
        )
        if not page:
            break
        for row_id, batch_id, holder_id, state, first, last in page:
            last_id = int(row_id)
            row = stock.get(int(batch_id))
            if row is None:
                continue
            units = int(last) - int(first) + 1
            name = str(HoldingState(state))
            setattr(row, name, int(getattr(row, name) or 0) + units)
            if int(holder_id) == int(row.issuer_id):
                setattr(row, f"issuer_{name}", int(getattr(row, f"issuer_{name}") or 0) + units)
    for row in stock.values():
        for name in ("held", "reserved", "retired", "issuer_held", "issuer_reserved", "issuer_retired"):
            setattr(row, name, int(getattr(row, name) or 0))
    return stock


async def _count_sales() -> dict[tuple[int, str, date], list[int]]:
    totals: dict[tuple[int, str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    last_seq = 0
    while True:
        page = (
            await RegisterEntry.filter(kind=EntryKind.RETIREMENT, seq__gt=last_seq)
            .order_by("seq")
            .limit(REBUILD_PAGE)
            .values_list("seq", "batch_id", "quantity", "price_fen", "details", "created_at")
        )
        if not page:
            break
        order_ids = {oid for row in page if (oid := order_id_of(row[4])) is not None}
        purposes = dict(await Order.filter(id__in=sorted(order_ids)).values_list("id", "purpose")) if order_ids else {}
        for seq, batch_id, quantity, price_fen, details, created_at in page:
            last_seq = int(seq)
            if batch_id is None:
                continue
            oid = order_id_of(details)
            purpose = sale_purpose(details, purposes.get(oid) if oid is not None else None)
            for day in (clock.local_date(created_at), ALL_TIME):
                row = totals[(int(batch_id), purpose, day)]
                row[0] += int(quantity)
                row[1] += int(price_fen or 0)
                row[2] += 1
    return dict(totals)


@dataclass(frozen=True)
class Counts:
    """Every counter, as plain values (what :func:`recount` and :func:`stored` return)."""

    stock: dict[int, tuple[int, int, int, int, int, int, int]]  # batch → issuer, held, reserved, retired, issuer_…
    sales: dict[tuple[int, str, date], tuple[int, int, int]]


def _stock_values(row: BatchStock) -> tuple[int, int, int, int, int, int, int]:
    return (
        int(row.issuer_id),
        int(row.held),
        int(row.reserved),
        int(row.retired),
        int(row.issuer_held),
        int(row.issuer_reserved),
        int(row.issuer_retired),
    )


async def recount() -> Counts:
    """Every counter counted again from the holdings and the register entries (nothing written)."""
    stock = await _count_stock()
    sales = await _count_sales()
    return Counts(
        stock={b: _stock_values(row) for b, row in stock.items()},
        sales={key: (row[0], row[1], row[2]) for key, row in sales.items()},
    )


async def stored() -> Counts:
    """The counters as the tables hold them, stock blocks and sales shards added up (rows of nothing sold left
    out, as :func:`recount` does)."""
    stock = {int(row.batch_id): _stock_values(row) for row in await stocks()}
    summed: dict[tuple[int, str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    for b, p, d, u, a, e in await BatchSales.all().values_list(
        "batch_id", "purpose", "day", "units", "amount_fen", "entries"
    ):
        row = summed[(int(b), str(p), d if isinstance(d, date) else date.fromisoformat(str(d)))]
        for i, value in enumerate((u, a, e)):
            row[i] += int(value)
    sales = {key: (u, a, e) for key, (u, a, e) in summed.items() if e}
    return Counts(stock=stock, sales=sales)


async def share_with_blocks(stock: dict[int, BatchStock]) -> None:
    """Give each stock block of these batches the units of the ranges that start in it (written to the blocks),
    and leave each batch's row (in memory: the caller stores it) the rest."""
    blocks = await StockBlock.filter(batch_id__in=sorted(stock)).order_by("first_no")
    if not blocks:
        return
    spans: dict[int, list[Span]] = defaultdict(list)
    for block in blocks:
        spans[int(block.batch_id)].append(Span(block.id, int(block.batch_id), int(block.first_no), int(block.last_no)))
    counted: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    rows = Holding.filter(batch_id__in=sorted(spans)).values_list(
        "batch_id", "holder_id", "state", "first_no", "last_no"
    )
    for batch_id, holder_id, state, first, last in await rows:
        span = chain.span_at(spans[int(batch_id)], int(first))
        if span is None:
            continue
        name, units = str(HoldingState(state)), int(last) - int(first) + 1
        counted[span.id][name] += units
        if int(holder_id) == int(stock[int(batch_id)].issuer_id):
            counted[span.id][f"issuer_{name}"] += units
    for block in blocks:
        row = stock[int(block.batch_id)]
        for name in COUNTS:
            value = counted[block.id][name]
            setattr(block, name, value)
            setattr(row, name, int(getattr(row, name)) - value)
        await block.save(update_fields=list(COUNTS))


async def _store_stock(rows: Iterable[BatchStock]) -> None:
    for row in rows:
        await BatchStock.filter(batch_id=row.batch_id).delete()
        await row.save()


async def rebuild_counters() -> Counts:
    """Recount every counter from the holdings and the register entries and store it, in one transaction under
    the register lock (no register change runs meanwhile). For the migration that adds the tables and for
    ``linpiao rebuild-counters``; returns what was stored."""
    from registry.chain import register_transaction

    async with register_transaction():
        stock = await _count_stock()
        sales = await _count_sales()
        await BatchSales.all().delete()
        await BatchStock.all().delete()
        totals = {b: _stock_values(row) for b, row in stock.items()}
        await share_with_blocks(stock)
        if stock:
            await BatchStock.bulk_create(list(stock.values()), batch_size=1000)
        if sales:
            await BatchSales.bulk_create(
                [
                    BatchSales(batch_id=b, purpose=p, day=d, units=u, amount_fen=a, entries=e)
                    for (b, p, d), (u, a, e) in sorted(sales.items())
                ],
                batch_size=1000,
            )
    return Counts(stock=totals, sales={key: (row[0], row[1], row[2]) for key, row in sales.items()})
