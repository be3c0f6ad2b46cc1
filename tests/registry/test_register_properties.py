"""Random sequences of every register operation keep the register whole.

After each step: every batch's ranges partition 1..N exactly (no unit lost, none counted twice), each holder's
totals equal the sum of its ranges, the register's counters (registry.counters: units by state, for all holders
and for the batch's issuer, and sales by purpose and day) equal a full recount, and the hash chain verifies.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from tortoise import Tortoise

from factories import make_batch, make_holder
from kernel import clock
from linpiao.db import tortoise_config
from registry import audit, blocks, chain, counters, register
from registry.chain import verify_chain
from registry.dividends import Dividend, DividendShare, record_dividend
from registry.errors import RegisterError
from registry.models import (
    Batch,
    Holder,
    HolderKind,
    Holding,
    HoldingState,
    Order,
    OrderStatus,
    StaffRole,
    StaffUser,
    StockBlock,
    TicketKind,
)
from registry.ownership import balances_before
from registry.trades import FilingAuthority, Trade, TradeStatus, record_filing, record_subscription
from tests import conftest, schema

HOLDERS = 4


class RegisterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        url = conftest.PG_URL or f"sqlite://{Path(self.tmp.name) / 'prop.db'}"
        if not conftest.is_postgres():
            schema.SQLITE.copy_to(Path(self.tmp.name) / "prop.db")
        self.run(Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True))
        if conftest.is_postgres():
            self.run(schema.POSTGRES.reset())
        self.orders: list[int] = []
        self.refusals = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(Tortoise.close_connections())
        self.loop.close()
        self.tmp.cleanup()

    async def _attempt(self, coro) -> None:  # type: ignore[no-untyped-def]
        try:
            await coro
        except RegisterError:
            self.refusals += 1

    @initialize()
    def setup(self) -> None:
        async def create() -> None:
            self.holders = [await make_holder(f"h{i}") for i in range(HOLDERS)]
            self.batches = [
                await make_batch(TicketKind.COLLECTIVE, units=120, holder=self.holders[0]),
                await make_batch(TicketKind.CARBON, units=300, holder=self.holders[1]),
            ]
            async with chain.register_transaction(whole=True):  # sold in three blocks of 100 (registry.blocks)
                await blocks.cut_blocks(self.batches[1])
            self.enterprise = await make_holder("coop", kind=HolderKind.ENTERPRISE)
            staff = await StaffUser.create(
                username="issuer", password_hash="-", role=StaffRole.ISSUER, district_code="640104"
            )
            self.actor = audit.Actor(staff)

        self.run(create())

    @rule(
        b=st.integers(0, 1),
        src=st.integers(0, HOLDERS - 1),
        dst=st.integers(0, HOLDERS - 1),
        q=st.integers(-2, 130),
    )
    def transfer(self, b: int, src: int, dst: int, q: int) -> None:
        self.run(
            self._attempt(
                register.transfer_units(
                    batch=self.batches[b],
                    from_holder=self.holders[src],
                    to_holder=self.holders[dst],
                    quantity=q,
                    price_fen=q * 100 if q > 0 else None,
                )
            )
        )

    @rule(
        b=st.integers(0, 1),
        src=st.integers(0, HOLDERS - 1),
        dst=st.integers(0, HOLDERS - 1),
        first=st.integers(1, 120),
        length=st.integers(1, 30),
    )
    def transfer_serials(self, b: int, src: int, dst: int, first: int, length: int) -> None:
        self.run(
            self._attempt(
                register.transfer_units(
                    batch=self.batches[b],
                    from_holder=self.holders[src],
                    to_holder=self.holders[dst],
                    quantity=length,
                    serials=(first, first + length - 1),
                )
            )
        )

    @rule(b=st.integers(0, 1), src=st.integers(0, HOLDERS - 1), q=st.integers(1, 40), stale=st.booleans())
    def reserve(self, b: int, src: int, q: int, stale: bool) -> None:
        async def go() -> None:
            batch = self.batches[b]
            expires = datetime.now(UTC) + timedelta(minutes=-1 if stale else 30)
            order = await Order.create(
                token=f"t{len(self.orders)}-{b}-{src}",
                batch=batch,
                quantity=q,
                amount_fen=q * 100,
                purpose="travel",
                certificate_name="x",
                expires_at=expires,
            )
            self.orders.append(order.id)
            await self._attempt(
                register.reserve_units(
                    batch=batch,
                    holder=self.holders[src],
                    quantity=q,
                    order=order,
                    expires_at=expires,
                )
            )

        self.run(go())

    @rule(q=st.integers(1, 120), stale=st.booleans())
    def reserve_in_block(self, q: int, stale: bool) -> None:
        """As the shop does: claim a block of the carbon batch with ``q`` left, reserve there, remember it."""

        async def go() -> None:
            batch = self.batches[1]
            expires = datetime.now(UTC) + timedelta(minutes=-1 if stale else 30)
            try:
                async with chain.tracked_transaction():
                    span = await chain.claim_block(batch.id, q)
                    if span is None:
                        raise chain.WiderLockNeeded()
                    order = await Order.create(
                        token=f"t{len(self.orders)}-block",
                        batch=batch,
                        block_id=span.id,
                        quantity=q,
                        amount_fen=q * 100,
                        purpose="travel",
                        certificate_name="x",
                        expires_at=expires,
                    )
                    await register.reserve_units(
                        batch=batch, holder=self.holders[1], quantity=q, order=order, expires_at=expires
                    )
            except (chain.WiderLockNeeded, RegisterError):  # no block has q left; the quota was withdrawn (closed)
                self.refusals += 1
                return
            self.orders.append(order.id)

        self.run(go())

    @rule(i=st.integers(0, 50), retire=st.booleans(), buyer=st.integers(0, HOLDERS - 1))
    def settle(self, i: int, retire: bool, buyer: int) -> None:
        if not self.orders:
            return

        async def go() -> None:
            order = await Order.get(id=self.orders[i % len(self.orders)])

            async def work() -> None:  # under the order's block when it has one, as the shop settles it
                if retire:
                    await self._attempt(register.retire_units(order=order, buyer=self.holders[buyer], purpose="test"))
                else:
                    await register.release_units(order=order)

            await chain.stock_transaction(order.batch_id, order.block_id, work)

        self.run(go())

    @rule()
    def expire(self) -> None:
        self.run(register.expire_reservations())

    @rule(
        b=st.integers(0, 1),
        src=st.integers(0, HOLDERS - 1),
        to=st.integers(-1, HOLDERS - 1),
        q=st.integers(-1, 50),
        why=st.sampled_from(["", "compensation_case", "green_land_offset", "order"]),
    )
    def retire_held(self, b: int, src: int, to: int, q: int, why: str) -> None:
        async def go() -> None:
            details: dict[str, object] = {}
            if why == "order" and self.orders:
                details["order"] = self.orders[-1]  # counted under that order's purpose
            elif why:
                details[why] = f"{why}-1"
            await self._attempt(
                register.retire_held_units(
                    batch=self.batches[b],
                    holder=self.holders[src],
                    quantity=q,
                    purpose="p",
                    beneficiary=self.holders[to] if to >= 0 else None,
                    price_fen=q * 100 if q > 0 else None,
                    details=details,
                )
            )

        self.run(go())

    @rule(b=st.integers(0, 1), src=st.integers(0, HOLDERS - 1), late=st.booleans())
    def withdraw(self, b: int, src: int, late: bool) -> None:
        if not late:  # withdrawing closes the batch: keep it to the end of some runs only
            return
        self.run(self._attempt(register.withdraw_units(batch=self.batches[b], holder=self.holders[src])))

    @rule(
        deceased=st.integers(0, HOLDERS - 1),
        a=st.integers(0, HOLDERS - 1),
        b=st.integers(0, HOLDERS - 1),
        num=st.integers(0, 6),
    )
    def inherit(self, deceased: int, a: int, b: int, num: int) -> None:
        if self.holders[deceased].deceased_on is not None:
            return
        heirs = [
            register.Heir(self.holders[a], Fraction(num, 6)),
            register.Heir(self.holders[b], Fraction(6 - num, 6)),
        ]
        self.run(
            self._attempt(
                register.inherit_units(
                    deceased=self.holders[deceased],
                    heirs=heirs,
                    died_on=date(2026, 1, 1),
                )
            )
        )

    @rule(
        num=st.integers(0, 12),
        den=st.sampled_from([4, 7, 10, 12]),
        named=st.booleans(),
        src=st.integers(0, HOLDERS - 1),
        price=st.integers(0, 10**6),
    )
    def subscribe(self, num: int, den: int, named: bool, src: int, price: int) -> None:
        self.run(
            self._attempt(
                record_subscription(
                    batch=self.batches[0],
                    subscriber=self.enterprise,
                    share=Fraction(num, den),
                    price_fen=price,
                    operating_form="equity",
                    from_holder=self.holders[src] if named else None,
                    actor=self.actor,
                )
            )
        )

    @rule(i=st.integers(0, 20))
    def file_trade(self, i: int) -> None:
        async def go() -> None:
            pending = await Trade.filter(status=TradeStatus.PENDING_FILING).order_by("id")
            if not pending:
                return
            trade = pending[i % len(pending)]
            for authority in FilingAuthority:
                await record_filing(
                    trade=trade,
                    authority=authority,
                    filed_on=clock.local_date(trade.created_at),
                    reference=f"{authority}-{trade.id}",
                    actor=self.actor,
                )

        self.run(go())

    @rule(income=st.integers(-1, 10**7))
    def dividend(self, income: int) -> None:
        self.run(
            self._attempt(
                record_dividend(
                    batch=self.batches[0],
                    income_fen=income,
                    record_date=clock.today(),
                    source="operating income",
                    actor=self.actor,
                )
            )
        )

    @invariant()
    def dividends_add_up_to_the_income(self) -> None:
        async def check() -> None:
            for dividend in await Dividend.all():
                shares = await DividendShare.filter(dividend_id=dividend.id)
                assert sum(s.amount_fen for s in shares) == dividend.income_fen
                units = sum(s.units for s in shares)
                for s in shares:
                    assert abs(s.amount_fen - Fraction(dividend.income_fen * s.units, units)) < 1

        self.run(check())

    @invariant()
    def balances_rebuilt_from_the_entries_match_the_holdings(self) -> None:
        if not hasattr(self, "batches"):
            return

        async def check() -> None:
            later = datetime.now(UTC) + timedelta(seconds=1)
            for batch in await Batch.all():
                owned: dict[int, int] = defaultdict(int)
                for h in await Holding.filter(batch_id=batch.id).exclude(state=HoldingState.RETIRED):
                    owned[h.holder_id] += h.last_no - h.first_no + 1
                assert await balances_before(batch, later) == dict(owned), batch.serial_prefix

        self.run(check())

    @invariant()
    def ranges_partition_every_batch(self) -> None:
        if not hasattr(self, "batches"):
            return

        async def check() -> None:
            for batch in await Batch.all():
                ranges = sorted((h.first_no, h.last_no) for h in await Holding.filter(batch_id=batch.id))
                expected_next = 1
                for first, last in ranges:
                    assert first == expected_next, (batch.serial_prefix, ranges)
                    assert last >= first
                    expected_next = last + 1
                assert expected_next == batch.total_units + 1, (batch.serial_prefix, ranges)

        self.run(check())

    @invariant()
    def holder_totals_match_their_ranges(self) -> None:
        if not hasattr(self, "batches"):
            return

        async def check() -> None:
            sums: dict[tuple[int, str], int] = defaultdict(int)
            for h in await Holding.all():
                sums[(h.holder_id, str(h.state))] += h.last_no - h.first_no + 1
            for holder in await Holder.all():
                for state in HoldingState:
                    assert await register.holder_total(holder, state=state) == sums[(holder.id, str(state))]
            # reserved units belong to live orders, never to settled ones
            for h in await Holding.filter(state=HoldingState.RESERVED):
                order = await Order.get(id=h.order_id)
                assert order.status in (OrderStatus.PENDING, OrderStatus.PAID)

        self.run(check())

    @invariant()
    def counters_equal_a_full_recount(self) -> None:
        if not hasattr(self, "batches"):
            return
        stored, counted = self.run(counters.stored()), self.run(counters.recount())
        assert stored.stock == counted.stock
        assert stored.sales == counted.sales
        for batch_id, (_issuer, held, reserved, retired, *_mine) in stored.stock.items():
            total = next(b.total_units for b in self.batches if b.id == batch_id)
            assert held + reserved + retired == total

    @invariant()
    def live_ranges_stay_inside_one_block(self) -> None:
        if not hasattr(self, "batches"):
            return

        async def check() -> None:
            cut = [(b.first_no, b.last_no) for b in await StockBlock.filter(batch_id=self.batches[1].id)]
            assert len(cut) == 3
            live = Holding.filter(batch_id=self.batches[1].id, state__in=[HoldingState.HELD, HoldingState.RESERVED])
            for h in await live:
                assert any(lo <= h.first_no and h.last_no <= hi for lo, hi in cut), (h.first_no, h.last_no)

        self.run(check())

    @invariant()
    def chain_verifies(self) -> None:
        assert self.run(verify_chain()).ok


def test_random_register_operations_keep_it_whole() -> None:
    run_state_machine_as_test(
        RegisterMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
