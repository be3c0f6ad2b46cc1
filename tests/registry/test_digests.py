"""Daily register digests: the Merkle pairing rule, chain heads per Beijing day, publication by the CLI and on
demand, and that a published digest never changes."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime

import pytest

from factories.certificates import paid_order
from kernel import clock
from registry import digests
from registry.chain import GENESIS
from registry.digests import ChainHead, PublishedBy, RegisterDigest
from registry.models import RegisterEntry
from registry.quotas import open_quota
from tools import audit as tool

DAY1 = date(2026, 3, 2)
# 23:30 Beijing on DAY1 is 15:30 UTC; 00:30 Beijing on DAY2 is 16:30 UTC on DAY1
LATE_DAY1 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
EARLY_DAY2 = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
DAY4 = datetime(2026, 3, 5, 4, 0, tzinfo=UTC)


def test_the_pairing_rule_by_hand():
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    la, lb, lc = (hashlib.sha256(b"\x00" + x).digest() for x in (a, b, c))
    ab = hashlib.sha256(b"\x01" + la + lb).digest()
    assert digests.merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert digests.merkle_root([la]) == la.hex()
    assert digests.merkle_root([la, lb]) == ab.hex()
    assert digests.merkle_root([la, lb, lc]) == hashlib.sha256(b"\x01" + ab + lc).hexdigest()  # c carried up
    head = ChainHead("register", 7, "ab" * 32)
    assert digests.heads_root([head]) == hashlib.sha256(b"\x00" + f"register:7:{'ab' * 32}".encode()).hexdigest()


def test_heads_are_sorted_by_chain_so_order_does_not_matter():
    heads = [ChainHead(f"batch-{i}", i, f"{i:064x}") for i in range(5)]
    assert digests.heads_root(heads) == digests.heads_root(list(reversed(heads)))
    assert digests.heads_root(heads) == tool.heads_root([h.as_json() for h in heads])  # the tool agrees


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 13, 64, 100])
def test_every_leaf_has_a_proof_and_the_tool_agrees(size):
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(size)]
    leaves = [digests.entry_leaf(h) for h in hashes]
    root = digests.merkle_root(leaves)
    assert root == tool.merkle_root(leaves)
    for i, h in enumerate(hashes):
        proof = digests.merkle_proof(leaves, i)
        assert digests.verify_proof(leaves[i], proof, root)
        assert tool.proof_root(h, proof) == root
        other = hashes[(i + 1) % size] if size > 1 else "00" * 32
        assert tool.proof_root(other, proof) != root or other == h


def test_the_tool_hashes_an_entry_as_the_register_does():
    from registry.chain import entry_hash

    rng = random.Random(4)
    for _ in range(50):
        content = {
            "seq": rng.randint(1, 10**9),
            "kind": "retirement",
            "purpose": rng.choice(["出行", "绿地占补平衡：阅海湾", "=x", 'a"b\\c']),
            "details": {"order": rng.randint(1, 99), "项目": ["a", 1, None, True]},
            "ranges": [[1, rng.randint(1, 10**12)]],
            "price_fen": None,
            "prev": GENESIS,
        }
        assert tool.entry_hash(content) == entry_hash(content)


async def _entries_on_two_days():  # type: ignore[no-untyped-def]
    with clock.use(clock.FixedClock(LATE_DAY1)) as fixed:
        quota = await open_quota(units=1000)  # issue entry: day 1
        await paid_order(10, batch=quota)  # reservation + retirement: day 1
        fixed.set(EARLY_DAY2)
        await paid_order(20, batch=quota)  # day 2
    return quota


async def test_a_day_has_its_head_and_its_entries(db):
    await _entries_on_two_days()
    with clock.use(clock.FixedClock(DAY4)):
        day1 = await digests.compute_digest(DAY1)
        day2 = await digests.compute_digest(date(2026, 3, 3))
        day3 = await digests.compute_digest(date(2026, 3, 4))
    assert (day1["entry_count"], day1["day_entries"]) == (3, 3)
    third = await RegisterEntry.get(seq=3)  # the issue, a reservation, a retirement: one chain, the quota's
    assert day1["chains"] == [{"chain": f"batch-{third.batch_id}", "head_seq": 3, "head_hash": third.hash}]
    assert (day2["entry_count"], day2["day_entries"]) == (5, 2)
    assert day3["day_entries"] == 0 and day3["chains"] == day2["chains"] and day3["merkle_root"] == day2["merkle_root"]
    assert day3["entries_root"] == digests.EMPTY_ROOT
    leaves = [digests.entry_leaf(e.hash) for e in await RegisterEntry.filter(seq__in=[4, 5]).order_by("seq")]
    assert day2["entries_root"] == digests.merkle_root(leaves)


async def test_publishing_covers_closed_days_only_and_never_changes_a_digest(db):
    await _entries_on_two_days()
    with clock.use(clock.FixedClock(EARLY_DAY2)):  # day 1 is closed, day 2 is today
        made = await digests.publish_missing(published_by=PublishedBy.CLI)
        assert [d.day for d in made] == [DAY1]
        with pytest.raises(digests.DayNotClosed):
            await digests.publish_digest(date(2026, 3, 3), published_by=PublishedBy.CLI)
        assert await digests.digest_of(date(2026, 3, 3)) is None
    with clock.use(clock.FixedClock(DAY4)):
        made = await digests.publish_missing(published_by=PublishedBy.ON_DEMAND)
        assert [(d.day, d.published_by) for d in made] == [
            (date(2026, 3, 3), PublishedBy.ON_DEMAND),
            (date(2026, 3, 4), PublishedBy.ON_DEMAND),
        ]
        assert await digests.publish_missing(published_by=PublishedBy.CLI) == []
        first = await RegisterDigest.get(day=DAY1)
        again = await digests.publish_digest(DAY1, published_by=PublishedBy.ON_DEMAND)
        assert again.id == first.id and again.published_by is PublishedBy.CLI
        assert await digests.digest_of(date(2026, 3, 1)) is None  # before the first entry


async def test_digests_api_publishes_on_demand_and_pages(client, db):
    await _entries_on_two_days()
    with clock.use(clock.FixedClock(DAY4)):
        body = (await client.get("/api/v1/register/digests")).json()
        assert [d["day"] for d in body["items"]] == ["2026-03-04", "2026-03-03", "2026-03-02"]
        assert {d["published_by"] for d in body["items"]} == {"on_demand"}
        assert "sha256(0x01 || left || right)" in body["pairing_rule"]
        page = (await client.get("/api/v1/register/digests?limit=2")).json()
        assert page["next_before"] == "2026-03-03"
        rest = (await client.get(f"/api/v1/register/digests?limit=2&before={page['next_before']}")).json()
        assert [d["day"] for d in rest["items"]] == ["2026-03-02"] and rest["next_before"] is None
        one = await client.get("/api/v1/register/digests/2026-03-02")
        assert one.status_code == 200 and one.json()["entry_count"] == 3
        assert (await client.get("/api/v1/register/digests/2026-03-05")).status_code == 404  # today
        assert (await client.get("/api/v1/register/digests/2026-02-30")).status_code == 400
        assert (await client.get("/api/v1/register/digests?before=")).status_code == 400


async def test_the_cli_publishes_digests(db, monkeypatch, capsys):
    from linpiao import cli

    await _entries_on_two_days()

    ran = []
    monkeypatch.setattr(cli, "_run", lambda settings, job: ran.append(job) or 0)
    with clock.use(clock.FixedClock(DAY4)):
        assert cli.main(["digest"]) == 0
        assert await ran[0]() == 0
    out = capsys.readouterr().out
    assert "2026-03-02 3 entries (3 that day)" in out and "2026-03-04 5 entries (0 that day)" in out
    assert {d.published_by for d in await RegisterDigest.all()} == {PublishedBy.CLI}
