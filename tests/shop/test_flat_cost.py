"""Pages cost the same whatever was sold, and a checkout costs a fixed, small number of statements.

The public pages read the register's counters (registry.counters), never the holdings or the orders: their
statements are the same, one by one, with one order sold or fifty, and none of them reads a holding row except the
sum of the reservations past their expiry (which counts what is open, never what was sold), nor an order except
the asking client's unpaid ones (shop/limits.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from factories import shop as factories
from registry.models import Order, OrderStatus
from shop.orders import EventKind, PaymentEvent, apply_event, create_order

# the asking client's unpaid orders: index order(client, status)
CLIENTS_UNPAID = re.compile(r'FROM "order" WHERE "client" = (\?|\$1) AND "status" = (\?|\$2)')
LAPSED_SUM = re.compile(r'SUM\("h"\."last_no" - "h"\."first_no" \+ 1\).*"h"\."reserved_until" <', re.S)


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.seen.append(str(args[0]) if args else record.getMessage())  # the SQL, without its values


@contextmanager
def statements() -> Iterator[list[str]]:
    handler = _Statements()
    log = logging.getLogger("tortoise.db_client")
    level, propagate = log.level, log.propagate
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    try:
        yield handler.seen
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


async def _sell(settings, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        order = await factories.order(settings, 5)
        event = PaymentEvent("demo", f"paid-{order.id}", EventKind.PAID, amount_fen=int(order.amount_fen))
        assert (await apply_event(order.id, event)).value == "fulfilled"


async def _public_statements(client: httpx.AsyncClient) -> list[str]:
    with statements() as seen:
        for path in ("/", "/buy", "/calculator", "/api/v1/quota"):
            assert (await client.get(path)).status_code == 200
    return seen


async def test_public_pages_run_the_same_statements_however_much_was_sold(db, settings, client):
    await factories.quota(10_000)
    await _sell(settings, 1)
    few = await _public_statements(client)
    await _sell(settings, 50)
    many = await _public_statements(client)
    assert len(few) == len(many) and few == many  # the same statements; only the values bound to them differ
    for sql in many:  # what reads holdings or orders reads open ones only: lapsed reservations, the client's unpaid
        reads_history = re.search(r'FROM "(holding|order|register_entry)"', sql)
        assert not reads_history or LAPSED_SUM.search(sql) or CLIENTS_UNPAID.search(sql), sql
    quota = (await client.get("/api/v1/quota")).json()
    assert (quota["units_left"], quota["units_sold_total"], quota["kg_co2e_offset_total"]) == (10_000 - 255, 255, 2550)


async def test_a_checkout_costs_a_fixed_number_of_statements(db, settings, client):
    """Create + pay + fulfil through the API and the demo payment page: 25 statements (README, Benchmarks), the
    same for the first order and the fortieth (no statement reads what was sold before)."""
    await factories.quota(10_000)

    async def one() -> int:
        with statements() as seen:
            made = await client.post(
                "/api/v1/orders", json={"quantity": 5, "purpose": "travel", "certificate_name": "买家"}
            )
            assert made.status_code == 201, made.text
            paid = await client.post(f"/pay/demo/{made.json()['token']}", data={"action": "confirm"})
            assert paid.status_code == 303
        assert (await Order.get(id=made.json()["id"])).status is OrderStatus.FULFILLED
        return len(seen)

    first = await one()
    for _ in range(38):
        await _sell(settings, 1)
    assert await one() == first <= 25


async def test_the_first_trade_of_a_settled_order_is_recorded_under_the_lock(db, settings):
    """The first trade is one conditional write; when the order changed meanwhile (here: it was cancelled) the
    trade is recorded the locked way, on the order as it now is."""
    from shop.checkout import record_trade
    from shop.limits import TRUSTED
    from shop.orders import OrderRequest
    from shop.payments import CheckoutStart

    await factories.quota(100)
    order, _created = await create_order(
        settings, OrderRequest(quantity=5, purpose="travel", certificate_name="甲"), provider="demo", buyer=TRUSTED
    )
    stale = await Order.get(id=order.id)
    await apply_event(order.id, PaymentEvent("demo", "cancel-1", EventKind.CANCELLED))
    await record_trade(stale, "demo", "card", CheckoutStart(url="http://testserver/pay/demo/x", ref="demo_x"))
    now = await Order.get(id=order.id)
    assert now.status is OrderStatus.CANCELLED and now.provider_ref == "demo_x"
    assert now.details["trades"] == {"demo_x": "card"}
