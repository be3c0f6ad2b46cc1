"""The growth bench (``bench/growth.py``) seeds a million orders by bulk SQL, copying one real order's rows. Its
figures mean something only while those copies are what the register itself writes, so its smallest run is a test:
it seeds 100 orders over the quota's stock blocks, then 100 more on top (as its sizes build on each other), and
after each verifies every hash chain and compares every counter with a full recount (the bench asserts both and
exits non-zero otherwise). A register change the seeder does not follow
— a new column an entry's hash covers, a new place where sales are counted — fails here, not in the next person's
benchmark run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import is_postgres

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.skipif(is_postgres(), reason="the bench seeds its own temporary SQLite file: it runs in the SQLite pass")
def test_the_growth_bench_seeds_orders_the_register_verifies() -> None:
    run = subprocess.run(
        [sys.executable, "bench/growth.py", "--sizes", "0,100,200", "-n", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    for size in ("100", "200"):
        seeded = next(line for line in run.stdout.splitlines() if line.startswith(f"# {size} sold orders:"))
        assert "chain verified" in seeded and "counters = recount" in seeded, seeded
    assert "# done: 202 fulfilled orders" in run.stdout  # the two real ones the seeder copies, and 200 copies
