"""What Alipay and WeChat Pay have in common: our trade numbers there (商户订单号 ``out_trade_no``), refund numbers,
and the order-level operations both build from their trade-level calls
(:class:`TradeProvider`).

One order may open more than one trade (the payer changes method, or a closed trade is replaced), so a trade
number names its order and adds a random part: ``LP<order id>_<8 hex>`` — letters, digits and an underscore,
within what both providers accept (Alipay 64, WeChat Pay 6–32 characters), and never repeated even when the
database is rebuilt. Every trade opened for an order is kept in ``order.details["trades"]``."""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod

from registry.models import Order
from shop.payments.base import PaymentError, RemoteStatus, RemoteTrade
from shop.payments.events import PaymentEvent

TRADE_NO = re.compile(r"^LP(\d{1,10})_[0-9a-f]{8}$")


def new_trade_no(order: Order) -> str:
    return f"LP{order.id}_{secrets.token_hex(4)}"


def order_id_of(trade_no: str | None) -> int | None:
    match = TRADE_NO.fullmatch(trade_no or "")
    return int(match.group(1)) if match else None


def is_trade_of(order: Order, trade_no: str) -> bool:
    """Whether ``trade_no`` is one of the trades opened for ``order`` (not merely one naming its id)."""
    return trade_no == order.provider_ref or trade_no in (order.details.get("trades") or {})


def refund_no(trade_no: str, number: int = 1) -> str:
    """The refund's own number (Alipay ``out_request_no``, WeChat Pay ``out_refund_no``): one per refund of a
    trade, the same on every retry of that refund, so a retried request never refunds twice."""
    return f"{trade_no}R{number}"


class TradeProvider(ABC):
    """A provider that opens one trade per payment attempt, named by our trade number (Alipay, WeChat Pay): the
    order-level operations of :class:`shop.payments.base.PaymentProvider` from the provider's trade-level calls."""

    label = ""  # the provider's name in messages

    @abstractmethod
    async def retrieve_trade(self, order: Order) -> RemoteTrade: ...

    @abstractmethod
    async def close_trade(self, trade_no: str) -> None:
        """Close an unpaid trade; one the provider never saw, or already paid or closed, needs nothing more."""

    @abstractmethod
    async def refund_trade(self, trade_no: str, amount_fen: int, total_fen: int, *, number: int = 1) -> str:
        """Refund ``amount_fen`` of a trade of ``total_fen`` under the refund's own number (:func:`refund_no`), the
        same on every retry of this refund, so the provider refunds once. Returns that number."""

    async def retrieve_status(self, order: Order) -> RemoteStatus:
        return (await self.retrieve_trade(order)).status

    async def event_is_for(self, order: Order, event: PaymentEvent) -> bool:
        """A notification names our trade number, which names its order; it counts only for a trade opened for it."""
        return bool(event.trade_no) and event.order_id == order.id and is_trade_of(order, event.trade_no)

    async def expire_checkout(self, order: Order) -> None:
        if order.provider_ref:
            await self.close_trade(order.provider_ref)

    async def refund(self, order: Order, *, amount_fen: int | None = None, number: int = 1) -> str:
        """A refund of ``order``'s trade, in full by default. Returns the refund's number."""
        if not order.provider_ref:
            raise PaymentError(f"order {order.id}: no {self.label} trade to refund")
        amount = int(order.amount_fen) if amount_fen is None else amount_fen
        return await self.refund_trade(order.provider_ref, amount, int(order.amount_fen), number=number)
