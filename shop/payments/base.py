"""What the shop needs from a payment provider, in the shop's own terms (never Stripe's, Alipay's or WeChat
Pay's shapes): Stripe, Alipay, WeChat Pay and the demo provider sit behind the same interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from kernel import clock
from registry.models import Order
from shop.payments.events import PaymentEvent


class PaymentError(Exception):
    """The provider could not be reached or refused the request."""


class InvalidNotification(Exception):
    """A notification (or answer) whose signature, age or encryption is wrong: refused, nothing recorded."""

    status = 401


class NotForUs(InvalidNotification):
    """A genuine notification for another app, seller or merchant."""

    status = 400


class UnreadableNotification(InvalidNotification):
    """A body that is not even text in the provider's format."""

    status = 400


def provider_time(text: object) -> datetime | None:
    """A moment a provider wrote as ISO text (``2026-03-12 09:30:00`` Beijing time when it names no zone, or RFC 3339);
    ``None`` when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) and text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=clock.CITY_TZ) if moment is not None and moment.tzinfo is None else moment


def checkout_expires_at(order: Order) -> datetime:
    """When ``order``'s payment page must close: its reservation's end, less the grace the register allows."""
    return datetime.fromisoformat(order.details["checkout_expires_at"])


class RemoteStatus(StrEnum):
    OPEN = "open"  # the buyer may still pay
    PAID = "paid"
    AWAITING = "awaiting"  # completed, asynchronous payment on its way
    EXPIRED = "expired"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider has no record


@dataclass(frozen=True)
class CheckoutStart:
    url: str  # where to send the buyer
    ref: str  # the provider's id of the payment page (stored as ``Order.provider_ref``)
    qr: str = ""  # what a QR code on our page shows (WeChat Pay Native's ``code_url``)
    jsapi: dict[str, str] | None = None  # what ``WeixinJSBridge`` needs inside WeChat (JSAPI)
    channel: str = ""  # how the payment is made: page, wap, native, h5, jsapi; "" for a hosted page


@dataclass(frozen=True)
class PaymentContext:
    """Where the payer is: Alipay and WeChat Pay each pay differently on a desktop, a phone and inside WeChat."""

    device: str = "desktop"  # desktop | phone | wechat
    channel: str = ""  # asked for explicitly (API): page, wap, native, h5, jsapi
    client_ip: str = ""  # WeChat Pay H5 needs the payer's address
    openid: str = ""  # WeChat Pay JSAPI needs the payer's openid (official-account OAuth)
    trade_no: str = ""  # open this trade again (same method and channel) rather than a new one


@dataclass(frozen=True)
class RemoteTrade:
    """What the provider says about an order's trade, with the amount it took (fen) when it was paid."""

    status: RemoteStatus
    amount_fen: int | None = None
    trade_no: str = ""
    raw: dict[str, Any] | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    name: str
    is_demo: bool

    async def create_checkout(self, order: Order, context: PaymentContext | None = None) -> CheckoutStart:
        """Open a payment page for ``order`` (amount in fen, CNY) that expires with its reservation."""
        ...

    async def retrieve_status(self, order: Order) -> RemoteStatus:
        """Ask the provider what became of ``order``'s payment (for reconcile and the return page)."""
        ...

    async def expire_checkout(self, order: Order) -> None:
        """Close ``order``'s payment page early so it can no longer be paid."""
        ...

    async def refund(self, order: Order) -> str:
        """Refund ``order`` in full; returns the provider's refund reference."""
        ...

    async def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        """Verify a notification the provider sent (a webhook's raw body and headers) and read it as an event naming
        its order and trade; ``None`` for a genuine report the shop has no use for. :class:`InvalidNotification`
        when it is not genuine (bad signature, stale, undecryptable), :class:`NotForUs` when it is another
        merchant's: either way nothing is recorded."""
        ...

    async def event_is_for(self, order: Order, event: PaymentEvent) -> bool:
        """Whether ``event`` is about one of ``order``'s own trades, not merely one naming the order (a report can
        say anything in its free fields). :class:`PaymentError` when the provider must be asked and cannot be."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class BillLine:
    """One line of a provider's daily statement (对账单): a payment, or a refund (a positive amount refunded)."""

    out_trade_no: str
    trade_no: str
    kind: str  # payment | refund
    amount_fen: int
    refund_no: str = ""
