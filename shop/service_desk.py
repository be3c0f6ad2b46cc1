"""Refunds decided at the customer-service desk, through the order's own payment provider.

The back-office asks for a refund through :class:`registry.service_desk.RefundDesk`; this is the shop's
implementation (the composition root hands it over), so the back-office never imports the shop. The order is first
held for this refund (:func:`registry.service_desk.claim_refund`, under the register lock), so a double click or two
clerks at once send the provider one request, not two; the provider is then asked — Stripe with an idempotency key
per order, Alipay and WeChat Pay with the refund's own number (``out_request_no`` / ``out_refund_no``), so a retry
after a crash refunds once too — and only when it accepts does the order change: one transaction records the
refund as a payment event (the same path a provider's own refund notification takes,
:func:`shop.orders.apply_event`, so the certificates become refunded and a later notification of the same refund
finds the order already settled) together with the clerk's reason in the audit log. A refusal releases the hold
and changes nothing else.
"""

from __future__ import annotations

from kernel.settings import Settings
from registry import audit
from registry.chain import register_transaction
from registry.models import Order, OrderStatus
from registry.service_desk import (
    REFUND_CLAIM,
    ReasonRequired,
    RefundFailed,
    claim_refund,
    release_refund_claim,
)
from shop.orders import EventKind, Outcome, PaymentEvent, apply_event, mark_refund_issued
from shop.payments import PaymentError, provider_for_order

MAX_REASON = 200


class ProviderRefunds:
    """:class:`registry.service_desk.RefundDesk` through the shop's payment providers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def refund(self, order: Order, *, reason: str, actor: audit.Actor) -> str:
        reason = reason.strip()[:MAX_REASON]
        if not reason:
            raise ReasonRequired()
        await claim_refund(order, actor)  # NotRefundable, RefundInProgress: the provider is not asked
        provider = provider_for_order(self.settings, order)
        try:
            ref = await provider.refund(order)
        except PaymentError as exc:
            await release_refund_claim(order)
            raise RefundFailed(str(exc)[:200]) from exc
        finally:
            await provider.aclose()
        async with register_transaction():
            if order.status is OrderStatus.FAILED:  # paid after its tickets were gone: money back, nothing to undo
                await mark_refund_issued(order, ref)
                outcome = Outcome.REFUNDED
            else:
                outcome = await apply_event(
                    order.id,
                    PaymentEvent(
                        provider=provider.name,
                        event_id=f"desk-refund:{order.id}:{ref}",
                        kind=EventKind.REFUNDED,
                        amount_fen=int(order.amount_fen),
                        payload={"refund_ref": ref, "reason": reason, "by": actor.username},
                        event_type="desk.refund",
                    ),
                )
            await order.refresh_from_db()
            details = {k: v for k, v in order.details.items() if k != REFUND_CLAIM}
            if outcome is Outcome.DUPLICATE:  # the same refund recorded before (a retry): nothing more changes
                order.details = details
                await order.save(update_fields=["details"])
            else:
                order.details = {**details, "refund_ref": ref, "refund_reason": reason}
                await order.save(update_fields=["details"])
                await audit.record(
                    actor,
                    "order.refund",
                    f"order:{order.id}",
                    refund_ref=ref,
                    reason=reason,
                    amount_fen=int(order.amount_fen),
                    provider=provider.name,
                )
        return ref
