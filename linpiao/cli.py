"""The ``linpiao`` command: serve, migrate, seed demo data, manage staff and quotas, check the register."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from linpiao.db import close_db, init_db
from linpiao.settings import Settings, SettingsError, load_settings


def _run(settings: Settings, job: Callable[[], Awaitable[int]]) -> int:
    """Run ``job`` with the ORM connected (and closed afterwards) in a fresh event loop."""

    async def main() -> int:
        await init_db(settings.database_url, global_fallback=False)
        try:
            return await job()
        finally:
            await close_db()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from linpiao.migrations import migrate

    applied = asyncio.run(migrate(settings.database_url))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
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
    from registry.quotas import open_quota

    async def job() -> int:
        batch = await open_quota(
            units=args.units,
            price_fen=args.price_fen,
            kg_co2e_per_ticket=args.kg_co2e,
            valid_until=date.fromisoformat(args.valid_until) if args.valid_until else None,
            actor="cli",
        )
        print(f"opened quota {batch.serial_prefix}: {batch.total_units} tickets at {batch.price_fen} fen")
        return 0

    return _run(settings, job)


def cmd_verify_register(settings: Settings, args: argparse.Namespace) -> int:
    from registry.chain import verify_chain

    async def job() -> int:
        report = await verify_chain()
        if report.ok:
            print(f"register OK: {report.entries_checked} entries, chain intact")
            return 0
        print(
            f"register BROKEN at entry seq={report.first_bad_seq}: {report.reason} "
            f"({report.entries_checked} entries before it are intact)"
        )
        return 1

    return _run(settings, job)


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from shop.reconcile import reconcile

    async def job() -> int:
        summary = await reconcile(settings, older_than_minutes=args.older_than)
        print(summary)
        return 0

    return _run(settings, job)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linpiao", description="Linpiao forest-ticket register and shop")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the application")
    serve.add_argument("--demo", action="store_true", help="seed demo data first (idempotent)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
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

    sub.add_parser("verify-register", help="recompute the register's hash chain").set_defaults(func=cmd_verify_register)
    reconcile = sub.add_parser("reconcile", help="settle pending orders with the payment provider")
    reconcile.add_argument("--older-than", type=int, default=30, help="minutes an order has been pending")
    reconcile.set_defaults(func=cmd_reconcile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        settings.check()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    result: Any = args.func(settings, args)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
