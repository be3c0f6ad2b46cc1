"""The rules of the register (林票登记簿): every change of holding goes through these functions.

Each function is one transaction (:func:`_operation`): it takes the register lock, checks its rules, moves serial
ranges and appends one register entry per batch touched — or raises a :mod:`registry.errors` refusal and writes
nothing. Holdings are serial ranges, so the rows written depend on the ranges touched, never on the quantity moved.
Called inside an outer transaction (an order being created, say) they join it.

Every holding row is written by four helpers (:func:`_new_holding`, :func:`_assign`, :func:`_resize`,
:func:`_delete`), which report each change of units by holder and state to :mod:`registry.counters`; the operation
writes the counters once, at its end, in its own transaction — so the public figures never scan the holdings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from kernel import clock
from registry import chain, counters, residence, sqlrows
from registry.apportion import largest_remainder
from registry.chain import Span, append_entry, is_fresh, lock_batches, lock_state, register_transaction
from registry.errors import (
    BatchClosed,
    HolderDeceased,
    InsufficientUnits,
    InvalidShares,
    InvalidState,
    NonPositiveQuantity,
    RetiredUnits,
    WrongKind,
)
from registry.models import (
    Batch,
    Certificate,
    CertificateStatus,
    EntryKind,
    Holder,
    Holding,
    HoldingState,
    Order,
    OrderStatus,
    Parcel,
    RegisterEntry,
    TicketKind,
    joined_ranges,
)
from registry.retirements import public_holder_name

CITY_ONLY_KINDS = residence.LAND_KINDS


def _check_quantity(quantity: Any) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise NonPositiveQuantity(str(quantity))
    return quantity


def _check_may_hold(batch: Batch, holder: Holder) -> None:
    residence.check_may_receive(holder, batch.kind)  # land tickets: a checked residence in the city


def _check_alive(holder: Holder) -> None:
    if holder.deceased_on is not None:
        raise HolderDeceased(holder.name)


def _ranges(holdings: Sequence[Holding]) -> list[list[int]]:
    """The serial ranges an entry moved, adjacent ones joined (the rows are cut at stock blocks' bounds)."""
    return [[first, last] for first, last in joined_ranges((h.first_no, h.last_no) for h in holdings)]


@asynccontextmanager
async def _operation(*batches: Batch | int, savepoint: bool = False) -> AsyncIterator[None]:
    """One register operation under the register lock, whose changes of units are written to the counters when it
    ends without an error. ``batches``: the batches it changes, whose heads it locks before it reads their stock
    (:mod:`registry.chain`); none: it locks the whole register.

    On its own it is a transaction. Inside a transaction that holds the register lock already (an order being
    created or paid) it simply joins it: every operation raises its refusals before it writes anything, so a
    refusal the caller catches leaves nothing behind, and a savepoint (two more round trips) would buy nothing.
    ``savepoint``: the operation may refuse after writing (an inheritance refused on its second batch), so it
    always runs in its own savepoint. Inside a transaction without the lock (opening a quota), a savepoint takes
    it."""
    if not savepoint and lock_state() is not None:
        if batches:
            await lock_batches(*batches)
        else:
            await _lock_whole()
        async with counters.keeping():
            yield
        return
    async with register_transaction(*batches), counters.keeping():  # a rolled-back savepoint forgets the lock it took
        yield


# --- the only writers of holding rows: each reports its change of units to the counters -------------------


async def _lock_whole() -> None:
    state = lock_state()
    if state is not None and not state.whole:
        from registry.chain import lock_register

        await lock_register(None)


def _counted(holding: Holding, sign: int) -> None:
    counters.holding_changed(
        holding.batch_id,
        holding.holder_id,
        holding.state,
        sign * holding.quantity,
        holding.first_no,
    )


def _block_held(batch: Batch) -> Span | None:
    """The stock block of ``batch`` this transaction holds, when it works inside one (registry.blocks)."""
    state = lock_state()
    return state.blocks.get(batch.id) if state is not None and not state.whole else None


async def _new_holding(**values: Any) -> Holding:
    holding = await Holding.create(**values)
    _counted(holding, +1)
    return holding


async def _assign(holding: Holding, **values: Any) -> None:
    expanded = _expand(values)
    _counted(holding, -1)
    for name, value in expanded.items():
        setattr(holding, name, value)
    _counted(holding, +1)
    await holding.save(update_fields=list(expanded))


async def _resize(holding: Holding, *, first: int | None = None, last: int | None = None) -> None:
    _counted(holding, -1)
    holding.first_no = holding.first_no if first is None else first
    holding.last_no = holding.last_no if last is None else last
    _counted(holding, +1)
    await holding.save(update_fields=[name for name, v in (("first_no", first), ("last_no", last)) if v is not None])


async def _delete(holding: Holding) -> None:
    _counted(holding, -1)
    await holding.delete()


# ----------------------------------------------------------------------------------------------------------


async def _held_from(batch: Batch, source: Holder, quantity: int) -> list[Holding]:
    """The holder's held ranges, lowest serials first, that cover ``quantity`` — read a few at a time, so a holder
    with many ranges costs what the order needs, not what it holds; :class:`InsufficientUnits` when they fall
    short (nothing is written before they are found)."""
    chosen: list[Holding] = []
    covered, after, page = 0, 0, 8
    block = _block_held(batch)  # inside a stock block: its ranges only
    while covered < quantity:
        where = '"m"."batch_id" = ? AND "m"."holder_id" = ? AND "m"."state" = ? AND "m"."first_no" > ?'
        params: list[Any] = [batch.id, source.id, str(HoldingState.HELD), after]
        if block is not None:
            where += ' AND "m"."first_no" BETWEEN ? AND ?'
            params += [block.first_no, block.last_no]
        rows: list[Holding] = await sqlrows.select(Holding, where, params, order='"m"."first_no"', limit=page)
        if not rows:
            raise InsufficientUnits(f"{source.name}: {quantity}")
        for holding in rows:
            chosen.append(holding)
            covered += holding.quantity
            after = int(holding.first_no)
            if covered >= quantity:
                break
        page = min(page * 8, 1000)
    return chosen


async def _take(batch: Batch, source: Holder, quantity: int, **new_values: Any) -> list[Holding]:
    """Carve ``quantity`` held units (lowest serials first) out of ``holder``'s ranges and give the
    carved pieces ``new_values``. Writes one row per range touched, plus one when the last range splits."""
    available = await _held_from(batch, source, quantity)
    moved: list[Holding] = []
    remaining = quantity
    for holding in available:
        if remaining == 0:
            break
        if holding.quantity <= remaining:
            remaining -= holding.quantity
            await _assign(holding, **new_values)
            moved.append(holding)
        else:
            # split: the front of the range moves, the rest stays (update first, so (batch, first) stays unique)
            piece_first, piece_last = holding.first_no, holding.first_no + remaining - 1
            await _resize(holding, first=piece_last + 1)
            piece = await _new_piece(batch, source, piece_first, piece_last, new_values)
            moved.append(piece)
            remaining = 0
    return moved


def _expand(values: dict[str, Any]) -> dict[str, Any]:
    expanded = dict(values)
    for relation in ("holder", "order", "retirement"):
        if relation in expanded:
            target = expanded.pop(relation)
            expanded[f"{relation}_id"] = target.id if target is not None else None
    return expanded


async def _new_piece(batch: Batch, source: Holder, first: int, last: int, new_values: dict[str, Any]) -> Holding:
    values = {"holder_id": source.id, "state": HoldingState.HELD, **_expand(new_values)}
    return await _new_holding(batch_id=batch.id, first_no=first, last_no=last, **values)


async def _take_range(batch: Batch, source: Holder, first: int, last: int, **new_values: Any) -> list[Holding]:
    """Carve the exact serials ``first..last_no`` out of ``holder``'s held ranges."""
    if first < 1 or last < first or last > batch.total_units:
        raise InsufficientUnits(f"{first}–{last}")
    covering = await Holding.filter(batch_id=batch.id, first_no__lte=last, last_no__gte=first).order_by("first_no")
    for holding in covering:
        if holding.state is HoldingState.RETIRED:
            raise RetiredUnits(batch.serial_range(max(first, holding.first_no), min(last, holding.last_no)))
        if holding.state is HoldingState.RESERVED:
            raise InvalidState(batch.serial_range(max(first, holding.first_no), min(last, holding.last_no)))
        if holding.holder_id != source.id:
            raise InsufficientUnits(batch.serial_range(max(first, holding.first_no), min(last, holding.last_no)))
    moved: list[Holding] = []
    for holding in covering:
        piece_first, piece_last = max(first, holding.first_no), min(last, holding.last_no)
        tail = (piece_last + 1, holding.last_no) if piece_last < holding.last_no else None
        if piece_first > holding.first_no:
            await _resize(holding, last=piece_first - 1)
            piece = await _new_piece(batch, source, piece_first, piece_last, new_values)
        else:
            await _assign(holding, last_no=piece_last, **new_values)
            piece = holding
        if tail is not None:
            await _new_holding(
                batch_id=batch.id,
                holder_id=source.id,
                first_no=tail[0],
                last_no=tail[1],
                state=HoldingState.HELD,
            )
        moved.append(piece)
    return moved


async def _merge_held(batch: Batch, holder: Holder, pieces: Sequence[Holding]) -> None:
    """Coalesce the pieces a holder just received with its adjacent held ranges — never across the bounds of a
    stock block (registry.blocks): every range stays inside one."""
    if not pieces:
        return
    lo = min(p.first_no for p in pieces) - 1
    hi = max(p.last_no for p in pieces) + 1
    spans: list[Span] = []
    if batch.kind is TicketKind.CARBON:
        held = _block_held(batch)
        spans = [held] if held is not None else (await chain.spans_of([batch.id]))[batch.id]
    if not spans:
        await _merge_within(batch, holder, lo, hi)
    for span in spans:  # each block on its own
        if span.last_no > lo and span.first_no < hi:
            await _merge_within(batch, holder, max(lo, span.first_no), min(hi, span.last_no))


async def _merge_within(batch: Batch, holder: Holder, lo: int, hi: int) -> None:
    nearby = await Holding.filter(
        batch_id=batch.id, holder_id=holder.id, state=HoldingState.HELD, last_no__gte=lo, first_no__lte=hi
    ).order_by("first_no")
    keep: Holding | None = None
    for holding in nearby:
        if keep is not None and holding.first_no == keep.last_no + 1:
            last = int(holding.last_no)
            await _delete(holding)
            await _resize(keep, last=last)
        else:
            keep = holding


async def _balance(batch: Batch, holder: Holder, state: HoldingState = HoldingState.HELD) -> int:
    holdings = await Holding.filter(batch_id=batch.id, holder_id=holder.id, state=state)
    return sum(h.quantity for h in holdings)


# ---------------------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------------------


async def issue_batch(
    *,
    kind: TicketKind,
    holder: Holder,
    total_units: int,
    serial_prefix: str,
    parcel: Parcel | None = None,
    unit_area_m2: Decimal | None = None,
    price_fen: int | None = None,
    g_co2e_per_unit: int | None = None,
    issuing_authority: str = "",
    district_code: str = "",
    valid_from: date | None = None,
    valid_until: date | None = None,
    actor: str = "",
    details: dict[str, Any] | None = None,
) -> Batch:
    """Issue a new batch (发放): units 1..total_units, all held by ``holder``."""
    _check_quantity(total_units)
    kind = TicketKind(kind)
    if kind is TicketKind.CARBON and (price_fen is None or price_fen <= 0 or not g_co2e_per_unit):
        raise WrongKind("carbon quota needs a price and kg CO2e per ticket")
    if kind is not TicketKind.CARBON and (parcel is None or not unit_area_m2 or unit_area_m2 <= 0):
        raise WrongKind("land tickets need a parcel and a unit area")
    async with _operation():
        batch = Batch(
            kind=kind,
            serial_prefix=serial_prefix,
            total_units=total_units,
            parcel=parcel,
            district_code=district_code or (parcel.district_code if parcel else ""),
            unit_area_m2=unit_area_m2,
            price_fen=price_fen,
            g_co2e_per_unit=g_co2e_per_unit,
            issuing_authority=issuing_authority,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        _check_may_hold(batch, holder)
        _check_alive(holder)
        await batch.save()
        await _new_holding(batch=batch, holder=holder, first_no=1, last_no=total_units, state=HoldingState.HELD)
        await append_entry(
            EntryKind.ISSUE,
            batch=batch,
            to_holder=holder,
            quantity=total_units,
            ranges=[[1, total_units]],
            actor=actor,
            details=details,
        )
    return batch


async def transfer_units(
    *,
    batch: Batch,
    from_holder: Holder,
    to_holder: Holder,
    quantity: int,
    price_fen: int | None = None,
    serials: tuple[int, int] | None = None,
    entry_kind: EntryKind = EntryKind.TRANSFER,
    actor: str = "",
    details: dict[str, Any] | None = None,
) -> RegisterEntry:
    """Move ``quantity`` held units (or the exact ``serials``) between holders (转让 / 认购)."""
    _check_quantity(quantity)
    if serials is not None and serials[1] - serials[0] + 1 != quantity:
        raise InsufficientUnits("serials do not match the quantity")
    if price_fen is not None and price_fen < 0:
        raise NonPositiveQuantity(f"price {price_fen}")
    if from_holder.id == to_holder.id:
        raise InvalidState("a holder cannot transfer to itself")
    async with _operation(batch):
        await batch.refresh_from_db()
        _check_may_hold(batch, to_holder)
        _check_alive(from_holder)
        _check_alive(to_holder)
        if serials is None:
            moved = await _take(batch, from_holder, quantity, holder=to_holder)
        else:
            moved = await _take_range(batch, from_holder, serials[0], serials[1], holder=to_holder)
        ranges = _ranges(moved)
        await _merge_held(batch, to_holder, moved)
        return await append_entry(
            entry_kind,
            batch=batch,
            from_holder=from_holder,
            to_holder=to_holder,
            quantity=quantity,
            ranges=ranges,
            price_fen=price_fen,
            actor=actor,
            details=details,
        )


async def reserve_units(
    *, batch: Batch, holder: Holder, quantity: int, order: Order, expires_at: datetime, actor: str = ""
) -> RegisterEntry:
    """Set ``quantity`` of ``holder``'s units aside for ``order`` until ``expires_at``.

    Reservations that have run out are given back first, so abandoned checkouts never lock stock."""
    _check_quantity(quantity)
    async with _operation(batch):
        if not is_fresh(batch):  # a batch read under this lock (the quota on sale) is current already
            await batch.refresh_from_db()
        if not batch.is_open:
            raise BatchClosed(batch.serial_prefix)
        values = {"state": HoldingState.RESERVED, "order": order, "reserved_until": expires_at}
        try:
            moved = await _take(batch, holder, quantity, **values)
        except InsufficientUnits:  # lapsed reservations give their units back, then try again
            if _block_held(batch) is not None:  # not from inside a block: the batch's lock does that
                raise chain.WiderLockNeeded() from None
            if not await expire_reservations(batch=batch):
                raise
            moved = await _take(batch, holder, quantity, **values)
        return await append_entry(
            EntryKind.RESERVATION,
            batch=batch,
            from_holder=holder,
            quantity=quantity,
            ranges=_ranges(moved),
            actor=actor,
            details={"order": order.id},
        )


async def release_units(*, order: Order, actor: str = "", reason: str = "") -> RegisterEntry | None:
    """Give an order's reserved units back to the holder they were reserved from."""
    async with _operation(order.batch_id):
        reserved = await reserved_holdings(order)
        if not reserved:
            return None
        batch = reserved[0].batch
        holder = await Holder.get(id=reserved[0].holder_id)
        ranges = _ranges(reserved)
        for holding in reserved:
            await _assign(holding, state=HoldingState.HELD, order=None, reserved_until=None)
        await _merge_held(batch, holder, reserved)
        return await append_entry(
            EntryKind.RELEASE,
            batch=batch,
            to_holder=holder,
            quantity=sum(h.quantity for h in reserved),
            ranges=ranges,
            actor=actor,
            details={"order": order.id, "reason": reason},
        )


async def expire_reservations(*, batch: Batch | None = None, now: datetime | None = None) -> int:
    """Release every reservation past its expiry and mark pending orders expired. Returns orders expired."""
    moment = clock.utc(now) if now else clock.now()
    async with _operation(*([batch] if batch is not None else [])):
        query = Holding.filter(state=HoldingState.RESERVED, reserved_until__lt=moment)
        if batch is not None:
            query = query.filter(batch_id=batch.id)
        order_ids = sorted({h.order_id for h in await query})
        for order in await Order.filter(id__in=order_ids):
            await release_units(order=order, reason="expired")
            if order.status is OrderStatus.PENDING:
                order.status = OrderStatus.EXPIRED
                await order.save(update_fields=["status"])
        return len(order_ids)


async def reserved_holdings(order: Order) -> list[Holding]:
    """The order's reserved ranges, lowest serials first, each with its batch loaded (one statement)."""
    where = '"m"."order_id" = ? AND "m"."state" = ?'
    return await sqlrows.with_related(
        Holding, "batch", Batch, where, [order.id, str(HoldingState.RESERVED)], '"m"."first_no"'
    )


async def order_holdings(order: Order) -> list[Holding]:
    """Every range an order holds (reserved, or retired to its buyer), lowest serials first, with its batch."""
    return await sqlrows.with_related(Holding, "batch", Batch, '"m"."order_id" = ?', [order.id], '"m"."first_no"')


async def retire_units(
    *, order: Order, buyer: Holder, purpose: str, actor: str = "", reserved: Sequence[Holding] | None = None
) -> RegisterEntry:
    """Retire (注销) an order's reserved units to ``buyer`` for ``purpose``; irreversible. ``reserved``: the
    order's :func:`reserved_holdings` when the caller read them under this transaction's register lock."""
    async with _operation(order.batch_id):
        if reserved is None:
            reserved = await reserved_holdings(order)
        if not reserved:
            raise InvalidState(f"order {order.id} has no reserved units")
        batch = reserved[0].batch
        _check_may_hold(batch, buyer)
        entry = await append_entry(
            EntryKind.RETIREMENT,
            batch=batch,
            from_holder_id=reserved[0].holder_id,
            to_holder=buyer,
            quantity=sum(h.quantity for h in reserved),
            ranges=_ranges(reserved),
            price_fen=order.amount_fen,
            purpose=purpose,
            actor=actor,
            # the beneficiary as the public may read it (a person's name masked): the entry names whom the
            # retirement is for, and its hash covers that, whatever later becomes of the buyer's holder row
            details={"order": order.id, "beneficiary": public_holder_name(buyer.name, buyer.kind)},
        )
        for holding in reserved:
            await _assign(
                holding,
                holder=buyer,
                state=HoldingState.RETIRED,
                reserved_until=None,
                retirement=entry,
                purpose=purpose,
            )
        counters.retired_for(batch.id, order.purpose, entry.created_at, int(entry.quantity), entry.price_fen)
        return entry


async def retire_held_units(
    *,
    batch: Batch,
    holder: Holder,
    quantity: int,
    purpose: str,
    beneficiary: Holder | None = None,
    price_fen: int | None = None,
    actor: str = "",
    details: dict[str, Any] | None = None,
) -> RegisterEntry:
    """Retire ``quantity`` of ``holder``'s held units at once, to ``beneficiary`` (default the holder)."""
    _check_quantity(quantity)
    owner = beneficiary or holder
    async with _operation(batch):
        await batch.refresh_from_db()
        _check_may_hold(batch, owner)
        moved = await _take(batch, holder, quantity, state=HoldingState.RETIRED)
        entry = await append_entry(
            EntryKind.RETIREMENT,
            batch=batch,
            from_holder=holder,
            to_holder=owner,
            quantity=quantity,
            ranges=_ranges(moved),
            price_fen=price_fen,
            purpose=purpose,
            actor=actor,
            details=details,
        )
        for holding in moved:
            await _assign(holding, holder=owner, retirement=entry, purpose=purpose)
        order_id = counters.order_id_of(details)
        order_purpose = None
        if order_id is not None:
            order_purpose = await Order.filter(id=order_id).first().values_list("purpose", flat=True)
        purpose_code = counters.sale_purpose(details, str(order_purpose) if order_purpose else None)
        counters.retired_for(batch.id, purpose_code, entry.created_at, quantity, price_fen)
        return entry


async def withdraw_units(*, batch: Batch, holder: Holder, actor: str = "", reason: str = "") -> RegisterEntry:
    """Withdraw (收回) every unsold unit of a batch and close it; they can never be sold again."""
    async with _operation(batch):
        await batch.refresh_from_db()
        held = await _balance(batch, holder)
        if held == 0:
            raise InsufficientUnits(batch.serial_prefix)
        moved = await _take(batch, holder, held, state=HoldingState.RETIRED)
        entry = await append_entry(
            EntryKind.WITHDRAWAL,
            batch=batch,
            from_holder=holder,
            quantity=held,
            ranges=_ranges(moved),
            purpose=reason or "withdrawn",
            actor=actor,
        )
        for holding in moved:
            await _assign(holding, retirement=entry, purpose=reason or "withdrawn")
        batch.is_open = False
        batch.closed_at = clock.now()
        await batch.save(update_fields=["is_open", "closed_at"])
        return entry


@dataclass(frozen=True)
class Heir:
    holder: Holder
    share: Fraction  # of the whole estate, e.g. Fraction(1, 2)


async def inherit_units(
    *, deceased: Holder, heirs: Sequence[Heir], died_on: date, actor: str = "", documents: Sequence[str] = ()
) -> list[RegisterEntry]:
    """Pass all of a deceased holder's held units to heirs in stated shares (继承).

    Shares must add up to exactly 1; each batch is split by the largest-remainder method."""
    if not heirs or any(h.share <= 0 for h in heirs) or sum(h.share for h in heirs) != 1:
        raise InvalidShares(", ".join(str(h.share) for h in heirs))
    if len({h.holder.id for h in heirs}) != len(heirs) or any(h.holder.id == deceased.id for h in heirs):
        raise InvalidShares("heirs must be distinct")
    entries: list[RegisterEntry] = []
    async with _operation(savepoint=True):
        held = await Holding.filter(holder_id=deceased.id, state=HoldingState.HELD)
        batch_ids = sorted({h.batch_id for h in held})
        if not batch_ids:
            raise InsufficientUnits(deceased.name)
        if await Holding.filter(holder_id=deceased.id, state=HoldingState.RESERVED).exists():
            raise InvalidState("reserved units must be released first")
        for batch in await Batch.filter(id__in=batch_ids).order_by("id"):
            for heir in heirs:
                _check_may_hold(batch, heir.holder)
                _check_alive(heir.holder)
            total = sum(h.quantity for h in held if h.batch_id == batch.id)  # type: ignore[misc]
            parts = largest_remainder(total, [h.share for h in heirs])
            moves: list[dict[str, Any]] = []
            for heir, part in zip(heirs, parts, strict=True):
                if part == 0:
                    continue
                moved = await _take(batch, deceased, part, holder=heir.holder)
                await _merge_held(batch, heir.holder, moved)
                moves.append({"to": heir.holder.id, "quantity": part, "ranges": _ranges(moved)})
            entries.append(
                await append_entry(
                    EntryKind.INHERITANCE,
                    batch=batch,
                    from_holder=deceased,
                    quantity=total,
                    ranges=[r for m in moves for r in m["ranges"]],
                    actor=actor,
                    details={
                        "heirs": [{"holder": h.holder.id, "share": str(h.share)} for h in heirs],
                        "moves": moves,
                        "documents": list(documents),
                    },
                )
            )
        deceased.deceased_on = died_on
        await deceased.save(update_fields=["deceased_on"])
    return entries


async def reissue_certificate(
    *, certificate: Certificate, new_code: str, actor: str = "", reason: str = ""
) -> Certificate:
    """Reissue (补发) a lost certificate: the old code verifies as reissued, a new one as valid."""
    async with _operation():
        await certificate.refresh_from_db()
        if certificate.status is not CertificateStatus.VALID:
            raise InvalidState(f"certificate is {certificate.status}")
        entry = await append_entry(
            EntryKind.REISSUE,
            batch=await Batch.get_or_none(id=certificate.batch_id),
            to_holder=await Holder.get_or_none(id=certificate.holder_id),
            quantity=certificate.quantity,
            actor=actor,
            details={"reason": reason, "certificate": certificate.id},
        )
        replacement = await Certificate.create(
            code=new_code,
            kind=certificate.kind,
            holder_id=certificate.holder_id,
            order_id=certificate.order_id,
            batch_id=certificate.batch_id,
            entry=entry,
            holder_name=certificate.holder_name,
            quantity=certificate.quantity,
            serial_ranges=certificate.serial_ranges,
            data={**certificate.data, "reissue_of": certificate.id},
            issued_at=entry.created_at,
        )
        certificate.status = CertificateStatus.REISSUED
        certificate.status_reason = reason
        certificate.replaced_by = replacement
        await certificate.save(update_fields=["status", "status_reason", "replaced_by_id"])
        return replacement


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


async def holder_total(holder: Holder, *, batch: Batch | None = None, state: HoldingState | None = None) -> int:
    query = Holding.filter(holder_id=holder.id)
    if batch is not None:
        query = query.filter(batch_id=batch.id)
    if state is not None:
        query = query.filter(state=state)
    return sum(h.quantity for h in await query)


async def units_available(batch: Batch, holder: Holder) -> int:
    """Units ``holder`` holds free to sell, counting reservations past their expiry as free (from the counters
    for the batch's issuer — a quota's pool —, plus the lapsed reservations: :func:`registry.counters.available`)."""
    return await counters.available(batch, holder.id)
