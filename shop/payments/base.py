"""What the shop needs from a payment provider, in the shop's own terms (never Stripe's, Alipay's or WeChat
Pay's shapes): Stripe, Alipay, WeChat Pay and the demo provider sit behind the same interface."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from registry.models import Order


class PaymentError(Exception):
    """The provider could not be reached or refused the request."""


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

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class BillLine:
    """One line of a provider's daily statement (对账单): a payment, or a refund (a positive amount refunded)."""

    out_trade_no: str
    trade_no: str
    kind: str  # payment | refund
    amount_fen: int
    refund_no: str = ""
