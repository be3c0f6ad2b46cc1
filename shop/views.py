"""What pages and the API show about orders and quotas, computed once for both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linpiao.settings import Settings
from registry.models import Batch, Certificate, Order, OrderStatus
from registry.quotas import current_quota, quota_stats
from shop.fulfilment import printed_code
from shop.orders import PURPOSES, minimum_quantity, order_certificate, serial_ranges, shop_totals


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
    max_quantity: int
    min_order_fen: int


async def quota_view(settings: Settings) -> QuotaView:
    batch = await current_quota()
    totals = await shop_totals()
    if batch is None:
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
            settings.min_order_fen,
        )
    stats = await quota_stats(batch)
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
        min_order_fen=settings.min_order_fen,
    )


def quota_json(view: QuotaView) -> dict[str, Any]:
    return {
        "serial_prefix": view.batch.serial_prefix if view.batch else None,
        "open": view.batch is not None,
        "price_fen": view.price_fen,
        "currency": "CNY",
        "kg_co2e_per_ticket": view.kg_per_ticket,
        "units_total": view.units_total,
        "units_left": view.units_left,
        "units_sold_total": view.units_sold_total,
        "kg_co2e_offset_total": view.kg_offset_total,
        "min_order_fen": view.min_order_fen,
        "min_quantity": view.min_quantity,
        "max_quantity": view.max_quantity,
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
    batch = await Batch.get(id=order.batch_id)  # type: ignore[attr-defined]
    return OrderView(
        order=order,
        ranges=await serial_ranges(order),
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
        "order_url": f"{base}/orders/{order.token}",
        "serial_ranges": view.ranges,
        "certificate": certificate,
    }
