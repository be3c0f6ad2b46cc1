"""Payment providers behind one interface; :func:`get_provider` is the one place that chooses."""

from __future__ import annotations

from linpiao.settings import Settings
from shop.payments.base import CheckoutStart, PaymentError, PaymentProvider, RemoteStatus

__all__ = ["CheckoutStart", "PaymentError", "PaymentProvider", "RemoteStatus", "get_provider", "provider_name"]


def provider_name(settings: Settings) -> str:
    return "demo" if settings.demo_payments else "stripe"


def get_provider(settings: Settings) -> PaymentProvider:
    """Stripe when a secret key is configured, else the demo provider (which refuses production).

    Each call makes a fresh provider; call ``aclose()`` when done (its HTTP client belongs to this loop)."""
    if not settings.demo_payments:
        from shop.payments.stripe_provider import StripeProvider

        return StripeProvider(settings)
    from shop.payments.demo import DemoProvider

    return DemoProvider(settings)
