"""What the shop needs from a payment provider, in the shop's own terms (never Stripe's shapes), so a
direct Alipay / WeChat Pay provider can sit behind the same interface later."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from registry.models import Order


class PaymentError(Exception):
    """The provider could not be reached or refused the request."""


@dataclass(frozen=True)
class CheckoutStart:
    url: str  # where to send the buyer
    ref: str  # the provider's id of the payment page (stored as ``Order.provider_ref``)


class RemoteStatus(StrEnum):
    OPEN = "open"  # the buyer may still pay
    PAID = "paid"
    AWAITING = "awaiting"  # completed, asynchronous payment on its way
    EXPIRED = "expired"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider has no record


class PaymentProvider(Protocol):
    name: str
    is_demo: bool

    async def create_checkout(self, order: Order) -> CheckoutStart:
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
