"""What an order's purpose decides, one entry per kind of order: how a paid order is fulfilled, what ending unpaid
leaves to tidy, which page shows it and how a payer's bill names it.

Carbon offsets (出行, 会议 … :data:`shop.orders.PURPOSES`) are registered by :mod:`shop.orders`, obligatory tree
planting (义务植树尽责) by :mod:`planting.shop.orders`; settlement dispatches through :func:`of` and never names a
purpose itself, so neither module imports the other. The shop imports nothing of planting: the composition root
(``linpiao/app.py``, ``linpiao/cli.py``, the worker's job modules in ``linpiao/jobqueue.py``) imports it, so both
are registered wherever an order can be settled.

``fulfil`` runs inside the payment event's transaction (register locked, the order's units reserved): the
retirement, the certificates and the order's new state are one change with the event that paid for them.
``after_unpaid`` runs once the transaction that ended an order unpaid (expired, failed, cancelled) has committed,
and again from the expiry job's sweep (``sweep``), so it must be idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from registry.models import Certificate, Holding, Order

Fulfil = Callable[[Order, datetime, Sequence[Holding] | None], Awaitable[None]]


class UnknownPurpose(LookupError):
    """An order whose purpose no module registered (a programming error: never fulfilled as something else)."""


@dataclass(frozen=True)
class OrderPurpose:
    name: str  # what it is, for messages
    fulfil: Fulfil  # retire the order's reserved units and certify them, in the event's transaction
    label: Callable[[Order], str]  # what the buyer pays for (a msgid): Stripe's line, the demo and payment pages
    subject: str  # the line on the payer's Alipay / WeChat Pay bill, formatted with ``quantity``
    page: str  # the order's own page, formatted with ``token``
    after_unpaid: Callable[[Order], Awaitable[object]] | None = None  # tidy up once it ended unpaid (idempotent)
    sweep: Callable[[], Awaitable[int]] | None = None  # the expiry job's catch-up of after_unpaid
    # the one certificate the buyer's list of orders offers beside the order, when there is one
    certificate: Callable[[Order], Awaitable[Certificate | None]] | None = None

    def subject_of(self, order: Order) -> str:
        return self.subject.format(quantity=int(order.quantity))

    def page_of(self, order: Order) -> str:
        return self.page.format(token=order.token)


_REGISTERED: dict[str, OrderPurpose] = {}


def register(purpose: OrderPurpose, *values: str) -> None:
    """Orders whose ``Order.purpose`` is one of ``values`` are of ``purpose``."""
    for value in values:
        known = _REGISTERED.get(value)
        if known is not None and known != purpose:
            raise ValueError(f"order purpose {value!r} is registered twice")
        _REGISTERED[value] = purpose


def of(order: Order) -> OrderPurpose:
    try:
        return _REGISTERED[order.purpose]
    except KeyError:
        raise UnknownPurpose(f"order {order.id}: no module registered the purpose {order.purpose!r}") from None


def registered() -> list[OrderPurpose]:
    """Every registered purpose once (several ``Order.purpose`` values may share one)."""
    unique: dict[int, OrderPurpose] = {}
    for purpose in _REGISTERED.values():
        unique.setdefault(id(purpose), purpose)
    return list(unique.values())
