"""Open the provider's payment page for a new order (or return the one already opened), and open a trade for the
method the payer picks on the order's payment page (``/pay/{token}``, :mod:`shop.pay`)."""

from __future__ import annotations

import re
from typing import Any

from kernel.settings import Settings
from registry import chain, sqlrows
from registry.models import Order, OrderStatus
from shop.errors import InvalidPaymentMethod, PaymentUnavailable
from shop.orders import EventKind, PaymentEvent, fail_checkout, order_stock
from shop.payments import (
    CheckoutStart,
    PaymentContext,
    PaymentError,
    RemoteStatus,
    get_provider,
    provider_for_order,
    provider_name,
)
from shop.payments.methods import (
    ALIPAY,
    CARD,
    WECHAT_PAY,
    enabled_methods,
    method_of_provider,
    provider_of_method,
)
from shop.settlement import remote_trade, settle


class AlreadyPaid(Exception):
    """The order's current trade was paid while the payer was choosing another method: nothing new is opened."""


_OPENID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Channels a client may ask for through the API (H5 needs the payer's own address, which only the page knows).
API_CHANNELS = {ALIPAY: ("page", "wap"), WECHAT_PAY: ("native", "jsapi")}
_ABSENT = object()


def parse_payment_choice(data: dict[str, Any], settings: Settings) -> tuple[str, PaymentContext | None]:
    """The API's ``payment_method`` (``alipay`` ``wechat_pay`` ``card``, one the shop takes), ``payment_channel``
    and ``wechat_openid`` as ``(provider of the new order, how to open its trade)``; without a method the order's
    payer picks one on its payment page. Anything else is :class:`InvalidPaymentMethod` naming the field."""
    method = data.get("payment_method", _ABSENT)
    channel = data.get("payment_channel", _ABSENT)
    openid = data.get("wechat_openid", _ABSENT)
    if method is _ABSENT:
        if channel is not _ABSENT or openid is not _ABSENT:
            raise InvalidPaymentMethod("payment_method")
        return provider_name(settings), None
    if not isinstance(method, str) or method not in enabled_methods(settings):
        raise InvalidPaymentMethod("payment_method")
    if method == CARD:
        if channel is not _ABSENT or openid is not _ABSENT:
            raise InvalidPaymentMethod("payment_channel")
        return provider_of_method(settings, CARD), None
    allowed = API_CHANNELS[method]
    chosen = allowed[0] if channel is _ABSENT else channel
    if not isinstance(chosen, str) or chosen not in allowed:
        raise InvalidPaymentMethod("payment_channel")
    if chosen == "jsapi":
        if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
            raise InvalidPaymentMethod("wechat_openid")
    elif openid is not _ABSENT:
        raise InvalidPaymentMethod("wechat_openid")
    device = {"page": "desktop", "native": "desktop", "wap": "phone", "jsapi": "wechat"}[chosen]
    context = PaymentContext(device=device, channel=chosen, openid=openid if isinstance(openid, str) else "")
    return provider_of_method(settings, method), context


def payment_page_url(settings: Settings, order: Order) -> str:
    return f"{settings.base_url}/pay/{order.token}"


async def start_checkout(settings: Settings, order: Order, context: PaymentContext | None = None) -> str:
    """The URL to send the buyer to. A provider failure releases the units at once and raises
    :class:`PaymentUnavailable`; a repeated call (an idempotent API retry) returns the same page.

    An order with the card as its only method goes straight to the card's page (Stripe's, or the demo's); one made
    with a method (the API's ``payment_method``) and a ``context`` opens that method's trade at once; any other goes
    to its payment page, where the payer picks a method that fits the device."""
    method = method_of_provider(order.provider)
    if method == CARD and order.details.get("checkout_url"):
        return str(order.details["checkout_url"])
    if method == CARD or (method and context is not None):
        try:  # Alipay and WeChat Pay answer the same trade again for the same method and channel
            start = await open_trade(settings, order, method, context or PaymentContext())
        except (PaymentError, AlreadyPaid) as exc:
            if order.provider_ref:  # a trade is open already: the payer may still pay it or pick another method
                raise PaymentUnavailable() from exc
            await fail_checkout(order, "checkout_failed")
            raise PaymentUnavailable() from exc
        return start.url
    url = payment_page_url(settings, order)
    if not order.details.get("checkout_url"):
        order.details = {**order.details, "checkout_url": url}
        await order.save(update_fields=["details"])
    return url


async def _close_current_trade(settings: Settings, order: Order) -> None:
    """Before another trade is opened for ``order``, its current one is closed so it can no longer be paid; if it
    was paid meanwhile, the payment is settled and :class:`AlreadyPaid` raised."""
    provider = provider_for_order(settings, order)
    try:
        trade = await remote_trade(provider, order)
        if trade.status is RemoteStatus.PAID:
            event = PaymentEvent(
                provider=provider.name,
                event_id=f"{provider.name}:{order.provider_ref}:query-paid",
                kind=EventKind.PAID,
                amount_fen=trade.amount_fen,
                payload={"out_trade_no": order.provider_ref, "trade_no": trade.trade_no, "source": "query"},
                event_type=f"{provider.name}.query_paid",
            )
            await settle(order.id, event, provider, stock=order_stock(order))
            raise AlreadyPaid()
        if trade.status in (RemoteStatus.OPEN, RemoteStatus.UNKNOWN, RemoteStatus.AWAITING):
            await provider.expire_checkout(order)
    finally:
        await provider.aclose()


async def open_trade(settings: Settings, order: Order, method: str, context: PaymentContext) -> CheckoutStart:
    """Open (or open again) ``order``'s trade with ``method`` for the payer's device. The same method and channel
    reuse the trade number (the provider then answers with the same trade); another method or channel first closes
    the current trade, so an order is never payable twice at once. :class:`PaymentError` when the provider refuses
    or cannot be reached; :class:`AlreadyPaid` when the current trade turned out to be paid."""
    name = provider_of_method(settings, method)
    channel = context.channel
    same = (
        order.provider_ref
        and order.provider == name
        and order.details.get("channel", "") == channel
        and order.details.get("openid", "") == context.openid
    )
    if order.provider_ref and not same:
        await _close_current_trade(settings, order)
    if same and name in ("stripe", "demo") and order.details.get("checkout_url"):
        return CheckoutStart(url=str(order.details["checkout_url"]), ref=str(order.provider_ref))
    provider = get_provider(settings, name)
    try:
        reuse = order.provider_ref if same and name not in ("stripe", "demo") else ""
        order.provider = name  # the provider builds the trade for this order as it now stands
        start = await provider.create_checkout(
            order,
            PaymentContext(
                device=context.device,
                channel=channel,
                client_ip=context.client_ip,
                openid=context.openid,
                trade_no=reuse or "",
            ),
        )
    finally:
        await provider.aclose()
    await record_trade(order, name, method, start, openid=context.openid)
    return start


_FIRST_TRADE_SQL = (
    'UPDATE "order" SET "provider" = ?, "provider_ref" = ?, "details" = ? '
    'WHERE "id" = ? AND "provider_ref" IS NULL AND "status" = ?'
)


async def record_trade(order: Order, provider: str, method: str, start: CheckoutStart, *, openid: str = "") -> None:
    """The order now pays through ``start``'s trade; every trade opened for it stays listed in ``details``.

    The order's first trade (``order`` as read when it was made: pending, no trade yet) is one conditional write
    and no lock: it succeeds only while the order still has no trade and is still pending, and until it has a
    trade no provider's event can name the order, so nothing else changes it meanwhile. Otherwise (a trade
    recorded or the order settled in between, or a later trade) the order is read again under the register lock
    and the trade added to what it then holds."""
    if order.provider_ref is None and order.status is OrderStatus.PENDING:
        details = _with_trade(order.details, method, start, openid)
        stored = Order._meta.fields_map["details"].to_db_value(details, order)
        if await sqlrows.execute(_FIRST_TRADE_SQL, [provider, start.ref, stored, order.id, str(OrderStatus.PENDING)]):
            order.provider, order.provider_ref, order.details = provider, start.ref, details
            return

    async def record() -> None:
        await order.refresh_from_db()
        if not await chain.hold_order(*order_stock(order)):  # reserved again meanwhile: read it again
            await order.refresh_from_db()
        order.provider = provider
        order.provider_ref = start.ref
        order.details = _with_trade(order.details, method, start, openid)
        await order.save(update_fields=["provider", "provider_ref", "details"])

    await chain.stock_transaction(*order_stock(order), record)


def _with_trade(current: dict[str, Any], method: str, start: CheckoutStart, openid: str) -> dict[str, Any]:
    trades = dict(current.get("trades") or {})
    trades[start.ref] = method
    details = {
        **current,
        "payment_method": method,
        "channel": start.channel,
        "checkout_url": start.url,
        "trades": trades,
        "qr": start.qr,
        "jsapi": start.jsapi or {},
    }
    if openid:
        details["openid"] = openid
    return details


def payable(order: Order) -> bool:
    return order.status is OrderStatus.PENDING
