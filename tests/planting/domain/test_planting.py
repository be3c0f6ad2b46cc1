"""Obligatory tree planting: the per-year conversion, who owes the duty, how a year adds up, organisations'
rosters and payments, and the fulfilment report's arithmetic."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from factories import credit_code, make_batch, resident_id
from planting.domain.duty import Sex, assess_duty, sex_of
from planting.domain.errors import (
    DeclarationRequired,
    InvalidOrganisation,
    InvalidPlantingName,
    InvalidPlantingRule,
    InvalidTrees,
    InvalidYear,
    NoPlantingRule,
    NothingToPay,
    RosterNotFound,
)
from planting.domain.models import (
    DutyBasis,
    MemberStatus,
    PaymentStatus,
    PlantingOutcome,
    PlantingPurchase,
    PlantingRule,
    PurchaseStatus,
    RosterMember,
    RosterPayment,
    RosterSubmission,
)
from planting.domain.purchases import (
    already_fulfilled,
    count_order_purchases,
    counted_trees,
    create_purchase,
    decide_outcome,
    parse_citizen_request,
    void_order_purchases,
)
from planting.domain.report import FulfilmentReport, fulfilment_report
from planting.domain.rosters import (
    allot_serials,
    attach_order,
    create_submission,
    open_payment,
    store_roster,
    submission_by_token,
)
from planting.domain.rules import (
    check_trees,
    quote,
    retirement_purpose,
    rule_for,
    rule_history,
    rule_or_none,
    set_rule,
    years_on_sale,
)
from registry import audit
from registry.errors import InvalidIdentifier
from registry.models import AuditLog, CertificateKind, Order, TicketKind

YEAR = 2026


def man(birth: str, seq: int = 11) -> str:
    """A man's ID number (odd 17th digit)."""
    assert seq % 2 == 1
    return resident_id("640121", birth, seq=seq)


def woman(birth: str, seq: int = 12) -> str:
    assert seq % 2 == 0
    return resident_id("640121", birth, seq=seq)


async def rule(year: int = YEAR, tickets_per_tree: int = 10, trees_per_duty: int = 3) -> PlantingRule:
    return await set_rule(
        year=year,
        tickets_per_tree=tickets_per_tree,
        trees_per_duty=trees_per_duty,
        receiving_body="银川市绿化基金会",
        source="银川市绿化委员会办公室 2026 年第 1 号通知",
    )


async def an_order(amount_fen: int = 3000) -> Order:
    batch = await make_batch(TicketKind.CARBON, units=10_000)
    return await Order.create(
        token=secrets.token_urlsafe(8),
        batch=batch,
        quantity=amount_fen // 100,
        amount_fen=amount_fen,
        purpose="planting",
        certificate_name="张三",
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )


async def buy(
    r: PlantingRule, *, trees: int = 3, id_number: str | None = None, declared_owes: bool | None = None
) -> PlantingPurchase:
    """A citizen's purchase, paid and fulfilled."""
    request = parse_citizen_request(
        year=r.year, trees=trees, name="张三", id_number=id_number, declared_owes=declared_owes, id_consent=True
    )
    order = await an_order()
    purchase = await create_purchase(
        rule=r,
        name=request.name,
        trees=request.trees,
        assessment=request.assessment,
        price_fen=100,
        id_number=request.id_number,
        order=order,
    )
    [counted] = await count_order_purchases(order)
    assert counted.id == purchase.id
    return counted


# --- the conversion ---------------------------------------------------------------------------------------


async def test_no_rule_no_sale(db):
    with pytest.raises(NoPlantingRule):
        await rule_for(YEAR)
    assert await rule_or_none(YEAR) is None
    with pytest.raises(NoPlantingRule):
        await create_submission(organisation_name="某局", credit_code=credit_code(), contact="0951-1234567", year=YEAR)


async def test_a_new_rule_supersedes_and_keeps_the_old_one(db):
    first = await rule(tickets_per_tree=10)
    second = await rule(tickets_per_tree=20, trees_per_duty=4)
    other_year = await rule(year=YEAR + 1, tickets_per_tree=15)
    in_force = await rule_for(YEAR)
    assert in_force.id == second.id and in_force.tickets_per_tree == 20 and in_force.trees_per_duty == 4
    await first.refresh_from_db()
    assert first.superseded_at is not None and first.superseded_by_id == second.id and not first.in_force
    assert [r.id for r in await rule_history(YEAR)] == [second.id, first.id]
    assert (await rule_for(YEAR + 1)).id == other_year.id
    assert await years_on_sale() == [YEAR + 1, YEAR]
    assert await PlantingRule.all().count() == 3  # nothing deleted
    assert await AuditLog.filter(action="planting.rule.set").count() == 3


async def test_rule_records_who_set_it(db):
    from registry.models import StaffRole, StaffUser

    staff = await StaffUser.create(username="forester", password_hash="x", role=StaffRole.FORESTRY)
    r = await set_rule(
        year=YEAR, tickets_per_tree=10, receiving_body="基金会", source="通知", actor=audit.Actor(staff, "10.0.0.1")
    )
    assert r.set_by_id == staff.id and r.set_by_name == "forester" and r.trees_per_duty == 3
    log = await AuditLog.get(action="planting.rule.set")
    assert log.username == "forester" and log.details["tickets_per_tree"] == 10


@pytest.mark.parametrize(
    "changes",
    [
        {"tickets_per_tree": 0},
        {"tickets_per_tree": -5},
        {"tickets_per_tree": 2.5},
        {"tickets_per_tree": True},
        {"trees_per_duty": 0},
        {"receiving_body": "  "},
        {"source": ""},
    ],
)
async def test_bad_rules_are_refused_and_write_nothing(db, changes):
    values = {"year": YEAR, "tickets_per_tree": 10, "receiving_body": "基金会", "source": "通知", **changes}
    with pytest.raises(InvalidPlantingRule):
        await set_rule(**values)
    assert await PlantingRule.all().count() == 0
    assert await AuditLog.all().count() == 0


async def test_bad_year_is_refused(db):
    with pytest.raises(InvalidYear):
        await set_rule(year=1999, tickets_per_tree=10, receiving_body="基金会", source="通知")
    with pytest.raises(InvalidYear):
        await rule_for("2026")  # type: ignore[arg-type]


async def test_quote_converts_trees_to_tickets_and_fen(db):
    r = await rule(tickets_per_tree=10)
    q = quote(r, 5, 100)
    assert (q.trees, q.tickets, q.amount_fen) == (5, 50, 5000)
    assert quote(r, 3, 100).amount_fen == 3000  # ¥30 for the default duty of 3 trees
    assert isinstance(q.amount_fen, int)


@pytest.mark.parametrize("trees", [2, 6, 0, -3, "abc", "", None, True, 3.0, "4.5"])
def test_trees_outside_three_to_five_are_refused(trees):
    with pytest.raises(InvalidTrees):
        check_trees(trees)


@pytest.mark.parametrize("trees", [3, 4, 5, "3", " 5 "])
def test_three_to_five_trees(trees):
    assert check_trees(trees) == int(str(trees).strip())


def test_retirement_purpose_names_the_year():
    assert retirement_purpose(2026) == "义务植树尽责（2026年度）"


# --- who owes the duty -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_number", "owes", "sex", "age"),
    [
        (man("20151231"), True, Sex.MALE, 11),  # 11th birthday on the year's last day: owes
        (man("20160101"), False, Sex.MALE, 10),  # 11 only next year
        (woman("20150101"), True, Sex.FEMALE, 11),
        (man("19660101"), True, Sex.MALE, 60),  # 60th birthday this year: still owes
        (man("19661231"), True, Sex.MALE, 60),
        (man("19651231"), False, Sex.MALE, 61),
        (woman("19710101"), True, Sex.FEMALE, 55),  # 55th birthday this year: still owes
        (woman("19711231"), True, Sex.FEMALE, 55),
        (woman("19701231"), False, Sex.FEMALE, 56),
        (man("19701231"), True, Sex.MALE, 56),  # a man of 56 still owes it
        (woman("19900615"), True, Sex.FEMALE, 36),
    ],
)
def test_duty_by_age_and_sex_from_the_id_number(id_number, owes, sex, age):
    assessment = assess_duty(YEAR, id_number)
    assert (assessment.owes, assessment.sex, assessment.age) == (owes, sex, age)
    assert assessment.basis is DutyBasis.ID_NUMBER


def test_sex_is_the_parity_of_the_17th_digit():
    assert sex_of(resident_id("640121", "19800101", seq=123)) is Sex.MALE
    assert sex_of(resident_id("640121", "19800101", seq=124)) is Sex.FEMALE


def test_without_an_id_number_the_buyer_declares():
    with pytest.raises(DeclarationRequired):
        assess_duty(YEAR)
    assert assess_duty(YEAR, declared_owes=True).owes
    declared = assess_duty(YEAR, declared_owes=False)
    assert not declared.owes and declared.basis is DutyBasis.DECLARED


def test_a_bad_id_number_is_refused_and_not_echoed_whole():
    bad = man("19800101")[:-1] + ("1" if man("19800101")[-1] != "1" else "2")
    with pytest.raises(InvalidIdentifier) as caught:
        parse_citizen_request(year=YEAR, trees=3, name="张三", id_number=bad, id_consent=True)
    assert bad not in str(caught.value)


def test_citizen_request_is_checked():
    request = parse_citizen_request(
        year="2026", trees="4", name="  张  三 ", id_number=man("19800101").lower(), id_consent=True
    )
    assert (request.year, request.trees, request.name) == (2026, 4, "张 三")
    assert request.id_number == man("19800101") and request.assessment.owes
    with pytest.raises(InvalidPlantingName):
        parse_citizen_request(year=YEAR, trees=3, name="   ", declared_owes=True)
    with pytest.raises(InvalidPlantingName):
        parse_citizen_request(year=YEAR, trees=3, name="张" * 101, declared_owes=True)


@pytest.mark.parametrize(
    ("owes", "fulfilled_before", "trees_before", "trees", "duty", "outcome"),
    [
        (False, False, 0, 3, 3, PlantingOutcome.OUTSIDE_DUTY),
        (True, False, 0, 3, 3, PlantingOutcome.FULFILS),
        (True, False, 0, 3, 5, PlantingOutcome.PARTIAL),
        (True, False, 3, 3, 5, PlantingOutcome.FULFILS),
        (True, True, 3, 3, 3, PlantingOutcome.BEYOND_DUTY),
    ],
)
def test_decide_outcome(owes, fulfilled_before, trees_before, trees, duty, outcome):
    result = decide_outcome(
        owes=owes, fulfilled_before=fulfilled_before, trees_before=trees_before, trees=trees, duty=duty
    )
    assert result is outcome


# --- a person's year ---------------------------------------------------------------------------------------


async def test_fulfilment_certificate_then_honour_beyond_the_duty(db):
    r = await rule()
    person = man("19800101")
    assert not await already_fulfilled(person, YEAR)
    first = await buy(r, id_number=person)
    assert first.outcome is PlantingOutcome.FULFILS and first.certificate_kind is CertificateKind.PLANTING
    assert first.tickets == 30 and first.amount_fen == 3000
    assert await already_fulfilled(person, YEAR)
    assert await already_fulfilled(person.lower(), YEAR)
    assert not await already_fulfilled(person, YEAR + 1)
    second = await buy(r, id_number=person, trees=5)
    assert second.outcome is PlantingOutcome.BEYOND_DUTY and second.certificate_kind is CertificateKind.HONOUR
    assert second.trees_in_year == 8
    assert await counted_trees(person, YEAR) == 8


async def test_purchases_within_a_year_add_up_toward_the_duty(db):
    r = await rule(trees_per_duty=5)
    person = woman("19900615")
    first = await buy(r, id_number=person, trees=3)
    assert first.outcome is PlantingOutcome.PARTIAL and first.certificate_kind is CertificateKind.HONOUR
    assert not await already_fulfilled(person, YEAR)
    second = await buy(r, id_number=person, trees=3)
    assert second.outcome is PlantingOutcome.FULFILS and second.trees_in_year == 6
    assert second.certificate_kind is CertificateKind.PLANTING
    assert await already_fulfilled(person, YEAR)


async def test_years_do_not_add_up_across_years(db):
    r26 = await rule(trees_per_duty=5)
    r27 = await rule(year=YEAR + 1, trees_per_duty=5)
    person = man("19800101")
    await buy(r26, id_number=person, trees=3)
    next_year = await buy(r27, id_number=person, trees=3)
    assert next_year.outcome is PlantingOutcome.PARTIAL and next_year.trees_in_year == 3


async def test_outside_the_duty_gets_the_honour_certificate(db):
    r = await rule()
    elder = await buy(r, id_number=woman("19600101"))
    assert elder.outcome is PlantingOutcome.OUTSIDE_DUTY and elder.certificate_kind is CertificateKind.HONOUR
    child = await buy(r, id_number=man("20200101"))
    assert child.outcome is PlantingOutcome.OUTSIDE_DUTY
    declared = await buy(r, declared_owes=False)
    assert declared.outcome is PlantingOutcome.OUTSIDE_DUTY and declared.duty_basis is DutyBasis.DECLARED
    assert not await already_fulfilled(woman("19600101"), YEAR)


async def test_without_id_each_purchase_stands_alone(db):
    r = await rule()
    assert (await buy(r, declared_owes=True)).outcome is PlantingOutcome.FULFILS
    assert (await buy(r, declared_owes=True)).outcome is PlantingOutcome.FULFILS
    assert not await already_fulfilled(None, YEAR)


async def test_counting_is_idempotent_and_unpaid_orders_never_count(db):
    r = await rule()
    person = man("19800101")
    order = await an_order()
    request = parse_citizen_request(year=YEAR, trees=3, name="李四", id_number=person, id_consent=True)
    await create_purchase(
        rule=r, name="李四", trees=3, assessment=request.assessment, price_fen=100, id_number=person, order=order
    )
    assert not await already_fulfilled(person, YEAR)  # pending: not yet paid
    [once] = await count_order_purchases(order)
    [twice] = await count_order_purchases(order)
    assert once.id == twice.id and twice.outcome is PlantingOutcome.FULFILS
    assert await counted_trees(person, YEAR) == 3

    expired = await an_order()
    await create_purchase(
        rule=r, name="李四", trees=3, assessment=request.assessment, price_fen=100, id_number=person, order=expired
    )
    assert await void_order_purchases(expired) == 1
    assert await counted_trees(person, YEAR) == 3
    assert await PlantingPurchase.filter(status=PurchaseStatus.VOID).count() == 1


# --- organisations -----------------------------------------------------------------------------------------


@dataclass
class Line:
    """A parsed roster row, as ``planting.shop.roster`` gives it."""

    line: int
    name: str
    id_number: str | None = None
    staff_no: str = ""
    trees: int | None = None
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def payable(self) -> bool:
        return not any(p["severity"] == "error" for p in self.problems)

    def problem_dicts(self) -> list[dict[str, str]]:
        return list(self.problems)


def error(code: str) -> list[dict[str, str]]:
    return [{"code": code, "severity": "error", "detail": ""}]


async def submission(year: int = YEAR) -> RosterSubmission:
    return await create_submission(
        organisation_name="银川市某局", credit_code=credit_code("640104"), contact="王科长 0951-1234567", year=year
    )


async def pay(sub: RosterSubmission, price_fen: int = 100) -> RosterPayment:
    payment, purchases = await open_payment(sub, price_fen=price_fen)
    order = await an_order(payment.amount_fen)
    await attach_order(payment, order)
    counted = await count_order_purchases(order)
    assert len(counted) == len(purchases) == payment.members_count
    await payment.refresh_from_db()
    assert payment.status is PaymentStatus.PAID
    return payment


async def test_submission_checks_the_credit_code_and_contact(db):
    await rule()
    with pytest.raises(InvalidIdentifier):
        await create_submission(organisation_name="某局", credit_code="91640104000000001A", contact="x", year=YEAR)
    with pytest.raises(InvalidOrganisation):
        await create_submission(organisation_name=" ", credit_code=credit_code(), contact="x", year=YEAR)
    sub = await submission()
    assert len(sub.token) >= 40
    assert (await submission_by_token(sub.token)).id == sub.id
    with pytest.raises(RosterNotFound):
        await submission_by_token("nope")


async def test_roster_payment_report_and_late_staff(db):
    await rule(tickets_per_tree=10)
    sub = await submission()
    first_upload = [
        Line(2, "甲", man("19800101", 11), "E1"),
        Line(3, "乙", woman("19850101", 12), "E2", trees=5),
        Line(4, "丙", None, "E3"),  # no ID: presumed to owe the duty
        Line(5, "丁", woman("19600101", 14), "E4"),  # 66: outside the duty, honour certificate
        Line(6, "甲", man("19800101", 11), "E1", problems=error("duplicate")),
        Line(7, "戊", None, "E5", problems=error("bad_id")),  # owes, cannot be paid until fixed
    ]
    result = await store_roster(sub, first_upload, consented=True)
    assert result.upload_no == 1 and len(result.members) == 6 and len(result.payable) == 4
    payment = await pay(sub)
    # 3 + 5 + 3 + 3 trees at 10 tickets a tree, ¥1 a ticket
    assert (payment.members_count, payment.trees, payment.tickets, payment.amount_fen) == (4, 14, 140, 14000)
    kinds = {p.name: p.certificate_kind for p in await PlantingPurchase.all()}
    assert kinds == {
        "甲": CertificateKind.PLANTING,
        "乙": CertificateKind.PLANTING,
        "丙": CertificateKind.PLANTING,
        "丁": CertificateKind.HONOUR,
    }

    report = await fulfilment_report(sub)
    # listed: 甲 乙 丙 丁 戊 (the duplicate is the same person); owing: all but 丁; fulfilled: 甲 乙 丙
    assert (report.listed, report.owing, report.fulfilled, report.paid, report.honour) == (5, 4, 3, 4, 1)
    assert report.rate == Decimal("75.0") and report.rate_text == "75.0%"
    assert [line.name for line in report.lines] == ["甲", "乙", "丙", "丁", "戊"]
    assert report.lines[0].id_masked.startswith("6401") and "*" in report.lines[0].id_masked

    # Late staff: the whole roster again with two new people; only they are paid for the second time.
    second_upload = [
        Line(2, "甲", man("19800101", 11), "E1"),
        Line(3, "乙", woman("19850101", 12), "E2"),
        Line(4, "丙", None, "E3"),
        Line(5, "丁", woman("19600101", 14), "E4"),
        Line(6, "戊", man("19900101", 15), "E5"),  # fixed
        Line(7, "己", man("19920101", 17), "E6"),
    ]
    result = await store_roster(sub, second_upload, consented=True)
    flagged = [m.name for m in result.members if any(p["code"] == "already_paid" for p in m.problems)]
    assert flagged == ["甲", "乙", "丙", "丁"]
    second = await pay(sub)
    assert (second.members_count, second.amount_fen) == (2, 6000)
    assert await RosterPayment.filter(submission=sub, status=PaymentStatus.PAID).count() == 2

    report = await fulfilment_report(sub)
    assert (report.listed, report.owing, report.fulfilled, report.paid) == (6, 5, 5, 6)
    assert report.rate == Decimal("100.0")
    with pytest.raises(NothingToPay):
        await open_payment(sub, price_fen=100)


async def test_a_second_upload_while_the_first_is_unpaid_replaces_it(db):
    await rule()
    sub = await submission()
    await store_roster(sub, [Line(2, "甲", man("19800101", 11)), Line(3, "乙", man("19810101", 13))], consented=True)
    waiting, purchases = await open_payment(sub, price_fen=100)
    again, _ = await open_payment(sub, price_fen=100)  # a second click: the same payment
    assert again.id == waiting.id and len(purchases) == 2
    order = await an_order(waiting.amount_fen)
    await attach_order(waiting, order)

    result = await store_roster(sub, [Line(2, "丙", man("19820101", 15))], consented=True)
    assert [p.id for p in result.superseded_payments] == [waiting.id]
    await waiting.refresh_from_db()
    assert waiting.status is PaymentStatus.SUPERSEDED
    assert await RosterMember.filter(submission=sub, status=MemberStatus.SUPERSEDED).count() == 2
    assert await PlantingPurchase.filter(order=order, status=PurchaseStatus.VOID).count() == 2
    replacement, purchases = await open_payment(sub, price_fen=100)
    assert replacement.id != waiting.id and [p.name for p in purchases] == ["丙"]
    report = await fulfilment_report(sub)
    assert report.listed == 1 and report.paid == 0 and report.fulfilled == 0 and report.rate == Decimal("0.0")

    # The superseded order was paid after all (the buyer was already at the provider): its people count,
    # and are not paid for twice.
    await count_order_purchases(order)
    await waiting.refresh_from_db()
    assert waiting.status is PaymentStatus.PAID
    report = await fulfilment_report(sub)
    assert (report.listed, report.paid, report.fulfilled) == (3, 2, 2)


async def test_an_expired_payment_gives_its_rows_back(db):
    await rule()
    sub = await submission()
    await store_roster(sub, [Line(2, "甲", man("19800101", 11))], consented=True)
    payment, _ = await open_payment(sub, price_fen=100)
    order = await an_order(payment.amount_fen)
    await attach_order(payment, order)
    assert await void_order_purchases(order) == 1
    await payment.refresh_from_db()
    assert payment.status is PaymentStatus.CANCELLED
    member = await RosterMember.get(submission=sub)
    assert member.status is MemberStatus.PENDING and member.payment_id is None
    retry, purchases = await open_payment(sub, price_fen=100)
    assert retry.id != payment.id and len(purchases) == 1


async def test_report_counts_fulfilment_through_other_channels_and_rounds_half_up(db):
    r = await rule()
    sub = await submission()
    citizen = man("19800101", 11)
    await buy(r, id_number=citizen)  # fulfilled the duty on the citizen page
    await store_roster(
        sub,
        [
            Line(2, "甲", citizen),
            Line(3, "乙", man("19810101", 13)),
            Line(4, "丙", man("19820101", 15)),
        ],
        consented=True,
    )
    report = await fulfilment_report(sub)  # nothing paid by the organisation yet
    assert (report.listed, report.owing, report.fulfilled) == (3, 3, 1)
    assert report.rate == Decimal("33.3")
    await store_roster(sub, [Line(2, "甲", citizen), Line(3, "乙", man("19810101", 13))], consented=True)
    report = await fulfilment_report(sub)
    assert (report.owing, report.fulfilled, report.rate) == (2, 1, Decimal("50.0"))


async def test_rate_when_nobody_owes_the_duty(db):
    await rule()
    sub = await submission()
    report = await fulfilment_report(sub)
    assert (report.listed, report.owing, report.rate, report.rate_text) == (0, 0, None, "—")
    await store_roster(sub, [Line(2, "丁", woman("19600101", 14))], consented=True)
    await pay(sub)
    report = await fulfilment_report(sub)
    assert (report.listed, report.owing, report.fulfilled, report.honour, report.rate) == (1, 0, 0, 1, None)


async def test_two_thirds_rounds_half_up(db):
    report = FulfilmentReport(
        submission=None,  # type: ignore[arg-type]
        year=YEAR,
        lines=[],
        listed=3,
        owing=3,
        fulfilled=2,
        paid=2,
        honour=0,
    )
    assert report.rate == Decimal("66.7")
    assert FulfilmentReport(None, YEAR, [], 8, 8, 1, 1, 0).rate == Decimal("12.5")  # type: ignore[arg-type]
    assert FulfilmentReport(None, YEAR, [], 16, 16, 1, 1, 0).rate == Decimal("6.3")  # type: ignore[arg-type]


def test_allot_serials_gives_each_person_consecutive_serials_of_the_entry():
    # one entry retired two ranges (the quota's serials were not contiguous); three people bought 30, 50, 30
    parts = allot_serials([[101, 140], [201, 270]], [30, 50, 30])
    assert parts == [[[101, 130]], [[131, 140], [201, 240]], [[241, 270]]]
    assert allot_serials([[5, 5]], [1]) == [[[5, 5]]]
    assert allot_serials([[1, 10]], [0, 10]) == [[], [[1, 10]]]


@pytest.mark.parametrize("quantities", [[30, 40], [30, 50, 1], [-1, 81], []])
def test_allot_serials_refuses_quantities_that_do_not_add_up(quantities):
    from registry.errors import InvalidState

    with pytest.raises(InvalidState):
        allot_serials([[101, 140], [201, 240]], quantities)
