"""A shop retirement names its beneficiary on the register entry itself, as the public may read it: the entry's
hash covers whom the retirement is for, not only the id of a holder row."""

from __future__ import annotations

from factories import shop as factories
from registry.chain import entry_hash, hashed_content
from registry.models import EntryKind, RegisterEntry
from tests.desk import paid_order


async def test_the_retirement_entry_names_the_beneficiary_masked(settings, db, client):
    await factories.quota(1000)
    order = await paid_order(settings, 10, name="欧阳小明")
    [entry] = [e for e in await RegisterEntry.filter(kind=EntryKind.RETIREMENT) if e.details["order"] == order.id]
    assert entry.details == {"order": order.id, "beneficiary": "欧**明"}
    assert entry_hash(hashed_content(entry)) == entry.hash  # the name is part of what the hash covers
    published = (await client.get("/api/v1/retirements")).json()["items"]
    mine = next(item for item in published if item["seq"] == entry.seq)
    assert mine["entry"]["details"]["beneficiary"] == "欧**明" == mine["beneficiary"]
    assert "欧阳小明" not in (await client.get("/api/v1/retirements")).text
