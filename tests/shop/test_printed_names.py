"""Names printed on certificates and statements carry no bidi controls or zero-width characters, whichever way
they enter: the JSON API, the buy form, the planting forms, the back-office's holder form (finding 11)."""

from __future__ import annotations

import pytest

from factories import credit_code, resident_id
from factories import shop as factories
from factories.trades import make_actor
from planting.domain.errors import InvalidPlantingName
from planting.domain.purchases import parse_citizen_request
from planting.domain.rosters import check_organisation
from planting.domain.rules import set_rule
from registry.holders import HolderInput, create_holder
from registry.models import Certificate, Holder, HolderKind, Order
from registry.names import visible_text
from shop.errors import InvalidName
from shop.orders import fulfil, parse_order_request

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
INVISIBLE = BIDI + ZERO_WIDTH
# "张三" with a right-to-left override (it would print as "三张" in some renderers) and zero-width characters.
SPOOFED = "\u202e张\u200b三\u2066\ufeff"


def test_every_listed_character_is_removed():
    for char in INVISIBLE:
        assert visible_text(f"银{char}川") == "银川", hex(ord(char))
    assert visible_text(INVISIBLE) == ""


def test_a_name_keeps_its_own_characters_and_only_roster_cells_are_folded():
    official = "春林村股份经济合作社（代表）"  # official names use full-width brackets: printed as registered
    assert visible_text(official) == official
    assert visible_text("６４０１２１１９８００１０１００１Ｘ", fold=True) == "64012119800101001X"


@pytest.mark.parametrize("strict", [True, False])  # the JSON API, the buy form
def test_order_names_are_stripped_and_an_invisible_only_name_is_refused(settings, strict):
    request = parse_order_request(
        {"quantity": 10, "purpose": "travel", "certificate_name": SPOOFED}, settings, strict=strict
    )
    assert request.certificate_name == "张三"
    with pytest.raises(InvalidName):
        parse_order_request(
            {"quantity": 10, "purpose": "travel", "certificate_name": INVISIBLE}, settings, strict=strict
        )


async def test_the_api_stores_and_answers_the_visible_name(client):
    await factories.quota(500)
    body = {"quantity": 10, "purpose": "travel", "certificate_name": SPOOFED}
    response = await client.post("/api/v1/orders", json=body)
    assert response.status_code == 201
    assert response.json()["certificate_name"] == "张三"
    assert (await Order.get(id=response.json()["id"])).certificate_name == "张三"


async def test_the_certificate_prints_the_visible_name_even_of_an_older_order(db, settings):
    await factories.quota(100)
    order = await factories.order(settings, 10, name=SPOOFED)  # straight to the service, as stored before the fix
    await fulfil(order)
    certificate = await Certificate.get(order_id=order.id)
    assert certificate.holder_name == "张三"


async def test_planting_forms(db):
    citizen = parse_citizen_request(year=2026, trees=3, name=SPOOFED, declared_owes=True)
    assert citizen.name == "张三"
    with pytest.raises(InvalidPlantingName):
        parse_citizen_request(year=2026, trees=3, name=INVISIBLE, declared_owes=True)
    await set_rule(year=2026, tickets_per_tree=10, receiving_body="银川市绿化基金会", source="通知")
    org = await check_organisation(
        organisation_name="\u202e银川\u200d某公司", credit_code=credit_code(), contact="a@b.cn", year=2026
    )
    assert org.name == "银川某公司"


async def test_holder_names_from_the_back_office(db):
    actor = await make_actor()
    data = HolderInput(kind=HolderKind.INDIVIDUAL, name=SPOOFED, id_number=resident_id("640104"), informed=True)
    holder = await create_holder(data, actor=actor)
    assert (await Holder.get(id=holder.id)).name == "张三"
