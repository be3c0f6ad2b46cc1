"""Trades of collective tickets: transfer with filings, subscription, inheritance — and every refusal."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from factories import make_batch, make_holder
from factories.trades import make_actor, register_snapshot, state_batch, token, village_batch
from kernel import clock
from registry import register
from registry.chain import verify_chain
from registry.errors import (
    DeathBeforeAcquisition,
    HolderDeceased,
    HolderOutsideCity,
    InsufficientUnits,
    InvalidShares,
    InvalidState,
    NonPositiveQuantity,
    ResidenceNotConfirmed,
    RetiredUnits,
    WrongKind,
)
from registry.idempotency import InvalidFormToken
from registry.models import AuditLog, EntryKind, HolderKind, Order, RegisterEntry, StaffRole, TicketKind
from registry.trades import (
    DocumentKind,
    DocumentsMissing,
    FilingAuthority,
    FilingStatus,
    InheritanceCase,
    InvalidFiling,
    NotEligibleSubscriber,
    NotPermitted,
    OperatingForm,
    ShareNotWhole,
    SupportingDocument,
    Trade,
    TradeFiling,
    TradeKind,
    TradeLeg,
    TradeStatus,
    UnitsNotYetEffective,
    parse_share,
    record_filing,
    record_inheritance,
    record_subscription,
    record_transfer,
    tradable_units,
)

TODAY = clock.today()


async def _file_all(trade: Trade, actor, on: date = TODAY) -> None:  # type: ignore[no-untyped-def]
    for i, authority in enumerate(FilingAuthority):
        await record_filing(trade=trade, authority=authority, filed_on=on, reference=f"备{i}号", actor=actor)


# ---------------------------------------------------------------------------------------------------------
# Transfer and filings
# ---------------------------------------------------------------------------------------------------------


async def test_transfer_moves_units_at_once_and_waits_for_three_filings(db):
    batch, village = await village_batch()
    buyer = await make_holder("李四")
    actor = await make_actor()
    trade = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=120, price_fen=360_000, actor=actor, note="协议转让"
    )
    assert trade.kind is TradeKind.TRANSFER and trade.status is TradeStatus.PENDING_FILING
    assert not trade.is_effective and trade.effective_on is None
    assert await register.holder_total(buyer, batch=batch) == 120
    assert await register.holder_total(village, batch=batch) == 880
    leg = await TradeLeg.get(trade_id=trade.id).prefetch_related("entry")
    assert leg.entry.kind is EntryKind.TRANSFER and leg.entry.price_fen == 360_000
    assert leg.entry.details == {"trade": trade.id} and leg.entry.ranges == [[1, 120]]
    filings = await TradeFiling.filter(trade_id=trade.id).order_by("id")
    assert [f.authority for f in filings] == list(FilingAuthority)
    assert all(f.status is FilingStatus.PENDING for f in filings)
    log = await AuditLog.get(action="trade.transfer")
    assert log.target == f"trade:{trade.id}" and log.username == actor.username
    assert (await verify_chain()).ok


async def test_trade_becomes_effective_on_the_date_of_the_last_filing(db):
    batch, village = await village_batch()
    buyer = await make_holder()
    actor = await make_actor()
    trade = await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=10, price_fen=1, actor=actor)
    await record_filing(
        trade=trade, authority=FilingAuthority.VILLAGE_COMMITTEE, filed_on=TODAY, reference="村备1", actor=actor
    )
    forestry = await make_actor(StaffRole.FORESTRY)
    await record_filing(trade=trade, authority="city_forestry", filed_on=TODAY, reference="市林备7", actor=forestry)
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.PENDING_FILING  # two of three filed: not yet effective
    await record_filing(
        trade=trade, authority=FilingAuthority.DISTRICT_GOVERNMENT, filed_on=TODAY, reference="区备3", actor=actor
    )
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.EFFECTIVE and trade.effective_on == TODAY
    district = await TradeFiling.get(trade_id=trade.id, authority=FilingAuthority.DISTRICT_GOVERNMENT)
    assert district.reference == "区备3" and district.filed_on == TODAY and district.recorded_by == actor.label


async def test_filing_refusals_and_a_repeated_filing(db):
    batch, village = await village_batch()
    actor = await make_actor()
    trade = await record_transfer(
        batch=batch, seller=village, buyer=await make_holder(), quantity=5, price_fen=0, actor=actor
    )
    village_filing = FilingAuthority.VILLAGE_COMMITTEE
    with pytest.raises(InvalidFiling):  # before the trade was recorded
        await record_filing(
            trade=trade, authority=village_filing, filed_on=TODAY - timedelta(days=1), reference="x", actor=actor
        )
    with pytest.raises(InvalidFiling):  # in the future
        await record_filing(
            trade=trade, authority=village_filing, filed_on=TODAY + timedelta(days=1), reference="x", actor=actor
        )
    with pytest.raises(InvalidFiling):  # no reference
        await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="  ", actor=actor)
    forestry = await make_actor(StaffRole.FORESTRY)
    with pytest.raises(NotPermitted):  # forestry records only its own filing
        await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="x", actor=forestry)
    other_district = await make_actor(StaffRole.ISSUER, district="640105")
    with pytest.raises(NotPermitted):
        await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="x", actor=other_district)
    first = await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="村备1", actor=actor)
    again = await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="村备1", actor=actor)
    assert again.id == first.id
    assert await AuditLog.filter(action="trade.filing").count() == 1
    with pytest.raises(InvalidState):
        await record_filing(trade=trade, authority=village_filing, filed_on=TODAY, reference="村备2", actor=actor)


async def test_units_bought_in_a_trade_not_yet_effective_cannot_be_traded_on(db):
    batch, village = await village_batch()
    buyer, third = await make_holder(), await make_holder()
    actor = await make_actor()
    trade = await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=50, price_fen=100, actor=actor)
    assert await tradable_units(batch, buyer) == 0
    before = await register_snapshot()
    with pytest.raises(UnitsNotYetEffective):
        await record_transfer(batch=batch, seller=buyer, buyer=third, quantity=10, price_fen=100, actor=actor)
    with pytest.raises(UnitsNotYetEffective):
        await record_transfer(
            batch=batch, seller=buyer, buyer=third, quantity=10, price_fen=100, actor=actor, serials=(1, 10)
        )
    assert await register_snapshot() == before
    await _file_all(trade, actor)
    assert await tradable_units(batch, buyer) == 50
    onward = await record_transfer(batch=batch, seller=buyer, buyer=third, quantity=10, price_fen=100, actor=actor)
    assert await register.holder_total(third, batch=batch) == 10 and onward.status is TradeStatus.PENDING_FILING


async def test_refused_transfers_leave_the_register_unchanged(db):
    batch, village = await village_batch(units=100)
    buyer = await make_holder()
    outsider = await make_holder("外地人", region="110101")
    actor = await make_actor()
    state, unit = await state_batch()
    await register.retire_held_units(batch=batch, holder=village, quantity=10, purpose="test")  # serials 1–10
    order = await Order.create(
        token="order-token-1",
        batch=batch,
        quantity=5,
        amount_fen=0,
        purpose="x",
        certificate_name="x",
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    await register.reserve_units(
        batch=batch, holder=village, quantity=5, order=order, expires_at=order.expires_at
    )  # serials 11–15
    before = await register_snapshot()
    attempts = [
        (InsufficientUnits, {"quantity": 86}),  # 85 held
        (HolderOutsideCity, {"buyer": outsider}),
        (RetiredUnits, {"quantity": 3, "serials": (8, 10)}),
        (InvalidState, {"quantity": 3, "serials": (12, 14)}),  # reserved
        (NonPositiveQuantity, {"quantity": 0}),
        (NonPositiveQuantity, {"price_fen": -1}),
        (InvalidState, {"buyer": village}),  # to itself
        (InvalidFormToken, {"form_token": "short"}),
    ]
    for error, changes in attempts:
        kwargs = {"batch": batch, "seller": village, "buyer": buyer, "quantity": 5, "price_fen": 500, "actor": actor}
        with pytest.raises(error):
            await record_transfer(**{**kwargs, **changes})
        assert await register_snapshot() == before, error
    with pytest.raises(NotPermitted):  # state tickets are not the district issuer's to record
        await record_transfer(batch=state, seller=unit, buyer=buyer, quantity=1, price_fen=1, actor=actor)
    for wrong in (await make_actor(StaffRole.ISSUER, "640105"), await make_actor(StaffRole.LANDSCAPING)):
        with pytest.raises(NotPermitted):
            await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=1, price_fen=1, actor=wrong)
    assert await register_snapshot() == before


async def test_deceased_seller_is_refused(db):
    batch, village = await village_batch(units=100)
    seller = await make_holder()
    actor = await make_actor()
    t = await record_transfer(batch=batch, seller=village, buyer=seller, quantity=10, price_fen=1, actor=actor)
    await _file_all(t, actor)
    seller.deceased_on = TODAY
    await seller.save()
    before = await register_snapshot()
    with pytest.raises(HolderDeceased):
        await record_transfer(batch=batch, seller=seller, buyer=village, quantity=1, price_fen=1, actor=actor)
    assert await register_snapshot() == before


async def test_double_submission_of_a_transfer_form_records_it_once(db):
    batch, village = await village_batch()
    buyer = await make_holder()
    actor = await make_actor()
    form = token()
    first = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=7, price_fen=700, actor=actor, form_token=form
    )
    after_first = await register_snapshot()
    second = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=7, price_fen=700, actor=actor, form_token=form
    )
    assert second.id == first.id
    assert await register_snapshot() == after_first
    assert await register.holder_total(buyer, batch=batch) == 7
    with pytest.raises(InvalidFormToken):  # the same token on another form
        await record_subscription(
            batch=batch,
            subscriber=await make_holder(kind=HolderKind.ENTERPRISE),
            share=Fraction(1, 10),
            price_fen=1,
            operating_form=OperatingForm.EQUITY,
            actor=actor,
            form_token=form,
        )


async def test_a_refused_submission_leaves_its_token_free_for_the_corrected_form(db):
    batch, village = await village_batch(units=100)
    buyer = await make_holder()
    actor = await make_actor()
    form = token()
    with pytest.raises(InsufficientUnits):
        await record_transfer(
            batch=batch, seller=village, buyer=buyer, quantity=500, price_fen=1, actor=actor, form_token=form
        )
    trade = await record_transfer(
        batch=batch, seller=village, buyer=buyer, quantity=50, price_fen=1, actor=actor, form_token=form
    )
    assert trade.quantity == 50


# ---------------------------------------------------------------------------------------------------------
# Subscription
# ---------------------------------------------------------------------------------------------------------


async def test_subscription_takes_a_share_from_all_holders_pro_rata(db):
    batch, village = await village_batch(units=1000)
    a, b = await make_holder("王一"), await make_holder("王二")
    actor = await make_actor()
    for holder, q in ((a, 200), (b, 100)):
        t = await record_transfer(batch=batch, seller=village, buyer=holder, quantity=q, price_fen=0, actor=actor)
        await _file_all(t, actor)
    coop = await make_holder("绿源林业合作社", kind=HolderKind.ENTERPRISE)
    trade = await record_subscription(
        batch=batch,
        subscriber=coop,
        share=Fraction(3, 10),
        price_fen=1_000_001,
        operating_form="equity",
        term_years=20,
        agreement_ref="认购协议2026-01",
        actor=actor,
    )
    assert trade.kind is TradeKind.SUBSCRIPTION and trade.quantity == 300 and trade.share == "3/10"
    assert trade.share_fraction == Fraction(3, 10) and trade.operating_form is OperatingForm.EQUITY
    assert trade.term_years == 20 and trade.agreement_ref == "认购协议2026-01"
    assert trade.seller_id is None and trade.status is TradeStatus.PENDING_FILING
    legs = await TradeLeg.filter(trade_id=trade.id).prefetch_related("entry")
    assert {leg.seller_id: leg.quantity for leg in legs} == {village.id: 210, a.id: 60, b.id: 30}
    assert sum(leg.price_fen for leg in legs) == 1_000_001
    assert {leg.seller_id: leg.price_fen for leg in legs}[village.id] == 700_001
    assert all(leg.entry.kind is EntryKind.SUBSCRIPTION for leg in legs)
    assert all(leg.entry.details["operating_form"] == "equity" for leg in legs)
    assert await register.holder_total(coop, batch=batch) == 300
    assert await register.holder_total(village, batch=batch) == 490
    assert await TradeFiling.filter(trade_id=trade.id).count() == 3


async def test_subscription_from_one_named_holder(db):
    batch, village = await village_batch(units=1000)
    coop = await make_holder(kind=HolderKind.ENTERPRISE)
    actor = await make_actor()
    trade = await record_subscription(
        batch=batch,
        subscriber=coop,
        share=parse_share("12.5%"),
        price_fen=50_000,
        operating_form=OperatingForm.COOPERATION,
        from_holder=village,
        actor=actor,
    )
    assert trade.quantity == 125 and trade.seller_id == village.id
    leg = await TradeLeg.get(trade_id=trade.id)
    assert leg.quantity == 125 and leg.price_fen == 50_000


async def test_refused_subscriptions_leave_the_register_unchanged(db):
    batch, village = await village_batch(units=1000)
    coop = await make_holder(kind=HolderKind.ENTERPRISE)
    outside_coop = await make_holder(kind=HolderKind.ENTERPRISE, region="110105")
    person = await make_holder()
    actor = await make_actor()
    await register.retire_held_units(batch=batch, holder=village, quantity=1, purpose="x")
    before = await register_snapshot()
    attempts = [
        (ShareNotWhole, {"share": Fraction(1, 3)}),
        (InvalidShares, {"share": Fraction(0)}),
        (InvalidShares, {"share": Fraction(11, 10)}),
        (InsufficientUnits, {"share": Fraction(1)}),  # one unit is retired
        (InsufficientUnits, {"share": Fraction(1), "from_holder": village}),
        (NotEligibleSubscriber, {"subscriber": person}),
        (HolderOutsideCity, {"subscriber": outside_coop}),
        (InvalidState, {"subscriber": coop, "from_holder": coop}),
        (NonPositiveQuantity, {"price_fen": -5}),
        (ValueError, {"operating_form": "lease"}),
    ]
    for error, changes in attempts:
        kwargs = {
            "batch": batch,
            "subscriber": coop,
            "share": Fraction(1, 10),
            "price_fen": 100,
            "operating_form": "equity",
            "actor": actor,
        }
        with pytest.raises(error):
            await record_subscription(**{**kwargs, **changes})
        assert await register_snapshot() == before, error


async def test_double_submission_of_a_subscription_records_it_once(db):
    batch, _village = await village_batch(units=100)
    coop = await make_holder(kind=HolderKind.ENTERPRISE)
    actor = await make_actor()
    form = token()
    kwargs = {
        "batch": batch,
        "subscriber": coop,
        "share": Fraction(1, 4),
        "price_fen": 2_500,
        "operating_form": "cooperation",
        "actor": actor,
        "form_token": form,
    }
    first = await record_subscription(**kwargs)
    snap = await register_snapshot()
    assert (await record_subscription(**kwargs)).id == first.id
    assert await register_snapshot() == snap
    assert await register.holder_total(coop, batch=batch) == 25


def test_parse_share():
    assert parse_share("30") == Fraction(3, 10)
    assert parse_share(" 12.5 % ") == Fraction(1, 8)
    assert parse_share("3/10") == Fraction(3, 10)
    with pytest.raises(InvalidShares):
        parse_share("abc")
    with pytest.raises(InvalidShares):
        parse_share("1/0")


# ---------------------------------------------------------------------------------------------------------
# Inheritance
# ---------------------------------------------------------------------------------------------------------

DOCS = [
    SupportingDocument(DocumentKind.DEATH_CERTIFICATE, "死亡证明 No.640121-2026-001"),
    SupportingDocument(DocumentKind.NOTARIAL_CERTIFICATE, "(2026)宁银证字第123号"),
]


async def test_inheritance_passes_units_to_heirs_with_documents(db):
    batch, village = await village_batch(units=100)
    father = await make_holder("张老汉")
    son, daughter = await make_holder("张大"), await make_holder("张二")
    actor = await make_actor()
    t = await record_transfer(batch=batch, seller=village, buyer=father, quantity=31, price_fen=0, actor=actor)
    await _file_all(t, actor)
    case = await record_inheritance(
        deceased=father,
        heirs=[register.Heir(son, Fraction(1, 2)), register.Heir(daughter, Fraction(1, 2))],
        died_on=TODAY,
        documents=DOCS,
        actor=actor,
        form_token=token(),
    )
    assert await register.holder_total(son, batch=batch) == 16  # 15.5 each; the tie goes to the first heir
    assert await register.holder_total(daughter, batch=batch) == 15
    assert await register.holder_total(father, batch=batch) == 0
    assert case.documents[1] == {"kind": "notarial_certificate", "reference": "(2026)宁银证字第123号"}
    entry = await RegisterEntry.get(id=case.entry_ids[0])
    assert (
        entry.kind is EntryKind.INHERITANCE
        and "death_certificate:死亡证明 No.640121-2026-001" in (entry.details["documents"])
    )
    await father.refresh_from_db()
    assert father.deceased_on == TODAY
    assert await AuditLog.filter(action="trade.inheritance").count() == 1


async def test_refused_inheritance_leaves_the_register_unchanged(db):
    batch, village = await village_batch(units=100)
    father = await make_holder()
    son, daughter = await make_holder(), await make_holder()
    actor = await make_actor()
    t = await record_transfer(batch=batch, seller=village, buyer=father, quantity=30, price_fen=0, actor=actor)
    await _file_all(t, actor)
    before = await register_snapshot()
    with pytest.raises(InvalidShares):  # 1/2 + 1/3 is not 100 %
        await record_inheritance(
            deceased=father,
            heirs=[register.Heir(son, Fraction(1, 2)), register.Heir(daughter, Fraction(1, 3))],
            died_on=TODAY,
            documents=DOCS,
            actor=actor,
        )
    with pytest.raises(DocumentsMissing):
        await record_inheritance(
            deceased=father,
            heirs=[register.Heir(son, Fraction(1))],
            died_on=TODAY,
            documents=DOCS[:1],
            actor=actor,
        )
    with pytest.raises(NotPermitted):
        await record_inheritance(
            deceased=father,
            heirs=[register.Heir(son, Fraction(1))],
            died_on=TODAY,
            documents=DOCS,
            actor=await make_actor(StaffRole.ISSUER, "640122"),
        )
    assert await register_snapshot() == before


async def test_double_submission_of_an_inheritance_records_it_once(db):
    batch, village = await village_batch(units=100)
    father, son = await make_holder(), await make_holder()
    actor = await make_actor()
    t = await record_transfer(batch=batch, seller=village, buyer=father, quantity=30, price_fen=0, actor=actor)
    await _file_all(t, actor)
    form = token()
    kwargs = {
        "deceased": father,
        "heirs": [register.Heir(son, Fraction(1))],
        "died_on": TODAY,
        "documents": DOCS,
        "actor": actor,
        "form_token": form,
    }
    first = await record_inheritance(**kwargs)
    snap = await register_snapshot()
    assert (await record_inheritance(**kwargs)).id == first.id
    assert await register_snapshot() == snap
    assert await InheritanceCase.all().count() == 1


async def test_a_death_date_before_the_deceaseds_own_later_acquisition_is_refused(db):
    batch, village = await village_batch(units=100)
    father, son = await make_holder("赵老汉"), await make_holder("赵大")
    actor = await make_actor()
    # he bought 30 units on 10 June 2026 at 00:01 Beijing time (16:01 UTC on 9 June)
    with clock.use(clock.FixedClock(datetime(2026, 6, 9, 16, 1, tzinfo=UTC))):
        await record_transfer(batch=batch, seller=village, buyer=father, quantity=30, price_fen=0, actor=actor)
    kwargs = {"deceased": father, "heirs": [register.Heir(son, Fraction(1))], "documents": DOCS, "actor": actor}
    before = await register_snapshot()
    with pytest.raises(DeathBeforeAcquisition) as refused:
        await record_inheritance(**kwargs, died_on=date(2026, 6, 9), form_token=token())
    assert "2026-06-10" in str(refused.value)
    assert await register_snapshot() == before
    # dying later on the day he bought is possible: the register's day is Yinchuan's
    await record_inheritance(**kwargs, died_on=date(2026, 6, 10), form_token=token())
    assert await register.holder_total(son, batch=batch) == 30


async def test_an_heir_cannot_have_died_before_the_inheritance_that_gave_them_units(db):
    batch, village = await village_batch(units=100)
    grandfather, father, son = await make_holder("钱爷爷"), await make_holder("钱父"), await make_holder("钱子")
    actor = await make_actor()
    with clock.use(clock.FixedClock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))):
        await record_transfer(batch=batch, seller=village, buyer=grandfather, quantity=12, price_fen=0, actor=actor)
    with clock.use(clock.FixedClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))):  # recorded on 1 July
        await record_inheritance(
            deceased=grandfather,
            heirs=[register.Heir(father, Fraction(1))],
            died_on=date(2026, 6, 20),
            documents=DOCS,
            actor=actor,
        )
    kwargs = {"deceased": father, "heirs": [register.Heir(son, Fraction(1))], "documents": DOCS, "actor": actor}
    before = await register_snapshot()
    with pytest.raises(DeathBeforeAcquisition):  # the inheritance entry names him among its heirs
        await record_inheritance(**kwargs, died_on=date(2026, 6, 30))
    assert await register_snapshot() == before
    await record_inheritance(**kwargs, died_on=date(2026, 7, 1))
    assert await register.holder_total(son, batch=batch) == 12


async def test_carbon_batches_are_not_traded_here(db):
    carbon = await make_batch(TicketKind.CARBON, units=10)
    actor = await make_actor()
    holder = await make_holder()
    with pytest.raises(WrongKind):
        await record_transfer(batch=carbon, seller=holder, buyer=holder, quantity=1, price_fen=1, actor=actor)


# ---------------------------------------------------------------------------------------------------------
# State forest-land tickets: transfers within the city, one filing with the city forestry department
# ---------------------------------------------------------------------------------------------------------


async def test_state_tickets_transfer_within_the_city_with_one_filing_to_the_city_forestry_department(db):
    batch, unit = await state_batch(units=1000)
    buyer = await make_holder("银川某某生态公司", kind=HolderKind.ENTERPRISE)
    third = await make_holder("宁夏某林业合作社", kind=HolderKind.ENTERPRISE)
    forestry = await make_actor(StaffRole.FORESTRY)  # the city's forestry department
    trade = await record_transfer(
        batch=batch, seller=unit, buyer=buyer, quantity=100, price_fen=2_000_000, actor=forestry, note="协议转让"
    )
    assert trade.kind is TradeKind.TRANSFER and trade.status is TradeStatus.PENDING_FILING
    assert await register.holder_total(buyer, batch=batch) == 100
    leg = await TradeLeg.get(trade_id=trade.id).prefetch_related("entry")
    assert leg.entry.kind is EntryKind.TRANSFER and leg.entry.price_fen == 2_000_000
    filings = await TradeFiling.filter(trade_id=trade.id)
    assert [f.authority for f in filings] == [FilingAuthority.CITY_FORESTRY]  # one filing, not three
    # not yet effective: the buyer cannot sell on, and a refusal writes nothing
    assert await tradable_units(batch, buyer) == 0
    before = await register_snapshot()
    with pytest.raises(UnitsNotYetEffective):
        await record_transfer(batch=batch, seller=buyer, buyer=third, quantity=10, price_fen=1, actor=forestry)
    with pytest.raises(InvalidFiling):  # a state trade has no village or district filing
        await record_filing(
            trade=trade, authority=FilingAuthority.VILLAGE_COMMITTEE, filed_on=TODAY, reference="x", actor=forestry
        )
    assert await register_snapshot() == before
    await record_filing(
        trade=trade,
        authority=FilingAuthority.CITY_FORESTRY,
        filed_on=TODAY,
        reference="银林备（2026）1号",
        actor=forestry,
    )
    await trade.refresh_from_db()
    assert trade.status is TradeStatus.EFFECTIVE and trade.effective_on == TODAY
    onward = await record_transfer(batch=batch, seller=buyer, buyer=third, quantity=10, price_fen=1, actor=forestry)
    assert onward.status is TradeStatus.PENDING_FILING and await register.holder_total(third, batch=batch) == 10
    assert (await verify_chain()).ok


async def test_refused_state_transfers_leave_the_register_unchanged(db):
    batch, unit = await state_batch(units=100, district="640105")  # a state parcel of 西夏区
    buyer = await make_holder(kind=HolderKind.ENTERPRISE)
    outsider = await make_holder("外地公司", kind=HolderKind.ENTERPRISE, region="110105")
    unchecked = await make_holder("未核实居住地的人", residence="")
    forestry = await make_actor(StaffRole.FORESTRY)
    before = await register_snapshot()
    for error, changes in [
        (HolderOutsideCity, {"buyer": outsider}),  # only within the city (registry.residence)
        (ResidenceNotConfirmed, {"buyer": unchecked}),
        (InsufficientUnits, {"quantity": 101}),
        (NotPermitted, {"actor": await make_actor(StaffRole.ISSUER, "640105")}),  # issuers keep collective tickets
        (NotPermitted, {"actor": await make_actor(StaffRole.LANDSCAPING)}),
        (NotPermitted, {"actor": await make_actor(StaffRole.FORESTRY, "640104")}),  # 兴庆区's, not 西夏区's
    ]:
        kwargs = {"batch": batch, "seller": unit, "buyer": buyer, "quantity": 5, "price_fen": 500, "actor": forestry}
        with pytest.raises(error):
            await record_transfer(**{**kwargs, **changes})
        assert await register_snapshot() == before, error
    with pytest.raises(WrongKind):  # subscriptions stay with collective tickets
        await record_subscription(
            batch=batch, subscriber=buyer, share=Fraction(1, 10), price_fen=1, operating_form="equity", actor=forestry
        )
    assert await register_snapshot() == before


async def test_a_district_forestry_department_records_state_transfers_of_its_own_district(db):
    batch, unit = await state_batch(units=100, district="640105")
    buyer = await make_holder(kind=HolderKind.ENTERPRISE)
    xixia = await make_actor(StaffRole.FORESTRY, "640105")
    trade = await record_transfer(batch=batch, seller=unit, buyer=buyer, quantity=5, price_fen=1, actor=xixia)
    assert trade.actor == xixia.label
    before = await register_snapshot()
    xingqing = await make_actor(StaffRole.FORESTRY, "640104")
    with pytest.raises(NotPermitted):  # another district's forestry department files nothing for it
        await record_filing(
            trade=trade, authority=FilingAuthority.CITY_FORESTRY, filed_on=TODAY, reference="x", actor=xingqing
        )
    assert await register_snapshot() == before
    city = await make_actor(StaffRole.FORESTRY)  # the city forestry department records its own filing
    await record_filing(trade=trade, authority="city_forestry", filed_on=TODAY, reference="市林备2", actor=city)
    await trade.refresh_from_db()
    assert trade.is_effective


def test_every_refusal_of_these_workflows_has_an_english_message():
    from kernel.i18n import translations
    from registry import dividends, idempotency, offsets, trades
    from registry.errors import RegisterError

    english = translations("en", "registry")
    for module in (trades, dividends, offsets, idempotency):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, RegisterError) and value.__module__ == module.__name__:
                assert english.gettext(value.message) != value.message, value


async def test_racing_submissions_of_one_form_record_one_trade(db):
    batch, village = await village_batch(units=100)
    buyer = await make_holder()
    actor = await make_actor()
    form = token()
    trades = await asyncio.gather(
        *(
            record_transfer(
                batch=batch, seller=village, buyer=buyer, quantity=9, price_fen=90, actor=actor, form_token=form
            )
            for _ in range(8)
        )
    )
    assert {t.id for t in trades} == {trades[0].id}
    assert await Trade.all().count() == 1 and await register.holder_total(buyer, batch=batch) == 9


async def test_racing_transfers_never_sell_more_than_the_seller_holds(db):
    batch, village = await village_batch(units=50)
    actor = await make_actor()
    buyers = [await make_holder() for _ in range(8)]

    async def attempt(buyer) -> bool:  # type: ignore[no-untyped-def]
        try:
            await record_transfer(batch=batch, seller=village, buyer=buyer, quantity=10, price_fen=1, actor=actor)
            return True
        except InsufficientUnits:
            return False

    results = await asyncio.gather(*(attempt(b) for b in buyers))
    assert results.count(True) == 5
    assert await register.holder_total(village, batch=batch) == 0
    assert await TradeLeg.all().count() == 5 and await TradeFiling.all().count() == 15
