"""The ``linpiao`` command: serve, migrate, seed demo data, manage staff and quotas, check the register."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from kernel.settings import Settings, SettingsError, load_settings
from linpiao.db import close_db, init_db
from registry import idcrypt, sealing


def _run(settings: Settings, job: Callable[[], Awaitable[int]], *, global_fallback: bool = False) -> int:
    """Run ``job`` with the ORM connected (and closed afterwards) in a fresh event loop."""

    async def main() -> int:
        await init_db(settings.database_url, global_fallback=global_fallback)
        try:
            await sealing.check_key()  # a wrong LINPIAO_ID_KEY stops the command (registry/idcrypt.py)
            return await job()
        finally:
            await close_db()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from linpiao.migrations import migrate

    applied = asyncio.run(migrate(settings.database_url))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_id_key(settings: Settings, args: argparse.Namespace) -> int:
    """Print a fresh LINPIAO_ID_KEY (32 random bytes, base64)."""
    print(idcrypt.new_key())
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from linpiao.demo import print_credentials, seed_demo

    async def job() -> int:
        print_credentials(await seed_demo())
        return 0

    return _run(settings, job)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    cmd_migrate(settings, args)
    if args.demo:
        cmd_demo(settings, args)
    if args.no_worker:  # read by the app factory in each server process: no in-process job worker
        os.environ["LINPIAO_IN_PROCESS_WORKER"] = "0"
    print(f"Linpiao serving on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        "linpiao.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # X-Forwarded-For/-Proto only from LINPIAO_TRUSTED_PROXIES (uvicorn would trust 127.0.0.1 by default).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        log_level="info",
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run background jobs (procrastinate on PostgreSQL, the job table on SQLite) until SIGINT/SIGTERM."""
    from linpiao.jobqueue import run_worker

    async def job() -> int:
        print(f"Linpiao job worker on {settings.database_url.split('@')[-1]}", flush=True)
        await run_worker(settings, concurrency=args.concurrency)
        return 0

    return _run(settings, job, global_fallback=True)


def cmd_createstaff(settings: Settings, args: argparse.Namespace) -> int:
    from registry.models import StaffRole
    from registry.staff import create_staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("passwords do not match", file=sys.stderr)
            return 2

    async def job() -> int:
        staff = await create_staff(
            username=args.username, role=StaffRole(args.role), password=password, district_code=args.district
        )
        print(f"created {staff.username} ({staff.role})")
        return 0

    return _run(settings, job)


def cmd_quota_open(settings: Settings, args: argparse.Namespace) -> int:
    from registry.audit import Actor
    from registry.quotas import open_quota

    async def job() -> int:
        batch = await open_quota(
            units=args.units,
            price_fen=args.price_fen,
            kg_co2e_per_ticket=args.kg_co2e,
            valid_until=date.fromisoformat(args.valid_until) if args.valid_until else None,
            actor=Actor(None, system="cli"),
        )
        print(f"opened quota {batch.serial_prefix}: {batch.total_units} tickets at {batch.price_fen} fen")
        return 0

    return _run(settings, job)


def cmd_quota_basis(settings: Settings, args: argparse.Namespace) -> int:
    from registry.forests import record_carbon_basis
    from registry.models import Batch

    async def job() -> int:
        batch = await Batch.get_or_none(serial_prefix=args.batch)
        if batch is None:
            print(f"no batch {args.batch}", file=sys.stderr)
            return 2
        await record_carbon_basis(batch, method=args.method, source=args.source, year=args.year)
        print(f"{batch.serial_prefix}: {args.method} / {args.source} / {args.year or '-'}")
        return 0

    return _run(settings, job)


def cmd_verify_register(settings: Settings, args: argparse.Namespace) -> int:
    from registry.chain import verify_chain

    async def job() -> int:
        report = await verify_chain()
        if report.ok:
            print(f"register OK: {report.entries_checked} entries in {report.chains_checked} chains, all intact")
            return 0
        print(f"register BROKEN at {report.describe()} ({report.entries_checked} entries before it are intact)")
        return 1

    return _run(settings, job)


def cmd_rebuild_counters(settings: Settings, args: argparse.Namespace) -> int:
    from registry import counters

    async def job() -> int:
        if args.check:
            stored, counted = await counters.stored(), await counters.recount()
            if stored == counted:
                print(f"counters OK: {len(counted.stock)} batches, {len(counted.sales)} sales rows match a recount")
                return 0
            wrong = sorted(
                b for b in counted.stock.keys() | stored.stock.keys() if stored.stock.get(b) != counted.stock.get(b)
            )
            print(f"counters DIFFER from a recount: batches {wrong or '-'}; run `linpiao rebuild-counters`")
            return 1
        rebuilt = await counters.rebuild_counters()
        print(f"counters rebuilt: {len(rebuilt.stock)} batches, {len(rebuilt.sales)} sales rows")
        return 0

    return _run(settings, job)


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from registry import digests

    async def job() -> int:
        if args.day:
            made = [await digests.publish_digest(date.fromisoformat(args.day), published_by=digests.PublishedBy.CLI)]
        else:
            made = await digests.publish_missing(published_by=digests.PublishedBy.CLI)
        for digest in made:
            print(
                f"{digest.day} {digest.entry_count} entries ({digest.day_entries} that day) root {digest.merkle_root}"
            )
        if not made:
            print("every closed day has its digest")
        return 0

    try:
        return _run(settings, job)
    except digests.DayNotClosed:
        print(f"{args.day} is not over yet (Beijing time): no digest", file=sys.stderr)
        return 2


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from tools.audit import main as audit_main

    return audit_main(["--export", args.export, "--digest", args.digest, *(["--quiet"] if args.quiet else [])])


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    import planting.shop  # noqa: F401  (registers the tree-planting order purpose it settles)
    from shop.reconcile import reconcile

    async def job() -> int:
        summary = await reconcile(settings, older_than_minutes=args.older_than)
        print(summary)
        return 0

    return _run(settings, job)


def cmd_bills(settings: Settings, args: argparse.Namespace) -> int:
    """Compare each direct provider's bill (Alipay, WeChat Pay) of a Beijing date with the register; exit 1 on
    any difference, so a daily cron job can alert."""
    from datetime import timedelta

    from kernel import clock
    from shop.bills import compare_bills

    day = date.fromisoformat(args.date) if args.date else clock.today() - timedelta(days=1)

    async def job() -> int:
        report = await compare_bills(settings, day)
        print(report)
        return 0 if report.clean else 1

    return _run(settings, job)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linpiao", description="Linpiao forest-ticket register and shop")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the application")
    serve.add_argument("--demo", action="store_true", help="seed demo data first (idempotent)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-worker", action="store_true", help="run no background-job worker in the server")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("id-key", help="print a new LINPIAO_ID_KEY (resident ID numbers at rest)").set_defaults(
        func=cmd_id_key
    )
    sub.add_parser("demo", help="seed demo data and print staff credentials").set_defaults(func=cmd_demo)

    staff = sub.add_parser("createstaff", help="create a back-office account")
    staff.add_argument("--username", required=True)
    staff.add_argument(
        "--role", required=True, choices=["admin", "issuer", "forestry", "landscaping", "finance", "auditor"]
    )
    staff.add_argument("--district", default=None, help="district code, for issuers (e.g. 640104)")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    staff.set_defaults(func=cmd_createstaff)

    quota = sub.add_parser("quota", help="carbon quotas").add_subparsers(dest="quota_command", required=True)
    quota_open = quota.add_parser("open", help="open a carbon quota")
    quota_open.add_argument("--units", type=int, required=True)
    quota_open.add_argument("--price-fen", type=int, default=100)
    quota_open.add_argument("--kg-co2e", type=int, default=10, help="kg CO2e per ticket")
    quota_open.add_argument("--valid-until", default=None, help="YYYY-MM-DD")
    quota_open.set_defaults(func=cmd_quota_open)
    quota_basis = quota.add_parser("basis", help="record how a quota's kg CO2e per ticket was reached")
    quota_basis.add_argument("--batch", required=True, help="the quota's serial prefix, e.g. YC-TH-2026-001")
    quota_basis.add_argument("--method", required=True, help="accounting method")
    quota_basis.add_argument("--source", required=True, help="document or report the figure comes from")
    quota_basis.add_argument("--year", type=int, default=None, help="year of the figure")
    quota_basis.set_defaults(func=cmd_quota_basis)

    sub.add_parser("verify-register", help="recompute the register's hash chain").set_defaults(func=cmd_verify_register)
    rebuild = sub.add_parser("rebuild-counters", help="recount the stock and sales counters from the register")
    rebuild.add_argument(
        "--check", action="store_true", help="only compare them with a recount (exit 1 if they differ)"
    )
    rebuild.set_defaults(func=cmd_rebuild_counters)
    digest = sub.add_parser("digest", help="publish the daily register digest of every closed day lacking one")
    digest.add_argument("--day", default=None, help="YYYY-MM-DD (Beijing): only this day")
    digest.set_defaults(func=cmd_digest)
    audit = sub.add_parser("audit", help="check a retirements export against the published digests")
    audit.add_argument("--export", required=True, help="CSV or JSON export of /api/v1/retirements")
    audit.add_argument("--digest", required=True, help="URL of /api/v1/register/digests or a saved copy")
    audit.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    audit.set_defaults(func=cmd_audit)
    reconcile = sub.add_parser("reconcile", help="settle pending orders with their payment providers")
    reconcile.add_argument("--older-than", type=int, default=30, help="minutes an order has been pending")
    reconcile.set_defaults(func=cmd_reconcile)
    bills = sub.add_parser("bills", help="compare Alipay / WeChat Pay bills of a day with the register")
    bills.add_argument("--date", default=None, help="YYYY-MM-DD (Beijing date; default yesterday)")
    bills.set_defaults(func=cmd_bills)
    worker = sub.add_parser("worker", help="run background jobs (certificates, expiry, reconcile, exports)")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once (PostgreSQL)")
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        settings.check()
        idcrypt.configure(settings.id_key_bytes)  # resident ID numbers at rest (registry/idcrypt.py)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: Any = args.func(settings, args)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
