"""Inventory protection (限购): how much one buyer may hold of the quota on sale, as ticketing systems do.

One anonymous request could otherwise reserve a whole quota for a reservation's lifetime, again and again. So:

1. **Per order**: at most ``LINPIAO_ORDER_SHARE_PERCENT`` % of the tickets left in the quota on sale, never less
   than ``LINPIAO_ORDER_FLOOR_UNITS`` (so a small quota, or its last tickets, still sell) nor than one person's
   largest tree-planting purchase, and never more than ``LINPIAO_MAX_ORDER_UNITS``. The maximum shrinks as the
   quota sells: an attacker must ask again and again, and rule 2 stops that.
2. **Per client**: one address (IPv6: its /64, which one subscriber holds whole) keeps at most
   ``LINPIAO_MAX_PENDING_ORDERS`` unpaid orders holding at most ``LINPIAO_MAX_PENDING_UNITS`` tickets (never less
   than one largest order), carbon and tree-planting orders together.
3. **Short holds for large orders**: an unpaid order of ``LINPIAO_LARGE_ORDER_UNITS`` or more is held
   ``LINPIAO_LARGE_ORDER_RESERVATION_MINUTES`` only, instead of ``LINPIAO_RESERVATION_MINUTES``.
4. **Known buyers**: an organisation's API key (:mod:`registry.apikeys`) lifts rules 1–3; its orders count
   together under ``org:<key id>`` and only the key's own ``max_pending_units`` (when set) bounds them.

:func:`admit` runs inside the order's transaction, after the register lock, so two requests of one client cannot
both pass; a refusal states the numbers in force and leaves nothing written.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kernel import clock
from kernel.settings import Settings
from registry import chain, sqlrows
from registry.apikeys import ApiKey
from registry.models import Order, OrderStatus
from shop.errors import AboveOrderLimit, KeyPendingUnits, TooManyPendingOrders, TooManyPendingUnits

MIN_CHECKOUT_MINUTES = 30  # Stripe's Checkout Sessions stay open 30 minutes at least
# The reservation outlives the payment page a little, so a payment completed at the page's last second
# still finds its units.
RESERVATION_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Buyer:
    """Who is ordering. ``client`` scopes the Idempotency-Key (the address as sent, or ``org:<id>``); ``group``
    is whose unpaid orders count together (an IPv6 address's /64); ``limited`` is False for organisation keys and
    for staff and tools (:data:`TRUSTED`)."""

    client: str
    group: str
    limited: bool = True
    key_id: int | None = None
    key_max_pending_units: int | None = None

    @classmethod
    def at_address(cls, address: str) -> Buyer:
        return cls(client=f"address:{address}", group=f"address:{address_group(address)}")

    @classmethod
    def with_key(cls, key: ApiKey) -> Buyer:
        max_units = int(key.max_pending_units) if key.max_pending_units is not None else None
        group = f"org:{key.id}"
        return cls(client=group, group=group, limited=False, key_id=key.id, key_max_pending_units=max_units)


# Staff, the command line, benchmarks and tests: no limits, and nothing counted against anyone.
TRUSTED = Buyer(client="", group="", limited=False)


def address_group(address: str) -> str:
    """An IPv4 address as it is; an IPv6 address as its /64 (one subscriber gets a whole /64 and can pick any
    address in it); an IPv4-mapped IPv6 address as the IPv4 address; anything unreadable as it is."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def order_maximum(settings: Settings, units_left: int, *, at_least: int = 0) -> int:
    """The most tickets one anonymous order may take now: a share of what is left, with its floor."""
    share = units_left * settings.order_share_percent // 100
    return min(settings.max_order_units, max(settings.order_floor_units, at_least, share))


def pending_units_maximum(settings: Settings, order_max: int) -> int:
    """What one client's unpaid orders may hold together: never less than one largest order."""
    return max(settings.max_pending_units, order_max)


def normal_reservation_minutes(settings: Settings) -> int:
    return max(MIN_CHECKOUT_MINUTES, settings.reservation_minutes)


def reservation_length(settings: Settings, quantity: int, *, limited: bool) -> timedelta:
    """How long the payment page holds an order's tickets (the shop adds a short grace after it). A large
    anonymous order is held briefly: with Stripe its payment page still stays open 30 minutes, and a payment after
    the hold ran out is fulfilled if the tickets are still free, refunded otherwise (shop/orders.py)."""
    normal = normal_reservation_minutes(settings)
    if limited and quantity >= settings.large_order_units:
        return timedelta(minutes=min(normal, settings.large_order_reservation_minutes))
    return timedelta(minutes=normal)


@dataclass(frozen=True)
class Pending:
    """A client's unpaid orders still holding tickets."""

    orders: int
    units: int
    first_expiry: datetime | None

    def retry_after(self, now: datetime) -> int:
        if self.first_expiry is None:
            return 60
        return max(1, math.ceil((self.first_expiry - now).total_seconds()))


_PENDING_SQL = (
    'SELECT COUNT(*) AS "orders", COALESCE(SUM("quantity"), 0) AS "units", MIN("expires_at") AS "first_expiry" '
    'FROM "order" WHERE "client" = ? AND "status" = ? AND "expires_at" > ?'
)


async def pending_of(group: str, now: datetime) -> Pending:
    """One aggregate over the client's unpaid orders (index ``order(client, status)``: its paid ones are never
    read), written by hand: every checkout asks, and the ORM's query building costs more than the query."""
    row = (await sqlrows.rows(_PENDING_SQL, [group, str(OrderStatus.PENDING), now]))[0]
    first = row["first_expiry"]
    expiry = Order._meta.fields_map["expires_at"].to_python_value(first) if first is not None else None
    return Pending(int(row["orders"]), int(row["units"]), expiry)


LOCK_PREFIX = "client:"


def lock_of(buyer: Buyer) -> str | None:
    """The name of the lock a buyer's orders take while their unpaid orders are counted (None: not counted)."""
    return f"{LOCK_PREFIX}{buyer.group}" if buyer.group else None


async def admit(settings: Settings, buyer: Buyer, quantity: int, *, units_left: int, at_least: int = 0) -> timedelta:
    """Check one order against the rules and return how long to hold its tickets; raise the refusal otherwise.

    Call it inside the order's transaction, after the register lock: it holds the buyer's own lock (:func:`lock_of`)
    while it counts the buyer's unpaid orders, so parallel requests of one buyer are counted one after the other.
    ``units_left`` is what the quota on sale still has free; ``at_least`` raises the per-order maximum for an
    order whose size a rule already bounds (one person's tree-planting purchase)."""
    if not buyer.group:
        return reservation_length(settings, quantity, limited=buyer.limited)
    now = clock.now()
    await chain.lock_name(f"{LOCK_PREFIX}{buyer.group}")  # buyers of one quota run side by side (stock blocks)
    pending = await pending_of(buyer.group, now)
    if not buyer.limited:
        cap = buyer.key_max_pending_units
        if cap is not None and pending.units + quantity > cap:
            raise KeyPendingUnits(
                retry_after=pending.retry_after(now),
                max_units=cap,
                units=pending.units,
                quantity=quantity,
                left=units_left,
            )
        return reservation_length(settings, quantity, limited=buyer.limited)
    maximum = order_maximum(settings, units_left, at_least=at_least)
    if quantity > maximum:
        raise AboveOrderLimit(
            maximum=maximum,
            left=units_left,
            share=f"{settings.order_share_percent}%",
            floor=settings.order_floor_units,
            quantity=quantity,
        )
    if pending.orders >= settings.max_pending_orders:
        raise TooManyPendingOrders(
            retry_after=pending.retry_after(now),
            max_orders=settings.max_pending_orders,
            orders=pending.orders,
            left=units_left,
        )
    units_cap = pending_units_maximum(settings, maximum)
    if pending.units + quantity > units_cap:
        raise TooManyPendingUnits(
            retry_after=pending.retry_after(now),
            max_units=units_cap,
            units=pending.units,
            quantity=quantity,
            left=units_left,
        )
    return reservation_length(settings, quantity, limited=buyer.limited)


@dataclass(frozen=True)
class StatedLimits:
    """What the buy page and ``GET /quota`` state before anyone orders."""

    order_maximum: int
    share_percent: int
    floor_units: int
    max_pending_orders: int
    max_pending_units: int
    large_order_units: int
    large_order_reservation_minutes: int
    reservation_minutes: int

    def as_json(self) -> dict[str, int]:
        return {
            "max_quantity": self.order_maximum,
            "share_percent": self.share_percent,
            "floor_units": self.floor_units,
            "max_pending_orders": self.max_pending_orders,
            "max_pending_units": self.max_pending_units,
            "large_order_units": self.large_order_units,
            "large_order_reservation_minutes": self.large_order_reservation_minutes,
            "reservation_minutes": self.reservation_minutes,
        }


def stated_limits(settings: Settings, units_left: int) -> StatedLimits:
    maximum = order_maximum(settings, units_left)
    short = reservation_length(settings, settings.large_order_units, limited=True)
    return StatedLimits(
        order_maximum=maximum,
        share_percent=settings.order_share_percent,
        floor_units=settings.order_floor_units,
        max_pending_orders=settings.max_pending_orders,
        max_pending_units=pending_units_maximum(settings, maximum),
        large_order_units=settings.large_order_units,
        large_order_reservation_minutes=int(short.total_seconds()) // 60,
        reservation_minutes=normal_reservation_minutes(settings),
    )
