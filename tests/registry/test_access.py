"""registry/access.py: the rules table itself, and that a list and a single record are judged alike.

The back-office walk of every route with every demo account is tests/admin/test_record_access.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from factories import make_holder, make_parcel
from factories.trades import make_actor
from registry import access, quotas, register
from registry.access import Action, Target
from registry.audit import Actor
from registry.models import Batch, Holder, HolderKind, Parcel, StaffRole, StaffUser, TicketKind


def test_every_action_has_a_rule_and_every_rule_a_known_role() -> None:
    assert set(access.RULES) == set(Action)
    for grants in access.RULES.values():
        assert grants and all(g.role in set(StaffRole) for g in grants)
        assert all(g.role is not StaffRole.ADMIN for g in grants)  # the administrator changes no register data


async def test_district_reach_ticket_kind_and_the_city_level(db: str) -> None:
    issuer_h = (await make_actor(StaffRole.ISSUER, "640122")).staff
    city, xixia = (await make_actor(StaffRole.FORESTRY)).staff, (await make_actor(StaffRole.FORESTRY, "640105")).staff
    state_xixia = access.place("640105", TicketKind.STATE)
    collective_helan = access.place("640122", TicketKind.COLLECTIVE)
    assert access.may(issuer_h, Action.TRANSFER_RECORD, collective_helan)
    assert not access.may(issuer_h, Action.TRANSFER_RECORD, state_xixia)  # wrong kind
    assert not access.may(issuer_h, Action.TRANSFER_RECORD, access.place("640104", TicketKind.COLLECTIVE))
    assert access.may(xixia, Action.TRANSFER_RECORD, state_xixia) and access.may(
        city, Action.TRANSFER_RECORD, state_xixia
    )
    assert not access.may(xixia, Action.TRANSFER_RECORD, access.place("640104", TicketKind.STATE))
    assert isinstance(access.refusal(xixia, Action.QUOTA_MANAGE, access.place("", "carbon")), access.CityLevelOnly)
    assert isinstance(access.refusal(issuer_h, Action.QUOTA_MANAGE), access.NotYourRole)
    assert isinstance(access.refusal(issuer_h, Action.DIVIDEND_RECORD, state_xixia), access.OutsideReach)
    assert isinstance(access.refusal(city, Action.HOLDER_EDIT, Target(reserved=True)), access.ReservedRecord)
    assert access.may(city, Action.HOLDER_READ, Target(reserved=True))  # the pool is read, never changed
    assert access.may(Actor(None, system="cli"), Action.QUOTA_MANAGE)  # an operator's command on the server
    assert not access.may(Actor(None), Action.HOLDER_READ)  # nobody at all
    assert issuer_h is not None
    issuer_h.is_active = False
    assert not access.may(issuer_h, Action.TRANSFER_RECORD, collective_helan)  # a deactivated account: nothing


async def _holders_in_every_situation() -> list[Holder]:
    village = await make_holder("兴庆村", kind=HolderKind.VILLAGE_COLLECTIVE, region="640104")
    parcel = await make_parcel("640104")
    batch = await register.issue_batch(
        kind=TicketKind.COLLECTIVE,
        holder=village,
        total_units=100,
        serial_prefix="T-ACCESS-1",
        parcel=parcel,
        unit_area_m2=Decimal("100"),
    )
    buyer = await make_holder("永宁买方", region="640121")  # lives in 永宁县, holds tickets of 兴庆区
    await register.transfer_units(
        batch=batch, from_holder=village, to_holder=buyer, quantity=5, entry_kind=register.EntryKind.TRANSFER
    )
    seller_gone = await make_holder("卖光了", region="640121")  # held tickets of 兴庆区 once, none now
    await register.transfer_units(
        batch=batch, from_holder=village, to_holder=seller_gone, quantity=1, entry_kind=register.EntryKind.TRANSFER
    )
    await register.transfer_units(
        batch=batch, from_holder=seller_gone, to_holder=buyer, quantity=1, entry_kind=register.EntryKind.TRANSFER
    )
    newcomer = await make_holder("未记录居住地", residence="")
    outsider = await make_holder("市外", residence="outside")
    helan = await make_holder("贺兰居民", region="640122")
    owner_only = await make_holder("只是林地所有人", region="640121")  # owning a parcel is no tie
    await Parcel.filter(id=parcel.id).update(owner_id=owner_only.id)
    await quotas.open_quota(units=10)
    return [village, buyer, seller_gone, newcomer, outsider, helan, owner_only, await quotas.pool_holder()]


@pytest.mark.parametrize(("role", "district"), [("issuer", "640104"), ("issuer", "640122"), ("forestry", "640105")])
async def test_a_holder_is_listed_exactly_when_it_may_be_read(db: str, role: str, district: str) -> None:
    holders = await _holders_in_every_situation()
    staff = (await make_actor(StaffRole(role), district)).staff
    listed = set(await access.scope_holders(staff, Holder.all()).values_list("id", flat=True))
    readable = {h.id for h in holders if access.may(staff, Action.HOLDER_READ, await access.holder_target(h))}
    assert listed == readable
    names = {h.name for h in holders if h.id in readable}
    if district == "640104":
        assert names == {"兴庆村", "永宁买方", "卖光了", "未记录居住地", "市外"}
    elif district == "640122":
        assert names == {"贺兰居民", "未记录居住地", "市外"}
    else:
        assert names == {"未记录居住地", "市外"}
    city = (await make_actor(StaffRole.FORESTRY)).staff
    assert set(await access.scope_holders(city, Holder.all()).values_list("id", flat=True)) == {h.id for h in holders}


async def test_the_batches_an_account_reads(db: str) -> None:
    await _holders_in_every_situation()
    state = await register.issue_batch(
        kind=TicketKind.STATE,
        holder=await make_holder("林场", kind=HolderKind.STATE_UNIT, region="640105"),
        total_units=10,
        serial_prefix="T-ACCESS-S",
        parcel=await make_parcel("640105"),
        unit_area_m2=Decimal("100"),
    )
    xixia = (await make_actor(StaffRole.FORESTRY, "640105")).staff
    xingqing = (await make_actor(StaffRole.ISSUER, "640104")).staff
    assert await access.readable_batch_ids(xixia) == {state.id}
    assert await access.readable_batch_ids(xingqing) == {b.id for b in await Batch.filter(district_code="640104")}
    assert await access.readable_batch_ids((await make_actor(StaffRole.AUDITOR)).staff) is None
    assert (
        await access.readable_batch_ids(await StaffUser.create(username="x", password_hash="x", role="admin")) == set()
    )
