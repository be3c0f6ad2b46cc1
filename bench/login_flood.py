"""``/api/v1/quota`` latency alone and while 4 clients send bad passwords to ``/admin/login``.

    python bench/login_flood.py                # SQLite (temporary file), 10 s of quota requests per phase
    python bench/login_flood.py -s 20 -c 4     # seconds per phase, flooding clients

The application runs in an in-process uvicorn on 127.0.0.1 (its own thread and event loop); the clients run in
this thread, so their timings are what a browser would see. Passwords are hashed with the production argon2id
parameters. The login throttle is raised out of the way for the run (as for an attacker with many addresses),
so that every bad login really hashes. Three phases:

* ``alone``: quota requests one after another, nothing else running;
* ``flood``: the same while the clients send bad passwords, hashing in :mod:`registry.cpu`'s pool;
* ``flood, hash on loop``: the same with hashing put back on the event loop (how it was before), for comparison.

Figures are printed in milliseconds and as ratios to ``alone``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from tortoise import Tortoise

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel.settings import Settings
from linpiao.app import create_app
from linpiao.db import tortoise_config
from registry import cpu
from registry import staff as staff_service
from registry.models import StaffRole
from registry.quotas import open_quota

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def prepare(url: str) -> None:
    await Tortoise.init(config=tortoise_config(url))
    try:
        await Tortoise.generate_schemas()
        await open_quota(units=100_000, serial_prefix="BENCH-FLOOD")
        await staff_service.create_staff(username="admin", role=StaffRole.ADMIN, password="bench-admin-2026")
    finally:
        await Tortoise.close_connections()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def quota_latencies(base: str, seconds: float, at_least: int = 5) -> list[float]:
    """Quota requests one after another for ``seconds`` (and at least ``at_least`` of them)."""
    out: list[float] = []
    end = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while time.perf_counter() < end or len(out) < at_least:
            start = time.perf_counter()
            response = await http.get("/api/v1/quota")
            out.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
    return out


async def bad_logins(base: str, stop: asyncio.Event, counter: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while not stop.is_set():
            page = await http.get("/admin/login")
            match = CSRF_RE.search(page.text)
            assert match, "no CSRF token on the login page"
            data = {"username": "admin", "password": "wrong-password", "csrf": match.group(1)}
            response = await http.post("/admin/login", data=data)
            assert response.status_code == 400, response.status_code  # refused after hashing, never locked
            counter[0] += 1


async def phase(base: str, seconds: float, clients: int) -> tuple[list[float], int]:
    stop = asyncio.Event()
    counter = [0]
    flood = [asyncio.create_task(bad_logins(base, stop, counter)) for _ in range(clients)]
    if clients:
        await asyncio.sleep(0.5)  # let the flood start
    try:
        latencies = await quota_latencies(base, seconds)
    finally:
        stop.set()
        await asyncio.gather(*flood)
    return latencies, counter[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def on_loop(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--seconds", type=float, default=10, help="seconds of quota requests per phase")
    parser.add_argument("-c", "--clients", type=int, default=4, help="clients sending bad passwords")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        asyncio.run(prepare(url))
        staff_service.ACCOUNT_MAX_FAILURES = staff_service.ADDRESS_MAX_FAILURES = 10**9  # every attempt hashes
        settings = Settings(
            database_url=url, base_url="http://127.0.0.1", secret_key="bench-" + "x" * 40, data_dir=Path(tmp)
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(quota_latencies(base, 1))  # warm up
            results = {"alone": asyncio.run(phase(base, args.seconds, 0))}
            results[f"flood ({args.clients} clients)"] = asyncio.run(phase(base, args.seconds, args.clients))
            hash_work = cpu.hash_work
            cpu.hash_work = on_loop
            try:
                results["flood, hash on loop (before)"] = asyncio.run(phase(base, args.seconds, args.clients))
            finally:
                cpu.hash_work = hash_work
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    alone_p50 = statistics.median(results["alone"][0])
    alone_p95 = percentile(results["alone"][0], 95)
    hasher = staff_service._hasher
    print(
        f"/api/v1/quota, {args.seconds:g} s a phase; argon2id t={hasher.time_cost} m={hasher.memory_cost} KiB "
        f"p={hasher.parallelism}; hash pool {cpu.HASH_WORKERS} threads"
    )
    for name, (latencies, logins) in results.items():
        p50, p95 = statistics.median(latencies), percentile(latencies, 95)
        print(
            f"{name:<30} p50 {p50:8.1f} ms ({p50 / alone_p50:6.1f}x)   p95 {p95:8.1f} ms ({p95 / alone_p95:6.1f}x)"
            f"   {len(latencies):5d} requests, {logins:5d} bad logins answered"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
