"""300 buyers race for the last 50 tickets against uvicorn with 2 worker processes, on the suite's database
(a shared SQLite file, or PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from factories import shop as factories
from registry.models import Order, OrderStatus
from registry.quotas import quota_stats
from shop.orders import fulfil
from tests.live import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


async def test_300_checkouts_for_the_last_50_tickets_across_two_workers(db, settings, server_env):
    batch = await factories.quota(1050)
    await fulfil(await factories.order(settings, 1000))
    port = free_port()
    env = {**server_env, "LINPIAO_BASE_URL": f"http://127.0.0.1:{port}", "LINPIAO_MIN_ORDER_FEN": "100"}
    env["LINPIAO_MAX_PENDING_ORDERS"] = "1000"  # 300 buyers, here all on 127.0.0.1 (shop/limits.py counts by address)
    process, base = await asyncio.to_thread(start_server, env, workers=2, port=port)
    try:
        # no keep-alive: a pooled connection the server closes after its 5 s idle timeout would fail the next request
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

            async def buy(i: int) -> httpx.Response:
                return await http.post(
                    "/api/v1/orders", json={"quantity": 1, "purpose": "event", "certificate_name": f"买家{i}"}
                )

            responses = await asyncio.gather(*(buy(i) for i in range(300)))
            codes = [r.status_code for r in responses]
            assert codes.count(201) == 50 and codes.count(409) == 250
            assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"quota_exhausted"}
            tokens = [r.json()["token"] for r in responses if r.status_code == 201]
            paid = await asyncio.gather(*(http.post(f"/pay/demo/{t}", data={"action": "confirm"}) for t in tokens))
            assert {r.status_code for r in paid} == {303}
    finally:
        await asyncio.to_thread(stop_server, process)
    assert await Order.filter(status=OrderStatus.FULFILLED).count() == 51
    stats = await quota_stats(batch)
    assert (stats.sold, stats.available, stats.reserved) == (1050, 0, 0)
