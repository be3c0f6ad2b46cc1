"""Resident ID numbers at rest (registry/idcrypt.py): never a plain-text number in any row, found again by the
blind index, unique as before, sealed by the wave-3 data step, and a wrong key stops loudly."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise, connections

from factories import credit_code, make_batch, resident_id
from kernel.settings import Settings, SettingsError, load_settings
from linpiao.migrations import AFTER
from planting.domain.errors import IdConsentRequired, RosterConsentRequired
from planting.domain.models import DutyBasis, PlantingOutcome, PlantingPurchase, PurchaseStatus, RosterMember
from planting.domain.purchases import (
    already_fulfilled,
    count_order_purchases,
    counted_trees,
    create_purchase,
    parse_citizen_request,
)
from planting.domain.rosters import create_submission, open_payment, store_roster, submission_by_token
from planting.domain.rules import set_rule
from registry import audit, holders, idcrypt, sealing
from registry.idcrypt import IdentityKeyError
from registry.models import Holder, HolderKind, Order, TicketKind
from registry.sealing import seal_plaintext_ids
from tests.planting.domain.test_planting import Line

PERSON = resident_id("640121", "19800101", seq=11)
OTHER = resident_id("640104", "19900202", seq=13)


@pytest.fixture
def key_restored() -> Iterator[None]:
    """Tests that configure a key put the development key back (the module's key is process-wide)."""
    yield
    idcrypt.configure(None)


async def raw_text() -> str:
    """Every row of every table of the model set, as the database holds it."""
    conn = connections.get("default")
    parts = []
    for model in Tortoise.apps["models"].values():
        rows = await conn.execute_query_dict(f'SELECT * FROM "{model._meta.db_table}"')
        parts.append(repr(rows))
    return "\n".join(parts)


def assert_nowhere(text: str, *numbers: str) -> None:
    for number in numbers:
        assert number not in text and number[:17] not in text and number.lower() not in text, number


async def clerk() -> audit.Actor:
    return audit.Actor(None, system="test")


# --- the three forms ----------------------------------------------------------------------------------------


def test_a_sealed_number_opens_only_under_its_key(key_restored):
    sealed = idcrypt.seal(PERSON)
    assert sealed.cipher and PERSON not in sealed.cipher and idcrypt.decrypt(sealed.cipher) == PERSON
    assert sealed.digest == idcrypt.digest(PERSON) != idcrypt.digest(OTHER) and len(sealed.digest) == 64
    assert sealed.last4 == PERSON[-4:] and sealed.masked == PERSON[:4] + "*" * 10 + PERSON[-4:]
    assert idcrypt.seal(PERSON).cipher != sealed.cipher  # a fresh nonce each time: equal numbers do not show
    assert idcrypt.seal(PERSON, keep=False).cipher is None
    idcrypt.configure(base64.b64decode(idcrypt.new_key()))
    assert idcrypt.digest(PERSON) != sealed.digest  # the blind index is keyed: no table of all numbers
    with pytest.raises(IdentityKeyError, match="encrypted with key"):
        idcrypt.decrypt(sealed.cipher)
    idcrypt.configure(None)
    version, kid, body = sealed.cipher.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(IdentityKeyError, match="authentication tag"):
        idcrypt.decrypt(f"{version}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode()}")


def test_the_key_setting_is_checked(caplog):
    key = idcrypt.new_key()
    assert load_settings({"LINPIAO_ID_KEY": key}, env_file="/x").id_key_bytes == base64.b64decode(key)
    assert Settings().id_key_bytes is None  # unset: the development key
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(SettingsError, match="LINPIAO_ID_KEY"):
            Settings(id_key=bad).check()
    production = {"env": "production", "secret_key": "s" * 40, "stripe_secret_key": "sk_live_x"}
    with caplog.at_level(logging.WARNING, logger="linpiao.settings"):
        Settings(**production).check()  # type: ignore[arg-type]
    assert any("PUBLIC DEVELOPMENT KEY" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="linpiao.settings"):
        Settings(**production, id_key=key).check()  # type: ignore[arg-type]
    assert not caplog.records


async def test_a_wrong_key_stops_the_start_instead_of_finding_nothing(db, key_restored):
    await holders.create_holder(
        holders.HolderInput(kind=HolderKind.INDIVIDUAL, name="张三", id_number=PERSON, informed=True),
        actor=await clerk(),
    )
    await sealing.check_key()  # the key the numbers were sealed with
    idcrypt.configure(base64.b64decode(idcrypt.new_key()))
    with pytest.raises(IdentityKeyError, match="LINPIAO_ID_KEY"):
        await sealing.check_key()


# --- holders ------------------------------------------------------------------------------------------------


async def test_a_holder_is_stored_without_its_number_and_found_by_it(db):
    actor = await clerk()
    person = await holders.create_holder(
        holders.HolderInput(kind=HolderKind.INDIVIDUAL, name="张三", id_number=PERSON.lower(), informed=True),
        actor=actor,
    )
    code = credit_code("640104", seq=501)
    firm = await holders.create_holder(
        holders.HolderInput(kind=HolderKind.ENTERPRISE, name="某公司", id_number=code), actor=actor
    )
    assert_nowhere(await raw_text(), PERSON)
    assert code in await raw_text()  # a body's credit code is public registration data, kept as it is
    # found by the whole number, typed any way the validator folds; by the last four in the pickers
    for typed in (PERSON, PERSON.lower(), f" {PERSON[:6]} {PERSON[6:]} "):
        assert [h.id for h in await holders.search_holders(text=typed)] == [person.id]
        assert (await holders.holder_by_identifier(typed)).id == person.id  # type: ignore[union-attr]
    assert [h.id for h in await holders.search_holders(text=code.lower())] == [firm.id]
    assert await holders.search_holders(text=OTHER).count() == 0
    assert (await Holder.get(id=person.id)).id_masked == PERSON[:4] + "**********" + PERSON[-4:]
    # unique as before: the same number again, typed differently, is refused, for a person and for a body
    with pytest.raises(holders.DuplicateHolder):
        await holders.create_holder(
            holders.HolderInput(
                kind=HolderKind.INDIVIDUAL, name="李四", id_number=f"{PERSON[:9]}-{PERSON[9:]}", informed=True
            ),
            actor=actor,
        )
    with pytest.raises(holders.DuplicateHolder):
        await holders.create_holder(
            holders.HolderInput(kind=HolderKind.ENTERPRISE, name="另一公司", id_number=code), actor=actor
        )
    with pytest.raises(holders.DuplicateHolder):  # nor may another holder be changed to it
        await holders.update_holder(
            firm,
            holders.HolderInput(kind=HolderKind.INDIVIDUAL, name="改作个人", id_number=PERSON, informed=True),
            actor=actor,
        )
    assert await Holder.all().count() == 2


async def test_without_the_notice_recorded_nothing_is_written(db):
    with pytest.raises(holders.PrivacyNoticeNotGiven):
        await holders.create_holder(
            holders.HolderInput(kind=HolderKind.INDIVIDUAL, name="张三", id_number=PERSON), actor=await clerk()
        )
    assert await Holder.all().count() == 0
    assert_nowhere(await raw_text(), PERSON)


# --- tree planting ------------------------------------------------------------------------------------------


async def _order() -> Order:
    return await Order.create(
        token=secrets.token_urlsafe(8),
        batch=await make_batch(TicketKind.CARBON, units=10_000),
        quantity=30,
        amount_fen=3000,
        purpose="planting",
        certificate_name="张三",
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )


async def test_planting_keeps_a_citizens_number_sealed_and_a_rosters_only_as_a_digest(db):
    rule = await set_rule(year=2026, tickets_per_tree=10, receiving_body="基金会", source="通知")
    with pytest.raises(IdConsentRequired):
        parse_citizen_request(year=2026, trees=3, name="张三", id_number=PERSON)
    request = parse_citizen_request(year=2026, trees=3, name="张三", id_number=PERSON, id_consent=True)
    assert request.consented_at is not None
    order = await _order()
    citizen = await create_purchase(
        rule=rule, name="张三", trees=3, assessment=request.assessment, price_fen=100, id_number=PERSON, order=order
    )
    await count_order_purchases(order)
    assert citizen.id_cipher and idcrypt.decrypt(citizen.id_cipher) == PERSON  # becomes a holder when paid
    assert citizen.id_masked == PERSON[:4] + "**********" + PERSON[-4:]
    sub = await create_submission(
        organisation_name="银川市某局", credit_code=credit_code("640104", seq=502), contact="王", year=2026
    )
    with pytest.raises(RosterConsentRequired):
        await store_roster(sub, [Line(2, "甲", PERSON), Line(3, "乙", OTHER)])
    assert await RosterMember.all().count() == 0 and (await submission_by_token(sub.token)).uploads == 0
    await store_roster(sub, [Line(2, "甲", PERSON), Line(3, "乙", OTHER)], consented=True)
    sub = await submission_by_token(sub.token)
    assert sub.consent_version == idcrypt.NOTICE_VERSION and sub.consent_at is not None
    payment, purchases = await open_payment(sub, price_fen=100)
    assert [p.id_cipher for p in purchases] == [None, None]  # a roster's people never become holders
    # verification still works on the digests alone: the citizen already fulfilled the year, the report says so
    members = await RosterMember.filter(submission=sub).order_by("line_no")
    assert [m.id_masked for m in members] == [
        PERSON[:4] + "**********" + PERSON[-4:],
        OTHER[:4] + "**********" + OTHER[-4:],
    ]
    assert await already_fulfilled(PERSON, 2026) and not await already_fulfilled(OTHER, 2026)
    assert await counted_trees(PERSON, 2026) == 3
    assert payment.members_count == 2
    text = await raw_text()
    assert_nowhere(text, PERSON, OTHER)


# --- the wave-3 data step -----------------------------------------------------------------------------------


async def test_the_wave3_step_seals_what_an_older_database_holds_in_plain_text(db):
    """Rows written before wave 3 carry plain-text numbers: the step seals them all, and a second run finds
    nothing to do. (The step is what ``linpiao migrate`` runs after the wave-3 migration.)"""
    code = credit_code("640104", seq=503)
    person = await Holder.create(kind=HolderKind.INDIVIDUAL, name="旧户", id_number=PERSON, region_code="640121")
    body = await Holder.create(kind=HolderKind.ENTERPRISE, name="旧公司", id_number=code, region_code="640104")
    rule = await set_rule(year=2026, tickets_per_tree=10, receiving_body="基金会", source="通知")
    own = await PlantingPurchase.create(
        year=2026, rule=rule, order=await _order(), name="旧户", id_number=PERSON, trees=3, tickets=30,
        amount_fen=3000, owes_duty=True, duty_basis=DutyBasis.ID_NUMBER,
        status=PurchaseStatus.COUNTED, outcome=PlantingOutcome.FULFILS,
    )  # fmt: skip
    sub = await create_submission(
        organisation_name="银川市某局", credit_code=credit_code("640104", seq=504), contact="王", year=2026
    )
    member = await RosterMember.create(
        submission=sub, upload_no=1, line_no=2, name="乙", id_number=OTHER, payable=True, id_given_masked="6401…"
    )
    rostered = await PlantingPurchase.create(
        year=2026, rule=rule, member=member, name="乙", id_number=OTHER, trees=3, tickets=30, amount_fen=3000,
        owes_duty=True, duty_basis=DutyBasis.ID_NUMBER,
    )  # fmt: skip
    assert PERSON in await raw_text()  # the older database, as it was

    await AFTER["wave3"]()  # what `linpiao migrate` runs once the wave-3 migration has applied
    assert_nowhere(await raw_text(), PERSON, OTHER)
    person, body = await Holder.get(id=person.id), await Holder.get(id=body.id)
    assert person.id_number is None and idcrypt.decrypt(str(person.id_cipher)) == PERSON
    assert person.id_digest == idcrypt.digest(PERSON) and person.id_last4 == PERSON[-4:]
    assert person.region_code == "640121"
    assert body.id_number == code and body.id_digest == idcrypt.digest(code) and body.id_cipher is None
    own, rostered = await PlantingPurchase.get(id=own.id), await PlantingPurchase.get(id=rostered.id)
    assert idcrypt.decrypt(str(own.id_cipher)) == PERSON and own.id_digest == idcrypt.digest(PERSON)
    assert rostered.id_cipher is None and rostered.id_digest == idcrypt.digest(OTHER)
    member = await RosterMember.get(id=member.id)
    assert member.id_digest == idcrypt.digest(OTHER) and member.id_masked == OTHER[:4] + "**********" + OTHER[-4:]
    # what the register did with the numbers still works on the sealed rows
    assert (await holders.holder_by_identifier(PERSON)).id == person.id  # type: ignore[union-attr]
    assert await already_fulfilled(PERSON, 2026)
    assert await seal_plaintext_ids() == {"holder": 0, "planting_purchase": 0, "planting_roster_member": 0}
