"""The city clock at its edges: 23:59 and 00:01 in Yinchuan are 15:59 and 16:01 UTC of the day before.

Each date-sensitive rule runs on both sides of Beijing midnight, with the wall clock moved by ``time-machine``
(so the rows the ORM stamps move too), on the suite's database — SQLite, where a ``+08:00`` bound compared as
text against ``+00:00`` rows was eight hours off, and PostgreSQL.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from factories import make_batch, make_holder
from factories.trades import make_actor, village_batch
from kernel import clock
from registry import audit, quotas, register, stock
from registry.dividends import DividendShare, record_dividend
from registry.models import Order, OrderStatus, TicketKind
from registry.register_view import EntryFilter, find_entries
from registry.trades import record_transfer

EVE = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # 23:59 on 30 November in Yinchuan
AFTER = datetime(2026, 11, 30, 16, 1, tzinfo=UTC)  # 00:01 on 1 December in Yinchuan
NOV_30, DEC_1 = date(2026, 11, 30), date(2026, 12, 1)


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


# --- the clock itself -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "day"), [(EVE, NOV_30), (AFTER, DEC_1)])
def test_today_is_the_beijing_date(moment, day):
    with clock.use(clock.FixedClock(moment)):
        assert clock.today() == day
        assert clock.now() == moment and clock.now().tzinfo is UTC
        assert clock.local_now().utcoffset() == timedelta(hours=8)


def test_local_day_bounds_are_utc_instants():
    start, end = clock.day_start(DEC_1), clock.day_end(DEC_1)
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC) and start.tzinfo is UTC
    assert end == datetime(2026, 12, 1, 16, 0, tzinfo=UTC) and end.tzinfo is UTC
    assert start <= AFTER < end and not start <= EVE < end
    assert clock.week_start(date(2026, 12, 6)) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # Monday 30 November


def test_a_fixed_clock_moves_only_when_told_and_refuses_naive_times():
    fixed = clock.FixedClock(EVE)
    with clock.use(fixed):
        fixed.advance(timedelta(minutes=2))
        assert clock.today() == DEC_1
        fixed.set(EVE)
        assert clock.today() == NOV_30
    assert clock.now() != EVE  # the system clock is back
    with pytest.raises(ValueError):
        clock.FixedClock(datetime(2026, 11, 30, 23, 59))


def test_the_system_clock_follows_the_machine_clock():
    with at(AFTER):
        assert clock.now() == AFTER and clock.today() == DEC_1
    with at(EVE):
        assert clock.today() == NOV_30


# --- rules that read the date -----------------------------------------------------------------------------------


async def test_register_and_audit_filters_find_entries_on_their_beijing_date(db):
    actor = await make_actor()
    with at(EVE):
        late = await make_batch(TicketKind.CARBON, units=10)
        await audit.record(actor, "test.eve")
    with at(AFTER):
        early = await make_batch(TicketKind.CARBON, units=10)
        await audit.record(actor, "test.after")
        assert {r.batch for r in await find_entries(EntryFilter(date_from=clock.today()))} == {early.serial_prefix}
        assert await audit.search(action="test.", date_from=clock.today()).values_list("action", flat=True) == [
            "test.after"
        ]
    on_30 = await find_entries(EntryFilter(date_from=NOV_30, date_to=NOV_30))
    on_1 = await find_entries(EntryFilter(date_from=DEC_1, date_to=DEC_1))
    assert [r.batch for r in on_30] == [late.serial_prefix] and [r.batch for r in on_1] == [early.serial_prefix]
    assert await audit.search(action="test.", date_to=NOV_30).values_list("action", flat=True) == ["test.eve"]


async def test_sales_today_start_at_beijing_midnight(db):
    with at(EVE - timedelta(hours=1)):
        quota = await quotas.open_quota(units=1000)
    pool, buyer = await quotas.pool_holder(), await make_holder("买家")
    for moment, units in ((EVE, 40), (AFTER, 60)):
        with at(moment):
            await register.retire_held_units(
                batch=quota, holder=pool, quantity=units, purpose="p", beneficiary=buyer, price_fen=units * 100
            )
    today, week = await stock.quota_sales_today_and_week(quota, AFTER)
    assert (today.units, today.amount_fen) == (60, 6000)
    assert week.units == 100  # 1 December 2026 is a Tuesday: Monday 30 November is in the same week


async def test_revenue_is_counted_on_the_beijing_day_of_payment(db):
    quota = await make_batch(TicketKind.CARBON, units=100)
    for paid_at, quantity in ((EVE, 3), (AFTER, 5)):
        await Order.create(
            token=secrets.token_hex(8),
            batch=quota,
            quantity=quantity,
            amount_fen=quantity * 100,
            purpose="travel",
            certificate_name="x",
            status=OrderStatus.FULFILLED,
            expires_at=paid_at,
            paid_at=paid_at,
        )
    rows = {row.day: row.units for row in await stock.revenue_by_day(AFTER, days=2)}
    assert rows == {"2026-11-30": 3, "2026-12-01": 5}
    assert [row.day for row in await stock.revenue_by_day(AFTER, days=1)] == ["2026-12-01"]


async def test_a_dividend_on_yesterdays_record_date_ignores_units_moved_today(db):
    actor = await make_actor()
    with at(EVE - timedelta(hours=1)):
        batch, village = await village_batch(units=100)
    early, late = await make_holder("早"), await make_holder("晚")
    with at(EVE):
        await record_transfer(batch=batch, seller=village, buyer=early, quantity=30, price_fen=0, actor=actor)
    with at(AFTER):
        await record_transfer(batch=batch, seller=village, buyer=late, quantity=50, price_fen=0, actor=actor)
        dividend = await record_dividend(batch=batch, income_fen=1000, record_date=NOV_30, source="s", actor=actor)
    shares = {s.holder_id: s.amount_fen for s in await DividendShare.filter(dividend_id=dividend.id)}
    assert shares == {village.id: 700, early.id: 300}


async def test_a_quota_sells_through_its_last_beijing_day(db):
    with at(EVE - timedelta(hours=1)):
        quota = await quotas.open_quota(units=10, valid_until=NOV_30)
    with at(EVE):
        assert (await quotas.current_quota()).id == quota.id
    with at(AFTER):
        assert await quotas.current_quota() is None


async def test_a_batch_issued_at_half_past_midnight_on_new_years_day_belongs_to_the_new_year(db):
    with at(datetime(2026, 12, 31, 16, 29, tzinfo=UTC)):  # 00:29 on 1 January 2027 in Yinchuan
        quota = await quotas.open_quota(units=10)
    with at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)):  # 23:59 on 31 December 2026
        older = await quotas.open_quota(units=10)
    assert "-2027-" in quota.serial_prefix and "-2026-" in older.serial_prefix


def test_times_print_in_beijing_time():
    from certificates.service import _date_text
    from kernel.templating import _format_datetime

    assert _format_datetime(AFTER) == "2026-12-01 00:01" and _format_datetime(EVE) == "2026-11-30 23:59"
    assert _date_text(AFTER) == "2026-12-01"
