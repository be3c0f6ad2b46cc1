"""Explicit consent before the shop takes an ID number (PIPL), and what is then stored: a citizen ticks an unticked
box that links the privacy notice, an organisation confirms its people agreed; without it, 400 and nothing
written. Whatever was taken is never in any row in plain text, before or after payment."""

from __future__ import annotations

import pytest

from factories import credit_code, resident_id
from planting.domain.models import PlantingPurchase, RosterMember, RosterSubmission
from registry import idcrypt
from registry.models import Holder, Order
from tests.planting.shop.test_pages import on_sale, pay_demo, roster_csv  # noqa: F401 - the fixture, by name
from tests.registry.test_idcrypt import assert_nowhere, raw_text

PERSON = resident_id("640121", "19800101", seq=11)
COLLEAGUE = resident_id("640121", "19850101", seq=13)
CONSENT_BOX = 'type="checkbox" name="id_consent" value="1"'


def citizen_form(**extra: str) -> dict[str, str]:
    return {"year": "2026", "trees": "3", "name": "张三", "id_number": PERSON, **extra}


def org_form(**extra: str) -> dict[str, str]:
    return {
        "organisation_name": "银川市某局",
        "credit_code": credit_code("640104", seq=601),
        "contact": "王科长 0951-1234567",
        "year": "2026",
        **extra,
    }


async def test_the_forms_offer_an_unticked_box_linking_the_privacy_notice(client, on_sale):  # noqa: F811
    for path in ("/planting", "/planting/org"):
        page = (await client.get(path)).text
        box = page.split(CONSENT_BOX, 1)[1].split("</label>", 1)[0]
        assert "checked" not in box.split(">", 1)[0] and 'href="/privacy"' in box, path
    english = (await client.get("/planting", params={"lang": "en"})).text
    assert "privacy notice" in english and "consent" in english


@pytest.mark.parametrize("ticked", ["", "0", "no"])
async def test_an_id_number_without_consent_is_refused_and_nothing_is_written(client, on_sale, ticked):  # noqa: F811
    data = citizen_form(id_consent=ticked) if ticked else citizen_form()
    refused = await client.post("/planting", data=data)
    assert refused.status_code == 400 and "个人信息保护说明" in refused.text and PERSON not in refused.text
    english = await client.post("/planting", data=data, params={"lang": "en"})
    assert english.status_code == 400 and "tick your consent" in english.text
    assert await Order.all().count() == 0 and await PlantingPurchase.all().count() == 0
    assert_nowhere(await raw_text(), PERSON)
    # no ID number, no consent needed: the declaration stands in for it
    declared = await client.post("/planting", data={"year": "2026", "trees": "3", "name": "张三", "declared": "owes"})
    assert declared.status_code == 303


async def test_a_consented_number_is_sealed_from_order_to_holder(client, on_sale):  # noqa: F811
    response = await client.post("/planting", data=citizen_form(id_consent="1"))
    assert response.status_code == 303
    order = await Order.get()
    consent = order.details["planting"]["id_consent"]
    assert consent["notice"] == idcrypt.NOTICE_VERSION and consent["at"]
    assert_nowhere(await raw_text(), PERSON)  # unpaid: on the purchase, encrypted
    page = await pay_demo(client, response.headers["location"])
    assert page.status_code == 200 and PERSON[:4] + "**********" + PERSON[-4:] in page.text
    holder = await Holder.get(name="张三")
    assert holder.id_number is None and holder.id_digest == idcrypt.digest(PERSON)
    assert holder.privacy_notice_version == idcrypt.NOTICE_VERSION and holder.privacy_informed_at is not None
    assert_nowhere(await raw_text(), PERSON)  # paid: the holder, its certificate, the register


async def test_a_roster_with_id_numbers_needs_the_uploaders_confirmation(client, on_sale):  # noqa: F811
    roster = roster_csv(f"张三,{PERSON},E1,", f"李四,{COLLEAGUE},E2,")
    files = {"roster": ("名单.csv", roster, "text/csv")}
    refused = await client.post("/planting/org", data=org_form(), files=files)
    assert refused.status_code == 400 and "取得其同意" in refused.text
    assert await RosterSubmission.all().count() == 0 and await RosterMember.all().count() == 0
    assert_nowhere(await raw_text(), PERSON, COLLEAGUE)
    uploaded = await client.post("/planting/org", data=org_form(id_consent="1"), files=files)
    assert uploaded.status_code == 303
    submission = await RosterSubmission.get()
    assert submission.consent_version == idcrypt.NOTICE_VERSION and submission.uploads == 1
    token = uploaded.headers["location"].rsplit("/", 1)[1]
    manage = (await client.get(f"/planting/org/{token}")).text
    assert PERSON not in manage and PERSON[:4] + "**********" + PERSON[-4:] in manage
    # a later upload asks again; refused, the roster stays as it was
    late = {"roster": ("名单.csv", roster_csv(f"王五,{resident_id('640121', '19870101', seq=15)},E3,"), "text/csv")}
    again = await client.post(f"/planting/org/{token}/upload", files=late)
    assert again.status_code == 400 and "取得其同意" in again.text
    assert (await RosterSubmission.get()).uploads == 1 and await RosterMember.all().count() == 2
    paid = await client.post(f"/planting/org/{token}/pay")
    assert paid.status_code == 303
    await pay_demo(client, paid.headers["location"])
    assert_nowhere(await raw_text(), PERSON, COLLEAGUE)  # only blind indexes and masked forms: never whole
