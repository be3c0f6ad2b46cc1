"""The `linpiao` command as an operator uses it: each test runs the real command in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from registry.models import Batch, Holder, RegisterEntry, StaffUser, TicketKind
from tests.live import ROOT, free_port, stop_server


def linpiao(*args: str, url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINPIAO_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "linpiao.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


async def test_createstaff_quota_and_demo(db):
    done = linpiao(
        "createstaff",
        "--username",
        "li.si",
        "--role",
        "issuer",
        "--district",
        "640104",
        "--password-stdin",
        url=db,
        stdin="a-long-password-1\n",
    )
    assert done.returncode == 0, done.stderr
    staff = await StaffUser.get(username="li.si")
    assert (staff.role, staff.district_code) == ("issuer", "640104")
    assert staff.password_hash.startswith("$argon2id$")

    done = linpiao("quota", "open", "--units", "5000", "--kg-co2e", "12", url=db)
    assert done.returncode == 0, done.stderr
    quota = await Batch.get(kind=TicketKind.CARBON)
    assert (quota.total_units, quota.price_fen, quota.g_co2e_per_unit) == (5000, 100, 12_000)

    first = linpiao("demo", url=db)
    assert first.returncode == 0, first.stderr
    assert "issuer" in first.stdout and "password" in first.stdout
    counts = (await Holder.all().count(), await RegisterEntry.all().count(), await StaffUser.all().count())
    again = linpiao("demo", url=db)  # seeding twice changes nothing
    assert again.returncode == 0, again.stderr
    assert (await Holder.all().count(), await RegisterEntry.all().count(), await StaffUser.all().count()) == counts
    assert await Batch.filter(kind=TicketKind.COLLECTIVE).count() == 2
    assert await Batch.filter(kind=TicketKind.STATE).count() == 1


def test_serve_demo_migrates_seeds_and_serves(tmp_path):
    """The README's first command: `linpiao serve --demo` on a brand-new SQLite file."""
    port = free_port()
    env = {**os.environ, "LINPIAO_DATABASE_URL": f"sqlite://{tmp_path / 'fresh.db'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "linpiao.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert home.status_code == 200
        assert "碳汇林票" in home.text
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login").status_code == 200
    finally:
        stop_server(process)
    output = process.stdout.read() if process.stdout else ""
    assert "admin" in output and "password" in output
