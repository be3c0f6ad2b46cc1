"""Payment providers behind one interface; :func:`get_provider` is the one place that chooses."""

from __future__ import annotations

from linpiao.settings import Settings
from registry.models import Order
from shop.payments.base import (
    CheckoutStart,
    PaymentContext,
    PaymentError,
    PaymentProvider,
    RemoteStatus,
    RemoteTrade,
)
from shop.payments.methods import CARD, enabled_methods

__all__ = [
    "CheckoutStart",
    "PaymentContext",
    "PaymentError",
    "PaymentProvider",
    "RemoteStatus",
    "RemoteTrade",
    "get_provider",
    "provider_for_order",
    "provider_name",
]

# Order.provider of an order whose payer has not yet picked a method (they do on /pay/{token}).
UNCHOSEN = ""


def provider_name(settings: Settings) -> str:
    """The provider a new order starts with: the card's (Stripe, or the demo) when it is the only method, so the
    buyer goes straight to its page; otherwise none yet — the payer picks Alipay, WeChat Pay or the card on the
    order's payment page, which knows the device."""
    if enabled_methods(settings) == [CARD]:
        return "demo" if settings.demo_payments else "stripe"
    return UNCHOSEN


def get_provider(settings: Settings, name: str | None = None) -> PaymentProvider:
    """The provider called ``name`` (``stripe``, ``alipay``, ``wechat_pay``, ``demo``); by default Stripe when a
    secret key is configured, else the demo provider (which refuses production).

    Each call makes a fresh provider; call ``aclose()`` when done (its HTTP client belongs to this loop)."""
    if name is None or name == UNCHOSEN:
        name = "stripe" if settings.stripe_secret_key else "demo"
    if name == "stripe":
        from shop.payments.stripe_provider import StripeProvider

        return StripeProvider(settings)
    if name == "alipay":
        from shop.payments.alipay import AlipayProvider

        return AlipayProvider(settings)
    if name == "wechat_pay":
        from shop.payments.wechatpay import WechatPayProvider

        return WechatPayProvider(settings)
    from shop.payments.demo import DemoProvider

    return DemoProvider(settings)


def provider_for_order(settings: Settings, order: Order) -> PaymentProvider:
    """The provider of ``order``'s trade (the default one for an order whose method is not chosen yet)."""
    return get_provider(settings, order.provider or None)
