"""The shop's buyers do not swamp the holders list: hidden by default, shown on request."""

from __future__ import annotations

import re

from factories import shop as factories
from registry import holders
from registry.holders import ShopBuyers
from registry.models import Holder, HolderKind, StaffRole
from tests.admin.conftest import village_with_parcel
from tests.desk import paid_order


def _names(html: str) -> set[str]:
    return set(re.findall(r'<a href="/admin/holders/\d+">([^<]+)</a>', html))


async def _seed(settings) -> tuple[Holder, Holder, Holder]:  # type: ignore[no-untyped-def]
    village, _parcel = await village_with_parcel()
    await factories.quota(1000)
    first = await paid_order(settings, 10, name="网购甲")
    second = await paid_order(settings, 10, name="网购乙")
    buyer = await Holder.get(id=first.buyer_id)
    known = await Holder.get(id=second.buyer_id)
    # a clerk recorded the second buyer's residence: the back-office works with it, so it is listed again
    await Holder.filter(id=known.id).update(residence_confirmed=True, residence_district="640104")
    return village, buyer, known


async def test_the_condition_reads_existing_rows(settings, db):
    village, buyer, known = await _seed(settings)
    hidden = {h.id for h in await holders.search_holders(shop_buyers=ShopBuyers.HIDE)}
    only = {h.id for h in await holders.search_holders(shop_buyers=ShopBuyers.ONLY)}
    every = {h.id for h in await holders.search_holders()}
    assert village.id in hidden and known.id in hidden and buyer.id not in hidden
    assert only == {buyer.id}
    assert every == hidden | only
    assert (await Holder.get(id=buyer.id)).kind is HolderKind.INDIVIDUAL


async def test_the_list_hides_shop_buyers_unless_asked(sign_in, settings, db):
    await _seed(settings)
    clerk = await sign_in(StaffRole.FORESTRY, "holders-forestry")
    default = _names((await clerk.get("/admin/holders")).text)
    assert "春林村股份经济合作社" in default and "网购乙" in default and "网购甲" not in default
    shown = _names((await clerk.get("/admin/holders", params={"buyers": "show"})).text)
    assert {"春林村股份经济合作社", "网购甲", "网购乙"} <= shown
    only = _names((await clerk.get("/admin/holders", params={"buyers": "only"})).text)
    assert only == {"网购甲"}
    searched = _names((await clerk.get("/admin/holders", params={"q": "网购"})).text)
    assert searched == {"网购乙"}
