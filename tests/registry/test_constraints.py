"""The database itself refuses overlapping or malformed holding ranges, whatever code writes them."""

from __future__ import annotations

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError

from factories import make_batch, make_holder
from registry.models import Holding, TicketKind


@pytest.mark.parametrize(
    ("first", "last"),
    [(5, 5), (1, 10), (10, 20), (0, 0), (30, 20), (-3, 2)],
)
async def test_overlapping_or_invalid_range_is_refused(db, first, last):
    holder = await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=10, holder=holder)  # holds 1..10
    with pytest.raises((IntegrityError, OperationalError)):
        await Holding.create(batch=batch, holder=holder, first_no=first, last_no=last)
    assert await Holding.filter(batch_id=batch.id).count() == 1


async def test_growing_a_range_over_its_neighbour_is_refused(db):
    holder = await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=10, holder=holder)
    await Holding.filter(batch_id=batch.id).update(last_no=4)
    await Holding.create(batch=batch, holder=holder, first_no=5, last_no=10)
    with pytest.raises((IntegrityError, OperationalError)):
        await connections.get("default").execute_query(
            f"UPDATE holding SET last_no = 6 WHERE batch_id = {batch.id} AND first_no = 1"
        )


async def test_adjacent_ranges_and_other_batches_are_fine(db):
    holder = await make_holder()
    batch = await make_batch(TicketKind.COLLECTIVE, units=10, holder=holder)
    other = await make_batch(TicketKind.COLLECTIVE, units=10, holder=holder)
    await Holding.filter(batch_id=batch.id).update(last_no=4)
    await Holding.create(batch=batch, holder=holder, first_no=5, last_no=10)
    assert await Holding.filter(batch_id=other.id).count() == 1
