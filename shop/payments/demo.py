"""The demo provider: a local confirmation page instead of real money. The default when no provider is configured,
marked 演示 / DEMO on every shop page, and refused in production.

It has no notifications: its payment page's two buttons are its only reports, and it builds their events itself
(:meth:`DemoProvider.page_event`)."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.settings import Settings, SettingsError
from registry.models import Order, OrderStatus
from shop.payments.base import CheckoutStart, InvalidNotification, PaymentContext, RemoteStatus
from shop.payments.events import EventKind, PaymentEvent

CONFIRM = "confirm"
CANCEL = "cancel"


class DemoProvider:
    name = "demo"
    is_demo = True

    def __init__(self, settings: Settings) -> None:
        if settings.production:
            raise SettingsError("the demo payment provider is refused when LINPIAO_ENV=production")
        self.settings = settings

    async def create_checkout(self, order: Order, context: PaymentContext | None = None) -> CheckoutStart:
        return CheckoutStart(url=f"{self.settings.base_url}/pay/demo/{order.token}", ref=f"demo_{order.id}")

    async def retrieve_status(self, order: Order) -> RemoteStatus:
        # Nothing happens on the demo page without the app knowing at once, so the app's own state is the truth.
        if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED):
            return RemoteStatus.PAID
        if order.status is OrderStatus.PENDING:
            return RemoteStatus.OPEN
        return RemoteStatus.EXPIRED

    async def expire_checkout(self, order: Order) -> None:
        return None

    async def refund(self, order: Order) -> str:
        return f"demo_refund_{order.id}"

    def page_event(self, order: Order, action: str) -> PaymentEvent:
        """What the demo payment page's button reports: ``confirm`` pays the order's whole amount, anything else
        (``cancel``) gives up. One event per order and action, so a second click changes nothing."""
        if action == CANCEL:
            return PaymentEvent(
                "demo", f"demo:{order.id}:cancelled", EventKind.CANCELLED, event_type="demo.cancel", order_id=order.id
            )
        return PaymentEvent(
            "demo",
            f"demo:{order.id}:paid",
            EventKind.PAID,
            amount_fen=int(order.amount_fen),
            event_type="demo.paid",
            order_id=order.id,
        )

    async def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        raise InvalidNotification("the demo provider sends no notifications: its page reports through page_event")

    async def event_is_for(self, order: Order, event: PaymentEvent) -> bool:
        return event.provider == self.name and event.order_id == order.id and order.provider == self.name

    async def aclose(self) -> None:
        return None
