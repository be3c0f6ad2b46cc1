"""Stripe Checkout in CNY with card, Alipay and WeChat Pay (stripe-python 16, async over httpx)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from kernel import clock
from kernel.settings import Settings
from registry.models import Order
from shop import purposes
from shop.i18n import gettext as _
from shop.payments.base import (
    CheckoutStart,
    InvalidNotification,
    PaymentContext,
    PaymentError,
    RemoteStatus,
    checkout_expires_at,
)
from shop.payments.events import EventKind, PaymentEvent

# Stripe accepts a session expiry between 30 minutes and 24 hours after creation.
MIN_SESSION = timedelta(minutes=30, seconds=30)
MAX_SESSION = timedelta(hours=23, minutes=55)


class _HTTPXClient(stripe.HTTPXClient):
    """stripe 16 hands httpx the encoded form as ``data=<str>``, which httpx deprecates (a warning on every
    call); send the same bytes as ``content=`` instead. Revisit when stripe-python changes this."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args, kwargs


class StripeProvider:
    name = "stripe"
    is_demo = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http = _HTTPXClient(timeout=20)
        self.client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base},
            http_client=self._http,
            max_network_retries=2,
        )

    def session_params(self, order: Order, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or clock.now()
        expires = min(max(checkout_expires_at(order), now + MIN_SESSION), now + MAX_SESSION)
        base = self.settings.base_url
        metadata = {"order_id": str(order.id), "quantity": str(order.quantity)}
        return {
            "mode": "payment",
            "currency": "cny",
            "payment_method_types": ["card", "alipay", "wechat_pay"],
            "payment_method_options": {"wechat_pay": {"client": "web"}},
            "line_items": [
                {
                    "quantity": int(order.quantity),
                    "price_data": {
                        "currency": "cny",
                        "unit_amount": int(order.amount_fen) // int(order.quantity),
                        "product_data": {
                            "name": _("碳汇林票"),
                            "description": f"{_(purposes.of(order).label(order))} · {order.certificate_name}"[:300],
                        },
                    },
                }
            ],
            "client_reference_id": str(order.id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": int(expires.timestamp()),
            "success_url": f"{base}/orders/{order.token}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/orders/{order.token}",
        }

    async def create_checkout(self, order: Order, context: PaymentContext | None = None) -> CheckoutStart:
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                self.session_params(order),  # type: ignore[arg-type]
                options={"idempotency_key": f"order-{order.id}-checkout"},
            )
        except stripe.StripeError as exc:
            raise PaymentError(str(exc)) from exc
        return CheckoutStart(url=str(session["url"]), ref=str(session["id"]))

    async def _session(self, order: Order) -> Any:
        if not order.provider_ref:
            return None
        try:
            return await self.client.v1.checkout.sessions.retrieve_async(order.provider_ref)
        except stripe.InvalidRequestError:
            return None
        except stripe.StripeError as exc:
            raise PaymentError(str(exc)) from exc

    async def payment_intent_id(self, order: Order) -> str | None:
        """The payment intent of ``order``'s own Checkout Session (``None`` before it is paid, or unknown)."""
        session = await self._session(order)
        intent = session["payment_intent"] if session is not None else None
        if not intent:
            return None
        return str(intent if isinstance(intent, str) else intent["id"])

    async def retrieve_status(self, order: Order) -> RemoteStatus:
        session = await self._session(order)
        if session is None:
            return RemoteStatus.UNKNOWN
        return session_status(session["status"], session["payment_status"])

    async def expire_checkout(self, order: Order) -> None:
        if not order.provider_ref:
            return
        try:
            await self.client.v1.checkout.sessions.expire_async(order.provider_ref)
        except stripe.InvalidRequestError:
            return  # already complete or expired: reconcile reads the status again
        except stripe.StripeError as exc:
            raise PaymentError(str(exc)) from exc

    async def refund(self, order: Order) -> str:
        session = await self._session(order)
        if session is None or not session["payment_intent"]:
            raise PaymentError(f"order {order.id}: no payment to refund")
        intent = session["payment_intent"]
        intent_id = intent if isinstance(intent, str) else intent["id"]
        try:
            refund = await self.client.v1.refunds.create_async(
                {"payment_intent": intent_id, "metadata": {"order_id": str(order.id)}},
                options={"idempotency_key": f"order-{order.id}-refund"},
            )
        except stripe.StripeError as exc:
            raise PaymentError(str(exc)) from exc
        return str(refund["id"])

    async def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        """A webhook event, its ``Stripe-Signature`` verified with ``LINPIAO_STRIPE_WEBHOOK_SECRET`` by the library
        (at most five minutes old), as an event; ``None`` for events the shop does not act on."""
        secret = self.settings.stripe_webhook_secret
        if not secret:
            raise InvalidNotification("no webhook secret configured")
        try:
            event = stripe.Webhook.construct_event(body, headers.get("stripe-signature"), secret, tolerance=300)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise InvalidNotification(str(exc)[:200]) from exc
        return webhook_event(event.to_dict())

    async def event_is_for(self, order: Order, event: PaymentEvent) -> bool:
        """Whether a verified event is about ``order``'s own Checkout Session — the one whose id is the order's
        ``provider_ref`` — and not merely one whose ``client_reference_id`` or metadata name the order (another
        session, made elsewhere with the same account, can say anything there). A session event carries the
        session's id; a charge carries its payment intent, compared with the payment intent of the order's session,
        read from Stripe (:class:`PaymentError` when Stripe cannot be asked: the webhook answers 503, Stripe
        retries)."""
        if event.order_id != order.id or order.provider != self.name or not order.provider_ref:
            return False
        if event.trade_no:
            return event.trade_no == order.provider_ref
        obj = ((event.payload or {}).get("data") or {}).get("object") or {}
        intent = obj.get("payment_intent")
        intent_id = intent if isinstance(intent, str) else (intent or {}).get("id")
        return bool(intent_id) and intent_id == await self.payment_intent_id(order)

    async def aclose(self) -> None:
        await self._http.close_async()


_SESSION_EVENTS = {
    "checkout.session.async_payment_succeeded": EventKind.PAID,
    "checkout.session.async_payment_failed": EventKind.FAILED,
    "checkout.session.expired": EventKind.EXPIRED,
}


def webhook_event(event: dict[str, Any]) -> PaymentEvent | None:
    """A verified Stripe event as the shop's event; ``None`` for events the shop ignores or that name no order.

    A Checkout Session's event names its session (``trade_no``); a charge names only its payment intent (kept in
    the payload), which :meth:`StripeProvider.event_is_for` compares with the order's session."""
    kind_name = event.get("type", "")
    obj = event.get("data", {}).get("object", {}) or {}
    metadata = obj.get("metadata") or {}
    reference = obj.get("client_reference_id") or metadata.get("order_id")
    try:
        order_id = int(reference) if reference is not None else None
    except (TypeError, ValueError):
        order_id = None
    if order_id is None:
        return None
    amount = None
    if kind_name == "checkout.session.completed":
        paid = obj.get("payment_status") in ("paid", "no_payment_required")
        kind = EventKind.PAID if paid else EventKind.AWAITING
        amount = obj.get("amount_total") if paid else None
        if paid and obj.get("currency") not in (None, "cny"):
            amount = -1  # never fulfil a payment in another currency
    elif kind_name in _SESSION_EVENTS:
        kind = _SESSION_EVENTS[kind_name]
        if kind is EventKind.PAID:
            amount = obj.get("amount_total")
    elif kind_name == "charge.refunded":
        kind = EventKind.REFUNDED if obj.get("refunded") else EventKind.NOTE
    else:
        return None
    is_charge = obj.get("object") == "charge" or kind_name.startswith("charge.")
    created = event.get("created")
    return PaymentEvent(
        provider="stripe",
        event_id=str(event["id"]),
        kind=kind,
        amount_fen=amount,
        payload=event,
        event_type=kind_name,
        order_id=order_id,
        trade_no="" if is_charge else str(obj.get("id") or ""),
        paid_at=datetime.fromtimestamp(created, UTC) if kind is EventKind.PAID and isinstance(created, int) else None,
    )


def session_status(status: str | None, payment_status: str | None) -> RemoteStatus:
    if status == "complete":
        return RemoteStatus.PAID if payment_status in ("paid", "no_payment_required") else RemoteStatus.AWAITING
    if status == "expired":
        return RemoteStatus.EXPIRED
    if status == "open":
        return RemoteStatus.OPEN
    return RemoteStatus.UNKNOWN
