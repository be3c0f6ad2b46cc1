"""Carbon quotas (定额发放): the carbon pool the shop sells from.

A quota is a carbon batch issued to the city's natural resources bureau (forestry), which holds the unsold
tickets. The shop sells quotas in the order they were opened: the oldest open, in-date quota that still has
tickets; an order is served from one quota, so its serials form one run of one batch.

Every figure here reads the register's counters (:mod:`registry.counters`): a quota's pool is the holder it was
issued to (the carbon pool, :mod:`registry.pool`), its tickets left are what the pool holds plus reservations past
their expiry, and its tickets sold are those retired to anyone else — one statement for all open quotas, whatever
was sold before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit, blocks, chain, counters, register, sqlrows
from registry.counters import BatchStock
from registry.errors import InvalidState, NonPositiveQuantity
from registry.forests import record_carbon_basis
from registry.idempotency import InvalidFormToken, check_token, earlier_result, remember
from registry.models import Batch, Holder, HolderKind, HoldingState, RegisterEntry, TicketKind
from registry.pool import POOL_HOLDER_CODE, POOL_HOLDER_NAME

MAX_QUOTA_UNITS = 10**12


async def pool_holder() -> Holder:
    """The government body that holds unsold carbon tickets."""
    holder = await Holder.get_or_none(id_number=POOL_HOLDER_CODE)
    if holder is None:
        holder = await Holder.create(
            kind=HolderKind.GOVERNMENT,
            name=POOL_HOLDER_NAME,
            id_number=POOL_HOLDER_CODE,
            region_code="640100",
        )
    return holder


async def open_quota(
    *,
    units: int,
    actor: audit.Actor = audit.SYSTEM,
    price_fen: int = 100,
    kg_co2e_per_ticket: int = 10,
    valid_until: date | None = None,
    serial_prefix: str | None = None,
    co2e_method: str = "",
    co2e_source: str = "",
    co2e_year: int | None = None,
) -> Batch:
    """Open a carbon quota of ``units`` tickets at ``price_fen`` each (¥1 by default), audited, in one transaction.

    The one way to open a quota: the back-office, the CLI and the demo seed all come here. A staff member must be
    the city's forestry department (:mod:`registry.access`); the CLI and the demo act as the system."""
    access.check(actor, access.Action.QUOTA_MANAGE, access.place("", TicketKind.CARBON))
    if not 0 < units <= MAX_QUOTA_UNITS:
        raise NonPositiveQuantity(str(units))
    if price_fen <= 0 or kg_co2e_per_ticket <= 0:
        raise NonPositiveQuantity(f"{price_fen} / {kg_co2e_per_ticket}")
    today = clock.today()
    if valid_until is not None and valid_until < today:
        raise InvalidState(f"valid until {valid_until}")
    async with in_transaction():
        holder = await pool_holder()
        if serial_prefix is None:
            count = await Batch.filter(kind=TicketKind.CARBON).count()
            serial_prefix = f"YC-TH-{today.year}-{count + 1:03d}"
        batch = await register.issue_batch(
            kind=TicketKind.CARBON,
            holder=holder,
            total_units=units,
            serial_prefix=serial_prefix,
            price_fen=price_fen,
            g_co2e_per_unit=kg_co2e_per_ticket * 1000,
            issuing_authority=POOL_HOLDER_NAME,
            district_code="640100",
            valid_from=today,
            valid_until=valid_until,
            actor=actor.label,
        )
        await blocks.cut_blocks(batch)  # sold in blocks that buyers lock apart (registry.blocks)
        # the basis of its kg CO2e per ticket (method, source, year), as /forests/{batch} shows it
        await record_carbon_basis(batch, method=co2e_method, source=co2e_source, year=co2e_year)
        await audit.record(
            actor,
            "quota.open",
            f"batch:{batch.serial_prefix}",
            units=units,
            price_fen=price_fen,
            kg_co2e_per_ticket=kg_co2e_per_ticket,
            valid_until=str(valid_until) if valid_until else None,
            co2e_method=batch.co2e_method or None,
            co2e_source=batch.co2e_source or None,
            co2e_year=batch.co2e_year,
        )
    return batch


async def _quota(batch: Batch, actor: audit.Actor) -> Batch:
    access.check(actor, access.Action.QUOTA_MANAGE, access.batch_target(batch))  # a carbon quota, the city's
    await batch.refresh_from_db()
    if batch.kind is not TicketKind.CARBON:
        raise InvalidState("not a carbon quota")
    return batch


async def close_quota(batch: Batch, *, actor: audit.Actor) -> Batch:
    """Stop selling a quota (its unsold tickets stay with the pool until withdrawn)."""
    async with in_transaction():
        await _quota(batch, actor)
        if not batch.is_open:
            raise InvalidState("closed")
        batch.is_open = False
        batch.closed_at = clock.now()
        await batch.save(update_fields=["is_open", "closed_at"])
        await audit.record(actor, "quota.close", f"batch:{batch.serial_prefix}")
    return batch


async def withdraw_unsold(
    batch: Batch, *, actor: audit.Actor, reason: str = "", form_token: str | None = None
) -> RegisterEntry:
    """Withdraw (收回) every unsold ticket of a quota; the quota closes and they can never be sold. A form token
    already used for this withdrawal returns its entry (:mod:`registry.idempotency`)."""
    token = check_token(form_token)
    async with chain.register_transaction():
        await _quota(batch, actor)
        earlier = await earlier_result(token, "quota.withdraw")
        if earlier is not None:
            entry = await RegisterEntry.get(id=earlier)
            if entry.batch_id != batch.id:  # the token of another quota's withdrawal
                raise InvalidFormToken(str(token)[:20])
            return entry
        entry = await register.withdraw_units(
            batch=batch, holder=await pool_holder(), actor=actor.label, reason=reason.strip()[:200]
        )
        await remember(token, "quota.withdraw", entry.id)
        await audit.record(actor, "quota.withdraw", f"batch:{batch.serial_prefix}", units=int(entry.quantity))
    return entry


@dataclass(frozen=True)
class QuotaStats:
    total: int
    available: int
    reserved: int
    sold: int
    kg_co2e_sold: int


def _stats(batch: Batch, stock: BatchStock, lapsed: int) -> QuotaStats:
    sold = stock.retired_to_others
    return QuotaStats(
        total=int(batch.total_units),
        available=int(stock.issuer_held) + lapsed,
        reserved=int(stock.issuer_reserved) - lapsed,
        sold=sold,
        kg_co2e_sold=sold * int(batch.g_co2e_per_unit or 0) // 1000,
    )


@dataclass(frozen=True)
class OnSale:
    """An open, in-date quota with its figures, and the pool holder the shop reserves its tickets from."""

    batch: Batch
    pool: Holder
    stats: QuotaStats


def _quota_sql() -> str:
    """The counters (the batch's row and its stock blocks' rows added up), the batch and its pool, and the pool's
    reservations past their expiry (which count as available). Built when used: the models' foreign-key columns
    exist once the ORM is initialised."""
    columns = ", ".join([sqlrows.columns(BatchStock, "s"), sqlrows.columns(Batch, "b"), sqlrows.columns(Holder, "p")])
    sums = ", ".join(f'SUM("{name}") AS "k_{name}"' for name in counters.COUNTS)
    blocks = ", ".join(f'"k"."k_{name}"' for name in counters.COUNTS)
    return (
        f"SELECT {columns}, {blocks}, "  # noqa: S608 - the models' own columns; values are parameters
        '(SELECT COALESCE(SUM("h"."last_no" - "h"."first_no" + 1), 0) FROM "holding" "h" '
        'WHERE "h"."batch_id" = "s"."batch_id" AND "h"."holder_id" = "s"."issuer_id" AND "h"."state" = ? '
        'AND "h"."reserved_until" < ?) AS "lapsed" '
        'FROM "batch_stock" "s" JOIN "batch" "b" ON "b"."id" = "s"."batch_id" '
        'JOIN "holder" "p" ON "p"."id" = "s"."issuer_id" '
        f'LEFT JOIN (SELECT "batch_id", {sums} FROM "stock_block" GROUP BY "batch_id") "k" '
        'ON "k"."batch_id" = "s"."batch_id" '
    )


async def _quotas(where: str, params: list[object]) -> list[OnSale]:
    """Quotas with their counters, pool and lapsed reservations: one statement (hand-written: the ORM's joins cost
    more to build than to run, :mod:`registry.sqlrows`). Inside a register transaction the batches read count as
    current (:func:`registry.chain.is_fresh`)."""
    found = []
    # the WHERE clause is this module's own text; every value is a parameter
    sql = _quota_sql() + where
    for row in await sqlrows.rows(sql, [str(HoldingState.RESERVED), clock.now(), *params]):
        batch: Batch = sqlrows.instance(Batch, row, "b")
        stock: BatchStock = sqlrows.instance(BatchStock, row, "s")
        for name in counters.COUNTS:
            setattr(stock, name, int(getattr(stock, name)) + int(row[f"k_{name}"] or 0))
        chain.remember_fresh(batch)
        stats = _stats(batch, stock, int(row["lapsed"] or 0))
        found.append(OnSale(batch, sqlrows.instance(Holder, row, "p"), stats))
    return found


async def open_quotas() -> list[OnSale]:
    """Open, in-date quotas of the pool, oldest first, with their figures (one statement)."""
    where = (
        'WHERE "b"."kind" = ? AND "b"."is_open" = ? AND "p"."id_number" = ? '
        'AND ("b"."valid_until" IS NULL OR "b"."valid_until" >= ?) ORDER BY "b"."id"'
    )
    return await _quotas(where, [str(TicketKind.CARBON), True, POOL_HOLDER_CODE, clock.today()])


async def quota_on_sale() -> OnSale | None:
    """The quota on sale: the oldest open, in-date quota with tickets available; when every open quota is sold out,
    the newest of them (so the shop can say so); ``None`` when no quota is open."""
    found = await open_quotas()
    if not found:
        return None
    return next((q for q in found if q.stats.available > 0), found[-1])


async def current_quota() -> Batch | None:
    """The batch of :func:`quota_on_sale`."""
    on_sale = await quota_on_sale()
    return on_sale.batch if on_sale is not None else None


async def quota_stats(batch: Batch) -> QuotaStats:
    """Tickets of a quota by state; reservations past their expiry count as available."""
    found = await _quotas('WHERE "s"."batch_id" = ?', [batch.id])
    if found:
        return found[0].stats
    # issued before the counters existed and not yet rebuilt: count it (without writing)
    stock = await counters.stock_of(batch)
    return _stats(batch, stock, await counters.lapsed_units(batch.id, stock.issuer_id))
