"""Open the provider's payment page for a new order (or return the one already opened)."""

from __future__ import annotations

from linpiao.settings import Settings
from registry.models import Order
from shop.errors import PaymentUnavailable
from shop.orders import fail_checkout, record_checkout
from shop.payments import PaymentError, get_provider


async def start_checkout(settings: Settings, order: Order) -> str:
    """The URL to send the buyer to. A provider failure releases the units at once and raises
    :class:`PaymentUnavailable`; a repeated call (an idempotent API retry) returns the same page."""
    if order.details.get("checkout_url"):
        return str(order.details["checkout_url"])
    provider = get_provider(settings)
    try:
        start = await provider.create_checkout(order)
    except PaymentError as exc:
        await fail_checkout(order, "checkout_failed")
        raise PaymentUnavailable() from exc
    finally:
        await provider.aclose()
    await record_checkout(order, ref=start.ref, url=start.url)
    return start.url
