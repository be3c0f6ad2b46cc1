"""Orders of carbon-sink tickets: create (and reserve), settle payment events, fulfil exactly once.

An order's life: ``pending`` (units reserved from the quota's pool until ``expires_at``) → ``paid`` →
``fulfilled`` (units retired to the buyer in the register, certificate made), or ``expired`` / ``failed`` /
``cancelled`` (units released), or ``refunded``. Every change here is one transaction that takes the
register lock first, so two workers — or two deliveries of the same webhook — never act on the same order
at once.

Payment after expiry (the buyer paid, but the reservation ran out and was released):
    * if the order's quota (or the quota now on sale, at the same price) still has enough free units they
      are reserved again and the order is fulfilled as usual — the buyer gets what they paid for;
    * otherwise the order is marked ``failed`` with ``details["refund_due"]`` and the caller asks the
      payment provider to refund it in full; the order becomes ``refunded`` once the refund is issued.

Refunds of a fulfilled order (decided by staff at the provider, reported by its event) mark the order
``refunded`` and its certificate ``refunded``. The retired units stay retired: a retirement (注销) is
irreversible in the register, so refunded tickets are never sold twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.exceptions import DoesNotExist

from kernel import clock
from kernel.settings import Settings
from linpiao import inputs
from registry import chain, counters, register, sqlrows
from registry.errors import InsufficientUnits
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    CertificateStatus,
    Holder,
    HolderKind,
    Holding,
    Order,
    OrderStatus,
    Payment,
    TicketKind,
)
from registry.quotas import current_quota, pool_holder, quota_on_sale
from registry.receipts import REFUNDED_AT
from shop import limits, purposes
from shop.errors import (
    AboveMaximum,
    BelowMinimum,
    IdempotencyConflict,
    InvalidBuyerKind,
    InvalidContact,
    InvalidName,
    InvalidPurpose,
    InvalidQuantity,
    NoOpenQuota,
    OrderNotFound,
    QuotaExhausted,
)
from shop.fulfilment import certificate_refunded, issue_certificate
from shop.payments.base import checkout_expires_at as checkout_expires_at
from shop.payments.events import EventKind as EventKind  # settling an order speaks in providers' events
from shop.payments.events import PaymentEvent as PaymentEvent
from shop.payments.methods import order_minimum_fen

log = logging.getLogger("linpiao.shop")

# API code → Chinese label (msgid); the label is what the register records as the retirement's purpose.
PURPOSES: dict[str, str] = {
    "travel": "出行",
    "meeting": "会议",
    "event": "大型活动",
    "daily": "日常生活",
    "other": "其他",
}
BUYER_KINDS = {"individual": HolderKind.INDIVIDUAL, "enterprise": HolderKind.ENTERPRISE}
MAX_NAME = 100
MAX_CONTACT = 100
MAX_IDEMPOTENCY_KEY = 128


@dataclass(frozen=True)
class OrderRequest:
    quantity: int
    purpose: str
    certificate_name: str
    contact: str = ""
    buyer_kind: str = "individual"


def parse_quantity(value: Any, settings: Settings, *, strict: bool = False) -> int:
    """A whole, positive number of tickets; refuses fractions, markup, signs and absurd sizes.
    ``strict`` (JSON): a number only, as the API's document says, never a string."""
    if isinstance(value, bool) or value is None or (strict and not isinstance(value, (int, float))):
        raise InvalidQuantity(str(value)[:40])
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())  # JSON 10.0 is 10
    if integral or (isinstance(value, str) and re.fullmatch(r"\s*\d{1,18}\s*", value)):
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{19,}\s*", value):
        raise AboveMaximum(str(settings.max_order_units))
    else:
        raise InvalidQuantity(str(value)[:40])
    if number <= 0:
        raise InvalidQuantity(str(number))
    if number > settings.max_order_units:
        raise AboveMaximum(str(settings.max_order_units))
    return number


def parse_order_request(data: dict[str, Any], settings: Settings, *, strict: bool = False) -> OrderRequest:
    """Check what a buyer sent (form or JSON: ``strict``, exactly as the OpenAPI document says); stored text is
    never interpreted as markup."""
    quantity = parse_quantity(data.get("quantity"), settings, strict=strict)
    purpose = inputs.choice(data.get("purpose"), PURPOSES, error=InvalidPurpose)
    kind = data.get("buyer_kind", "individual") if strict else data.get("buyer_kind") or "individual"
    buyer_kind = inputs.choice(kind, BUYER_KINDS, error=InvalidBuyerKind)
    name = inputs.text(
        data.get("certificate_name"), limit=MAX_NAME, required=True, error=InvalidName, strict=strict, printed=True
    )
    contact = inputs.text(data.get("contact", ""), limit=MAX_CONTACT, error=InvalidContact, strict=strict)
    return OrderRequest(
        quantity=quantity, purpose=purpose, certificate_name=name, contact=contact, buyer_kind=buyer_kind
    )


def minimum_quantity(settings: Settings, price_fen: int, provider: str = "") -> int:
    """Fewest tickets payable with ``provider`` (``""``: with any method the shop takes; see shop.payments.methods)."""
    return max(1, -(-order_minimum_fen(settings, provider) // price_fen))


def _check_limits(request: OrderRequest, settings: Settings, price_fen: int, provider: str = "") -> None:
    minimum = order_minimum_fen(settings, provider)  # the minimum follows the provider: ¥0.01 Alipay, ¥5 card
    if request.quantity * price_fen < minimum:
        raise BelowMinimum(f"¥{minimum // 100}.{minimum % 100:02d}")


def reservation_minutes(settings: Settings) -> int:
    return limits.normal_reservation_minutes(settings)


def scoped_idempotency_key(client: str, key: str) -> str:
    """The ``Idempotency-Key`` as stored: namespaced by the client that sent it, so one client's key never finds,
    nor collides with, another client's order (a hash: it fits the column whatever the client's name)."""
    return hashlib.sha256(f"{client}\n{key}".encode()).hexdigest()


async def create_order(
    settings: Settings,
    request: OrderRequest,
    *,
    provider: str,
    buyer: limits.Buyer,
    idempotency_key: str | None = None,
) -> tuple[Order, bool]:
    """Create an order and reserve its units from the current quota's pool, in one transaction.

    ``buyer`` says who orders (an address, an organisation's API key, or :data:`shop.limits.TRUSTED`): the shop's
    limits (:mod:`shop.limits`) are checked under the register lock and set how long the units are held.
    Returns ``(order, created)``; with an ``idempotency_key`` this buyer's client (the address that sent it, or
    the organisation) already used for the same request the earlier order is returned (``created`` False), for a
    different request :class:`IdempotencyConflict`. Another client's use of the same key is another order."""
    if idempotency_key is not None and (not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY):
        raise IdempotencyConflict("key length")
    client = buyer.client
    stored_key = scoped_idempotency_key(client, idempotency_key) if idempotency_key is not None else None
    try:
        return await _create_order(settings, request, provider, buyer, stored_key, in_block=True)
    except chain.WiderLockNeeded:  # the tickets are spread over the quota's blocks: take them under its lock
        return await _create_order(settings, request, provider, buyer, stored_key, in_block=False)


async def _hold_for_sale(batch_id: int | None, quantity: int, *, in_block: bool, buyer: limits.Buyer) -> None:
    """The first lock of an order's transaction: a stock block of the quota with ``quantity`` tickets left
    (:mod:`registry.blocks`), else the quota's own lock; the whole register when no quota is open."""
    if batch_id is None:
        await chain.lock_register(None)
    elif not in_block:
        await chain.lock_register([batch_id])
    elif await chain.claim_block(batch_id, quantity, name=limits.lock_of(buyer)) is None:  # the buyer's lock too
        # no block has that many: the order needs the quota's lock, which waits for the blocks' buyers — taken in a
        # new transaction, as this one holds the quota's key shared already and must not wait holding it
        raise chain.WiderLockNeeded()


async def _create_order(
    settings: Settings,
    request: OrderRequest,
    provider: str,
    buyer: limits.Buyer,
    stored_key: str | None,
    *,
    in_block: bool,
) -> tuple[Order, bool]:
    async with chain.tracked_transaction():
        # the quota on sale when this worker last sold; its first sale on PostgreSQL: the one on sale now (read
        # again below). SQLite's first statement must write (a transaction that read first cannot write once
        # another worker wrote): there the first sale takes the whole register, as writers take turns anyway.
        hint = _quota_hint[0] if _quota_hint else None
        if hint is None and sqlrows.is_postgres() and (first := await quota_on_sale()) is not None:
            hint = first.batch.id
        await _hold_for_sale(hint, request.quantity, in_block=in_block, buyer=buyer)
        on_sale = await quota_on_sale()  # under the lock: the quota, its pool and the tickets left, one statement
        state = chain.lock_state()
        if on_sale is not None and state is not None and not state.holds_batch(on_sale.batch.id):
            await _hold_for_sale(on_sale.batch.id, request.quantity, in_block=in_block, buyer=buyer)  # another quota
            on_sale = await quota_on_sale()  # read again under its lock
        if on_sale is None:
            raise NoOpenQuota()
        quota = on_sale.batch
        _quota_hint[:] = [quota.id]
        price = int(quota.price_fen or 0)
        _check_limits(request, settings, price, provider)
        if stored_key is not None:
            await chain.lock_name(f"idempotency:{stored_key}")  # two requests with one key: the second finds the first
            existing = await Order.get_or_none(idempotency_key=stored_key)
            if existing is not None:
                same = (existing.quantity, existing.purpose, existing.certificate_name, existing.contact) == (
                    request.quantity,
                    request.purpose,
                    request.certificate_name,
                    request.contact,
                )
                if not same:
                    raise IdempotencyConflict()
                return existing, False
        hold = await limits.admit(settings, buyer, request.quantity, units_left=on_sale.stats.available)
        checkout_expires = clock.now() + hold
        block = chain.lock_state()
        order = await Order.create(
            block_id=block.blocks[quota.id].id if block is not None and quota.id in block.blocks else None,
            token=secrets.token_urlsafe(24),
            batch=quota,
            quantity=request.quantity,
            amount_fen=request.quantity * price,
            purpose=request.purpose,
            certificate_name=request.certificate_name,
            contact=request.contact,
            provider=provider,
            idempotency_key=stored_key,
            client=buyer.group,
            details={"buyer_kind": request.buyer_kind, "checkout_expires_at": checkout_expires.isoformat()},
            expires_at=checkout_expires + limits.RESERVATION_GRACE,
        )
        try:
            entry = await register.reserve_units(
                batch=quota,
                holder=on_sale.pool,
                quantity=request.quantity,
                order=order,
                expires_at=order.expires_at,
                actor="shop",
            )
        except InsufficientUnits as exc:
            raise QuotaExhausted() from exc
    _just_reserved[order] = (quota, [list(r) for r in entry.ranges])
    return order, True


def order_stock(order: Order) -> tuple[int, int | None]:
    """What an order's transactions lock: its batch, and the stock block it reserved from (None: the batch)."""
    return int(order.batch_id), int(order.block_id) if order.block_id is not None else None


# What create_order reserved, kept on the Order instance it returned (for as long as that instance lives), so the
# answer to the request that made the order shows its serials without reading them back.
# the quota this worker last sold from: the next order locks it up front (and the one on sale, if another is now)
_quota_hint: list[int] = []
_just_reserved: weakref.WeakKeyDictionary[Order, tuple[Batch, list[list[int]]]] = weakref.WeakKeyDictionary()


def just_reserved(order: Order) -> tuple[Batch, list[list[int]]] | None:
    """The quota and serial ranges ``order`` (this very instance, still pending) reserved when it was created."""
    return _just_reserved.get(order) if order.status is OrderStatus.PENDING else None


async def order_by_token(token: str) -> Order:
    """The order behind a private link; a wrong token is :class:`OrderNotFound` with no further hint."""
    if not token or len(token) > 64:
        raise OrderNotFound()
    found = await sqlrows.select(Order, '"m"."token" = ?', [token], limit=1)  # every payment page asks: keep it cheap
    if not found:
        raise OrderNotFound()
    order: Order = found[0]
    return order


async def order_by_id_and_token(order_id: Any, token: str | None) -> Order:
    if inputs.record_id(order_id) is None or not token or len(token) > 64:
        raise OrderNotFound()
    order = await Order.get_or_none(id=order_id)
    if order is None or not secrets.compare_digest(order.token.encode(), token.encode()):
        raise OrderNotFound()
    return order


async def record_checkout(order: Order, *, ref: str, url: str) -> None:
    order.provider_ref = ref
    order.details = {**order.details, "checkout_url": url}
    await order.save(update_fields=["provider_ref", "details"])


# ---------------------------------------------------------------------------------------------------------
# Payment events
# ---------------------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    DUPLICATE = "duplicate"
    FULFILLED = "fulfilled"
    ALREADY_SETTLED = "already_settled"
    REFUND_DUE = "refund_due"
    RELEASED = "released"
    REFUNDED = "refunded"
    NOTED = "noted"
    AMOUNT_MISMATCH = "amount_mismatch"


def _kind_for(order: Order, event: PaymentEvent) -> EventKind:
    """What ``event`` means for ``order``: a refund of less than the whole amount, or the end of a trade the order no
    longer pays through (the payer changed method), is kept as evidence only."""
    if event.kind is EventKind.REFUNDED and event.refund_fen is not None and event.refund_fen < order.amount_fen:
        return EventKind.NOTE
    ends = (EventKind.EXPIRED, EventKind.FAILED, EventKind.CANCELLED)
    if event.kind in ends and event.trade_no and event.trade_no != order.provider_ref:
        return EventKind.NOTE
    return event.kind


def _evidence(event: PaymentEvent) -> dict[str, Any]:
    """What is kept of the event: the provider's report, and when the payer paid as the provider said."""
    payload = dict(event.payload or {})
    if event.paid_at is not None:
        payload["paid_at"] = clock.utc(event.paid_at).isoformat()
    return payload


async def apply_event(order_id: int, event: PaymentEvent, *, stock: tuple[int, int | None] | None = None) -> Outcome:
    """Apply one provider event to an order (:func:`_apply_event`); a paid order is fulfilled by its purpose
    (:mod:`shop.purposes`) in the event's transaction, and one that ended unpaid is tidied by its purpose once that
    transaction has committed (a roster's rows go back to be paid again)."""
    outcome = await _apply_event(order_id, event, stock=stock)
    if outcome is Outcome.RELEASED:
        await after_unpaid(await Order.get(id=order_id))
    return outcome


async def after_unpaid(order: Order) -> None:
    """What ``order``'s purpose does once the order ended unpaid, after the commit. A failure is logged and left to
    the expiry job's sweep (``shop.expire_reservations``): the order's own change stands."""
    tidy = purposes.of(order).after_unpaid
    if tidy is None:
        return
    try:
        await tidy(order)
    except Exception:
        log.exception("order %s ended unpaid; tidying after it failed (the expiry job sweeps it)", order.id)


async def _apply_event(order_id: int, event: PaymentEvent, *, stock: tuple[int, int | None] | None = None) -> Outcome:
    """Apply one provider event to an order, once per ``event_id``, in one transaction.

    Events may arrive twice, late, or in any order: each is recorded as a :class:`Payment` row (whose
    unique ``event_id`` is the dedupe), and each kind acts only from the states where it makes sense. Jobs the
    fulfilment defers (a large roster's certificates) are queued once the transaction has committed. The
    transaction locks the order's stock (``stock``, when the caller knows it: :func:`order_stock`; read
    otherwise)."""
    batch_id, block_id = await _stock_of(order_id) if stock is None else stock
    return await chain.stock_transaction(batch_id, block_id, lambda: _apply_locked(order_id, event))


async def _apply_locked(order_id: int, event: PaymentEvent) -> Outcome:
    order, seen = await _order_and_seen(order_id, event.event_id)
    if not await chain.hold_order(*order_stock(order)):  # reserved again meanwhile: read it again
        order, seen = await _order_and_seen(order_id, event.event_id)
    if seen:
        return Outcome.DUPLICATE
    await Payment.create(
        order=order,
        provider=event.provider,
        event_id=event.event_id,
        event_type=event.event_type or str(event.kind),
        amount_fen=event.amount_fen or 0,
        payload=_evidence(event),
    )
    kind = _kind_for(order, event)
    if kind is EventKind.PAID:
        if event.amount_fen is not None and event.amount_fen != order.amount_fen:
            order.details = {**order.details, "amount_mismatch": event.amount_fen}
            await order.save(update_fields=["details"])
            return Outcome.AMOUNT_MISMATCH
        return await _fulfil_locked(order, fresh=True)
    if kind is EventKind.NOTE:
        return Outcome.NOTED
    if kind is EventKind.AWAITING:
        if order.status is OrderStatus.PENDING:
            order.details = {**order.details, "awaiting_payment": True}
            await order.save(update_fields=["details"])
        return Outcome.NOTED
    if kind in (EventKind.FAILED, EventKind.EXPIRED, EventKind.CANCELLED):
        return await _end_unpaid(order, kind)  # its purpose tidies up after the commit (after_unpaid)
    if kind is EventKind.REFUNDED:
        return await _refunded(order)
    raise AssertionError(kind)  # pragma: no cover


async def _stock_of(order_id: int) -> tuple[int, int | None]:
    """The batch and stock block an order is reserved from (what its transaction locks)."""
    found = await Order.filter(id=order_id).values("batch_id", "block_id")
    if not found:
        raise DoesNotExist(Order)
    block = found[0]["block_id"]
    return int(found[0]["batch_id"]), int(block) if block is not None else None


async def _order_and_seen(order_id: int, event_id: str) -> tuple[Order, bool]:
    """The order, and whether the event was recorded before (its dedupe): one statement, under the lock."""
    sql = (
        f"SELECT {sqlrows.columns(Order, 'o')}, "  # noqa: S608 - the model's own columns; values are parameters
        'EXISTS (SELECT 1 FROM "payment" "p" WHERE "p"."event_id" = ?) AS "seen" FROM "order" "o" WHERE "o"."id" = ?'
    )
    found = await sqlrows.rows(sql, [event_id, order_id])
    if not found:
        raise DoesNotExist(Order)
    return sqlrows.instance(Order, found[0], "o"), bool(found[0]["seen"])


async def fulfil(order: Order) -> Outcome:
    """Fulfil a paid order exactly once (safe to call repeatedly and concurrently)."""
    return await chain.stock_transaction(*order_stock(order), lambda: _fulfil_locked(order))


async def _reserve_again(order: Order) -> bool:
    """Reserve an expired order's units again if its quota — or the one on sale at the same price — has them."""
    state = chain.lock_state()
    if state is not None and state.blocks and not state.whole:
        raise chain.WiderLockNeeded()  # its tickets may now be anywhere in the quota: under the quota's lock
    pool = await pool_holder()
    candidates: list[Batch] = [await Batch.get(id=order.batch_id)]
    on_sale = await current_quota()
    if on_sale is not None and on_sale.id != candidates[0].id and on_sale.price_fen == candidates[0].price_fen:
        candidates.append(on_sale)
    for batch in candidates:
        if not batch.is_open or await register.units_available(batch, pool) < order.quantity:
            continue
        try:
            await register.reserve_units(
                batch=batch,
                holder=pool,
                quantity=order.quantity,
                order=order,
                expires_at=clock.now() + limits.RESERVATION_GRACE,
                actor="shop",
            )
        except InsufficientUnits:
            continue
        if batch.id != order.batch_id or order.block_id is not None:
            order.batch, order.block_id = batch, None  # reserved under the batch's lock: paid under it too
            await order.save(update_fields=["batch_id", "block_id"])
        return True
    return False


async def _fulfil_locked(order: Order, *, fresh: bool = False) -> Outcome:
    """``fresh``: ``order`` was read under this transaction's register lock (no need to read it again)."""
    if not fresh:
        await order.refresh_from_db()
        if not await chain.hold_order(*order_stock(order)):
            await order.refresh_from_db()
    if order.status in (OrderStatus.FULFILLED, OrderStatus.REFUNDED):
        return Outcome.ALREADY_SETTLED
    if order.status is OrderStatus.FAILED and order.details.get("refund_due"):
        return Outcome.REFUND_DUE
    now = clock.now()
    order.paid_at = order.paid_at or now
    reserved: list[Holding] | None = await register.reserved_holdings(order)  # read once, retired below
    if not reserved:
        reserved = None  # reserved again (or not at all): the retirement reads them itself
        if not await _reserve_again(order):
            order.status = OrderStatus.FAILED
            order.details = {**order.details, "refund_due": True, "refund_reason": "quota_exhausted_after_expiry"}
            await order.save(update_fields=["status", "details", "paid_at"])
            return Outcome.REFUND_DUE
    await purposes.of(order).fulfil(order, now, reserved)
    return Outcome.FULFILLED


async def _fulfil_carbon(order: Order, now: datetime, reserved: Sequence[Holding] | None) -> None:
    """A carbon offset: the reserved tickets retired to the buyer for the order's purpose, and one certificate."""
    buyer = await Holder.create(
        kind=BUYER_KINDS.get(order.details.get("buyer_kind", "individual"), HolderKind.INDIVIDUAL),
        name=order.certificate_name,
        contact=order.contact,
        region_code="",
        shop_buyer=True,
    )
    entry = await register.retire_units(
        order=order, buyer=buyer, purpose=PURPOSES[order.purpose], actor="shop", reserved=reserved
    )
    order.buyer = buyer
    order.status = OrderStatus.FULFILLED
    order.fulfilled_at = now
    await order.save(update_fields=["buyer_id", "status", "fulfilled_at", "paid_at"])
    batch = reserved[0].batch if reserved else None
    await issue_certificate(order, entry, batch=batch, buyer=buyer)


def _carbon_label(order: Order) -> str:
    return PURPOSES[order.purpose]


CARBON = purposes.OrderPurpose(
    name="carbon offset",
    fulfil=_fulfil_carbon,
    label=_carbon_label,
    subject="银川碳汇林票 {quantity}张",
    page="/orders/{token}",
)
purposes.register(CARBON, *PURPOSES)


async def _end_unpaid(order: Order, kind: EventKind) -> Outcome:
    await order.refresh_from_db()
    if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
        return Outcome.ALREADY_SETTLED
    await register.release_units(order=order, actor="shop", reason=str(kind))
    order.status = {EventKind.EXPIRED: OrderStatus.EXPIRED, EventKind.CANCELLED: OrderStatus.CANCELLED}.get(
        kind, OrderStatus.FAILED
    )
    await order.save(update_fields=["status"])
    return Outcome.RELEASED


async def _refunded(order: Order) -> Outcome:
    await order.refresh_from_db()
    if order.status is OrderStatus.REFUNDED:
        return Outcome.ALREADY_SETTLED
    if order.status is not OrderStatus.FULFILLED:
        await register.release_units(order=order, actor="shop", reason="refunded")
    await certificate_refunded(order)
    order.status = OrderStatus.REFUNDED
    order.details = {**order.details, REFUNDED_AT: clock.now().isoformat()}  # the receipt prints it
    await order.save(update_fields=["status", "details"])
    return Outcome.REFUNDED


async def mark_refund_issued(order: Order, refund_ref: str) -> None:
    """The provider accepted the refund of an order that could not be fulfilled."""

    async def mark() -> None:
        await order.refresh_from_db()
        if not await chain.hold_order(*order_stock(order)):
            await order.refresh_from_db()
        order.details = {**order.details, "refund_due": False, "refund_ref": refund_ref}
        if order.status is not OrderStatus.FULFILLED:
            order.status = OrderStatus.REFUNDED
            order.details[REFUNDED_AT] = clock.now().isoformat()
        await order.save(update_fields=["details", "status"])

    await chain.stock_transaction(*order_stock(order), mark)


async def fail_checkout(order: Order, reason: str) -> None:
    """The provider could not open a payment page: give the units back at once."""

    async def give_back() -> bool:
        await order.refresh_from_db()
        if not await chain.hold_order(*order_stock(order)):
            await order.refresh_from_db()
        if order.status is not OrderStatus.PENDING:
            return False
        await register.release_units(order=order, actor="shop", reason=reason)
        order.status = OrderStatus.FAILED
        order.details = {**order.details, "failure": reason}
        await order.save(update_fields=["status", "details"])
        return True

    if await chain.stock_transaction(*order_stock(order), give_back):
        await after_unpaid(order)


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


async def serial_ranges(order: Order, batch: Batch | None = None) -> list[str]:
    batch = batch or await Batch.get(id=order.batch_id)
    holdings = await Holding.filter(order_id=order.id).order_by("first_no").values_list("first_no", "last_no")
    return batch.serial_ranges(holdings)


async def order_certificate(order: Order) -> Certificate | None:
    if order.status not in (OrderStatus.FULFILLED, OrderStatus.REFUNDED):
        return None  # a carbon order's certificate is made in the transaction that fulfils it
    return (
        await Certificate.filter(order_id=order.id, kind=CertificateKind.CARBON)
        .exclude(status=CertificateStatus.REISSUED)
        .order_by("-id")
        .first()
    )


@dataclass(frozen=True)
class ShopTotals:
    units_sold: int
    kg_co2e_offset: int


async def shop_totals() -> ShopTotals:
    """Tickets sold and kg CO2e offset across every carbon quota (units retired to anyone but the quota's pool),
    from the register's counters: one row per quota, whatever was sold."""
    sold = 0
    grams = 0
    for stock in await counters.stocks(batch__kind=TicketKind.CARBON):
        sold += stock.retired_to_others
        grams += stock.retired_to_others * int(stock.batch.g_co2e_per_unit or 0)
    return ShopTotals(units_sold=sold, kg_co2e_offset=grams // 1000)


async def pending_orders_older_than(moment: datetime) -> list[Order]:
    return await Order.filter(status=OrderStatus.PENDING, created_at__lt=clock.utc(moment)).order_by("id")
