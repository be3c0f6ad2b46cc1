"""A county's import of 2,000 holders (registry/county_import.py), against plain inserts of the same rows.

    python bench/county_import.py [--rows 2000] [--pg postgres://postgres@127.0.0.1:5432/scratch]

It prints the time of the preview (parse, then a rehearsal of every row through the register's own functions,
rolled back) and of the import (parse again, every row through the same functions in one transaction), and as the
baseline the time of inserting the same holders with one ``Holder.create`` each in one transaction, with the ratio
of the import to it. PostgreSQL runs when --pg is given; its schema is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from factories import resident_id
from linpiao.db import tortoise_config
from registry import county_import
from registry.audit import Actor
from registry.holders import holder_identifier_fields
from registry.models import Holder, HolderKind, StaffRole
from registry.staff import create_staff


def county_file(rows: int, birth_year: int) -> bytes:
    lines = ["姓名,身份证号码,居住地"]
    for i in range(rows):
        birth = f"{birth_year + i // 1000}{1 + i % 12:02d}01"
        lines.append(f"农户{i},{resident_id('640104', birth, seq=i % 1000)},兴庆区")
    return "\r\n".join(lines).encode("utf-8-sig")


async def bench(url: str, label: str, rows: int) -> None:
    await Tortoise.init(config=tortoise_config(url))
    if url.startswith("postgres"):
        await connections.get("default").execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    await Tortoise.generate_schemas()
    staff = await create_staff(
        username="bench", role=StaffRole.ISSUER, password="bench-password", district_code="640104"
    )
    actor = Actor(staff, "127.0.0.1")
    data = county_file(rows, 1950)
    start = time.perf_counter()
    preview, staged = await county_import.preview_upload(data, "x.csv", district="640104", informed=True, actor=actor)
    previewed = time.perf_counter() - start
    assert staged is not None, [row.problems for row in preview.with_errors][:3]
    start = time.perf_counter()
    outcome = await county_import.confirm_import(staged.token, actor=actor)
    imported = time.perf_counter() - start
    assert outcome.preview is None and await Holder.all().count() == rows

    others = county_import.parse_import(county_file(rows, 1970), "y.csv", "640104").holders
    start = time.perf_counter()
    async with in_transaction():
        for row in others:
            fields = holder_identifier_fields(row.identifier, HolderKind.INDIVIDUAL)
            await Holder.create(kind=HolderKind.INDIVIDUAL, name=row.values["name"], **fields)
    baseline = time.perf_counter() - start
    print(
        f"{label}: {rows} rows — preview {previewed:.2f} s, import {imported:.2f} s "
        f"({imported / rows * 1000:.1f} ms a row); plain inserts {baseline:.2f} s; ratio {imported / baseline:.1f}"
    )
    await Tortoise.close_connections()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=county_import.MAX_ROWS)
    parser.add_argument("--pg", default="")
    parser.add_argument("--only", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        await bench(args.only, "PostgreSQL" if args.only.startswith("postgres") else "SQLite", args.rows)
        return
    # Tortoise binds its query builders to the first dialect it meets: one process per database.
    with tempfile.TemporaryDirectory() as tmp:
        for url in [f"sqlite://{tmp}/bench.db", *([args.pg] if args.pg else [])]:
            subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--only", url], check=True)


if __name__ == "__main__":
    asyncio.run(main())
