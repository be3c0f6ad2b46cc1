"""My orders (我的订单): the orders placed or opened on this device, for a visitor who comes back without the link.

The device remembers them in a cookie signed with the site's secret (itsdangerous): a list of order references —
each order's private-link token, nothing else: no name, contact or amount — newest first, at most
:data:`MAX_REMEMBERED`. The token is the same secret the private link carries, so the cookie opens no more than
the links the visitor already had; the signature keeps anyone from planting other references in it. The page
reads every order fresh from the register and is never cached (``Cache-Control: no-store``); "forget" clears the
cookie (a shared computer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kernel.settings import Settings
from kernel.templating import render
from registry.donations import PLANTING_PURPOSE
from registry.models import Certificate, Order, OrderStatus
from registry.receipts import has_receipt
from shop import purposes
from shop.device_cookie import DeviceList
from shop.fulfilment import printed_code
from shop.orders import PURPOSES, order_certificate

MY_ORDERS = DeviceList(cookie="linpiao_orders", salt="linpiao-my-orders", max_age=365 * 24 * 3600)
MAX_REMEMBERED = 20
TOKEN_LENGTH = 64  # Order.token's column

# The status as the list shows it (msgids; the order page says more).
STATUS_LABELS = {
    OrderStatus.PENDING: "待支付",
    OrderStatus.PAID: "已支付，正在生成证书",
    OrderStatus.FULFILLED: "证书已生成",
    OrderStatus.EXPIRED: "已过期",
    OrderStatus.FAILED: "支付失败",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.REFUNDED: "已退款",
}


class OrderKind(StrEnum):
    """What a remembered order bought: carbon tickets, one person's tree-planting duty, or an organisation's
    roster (whose people's certificates are on the roster's own page)."""

    CARBON = "carbon"
    PLANTING = "planting"
    ROSTER = "roster"


KIND_LABELS = {  # msgids
    OrderKind.CARBON: "碳汇林票",
    OrderKind.PLANTING: "义务植树尽责",
    OrderKind.ROSTER: "单位义务植树尽责",
}


def order_kind(order: Order) -> OrderKind:
    if order.purpose != PLANTING_PURPOSE:
        return OrderKind.CARBON
    roster = (order.details or {}).get("planting", {}).get("submission")
    return OrderKind.ROSTER if roster is not None else OrderKind.PLANTING


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def remembered(request: Request, settings: Settings) -> list[str]:
    """The order tokens this device remembers, newest first; a tampered or malformed cookie remembers none."""
    value = MY_ORDERS.read(request, settings)
    tokens = [t for t in value if isinstance(t, str) and 0 < len(t) <= TOKEN_LENGTH]
    return list(dict.fromkeys(tokens))[:MAX_REMEMBERED]


def remember(request: Request, response: Response, settings: Settings, token: str) -> None:
    """Put ``token`` first in the device's list (once), dropping the oldest beyond :data:`MAX_REMEMBERED`."""
    tokens = remembered(request, settings)
    if tokens and tokens[0] == token:
        return  # already the newest: no need to rewrite the cookie on every reload of the order page
    tokens = [token, *(t for t in tokens if t != token)][:MAX_REMEMBERED]
    MY_ORDERS.write(response, settings, tokens)


@dataclass(frozen=True)
class RememberedOrder:
    order: Order
    certificate: Certificate | None

    @property
    def kind(self) -> OrderKind:
        return order_kind(self.order)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def url(self) -> str:
        # a roster's payment leads on to the roster's management page from its planting order page
        prefix = "/orders/" if self.kind is OrderKind.CARBON else "/planting/orders/"
        return prefix + self.order.token

    @property
    def receipt_url(self) -> str:
        """The payment receipt (收款凭证) once the money was received (refunded ones too, stamped); else empty."""
        return f"/orders/{self.order.token}/receipt.pdf" if has_receipt(self.order) else ""

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.order.status, str(self.order.status))

    @property
    def purpose_label(self) -> str:
        return PURPOSES.get(self.order.purpose) or self.order.purpose_note or self.order.purpose

    @property
    def printed_code(self) -> str:
        return printed_code(self.certificate.code) if self.certificate else ""


async def remembered_orders(tokens: list[str]) -> list[RememberedOrder]:
    """The remembered orders that still exist, in the cookie's order (newest first)."""
    if not tokens:
        return []
    by_token = {order.token: order for order in await Order.filter(token__in=tokens)}
    found = []
    for token in tokens:
        order = by_token.get(token)
        if order is not None:
            found.append(RememberedOrder(order, await _certificate(order)))
    return found


async def _certificate(order: Order) -> Certificate | None:
    """The certificate to offer beside the order: a carbon order's, or one person's tree-planting certificate
    (fulfilment or honour) once made; a roster's many certificates are on the roster's page."""
    kind = order_kind(order)
    if kind is OrderKind.CARBON:
        return await order_certificate(order)
    if kind is OrderKind.ROSTER or order.status not in (OrderStatus.FULFILLED, OrderStatus.REFUNDED):
        return None
    certificate = purposes.of(order).certificate  # the person's, as planting registers it
    return await certificate(order) if certificate is not None else None


async def my_orders_page(request: Request) -> Response:
    settings = _settings(request)
    orders = await remembered_orders(remembered(request, settings))
    response = render(
        request,
        "shop/my_orders.html",
        {
            "orders": orders,
            "max_remembered": MAX_REMEMBERED,
            "forgotten": request.query_params.get("forgotten") == "1",
            "active": "my_orders",
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def forget(request: Request) -> Response:
    """``POST /my-orders/forget``: this device forgets every order (the orders and their links stay valid)."""
    settings = _settings(request)
    response = RedirectResponse("/my-orders?forgotten=1", status_code=303)
    MY_ORDERS.write(response, settings, [])
    return response
