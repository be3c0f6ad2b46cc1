"""The register's hash chain: editing a past row in SQL is caught, and the first bad entry is named."""

from __future__ import annotations

import asyncio
import os

import pytest
from tortoise import connections

from factories import make_batch, make_holder
from registry import register
from registry.chain import verify_chain
from tests.timetravel import python_module


async def _three_transfers() -> None:
    a = await make_holder()
    b = await make_holder()
    batch = await make_batch(units=100, holder=a)
    for q in (5, 6, 7):
        await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=q, price_fen=100 * q)


async def test_untouched_chain_verifies(db):
    await _three_transfers()
    report = await verify_chain()
    assert report.ok and report.entries_checked == 4


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE register_entry SET quantity = 500 WHERE seq = 3",
        "UPDATE register_entry SET price_fen = 1 WHERE seq = 3",
        "UPDATE register_entry SET ranges = '[[1, 99]]' WHERE seq = 3",
        "DELETE FROM register_entry WHERE seq = 3",
    ],
)
async def test_edited_past_row_is_caught(db, tamper):
    await _three_transfers()
    await connections.get("default").execute_script(tamper)
    report = await verify_chain()
    assert not report.ok
    assert report.chain_seq == 3  # the third entry of the batch's chain (its issue is the first)
    assert report.first_bad_seq == (4 if tamper.startswith("DELETE") else 3)  # a deleted one: the next is named
    assert report.entries_checked == 2


async def test_rewriting_the_hash_too_breaks_the_next_link(db):
    await _three_transfers()
    conn = connections.get("default")
    await conn.execute_script("UPDATE register_entry SET quantity = 500, hash = 'forged' WHERE seq = 2")
    report = await verify_chain()
    assert report.first_bad_seq == 2


async def test_verify_register_command_names_the_bad_entry(db):
    await _three_transfers()
    env = {**os.environ, "LINPIAO_DATABASE_URL": db}
    ok = await _linpiao("verify-register", env=env)
    assert ok == (0, ok[1]) and "4 entries" in ok[1]
    await connections.get("default").execute_script("UPDATE register_entry SET purpose = 'x' WHERE seq = 4")
    code, out = await _linpiao("verify-register", env=env)
    assert code == 1
    assert "seq=4" in out


async def _linpiao(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *python_module("linpiao.cli"), *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
