"""Completed orders per second (create + pay + fulfil, one carbon quota) on PostgreSQL, with 1, 2 and 4 uvicorn
workers and 1, 8 and 32 concurrent buyers, printed as a table of medians and their ratio to one worker, one buyer.

    python bench/workers.py --pg postgres://postgres@127.0.0.1:5432/SCRATCH      # its public schema is dropped!
    python bench/workers.py --pg URL --workers 1 2 4 --buyers 1 8 32 --seconds 8 --rounds 3

Each round starts, for each number of workers in turn, ``uvicorn linpiao.app:create_app --workers N`` on a fresh
schema with one open quota, warms it up, then lets each number of buyers (each a different address, as nginx would
tell the app through X-Forwarded-For) order 5 tickets and pay on the demo page, again and again, for ``--seconds``;
the figure is orders fulfilled per second. Rounds interleave the worker counts so that a noisy minute on a shared
machine falls on every row alike; the table shows each cell's median over the rounds. Every order goes through the
real HTTP server and the register's rules; the buyers run in this process. Beside the rate, each cell reports how
busy the machine's CPUs were (from /proc/stat: servers, PostgreSQL and the buyers together) and the CPU time that
cost per order. After every row the register is verified and the sold tickets counted: nothing oversold, every
chain intact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import httpx
from tortoise import Tortoise, connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linpiao.db import tortoise_config  # noqa: E402
from registry.chain import verify_chain  # noqa: E402
from registry.models import Holding, HoldingState  # noqa: E402
from registry.quotas import open_quota  # noqa: E402

TICKETS = 5
CPU_GROUPS = ("servers", "postgres", "buyers")


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


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all the machine's CPUs so far (Linux /proc/stat); (0, 0) elsewhere."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def process_ticks(server: int) -> dict[str, int]:
    """CPU jiffies used so far by the server's process tree, by PostgreSQL's processes and by this process (the
    buyers), read from /proc; all zero where there is no /proc."""
    parents: dict[int, int] = {}
    used: dict[int, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        used[pid] = (name, int(fields[11]) + int(fields[12]))  # utime + stime

    def in_server(pid: int) -> bool:
        while pid > 1:
            if pid == server:
                return True
            pid = parents.get(pid, 1)
        return False

    groups = dict.fromkeys(CPU_GROUPS, 0)
    for pid, (name, ticks) in used.items():
        if pid == os.getpid():
            groups["buyers"] += ticks
        elif name == "postgres":
            groups["postgres"] += ticks
        elif in_server(pid):
            groups["servers"] += ticks
    return groups


class Cell(NamedTuple):
    rate: float  # orders fulfilled per second
    failed: int  # requests refused or errored
    busy: float  # share of all the machine's CPUs busy
    cpu_ms: dict[str, float]  # CPU milliseconds per order: servers, postgres, buyers


def cpu_ms_of(group: str, cell: Cell) -> float:
    return cell.cpu_ms[group]


def measure(base: str, server: int, buyers: int, seconds: float, first_address: int) -> Cell:
    busy_before, total_before = cpu_ticks()
    used_before = process_ticks(server)
    started = time.monotonic()
    rate, failed = asyncio.run(buy(base, buyers, seconds, first_address))
    orders = rate * (time.monotonic() - started)
    used_after = process_ticks(server)
    busy_after, total_after = cpu_ticks()
    ms_per_tick = 1000 / os.sysconf("SC_CLK_TCK")
    return Cell(
        rate,
        failed,
        (busy_after - busy_before) / (total_after - total_before) if total_after > total_before else 0.0,
        {
            group: (used_after[group] - used_before[group]) * ms_per_tick / orders if orders else 0.0
            for group in used_after
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("LINPIAO_BENCH_DATABASE_URL", ""), help="PostgreSQL URL")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--buyers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=8.0, help="buying time per cell")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every row; cells show the median")
    args = parser.parse_args()
    if not args.pg.startswith("postgres"):
        parser.error("--pg postgres://… (a scratch database: its public schema is dropped)")
    print(
        f"orders/s (create + pay + fulfil, {TICKETS} tickets each, one quota), {args.seconds:.0f} s per cell, "
        f"median of {args.rounds} rounds; {os.cpu_count()} CPUs",
        flush=True,
    )
    units = 10_000_000
    cells: dict[tuple[int, int], list[Cell]] = {}
    address = 0
    oversold = broken = False
    for round_number in range(1, args.rounds + 1):
        for workers in args.workers:
            asyncio.run(fresh_schema(args.pg, units))
            with tempfile.TemporaryDirectory() as data_dir:
                process, base = start(args.pg, workers, data_dir)
                try:
                    asyncio.run(buy(base, workers * 2, 2.0, 60_000))  # warm every worker up
                    for buyers in args.buyers:
                        cells.setdefault((workers, buyers), []).append(
                            measure(base, process.pid, buyers, args.seconds, address)
                        )
                        address += buyers
                finally:
                    stop_server(process)
            sold, intact = asyncio.run(check(args.pg))
            oversold, broken = oversold or sold > units, broken or not intact
            row = ", ".join(f"{b} buyers {cells[(workers, b)][-1].rate:.1f}" for b in args.buyers)
            print(f"  round {round_number}, {workers} workers: {row}", flush=True)

    def median(cell: tuple[int, int], of: Callable[[Cell], float]) -> float:
        return statistics.median(of(measured) for measured in cells[cell])

    baseline = median((args.workers[0], args.buyers[0]), lambda c: c.rate)
    print("\norders/s (× one worker, one buyer) | CPU busy | CPU ms per order: servers + PostgreSQL + buyers")
    print("workers | " + " | ".join(f"{b} buyers" for b in args.buyers))
    for workers in args.workers:
        shown = []
        for buyers in args.buyers:
            cell = (workers, buyers)
            rate = median(cell, lambda c: c.rate)
            parts = " + ".join(f"{median(cell, partial(cpu_ms_of, group)):.1f}" for group in CPU_GROUPS)
            shown.append(f"{rate:.1f} (×{rate / baseline:.2f}) | {median(cell, lambda c: c.busy):.0%} | {parts}")
        print(f"{workers} | " + " | ".join(shown))
    slowest = min((median(cell, lambda c: c.rate), cell) for cell in cells)
    spread = [measured.rate / baseline for measured in cells[(args.workers[0], args.buyers[0])]]
    print(
        f"base: {args.workers[0]} worker(s), {args.buyers[0]} buyer(s), {baseline:.1f} orders/s, its rounds "
        f"×{min(spread):.2f}–×{max(spread):.2f} of that; slowest cell: {slowest[1][0]} workers × {slowest[1][1]} "
        f"buyers at ×{slowest[0] / baseline:.2f}; oversold: {'YES' if oversold else 'no'}; "
        f"chains: {'BROKEN' if broken else 'intact'}"
    )
    if any(measured.failed for measured_cells in cells.values() for measured in measured_cells):
        print("some requests failed (refused or errored); the figures count fulfilled orders only")
    return 1 if oversold or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
