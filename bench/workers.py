"""Completed orders per second (create + pay + fulfil, one carbon quota) on PostgreSQL, with 1, 2 and 4 uvicorn
workers and 1, 8 and 32 concurrent buyers, printed as a table.

    python bench/workers.py --pg postgres://postgres@127.0.0.1:5432/SCRATCH      # its public schema is dropped!
    python bench/workers.py --pg URL --workers 1 2 4 --buyers 1 8 32 --seconds 8

Each row starts ``uvicorn linpiao.app:create_app --workers N`` on a fresh schema with one open quota, warms it up,
then lets each number of buyers (each a different address, as nginx would tell the app through X-Forwarded-For)
order 5 tickets and pay on the demo page, again and again, for ``--seconds``; the figure is orders fulfilled per
second. Every order goes through the real HTTP server and the register's rules; the buyers run in this process.
At the end the register is verified and the sold tickets counted: nothing oversold, every chain intact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from tortoise import Tortoise, connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linpiao.db import tortoise_config  # noqa: E402
from registry.chain import verify_chain  # noqa: E402
from registry.models import Holding, HoldingState  # noqa: E402
from registry.quotas import open_quota  # noqa: E402

TICKETS = 5


async def fresh_schema(url: str, units: int) -> None:
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        await connections.get("default").execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await Tortoise.generate_schemas()
        await open_quota(units=units, serial_prefix="BENCH-WORKERS")
    finally:
        await Tortoise.close_connections()


async def check(url: str) -> tuple[int, bool]:
    """Tickets sold, and whether every chain of the register verifies."""
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        sold = sum(
            int(last) - int(first) + 1
            for first, last in await Holding.filter(state=HoldingState.RETIRED).values_list("first_no", "last_no")
        )
        return sold, (await verify_chain()).ok
    finally:
        await Tortoise.close_connections()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(url: str, workers: int, data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn linpiao.app:create_app --workers N`` on ``url`` (bench/ may not import tests/: tests/live.py starts
    its servers the same way); waits until it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LINPIAO_DATABASE_URL": url,
        "LINPIAO_SECRET_KEY": "bench-workers-" + "x" * 40,
        "LINPIAO_ENV": "development",
        "LINPIAO_DATA_DIR": data_dir,
        "LINPIAO_BASE_URL": base,
        "LINPIAO_IN_PROCESS_WORKER": "0",
        "LINPIAO_TRUSTED_PROXIES": "127.0.0.1",
        "LINPIAO_MAX_PENDING_ORDERS": "100000",
        "LINPIAO_MAX_PENDING_UNITS": "100000000",
    }
    command = [sys.executable, "-m", "uvicorn", "linpiao.app:create_app", "--factory", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers), "--log-level", "warning"], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        time.sleep(0.3)
    stop_server(process)
    raise RuntimeError("the server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def buy(base: str, buyers: int, seconds: float, first_address: int) -> tuple[float, int]:
    """Orders fulfilled by ``buyers`` buyers in ``seconds`` (at most), and the requests that failed."""
    done = failed = 0
    limits = httpx.Limits(max_connections=buyers + 4, max_keepalive_connections=buyers + 4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        stop_at = time.monotonic() + seconds

        async def buyer(number: int) -> None:
            nonlocal done, failed
            address = f"198.51.{100 + (first_address + number) // 250 % 100}.{(first_address + number) % 250 + 1}"
            headers = {"x-forwarded-for": address}
            while time.monotonic() < stop_at:
                made = await http.post(
                    "/api/v1/orders",
                    json={"quantity": TICKETS, "purpose": "travel", "certificate_name": f"买家{number}"},
                    headers=headers,
                )
                if made.status_code != 201:
                    failed += 1
                    await asyncio.sleep(0.05)
                    continue
                paid = await http.post(f"/pay/demo/{made.json()['token']}", data={"action": "confirm"}, headers=headers)
                if paid.status_code == 303:
                    done += 1
                else:
                    failed += 1

        start_at = time.monotonic()
        await asyncio.gather(*(buyer(i) for i in range(buyers)))
        elapsed = time.monotonic() - start_at
    return (done / elapsed if elapsed else 0.0), failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("LINPIAO_BENCH_DATABASE_URL", ""), help="PostgreSQL URL")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--buyers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=8.0, help="buying time per cell")
    args = parser.parse_args()
    if not args.pg.startswith("postgres"):
        parser.error("--pg postgres://… (a scratch database: its public schema is dropped)")
    print(f"orders/s (create + pay + fulfil, {TICKETS} tickets each, one quota), {args.seconds:.0f} s per cell")
    print("workers | " + " | ".join(f"{b:>3} buyers" for b in args.buyers) + " | oversold | chains")
    address = 0
    any_failed = False
    for workers in args.workers:
        units = 10_000_000
        asyncio.run(fresh_schema(args.pg, units))
        with tempfile.TemporaryDirectory() as data_dir:
            process, base = start(args.pg, workers, data_dir)
            try:
                asyncio.run(buy(base, workers * 2, 2.0, 60_000))  # warm every worker up
                cells = []
                for buyers in args.buyers:
                    rate, failed = asyncio.run(buy(base, buyers, args.seconds, address))
                    address += buyers
                    cells.append(f"{rate:>10.1f}" + ("*" if failed else " "))
                    any_failed = any_failed or bool(failed)
            finally:
                stop_server(process)
        sold, intact = asyncio.run(check(args.pg))
        print(
            f"{workers:>7} | " + " | ".join(cells) + f" | {'yes' if sold > units else 'no':>8} | "
            f"{'intact' if intact else 'BROKEN'}",
            flush=True,
        )
    if any_failed:
        print("* some requests failed (refused or errored); the figure counts fulfilled orders only")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
