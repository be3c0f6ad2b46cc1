"""Roster preview time for 5,000 rows, against a bare read of the same file in the same run.

    python bench/roster.py [--rows 5000] [--repeat 5]

For a CSV (GBK-encoded, as Chinese Excel saves it) and an XLSX of the same roster — every ID number checked
(checksum, birth date, region), duplicates, Excel damage and formula cells looked for — it prints the best of
``--repeat`` runs of :func:`planting.shop.roster.parse_roster`, the best bare pass (``csv.reader`` over the decoded
text; openpyxl's read-only ``iter_rows``), and their ratio; then how long refusing a 50,000-row file takes.
The issue's budget is 5 s for 5,000 rows.

With ``--zip N`` (default 300; 0 skips) it then runs an organisation's whole path on a fresh SQLite database —
store a roster of N people, pay (demo event), fulfil (one retirement, N certificates) — and streams the zip of
their certificates through ``certificates.bulk.stream_zip`` under ``tracemalloc``: it prints the fulfilment
time, the zip's size and the peak of Python memory while streaming, which stays near one PDF however large N
grows (the PDFs are rendered one at a time and drained after each file).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import io
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openpyxl import Workbook, load_workbook

from factories import credit_code, resident_id
from planting.shop.roster import RosterTooLarge, parse_roster

HEADER = ["姓名", "身份证号码", "工号", "植树株数"]


def roster(rows: int) -> list[list[str]]:
    lines = [HEADER]
    for i in range(rows):
        birth = f"{1960 + i % 45}{1 + i % 12:02d}{1 + i % 28:02d}"
        id_number = resident_id("640121", birth, seq=i % 1000)
        if i % 500 == 7:
            id_number = "6.40121E+17"  # Excel's damage
        elif i % 500 == 9:
            id_number = id_number[:-1]  # a lost check character
        name = "=1+1" if i % 1000 == 3 else f"职工{i}"
        lines.append([name, id_number, f"E{i:05d}", str(3 + i % 3)])
    return lines


def csv_bytes(lines: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue().encode("gb18030")


def xlsx_bytes(lines: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for line in lines:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_csv(data: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(data.decode("gb18030"))))


def bare_xlsx(data: bytes) -> int:
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zip", type=int, default=300, help="people whose certificates are zipped (0: skip)")
    parser.add_argument("--event", type=int, default=5000, help="people on the roster whose payment is timed (0: skip)")
    args = parser.parse_args()
    lines = roster(args.rows)
    for label, data, bare in (("CSV (GB18030)", csv_bytes(lines), bare_csv), ("XLSX", xlsx_bytes(lines), bare_xlsx)):
        preview = parse_roster(data, year=2026)
        assert len(preview.rows) == args.rows
        parsed = best(args.repeat, functools.partial(parse_roster, data, year=2026))
        baseline = best(args.repeat, functools.partial(bare, data))
        print(
            f"{label:14} {args.rows} rows, {len(data) / 1024:7.0f} KiB: preview {parsed * 1000:7.1f} ms"
            f" | bare read {baseline * 1000:7.1f} ms | ratio {parsed / baseline:5.1f}x"
            f" | {len(preview.payable)} payable, {len(preview.with_errors)} with errors,"
            f" {len(preview.with_warnings)} with warnings"
        )
    big = csv_bytes([HEADER] + [[f"职工{i}", "", f"E{i}", "3"] for i in range(50_000)])
    start = time.perf_counter()
    try:
        parse_roster(big)
    except RosterTooLarge:
        pass
    else:
        raise AssertionError("50,000 rows were not refused")
    print(f"refusing 50,000 rows ({len(big) / 1024:.0f} KiB): {(time.perf_counter() - start) * 1000:.1f} ms")
    if args.zip:
        asyncio.run(zip_figures(args.zip))
    if args.event:
        asyncio.run(event_figures(args.event))


async def zip_figures(people: int) -> None:
    from tortoise import Tortoise

    from certificates.bulk import stream_zip
    from kernel.settings import Settings
    from linpiao.db import tortoise_config
    from planting.domain.rosters import create_submission, store_roster
    from planting.domain.rules import set_rule
    from planting.shop.jobs import certify_order
    from planting.shop.orders import create_roster_order, submission_certificate_ids
    from registry.quotas import open_quota
    from shop.limits import TRUSTED
    from shop.orders import EventKind, PaymentEvent, apply_event

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        await Tortoise.init(config=tortoise_config(url))
        await Tortoise.generate_schemas()
        try:
            settings = Settings(database_url=url)
            await open_quota(units=people * 50)
            await set_rule(year=2026, tickets_per_tree=10, receiving_body="基金会", source="通知")
            submission = await create_submission(
                organisation_name="某局", credit_code=credit_code("640104"), contact="0951-1234567", year=2026
            )
            preview = parse_roster(csv_bytes(roster(people)), year=2026)
            start = time.perf_counter()
            await store_roster(submission, preview.rows, consented=True)
            stored = time.perf_counter() - start
            order = await create_roster_order(settings, submission, provider="demo", buyer=TRUSTED)
            start = time.perf_counter()
            paid = PaymentEvent("demo", "bench-paid", EventKind.PAID, amount_fen=int(order.amount_fen))
            await apply_event(order.id, paid)
            fulfilled = time.perf_counter() - start
            inline = len(await submission_certificate_ids(submission))
            start = time.perf_counter()
            await certify_order(order.id)  # what the background job planting.certify runs
            certified = time.perf_counter() - start
            ids = await submission_certificate_ids(submission)
            print(
                f"organisation of {people}: store roster {stored * 1000:.0f} ms; payment event (1 retirement,"
                f" {inline} certificates inline) {fulfilled * 1000:.0f} ms; job planting.certify:"
                f" {len(ids)} certificates in {certified * 1000:.0f} ms"
            )
            for count in sorted({max(1, len(ids) // 10), len(ids)}):
                tracemalloc.start()
                start = time.perf_counter()
                size = largest = 0
                async for chunk in stream_zip(ids[:count], "http://127.0.0.1:8000"):
                    size += len(chunk)
                    largest = max(largest, len(chunk))
                elapsed = time.perf_counter() - start
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                print(
                    f"zip of {count:5} certificates: {size / 1024 / 1024:6.2f} MiB in {elapsed:5.1f} s (traced);"
                    f" largest chunk {largest / 1024:5.0f} KiB; peak Python memory {peak / 1024 / 1024:5.1f} MiB"
                )
        finally:
            await Tortoise.close_connections()


async def event_figures(people: int) -> None:
    """The payment event's request for a roster of ``people`` (the demo provider's confirmation, through the ASGI
    app), which retires the tickets and leaves the certificates to the job; then the job's own time."""
    import httpx
    from tortoise import Tortoise

    from kernel.settings import Settings
    from linpiao.app import create_app
    from linpiao.db import tortoise_config
    from planting.domain.rosters import create_submission, store_roster
    from planting.domain.rules import set_rule
    from planting.shop.jobs import certify_order
    from planting.shop.orders import create_roster_order
    from registry import jobs
    from registry.models import Certificate
    from registry.quotas import open_quota
    from shop.limits import TRUSTED

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
        await Tortoise.generate_schemas()
        try:
            settings = Settings(database_url=url, data_dir=Path(tmp) / "var")
            await open_quota(units=people * 50)
            await set_rule(year=2026, tickets_per_tree=10, receiving_body="基金会", source="通知")
            submission = await create_submission(
                organisation_name="某局", credit_code=credit_code("640104"), contact="0951-1234567", year=2026
            )
            rows = parse_roster(csv_bytes(roster(people)), year=2026).rows
            await store_roster(submission, rows, consented=True)
            order = await create_roster_order(settings, submission, provider="demo", buyer=TRUSTED)
            app = create_app(settings, manage_db=False)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                start = time.perf_counter()
                response = await http.post(f"/pay/demo/{order.token}", data={"action": "confirm"})
                request = time.perf_counter() - start
            assert response.status_code == 303, response.text
            inline = await Certificate.filter(order_id=order.id).count()
            queued = await jobs.Job.filter(name="planting.certify").count()
            start = time.perf_counter()
            await certify_order(order.id)  # the job planting.certify (its zip job, every PDF, is timed above)
            worked = time.perf_counter() - start
            made = await Certificate.filter(order_id=order.id).count()
            print(
                f"payment event of a {people:,}-person roster (POST /pay/demo/…): {request * 1000:.0f} ms"
                f" — {inline} certificates made inline, {queued} job queued; the job then made {made:,}"
                f" certificates in {worked:.1f} s"
            )
        finally:
            await Tortoise.close_connections()


if __name__ == "__main__":
    main()
