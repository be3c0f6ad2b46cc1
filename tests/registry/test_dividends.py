"""Dividends: split over the record date's holders in fen, exactly, and shown on each holder's statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factories import make_batch, make_holder
from factories.trades import make_actor, register_snapshot, state_batch, token, village_batch
from kernel import clock
from registry import register
from registry.dividends import (
    Dividend,
    DividendShare,
    NoHolders,
    dividend_totals,
    record_dividend,
    split_income,
)
from registry.errors import InvalidState, NonPositiveQuantity, WrongKind
from registry.models import AuditLog, EntryKind, HolderKind, RegisterEntry, StaffRole
from registry.ownership import balances_before
from registry.register_view import holder_statement
from registry.trades import NotPermitted, record_transfer

TODAY = clock.today()


@given(
    income=st.integers(min_value=0, max_value=10**12),
    units=st.dictionaries(st.integers(1, 10_000), st.integers(1, 10**9), min_size=1, max_size=30),
)
def test_parts_add_up_to_the_income_and_stay_within_a_fen_of_the_exact_share(income, units):
    parts = split_income(income, units)
    assert sum(parts.values()) == income
    total_units = sum(units.values())
    for holder, part in parts.items():
        exact = Fraction(income * units[holder], total_units)
        assert abs(part - exact) < 1


def test_split_refuses_when_nobody_holds():
    with pytest.raises(NoHolders):
        split_income(100, {})
    with pytest.raises(NoHolders):
        split_income(100, {1: 0})


async def test_income_is_split_over_holders_and_collective_income_stays_with_the_collective(db):
    batch, village = await village_batch(units=1000)
    a, b = await make_holder("赵一"), await make_holder("赵二")
    actor = await make_actor()
    await record_transfer(batch=batch, seller=village, buyer=a, quantity=500, price_fen=0, actor=actor)
    await record_transfer(batch=batch, seller=village, buyer=b, quantity=200, price_fen=0, actor=actor)
    dividend = await record_dividend(
        batch=batch, income_fen=100_001, record_date=TODAY, source="绿源合作社2025年经营收入", actor=actor
    )
    shares = {s.holder_id: s for s in await DividendShare.filter(dividend_id=dividend.id)}
    assert {h: s.units for h, s in shares.items()} == {village.id: 300, a.id: 500, b.id: 200}
    assert {h: s.amount_fen for h, s in shares.items()} == {village.id: 30_000, a.id: 50_001, b.id: 20_000}
    assert shares[village.id].stays_with_collective and not shares[a.id].stays_with_collective
    assert await dividend_totals(dividend) == {"collective_fen": 30_000, "others_fen": 70_001}
    entry = await RegisterEntry.get(id=dividend.entry_id)
    assert entry.kind is EntryKind.DIVIDEND and entry.price_fen == 100_001 and entry.quantity == 1000
    assert sorted(entry.details["parts"]) == sorted(
        [[village.id, 300, 30_000], [a.id, 500, 50_001], [b.id, 200, 20_000]]
    )
    assert await AuditLog.filter(action="dividend.record").count() == 1
    # the dividend changed nobody's holding
    assert await register.holder_total(a, batch=batch) == 500
    statement = await holder_statement(a)
    dividend_lines = [line for line in statement.lines if line.label == "分红"]
    assert len(dividend_lines) == 1 and dividend_lines[0].amount_fen == 50_001
    assert statement.dividends_fen == 50_001
    village_statement = await holder_statement(village)
    village_line = next(line for line in village_statement.lines if line.label == "分红")
    assert village_line.stays_with_collective and village_line.dividend_units == 300
    assert village_line.record_date == TODAY and village_line.amount_fen == 30_000


async def test_holdings_are_reconstructed_at_a_past_moment(db):
    batch, village = await village_batch(units=100)
    a = await make_holder()
    actor = await make_actor()
    await record_transfer(batch=batch, seller=village, buyer=a, quantity=40, price_fen=0, actor=actor)
    moment = datetime.now(UTC)
    await record_transfer(batch=batch, seller=village, buyer=a, quantity=20, price_fen=0, actor=actor)
    await register.retire_held_units(batch=batch, holder=a, quantity=5, purpose="x")
    assert await balances_before(batch, moment) == {village.id: 60, a.id: 40}
    assert await balances_before(batch, datetime.now(UTC) + timedelta(seconds=1)) == {village.id: 40, a.id: 55}
    assert await balances_before(batch, moment - timedelta(days=1)) == {}


async def test_a_record_date_before_issue_has_no_holders_and_is_refused(db):
    batch, _village = await village_batch(units=100)
    actor = await make_actor()
    before = await register_snapshot()
    with pytest.raises(NoHolders):
        await record_dividend(
            batch=batch, income_fen=100, record_date=TODAY - timedelta(days=1), source="x", actor=actor
        )
    assert await register_snapshot() == before


async def test_a_batch_with_every_unit_retired_has_no_holders(db):
    batch, village = await village_batch(units=10)
    await register.retire_held_units(batch=batch, holder=village, quantity=10, purpose="x")
    actor = await make_actor()
    before = await register_snapshot()
    with pytest.raises(NoHolders):
        await record_dividend(batch=batch, income_fen=100, record_date=TODAY, source="x", actor=actor)
    assert await register_snapshot() == before


async def test_other_refusals_write_nothing(db):
    batch, _village = await village_batch(units=10)
    state, _unit = await state_batch()
    actor = await make_actor()
    before = await register_snapshot()
    with pytest.raises(NonPositiveQuantity):
        await record_dividend(batch=batch, income_fen=0, record_date=TODAY, source="x", actor=actor)
    with pytest.raises(NonPositiveQuantity):
        await record_dividend(batch=batch, income_fen=1.5, record_date=TODAY, source="x", actor=actor)  # type: ignore[arg-type]
    with pytest.raises(InvalidState):
        await record_dividend(
            batch=batch, income_fen=100, record_date=TODAY + timedelta(days=1), source="x", actor=actor
        )
    with pytest.raises(WrongKind):
        await record_dividend(batch=state, income_fen=100, record_date=TODAY, source="x", actor=actor)
    with pytest.raises(NotPermitted):
        await record_dividend(
            batch=batch, income_fen=100, record_date=TODAY, source="x", actor=await make_actor(StaffRole.FINANCE)
        )
    assert await register_snapshot() == before


async def test_double_submission_of_a_dividend_records_it_once(db):
    batch, _village = await village_batch(units=10)
    actor = await make_actor()
    form = token()
    first = await record_dividend(
        batch=batch, income_fen=999, record_date=TODAY, source="x", actor=actor, form_token=form
    )
    snap = await register_snapshot()
    again = await record_dividend(
        batch=batch, income_fen=999, record_date=TODAY, source="x", actor=actor, form_token=form
    )
    assert again.id == first.id and await Dividend.all().count() == 1
    assert await register_snapshot() == snap


async def test_individual_holders_of_a_collective_batch(db):
    household = await make_holder("林业大户", kind=HolderKind.INDIVIDUAL)
    batch = await make_batch(units=3, holder=household)
    actor = await make_actor()
    dividend = await record_dividend(batch=batch, income_fen=10, record_date=TODAY, source="x", actor=actor)
    share = await DividendShare.get(dividend_id=dividend.id)
    assert share.amount_fen == 10 and not share.stays_with_collective
