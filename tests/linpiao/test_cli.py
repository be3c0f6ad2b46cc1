"""The `linpiao` command as an operator uses it: each test runs the real command in a child process."""

from __future__ import annotations

import os
import subprocess
import time

import httpx

from kernel import clock
from planting.domain.models import PlantingRule
from planting.domain.rules import rule_for
from registry import counters, register
from registry.models import Batch, Certificate, Holder, RegisterEntry, StaffUser, TicketKind
from registry.trades import Trade, TradeFiling
from tests.live import ROOT, free_port, stop_server
from tests.timetravel import python_module


def linpiao(*args: str, url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINPIAO_DATABASE_URL": url}
    return subprocess.run(
        [*python_module("linpiao.cli"), *args],
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
    # 西夏区's forestry department and greening committee office (区绿委办) have their own accounts
    assert "forestry_xixia" in first.stdout and "greening_xixia" in first.stdout
    desks = {s.username: (s.role, s.district_code) for s in await StaffUser.filter(district_code="640105")}
    assert desks == {"forestry_xixia": ("forestry", "640105"), "greening_xixia": ("greening", "640105")}
    counts = (await Holder.all().count(), await RegisterEntry.all().count(), await StaffUser.all().count())
    again = linpiao("demo", url=db)  # seeding twice changes nothing
    assert again.returncode == 0, again.stderr
    assert (await Holder.all().count(), await RegisterEntry.all().count(), await StaffUser.all().count()) == counts
    assert await Batch.filter(kind=TicketKind.COLLECTIVE).count() == 2
    assert await Batch.filter(kind=TicketKind.STATE).count() == 1
    # this year's planting rule, so /planting sells at once (set once: the second run added none)
    rule = await rule_for(clock.today().year)
    assert (rule.tickets_per_tree, rule.trees_per_duty, rule.set_by_name) == (10, 3, "forestry")
    assert await PlantingRule.all().count() == 1
    # the subscription is a real one: recorded through the trade workflow, its three filings on record
    [trade] = await Trade.all()
    assert (trade.kind, trade.status, trade.quantity, trade.share) == ("subscription", "effective", 300, "3/10")
    assert trade.effective_on == clock.today() and trade.operating_form == "equity"
    filings = await TradeFiling.filter(trade_id=trade.id)
    assert len(filings) == 3 and all(f.status == "filed" and f.reference for f in filings)
    enterprise = await Holder.get(id=trade.buyer_id)
    collective = await Batch.get(id=trade.batch_id)
    assert await register.holder_total(enterprise, batch=collective) == 300
    assert await RegisterEntry.filter(kind="subscription").count() == 1
    assert await Certificate.filter(holder_id=enterprise.id, kind="collective_holding", status="valid").count() == 1


def test_serve_demo_migrates_seeds_and_serves(tmp_path):
    """The README's first command: `linpiao serve --demo` on a brand-new SQLite file."""
    port = free_port()
    env = {**os.environ, "LINPIAO_DATABASE_URL": f"sqlite://{tmp_path / 'fresh.db'}"}
    process = subprocess.Popen(
        [*python_module("linpiao.cli"), "serve", "--demo", "--port", str(port)],
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
        # tree planting works at once: this year's rule is in force and a citizen can go to payment
        year = clock.today().year
        page = httpx.get(f"http://127.0.0.1:{port}/planting")
        assert page.status_code == 200 and 'id="planting-form"' in page.text and 'id="no-rule"' not in page.text
        assert f"{year}年度折算标准" in page.text
        bought = httpx.post(
            f"http://127.0.0.1:{port}/planting",
            data={"year": str(year), "trees": "3", "name": "张三", "declared": "owes"},
        )
        assert bought.status_code == 303 and "/pay/demo/" in bought.headers["location"], bought.text
    finally:
        stop_server(process)
    output = process.stdout.read() if process.stdout else ""
    assert "admin" in output and "password" in output


async def test_rebuild_counters_checks_and_recounts(db):
    from registry.counters import BatchStock

    done = linpiao("quota", "open", "--units", "700", url=db)
    assert done.returncode == 0, done.stderr
    good = linpiao("rebuild-counters", "--check", url=db)
    assert good.returncode == 0 and "counters OK" in good.stdout, good.stdout + good.stderr
    quota = await Batch.get(kind=TicketKind.CARBON)
    await BatchStock.filter(batch_id=quota.id).update(held=1)  # a counter gone wrong
    bad = linpiao("rebuild-counters", "--check", url=db)
    assert bad.returncode == 1 and "DIFFER" in bad.stdout
    fixed = linpiao("rebuild-counters", url=db)
    assert fixed.returncode == 0 and "counters rebuilt: 1 batches" in fixed.stdout, fixed.stdout + fixed.stderr
    assert (await counters.stock_of(quota.id)).held == 700
