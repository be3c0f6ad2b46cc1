"""Payment providers behind one interface (:class:`PaymentProvider`); :data:`PROVIDERS` names each provider's
class, and ``LINPIAO_PAYMENT_PROVIDERS`` (:meth:`kernel.settings.Settings.payment_providers`) chooses which the
shop uses. Every provider reads its own reports into one event type (:class:`PaymentEvent`)."""

from __future__ import annotations

from collections.abc import Callable

from kernel.settings import Settings
from registry.models import Order
from shop.payments.alipay import AlipayProvider
from shop.payments.base import (
    CheckoutStart,
    InvalidNotification,
    NotForUs,
    PaymentContext,
    PaymentError,
    PaymentProvider,
    RemoteStatus,
    RemoteTrade,
)
from shop.payments.demo import DemoProvider
from shop.payments.events import EventKind, PaymentEvent
from shop.payments.methods import CARD, enabled_methods
from shop.payments.stripe_provider import StripeProvider
from shop.payments.wechatpay import WechatPayProvider

__all__ = [
    "PROVIDERS",
    "CheckoutStart",
    "EventKind",
    "InvalidNotification",
    "NotForUs",
    "PaymentContext",
    "PaymentError",
    "PaymentEvent",
    "PaymentProvider",
    "RemoteStatus",
    "RemoteTrade",
    "get_provider",
    "provider_for_order",
    "provider_name",
]

# Order.provider of an order whose payer has not yet picked a method (they do on /pay/{token}).
UNCHOSEN = ""

# Every provider the shop can use, by the name orders record (``Order.provider``) and the setting lists.
PROVIDERS: dict[str, Callable[[Settings], PaymentProvider]] = {
    "alipay": AlipayProvider,
    "wechat_pay": WechatPayProvider,
    "stripe": StripeProvider,
    "demo": DemoProvider,
}


def provider_name(settings: Settings) -> str:
    """The provider a new order starts with: the card's (Stripe, or the demo) when it is the only method, so the
    buyer goes straight to its page; otherwise none yet — the payer picks Alipay, WeChat Pay or the card on the
    order's payment page, which knows the device."""
    if enabled_methods(settings) == [CARD]:
        return settings.card_provider()
    return UNCHOSEN


def get_provider(settings: Settings, name: str | None = None) -> PaymentProvider:
    """The provider called ``name`` (``stripe``, ``alipay``, ``wechat_pay``, ``demo``); by default the card's (Stripe
    when it is on, else the demo provider, which refuses production).

    Each call makes a fresh provider; call ``aclose()`` when done (its HTTP client belongs to this loop)."""
    if name is None or name == UNCHOSEN:
        name = settings.card_provider()
    return PROVIDERS.get(name, DemoProvider)(settings)


def provider_for_order(settings: Settings, order: Order) -> PaymentProvider:
    """The provider of ``order``'s trade (the default one for an order whose method is not chosen yet)."""
    return get_provider(settings, order.provider or None)
