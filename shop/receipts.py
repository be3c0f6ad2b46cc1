"""``/orders/{token}/receipt.pdf``: a paid order's payment receipt (收款凭证), behind the order's private link.

The token is the secret, as for the order page: a wrong one is the same 404 as an unknown order. An order that was
not paid is refused with the reason (409, :mod:`registry.receipts`). The receipt is drawn in the request's
language (``?lang=en``) off the event loop (:func:`certificates.receipt.receipt_pdf`); it reflects the order's
state, so it is never cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from certificates.receipt import receipt_response
from kernel.i18n import current_locale
from registry.receipts import payment_receipt
from shop.orders import order_by_token


async def order_receipt(request: Request) -> Response:
    order = await order_by_token(request.path_params["token"])
    receipt = await payment_receipt(order)  # NotPaid / RefundDue: 409 with the reason (linpiao.errors)
    return await receipt_response(receipt, operator=request.app.state.settings.operator, locale=current_locale.get())


routes: list[BaseRoute] = [Route("/orders/{token}/receipt.pdf", order_receipt, name="order_receipt")]
