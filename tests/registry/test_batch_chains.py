"""One hash chain and one lock per batch (registry.chain): changes to different batches never wait for each other,
changes to one batch take turns, ``verify-register`` names the batch and entry of a rewritten past entry, and a
register that kept the single chain of old keeps verifying with every batch's chain starting from its tip."""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from factories import make_batch, make_holder
from registry import chain, register
from registry.chain import GENESIS, entry_hash, hashed_content, register_transaction, verify_chain
from registry.models import Batch, ChainHead, EntryKind, Holder, RegisterEntry, RegisterHead
from tests.conftest import is_postgres
from tests.registry.test_chain import _linpiao

needs_postgres = pytest.mark.skipif(not is_postgres(), reason="row locks across connections: PostgreSQL only")


async def _two_batches() -> tuple[Holder, Batch, Batch]:
    owner = await make_holder()
    return owner, await make_batch(units=100, holder=owner), await make_batch(units=100, holder=owner)


async def _move(batch: Batch, owner: Holder, quantity: int = 1) -> None:
    await register.transfer_units(batch=batch, from_holder=owner, to_holder=await make_holder(), quantity=quantity)


async def _hold_while(batch: Batch, owner: Holder, holding: asyncio.Event, release: asyncio.Event) -> None:
    """A register transaction on ``batch`` that has written and keeps its lock until ``release``."""
    async with register_transaction(batch):
        await _move(batch, owner)
        holding.set()
        await release.wait()


async def _finishes_while_held(other: Batch | None, owner: Holder, batch: Batch) -> bool:
    """Whether a change of ``other`` (None: a change that locks the whole register) commits while a transaction
    on ``batch`` holds its lock."""
    holding, release = asyncio.Event(), asyncio.Event()
    holder_task = asyncio.create_task(_hold_while(batch, owner, holding, release))
    await asyncio.wait_for(holding.wait(), 10)

    async def change() -> None:
        if other is None:
            async with register_transaction():  # the whole register (a back-office action)
                pass
        else:
            await _move(other, owner)

    contender = asyncio.create_task(change())
    done, _ = await asyncio.wait({contender}, timeout=1.5)
    release.set()
    await holder_task
    await contender  # it finishes in any case once the lock is released
    return bool(done)


@needs_postgres
async def test_changes_to_different_batches_do_not_wait_for_each_other(db):
    owner, a, b = await _two_batches()
    assert await _finishes_while_held(b, owner, a)  # b commits while a's transaction holds a's lock
    assert (await verify_chain()).ok


@needs_postgres
async def test_changes_to_one_batch_take_turns(db):
    owner, a, _b = await _two_batches()
    assert not await _finishes_while_held(a, owner, a)  # a control: the same batch waits for the lock
    assert (await verify_chain()).ok
    assert await RegisterEntry.filter(batch_id=a.id).count() == 3


@needs_postgres
async def test_a_change_of_the_whole_register_waits_for_every_batch(db):
    owner, a, _b = await _two_batches()
    assert not await _finishes_while_held(None, owner, a)


async def test_each_batch_keeps_its_own_chain_and_head(db):
    owner, a, b = await _two_batches()
    for batch in (a, b, a):
        await _move(batch, owner)
    heads = {int(h.chain): h for h in await ChainHead.all()}
    for batch, entries in ((a, 3), (b, 2)):
        chain_entries = await RegisterEntry.filter(batch_id=batch.id).order_by("chain_seq")
        assert [e.chain_seq for e in chain_entries] == list(range(1, entries + 1))
        assert chain_entries[0].prev_hash == GENESIS  # a new register: every chain starts from the genesis hash
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(chain_entries))
        assert (heads[batch.id].seq, heads[batch.id].last_hash) == (entries, chain_entries[-1].hash)
    seqs = await RegisterEntry.all().order_by("seq").values_list("seq", flat=True)
    assert len(set(seqs)) == 5  # one number across the register, still unique


async def test_a_rewritten_entry_of_batch_b_is_named(db):
    owner, a, b = await _two_batches()
    for batch in (a, b, b, a):
        await _move(batch, owner)
    second_of_b = await RegisterEntry.get(batch_id=b.id, chain_seq=2)
    await RegisterEntry.filter(id=second_of_b.id).update(quantity=50)
    report = await verify_chain()
    assert not report.ok
    assert (report.batch_id, report.chain_seq, report.first_bad_seq) == (b.id, 2, second_of_b.seq)
    assert report.entries_checked == 4  # a's three entries and b's first
    env = {**os.environ, "LINPIAO_DATABASE_URL": db}
    code, out = await _linpiao("verify-register", env=env)
    assert code == 1
    assert f"batch {b.id} entry seq={second_of_b.seq} (#2 of its chain)" in out


async def test_a_rewritten_and_rehashed_entry_breaks_the_head(db):
    owner, a, _b = await _two_batches()
    await _move(a, owner)
    last = await RegisterEntry.get(batch_id=a.id, chain_seq=2)
    last.quantity = 99
    last.hash = entry_hash(hashed_content(last))
    await last.save(update_fields=["quantity", "hash"])
    report = await verify_chain()
    assert (report.batch_id, report.ok) == (a.id, False)
    assert "head" in report.reason


async def _old_single_chain(count: int) -> str:
    """What a register written before one chain per batch holds: entries 1..count in one chain, and its tip."""
    prev = GENESIS
    for seq in range(1, count + 1):
        entry = RegisterEntry(
            seq=seq, kind=EntryKind.REISSUE, quantity=seq, created_at=chain.clock.now(), prev_hash=prev, hash=""
        )
        entry.hash = entry_hash(hashed_content(entry))
        await entry.save()
        prev = entry.hash
    await RegisterHead.update_or_create(
        id=1, defaults={"seq": count, "last_hash": prev}
    )  # (a new database may hold it)
    return prev


async def test_the_old_single_chain_keeps_verifying_and_new_chains_start_from_its_tip(db):
    tip = await _old_single_chain(3)
    if is_postgres():  # as an old database's ids would be: the sequence behind the numbers written
        await connections.get("default").execute_script(
            "SELECT setval(pg_get_serial_sequence('register_entry', 'id'), 1)"
        )
    assert await chain.start_batch_chains() == 1  # the migration step: the head of the chain without a batch
    assert (await ChainHead.get(chain=chain.NO_BATCH)).last_hash == tip
    owner, a, _b = await _two_batches()
    await _move(a, owner)
    report = await verify_chain()
    assert report.ok and report.entries_checked == 3 + 3  # the history, then a's two and b's one
    first_of_a = await RegisterEntry.get(batch_id=a.id, chain_seq=1)
    assert first_of_a.prev_hash == tip and first_of_a.seq > 3
    await RegisterEntry.filter(seq=2).update(quantity=7)
    report = await verify_chain()
    assert (report.chain, report.first_bad_seq, report.batch_id) == ("history", 2, None)


async def test_a_savepoint_rolled_back_after_locking_a_new_batch_forgets_that_lock(db):
    owner, a, b = await _two_batches()
    async with register_transaction(a):
        with pytest.raises(RuntimeError):
            async with register_transaction(b):
                assert chain.lock_state() is not None and chain.lock_state().holds(b.id)  # type: ignore[union-attr]
                raise RuntimeError
        state = chain.lock_state()
        assert state is not None and state.holds(a.id) and not state.holds(b.id)
        await _move(b, owner)  # locked again
    assert (await verify_chain()).ok


async def test_a_transaction_locks_its_batches_in_the_order_of_their_ids(db):
    _owner, a, b = await _two_batches()
    async with in_transaction():
        state = await chain.lock_register([b.id, a.id])
        assert list(state.tips) == sorted([a.id, b.id])


async def _retire(batch: Batch, owner: Holder) -> RegisterEntry:
    return await register.retire_held_units(batch=batch, holder=owner, quantity=1, purpose="test")


@needs_postgres
async def test_the_public_index_never_skips_an_entry_committed_late(db):
    """Batches commit in any order: an entry numbered before one already committed, but still open, is not passed
    over by the retirements index (registry.retirements.sync goes no further than chain.settled_seq)."""
    from registry import retirements
    from registry.retirements import PublicRetirement

    owner, a, b = await _two_batches()
    holding, release = asyncio.Event(), asyncio.Event()
    early: list[RegisterEntry] = []

    async def open_on_a() -> None:
        async with register_transaction(a):
            early.append(await _retire(a, owner))  # numbered first, committed last
            holding.set()
            await release.wait()

    task = asyncio.create_task(open_on_a())
    await asyncio.wait_for(holding.wait(), 10)
    late = await _retire(b, owner)
    assert late.seq > early[0].seq
    syncing = asyncio.create_task(retirements.sync())
    done, _ = await asyncio.wait({syncing}, timeout=1.0)
    assert not done  # it waits for the change still running rather than index past it
    release.set()
    await task
    await syncing
    await retirements.sync()
    indexed = set(await PublicRetirement.all().values_list("entry_id", flat=True))
    assert {early[0].id, late.id} <= indexed
