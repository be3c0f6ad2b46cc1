"""What pages and the API show about orders and quotas, computed once for both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.settings import Settings
from registry.models import Batch, Certificate, Order, OrderStatus
from registry.quotas import quota_on_sale
from registry.receipts import has_receipt
from registry.register import order_holdings
from shop.fulfilment import printed_code
from shop.limits import StatedLimits, stated_limits
from shop.orders import PURPOSES, just_reserved, minimum_quantity, order_certificate, shop_totals
from shop.payments.methods import CARD, enabled_methods, method_of_provider, order_minimum_fen


@dataclass(frozen=True)
class QuotaView:
    batch: Batch | None
    price_fen: int
    kg_per_ticket: int
    units_total: int
    units_left: int
    units_sold_total: int
    kg_offset_total: int
    min_quantity: int
    max_quantity: int  # the absolute largest order (LINPIAO_MAX_ORDER_UNITS); an organisation's key reaches it
    min_order_fen: int
    units_reserved: int  # held by unpaid orders: not in units_left, back in it when their reservation runs out
    limits: StatedLimits  # what one anonymous buyer may order now (shop/limits.py)
    # the card's (Stripe's) own minimum when other methods take less (shop/payments/methods.py); 0 otherwise
    card_min_quantity: int = 0
    card_min_order_fen: int = 0


async def quota_view(settings: Settings) -> QuotaView:
    """The quota on sale and the shop's totals: two statements on the register's counters, whatever was sold."""
    on_sale = await quota_on_sale()
    totals = await shop_totals()
    if on_sale is None:
        return QuotaView(
            None,
            100,
            10,
            0,
            0,
            totals.units_sold,
            totals.kg_co2e_offset,
            1,
            settings.max_order_units,
            order_minimum_fen(settings),
            units_reserved=0,
            limits=stated_limits(settings, 0),
        )
    batch, stats = on_sale.batch, on_sale.stats
    price = int(batch.price_fen or 100)
    return QuotaView(
        batch=batch,
        price_fen=price,
        kg_per_ticket=int(batch.g_co2e_per_unit or 0) // 1000,
        units_total=stats.total,
        units_left=stats.available,
        units_sold_total=totals.units_sold,
        kg_offset_total=totals.kg_co2e_offset,
        min_quantity=minimum_quantity(settings, price),
        max_quantity=settings.max_order_units,
        # the smallest order's amount: whole tickets at or above the smallest payable amount (¥0.01 with Alipay)
        min_order_fen=max(order_minimum_fen(settings), minimum_quantity(settings, price) * price),
        units_reserved=stats.reserved,
        limits=stated_limits(settings, stats.available),
        **_card_minimum(settings, price),
    )


def _card_minimum(settings: Settings, price: int) -> dict[str, int]:
    """The card's minimum, when the card is offered beside methods that take less (Alipay, WeChat Pay)."""
    if CARD not in enabled_methods(settings) or order_minimum_fen(settings) >= settings.min_order_fen:
        return {}
    card_quantity = minimum_quantity(settings, price, "stripe")
    return {"card_min_quantity": card_quantity, "card_min_order_fen": settings.min_order_fen}


def quota_json(view: QuotaView) -> dict[str, Any]:
    return {
        "serial_prefix": view.batch.serial_prefix if view.batch else None,
        "open": view.batch is not None,
        "price_fen": view.price_fen,
        "currency": "CNY",
        "kg_co2e_per_ticket": view.kg_per_ticket,
        "units_total": view.units_total,
        "units_left": view.units_left,
        "units_reserved": view.units_reserved,
        "units_sold_total": view.units_sold_total,
        "kg_co2e_offset_total": view.kg_offset_total,
        "min_order_fen": view.min_order_fen,
        "min_quantity": view.min_quantity,
        "max_quantity": view.max_quantity,
        "order_limits": view.limits.as_json(),
    }


@dataclass(frozen=True)
class OrderView:
    order: Order
    ranges: list[str]
    certificate: Certificate | None
    kg_co2e: int

    @property
    def final(self) -> bool:
        return self.order.status in (
            OrderStatus.FULFILLED,
            OrderStatus.EXPIRED,
            OrderStatus.FAILED,
            OrderStatus.CANCELLED,
            OrderStatus.REFUNDED,
        )

    @property
    def printed_code(self) -> str:
        return printed_code(self.certificate.code) if self.certificate else ""

    @property
    def purpose_label(self) -> str:
        return PURPOSES[self.order.purpose]


async def order_view(order: Order) -> OrderView:
    reserved = just_reserved(order)  # the request that made the order knows its serials
    if reserved is not None:
        batch, ranges = reserved
    else:
        holdings = await order_holdings(order)
        batch = holdings[0].batch if holdings else await Batch.get(id=order.batch_id)
        ranges = [[int(h.first_no), int(h.last_no)] for h in holdings]
    return OrderView(
        order=order,
        ranges=batch.serial_ranges(ranges),
        certificate=await order_certificate(order),
        kg_co2e=int(order.quantity) * int(batch.g_co2e_per_unit or 0) // 1000,
    )


def order_json(view: OrderView, settings: Settings) -> dict[str, Any]:
    order = view.order
    base = settings.base_url
    certificate = None
    if view.certificate is not None:
        code = view.certificate.code
        certificate = {
            "code": code,
            "status": str(view.certificate.status),
            "pdf_url": f"{base}/certificates/{code}.pdf",
            "verify_url": f"{base}/verify/{code}",
        }
    return {
        "id": order.id,
        "token": order.token,
        "status": str(order.status),
        "quantity": int(order.quantity),
        "amount_fen": int(order.amount_fen),
        "currency": "CNY",
        "purpose": order.purpose,
        "certificate_name": order.certificate_name,
        "contact": order.contact,
        "kg_co2e": view.kg_co2e,
        "expires_at": order.expires_at.isoformat(),
        "payment_url": order.details.get("checkout_url"),
        **payment_json(order),
        "order_url": f"{base}/orders/{order.token}",
        # the payment receipt (收款凭证, shop/receipts.py) once the money was received; refunded ones too, stamped
        "receipt_url": f"{base}/orders/{order.token}/receipt.pdf" if has_receipt(order) else None,
        "serial_ranges": view.ranges,
        "certificate": certificate,
    }


def payment_json(order: Order) -> dict[str, Any]:
    """The order's method and its open trade: where to send the payer, the QR content (WeChat Pay Native) or the
    JSAPI parameters (inside WeChat); ``None`` before the payer has picked a method."""
    details = order.details
    method = details.get("payment_method") or method_of_provider(order.provider) or None
    if not method or not order.provider_ref or order.status is not OrderStatus.PENDING:
        return {"payment_method": method, "payment": None}
    return {
        "payment_method": method,
        "payment": {
            "method": method,
            "channel": str(details.get("channel") or ""),
            "url": str(details.get("checkout_url") or ""),
            "qr_content": details.get("qr") or None,
            "jsapi": details.get("jsapi") or None,
        },
    }
