"""registry.chain.register_transaction: the one way to open a register transaction (transaction + register lock).

The lock is taken once per outer transaction, nested blocks join it, and a rolled-back savepoint that took the
lock forgets it, so the outer transaction takes it again rather than trust a lock the database released."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from factories import make_batch
from registry.chain import append_entry, lock_state, register_transaction, verify_chain
from registry.models import EntryKind, TicketKind

ROOT = Path(__file__).resolve().parents[2]


async def test_the_lock_is_taken_once_per_outer_transaction(db) -> None:
    await make_batch(TicketKind.COLLECTIVE, units=10)
    assert lock_state() is None
    async with register_transaction():
        held = lock_state()  # lock_register would remember a new state each time it took the lock
        assert held is not None
        async with register_transaction():  # a nested one (an operation inside an order) joins it
            assert lock_state() is held
            await append_entry(EntryKind.REISSUE, actor="nested")
        async with register_transaction():
            assert lock_state() is held
    assert (await verify_chain()).ok


async def test_a_rolled_back_savepoint_that_took_the_lock_forgets_it(db) -> None:
    await make_batch(TicketKind.COLLECTIVE, units=10)
    async with in_transaction():  # an outer transaction that has not taken the lock (opening a quota, say)
        assert lock_state() is None
        with pytest.raises(RuntimeError):
            async with register_transaction():  # the savepoint takes it, appends, and is rolled back
                assert lock_state() is not None
                await append_entry(EntryKind.REISSUE, actor="rolled back")
                raise RuntimeError
        assert lock_state() is None  # released with the savepoint: not trusted any more
        async with register_transaction():
            entry = await append_entry(EntryKind.REISSUE, actor="kept")
    assert (await verify_chain()).ok
    assert entry.chain_seq == 1  # the first of the chain without a batch: the rolled-back entry left no gap


async def test_a_refusal_inside_an_outer_lock_keeps_it(db) -> None:
    async with register_transaction():
        held = lock_state()
        with pytest.raises(RuntimeError):
            async with register_transaction():  # did not take the lock: the outer one still holds it
                raise RuntimeError
        assert lock_state() is held


def test_no_module_opens_a_register_transaction_by_hand() -> None:
    """``async with in_transaction(): await lock_register()`` is written once, in registry.chain."""
    by_hand = []
    for name in ("kernel", "registry", "planting", "certificates", "shop", "admin", "linpiao", "tools"):
        for path in sorted((ROOT / name).rglob("*.py")):
            if path == ROOT / "registry" / "chain.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.AsyncWith) or not node.body:
                    continue
                opens = any(
                    isinstance(item.context_expr, ast.Call) and ast.unparse(item.context_expr.func) == "in_transaction"
                    for item in node.items
                )
                first = ast.unparse(node.body[0])
                if opens and first == "await lock_register()":
                    by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert by_hand == []
