"""What the buy page adds around the order form: the total or, for a quantity that cannot be ordered, the reason
instead of a meaningless ¥0.00; what this buyer may still order under the shop's limits (:mod:`shop.limits`);
the calculator's basket the quantity came from; and, once an order is placed, remembering it on this device
(:mod:`shop.my_orders`) and emptying the basket.

``static/shop/buy.js`` repeats the same checks as the buyer types (the messages come from the page, in its
language); the server decides again when the order is placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kernel import clock
from kernel.i18n import format_number
from kernel.money import format_yuan
from kernel.proxy import client_ip
from kernel.settings import Settings
from registry.models import Order
from shop import limits
from shop.basket import Basket, basket_of, read_items, write_items
from shop.i18n import gettext as _
from shop.my_orders import remember
from shop.views import QuotaView

MAX_QUANTITY_DIGITS = 9


@dataclass(frozen=True)
class Allowance:
    """What one buyer (an address, as :mod:`shop.limits` groups them) may still order now."""

    pending_orders: int
    pending_units: int
    max_pending_orders: int
    max_pending_units: int
    order_maximum: int

    @property
    def orders_left(self) -> int:
        return max(0, self.max_pending_orders - self.pending_orders)

    @property
    def can_order(self) -> int:
        """The largest order this buyer may place now (0: none until a reservation is paid or runs out)."""
        if self.orders_left == 0:
            return 0
        return max(0, min(self.order_maximum, self.max_pending_units - self.pending_units))


async def allowance_for(settings: Settings, request: Request, quota: QuotaView) -> Allowance:
    buyer = limits.Buyer.at_address(client_ip(request))
    pending = await limits.pending_of(buyer.group, clock.now())
    stated = quota.limits
    return Allowance(
        pending_orders=pending.orders,
        pending_units=pending.units,
        max_pending_orders=stated.max_pending_orders,
        max_pending_units=stated.max_pending_units,
        order_maximum=min(stated.order_maximum, quota.units_left),
    )


def quantity_messages(quota: QuotaView, allowance: Allowance) -> dict[str, str]:
    """Why a typed quantity cannot be ordered, per rule, in the page's language (also given to buy.js)."""
    return {
        "integer": _("请输入整数张数，合计才会显示。"),
        "min": _(
            "最少 %(min)s 张（¥%(yuan)s）：支付机构不受理过小的金额。",
            min=format_number(quota.min_quantity),
            yuan=format_yuan(quota.min_order_fen),
        ),
        "max": _("单笔最多 %(max)s 张。", max=format_number(allowance.order_maximum)),
        "room": _("您现在最多还可下单 %(n)s 张（见下方限购说明）。", n=format_number(allowance.can_order)),
    }


def quantity_problem(text: str, quota: QuotaView, allowance: Allowance) -> str:
    """The rule ``text`` breaks (a key of :func:`quantity_messages`), or ``""`` when it can be ordered."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_QUANTITY_DIGITS or int(text) == 0:
        return "integer"
    quantity = int(text)
    if quantity < quota.min_quantity:
        return "min"
    if quantity > allowance.order_maximum:
        return "max"
    if quantity > allowance.can_order:
        return "room"
    return ""


def basket_for(request: Request, settings: Settings, quota: QuotaView, form: dict[str, Any]) -> Basket | None:
    """The calculator's basket, when the buyer came from it (``basket=1``) and it is not empty."""
    if form.get("basket") != "1":
        return None
    basket = basket_of(read_items(request, settings), Decimal(quota.kg_per_ticket or 10))
    return basket if basket.lines else None


async def context(
    request: Request, settings: Settings, quota: QuotaView, form: dict[str, Any], quantity_text: str
) -> dict[str, Any]:
    allowance = await allowance_for(settings, request, quota)
    problem = quantity_problem(quantity_text, quota, allowance)
    messages = quantity_messages(quota, allowance)
    return {
        "total_fen": 0 if problem else int(quantity_text) * quota.price_fen,
        "quantity_problem": problem,
        "quantity_messages": messages,
        "allowance": allowance,
        "basket": basket_for(request, settings, quota, form),
    }


def after_order(request: Request, response: Response, settings: Settings, order: Order, form: dict[str, Any]) -> None:
    """The order is placed: this device remembers it, and the basket it came from is emptied."""
    remember(request, response, settings, order.token)
    if form.get("basket") == "1":
        write_items(response, settings, [])  # placing the order empties the basket
