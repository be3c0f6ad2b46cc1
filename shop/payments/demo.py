"""The demo provider: a local confirmation page instead of real money. The default without a Stripe key,
marked 演示 / DEMO on every shop page, and refused in production."""

from __future__ import annotations

from linpiao.settings import Settings, SettingsError
from registry.models import Order, OrderStatus
from shop.payments.base import CheckoutStart, PaymentContext, RemoteStatus


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

    async def aclose(self) -> None:
        return None
