"""Test helpers of the customer-service desk: paid shop orders, and a messenger that keeps what it sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.settings import Settings
from registry.models import Order
from registry.service_desk import Channel, DeliveryFailed
from shop.limits import TRUSTED
from shop.orders import EventKind, OrderRequest, PaymentEvent, apply_event, create_order


async def paid_order(
    settings: Settings, quantity: int = 10, *, contact: str = "", name: str = "张三", provider: str = "demo"
) -> Order:
    """An order made through the shop and paid (so fulfilled: units retired, certificate made)."""
    order, _ = await create_order(
        settings,
        OrderRequest(quantity=quantity, purpose="travel", certificate_name=name, contact=contact),
        provider=provider,
        buyer=TRUSTED,
    )
    await apply_event(
        order.id,
        PaymentEvent(
            provider=provider,
            event_id=f"test-paid-{order.id}",
            kind=EventKind.PAID,
            amount_fen=int(order.amount_fen),
            event_type="test.paid",
        ),
    )
    await order.refresh_from_db()
    return order


@dataclass
class RecordingMessenger:
    """:class:`registry.service_desk.Messenger` that keeps every message (``fail``: the server refuses)."""

    channels: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS)
    fail: bool = False
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, to, text)

    def available(self, channel: Channel) -> bool:
        return channel in self.channels

    async def send_email(self, to: str, subject: str, body: str) -> None:
        if self.fail:
            raise DeliveryFailed("refused")
        self.sent.append(("email", to, f"{subject}\n{body}"))

    async def send_sms(self, to: str, text: str) -> None:
        if self.fail:
            raise DeliveryFailed("refused")
        self.sent.append(("sms", to, text))
