"""Obligatory tree planting (义务植树) fulfilled (尽责) by buying carbon-sink tickets.

The duty (national resolution of 1981, State Council rules of 1982) falls on able men aged 11 to 60 and able
women aged 11 to 55: three to five trees a year, or the equivalent. Donating money (捐资捐物) is one of the
recognised forms, converted by a *local* standard — so the conversion is data, set per year by back-office
staff (:class:`PlantingRule`), never a constant here. Without a rule for a year nothing is sold for that year.

Who gets which certificate (decided when a purchase is counted, i.e. when its order is fulfilled):

* outside the duty (by the age and sex in the ID number, or declared when no ID is given) → honour certificate
  (国土绿化荣誉证书);
* within the duty, and the year's purchases under the same ID number now reach the rule's trees per person →
  fulfilment certificate (全民义务植树尽责证书);
* within the duty but the year's duty was already fulfilled → honour certificate (given beyond the duty);
* within the duty, the year's total still short of the duty → honour certificate for the contribution; the
  trees count toward the year, and the purchase that completes the duty brings the fulfilment certificate.

"Age in year Y" is the age reached on the birthday in Y (Y − year of birth): a person owes the duty in the
year of the 11th birthday and still in the year of the 60th (men) or 55th (women), not in the year after.

Organisations (机关、企事业单位) upload a staff roster (:class:`RosterSubmission`, :class:`RosterMember`), pay
per batch of rows (:class:`RosterPayment`; late staff make a second payment for just them) and get a
fulfilment report. Its rate (尽责率) is::

    fulfilment rate = staff who fulfilled the year's duty ÷ staff owing the duty

where the staff are the roster's accepted rows; a row owes the duty unless its ID number puts the person
outside the ages (rows without an ID number are presumed to owe it: staff are of working age); a row has
fulfilled when its own purchase completed the duty, or when the same ID number fulfilled the year's duty
through any other purchase. Staff outside the duty are listed but in neither number.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol

from tortoise import fields
from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import access, audit, donations, idcrypt, identity, sealing
from registry.errors import InvalidIdentifier, InvalidState, NotFound, RegisterError
from registry.identity import mask
from registry.models import Certificate, CertificateKind, CertificateStatus, Order, OrderStatus, StaffUser
from registry.names import visible_text

# The duty's ages (inclusive), by sex: national rules, the same every year.
DUTY_MIN_AGE = 11
DUTY_MAX_AGE_MALE = 60
DUTY_MAX_AGE_FEMALE = 55
# What one citizen may buy for one year, in trees (the duty is "three to five trees").
TREES_MIN = 3
TREES_MAX = 5
DEFAULT_TREES_PER_DUTY = 3
# Order.purpose of a tree-planting order (shop.planting_orders): its money goes to the rule's receiving body,
# never into carbon revenue (registry.stock keeps the two apart).
ORDER_PURPOSE = donations.PLANTING_PURPOSE
YEAR_MIN = 2000
YEAR_MAX = 2100
MAX_NAME = 100
MAX_TEXT = 200


# ---------------------------------------------------------------------------------------------------------
# Refusals


class NoPlantingRule(RegisterError):
    code = "no_planting_rule"
    message = "该年度尚未设定义务植树折算标准，暂不受理"


class InvalidPlantingRule(RegisterError):
    code = "invalid_planting_rule"
    message = "义务植树折算标准无效：每株折合林票数和每人尽责株数须为正整数，并须填写受赠机构和依据"


class InvalidTrees(RegisterError):
    code = "invalid_trees"
    message = "植树株数须为3至5株"


class InvalidYear(RegisterError):
    code = "invalid_year"
    message = "年度无效"


class DeclarationRequired(RegisterError):
    code = "declaration_required"
    message = "未填写身份证号码时，请声明是否属于义务植树适龄公民"


class IdConsentRequired(RegisterError):
    code = "id_consent_required"
    message = "填写身份证号码前，请阅读《个人信息保护说明》并勾选同意；不同意可不填身份证号码"


class RosterConsentRequired(RegisterError):
    code = "roster_consent_required"
    message = "上传名单前，请确认已告知名单中每位人员并取得其同意，由本单位提供其姓名和身份证号码用于义务植树尽责"


class InvalidPlantingName(RegisterError):
    code = "invalid_planting_name"
    message = "请填写证书上的姓名（不超过100字）"


class InvalidOrganisation(RegisterError):
    code = "invalid_organisation"
    message = "请填写单位名称和联系方式（各不超过200字）"


class NothingToPay(RegisterError):
    code = "nothing_to_pay"
    message = "名单中没有可付款的人员"


class RosterNotFound(NotFound):
    code = "roster_not_found"
    message = "未找到该单位名单"


# ---------------------------------------------------------------------------------------------------------
# The per-year conversion (折算标准)


class PlantingRule(Model):
    """The conversion the city uses for one year: tickets per tree equivalent and trees per person's duty.

    A new rule for a year supersedes the one before (kept, with who set it and when); never deleted."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField(db_index=True)
    tickets_per_tree = fields.IntField()
    trees_per_duty = fields.IntField(default=DEFAULT_TREES_PER_DUTY)
    # The lawful public-fundraising body (具有公开募捐资格的慈善组织等) that receives the donation.
    receiving_body = fields.CharField(max_length=MAX_TEXT)
    source = fields.CharField(max_length=MAX_TEXT)  # the local standard this follows (document, notice)
    notes = fields.TextField(default="")
    set_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="planting_rules", null=True, on_delete=fields.RESTRICT
    )
    set_by_name = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField()
    superseded_at = fields.DatetimeField(null=True)
    superseded_by: fields.ForeignKeyNullableRelation[PlantingRule] = fields.ForeignKeyField(
        "models.PlantingRule", related_name="supersedes", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "planting_rule"
        ordering = ["-year", "-id"]

    @property
    def in_force(self) -> bool:
        return self.superseded_at is None

    def tickets_for(self, trees: int) -> int:
        return trees * self.tickets_per_tree


def _check_year(year: object) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidYear(str(year)[:20])
    return year


def _positive(value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InvalidPlantingRule(str(value)[:20])
    return value


def _clean_text(value: object, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text[:limit] if len(text) > limit else text


async def set_rule(
    *,
    year: int,
    tickets_per_tree: int,
    receiving_body: str,
    source: str,
    trees_per_duty: int = DEFAULT_TREES_PER_DUTY,
    notes: str = "",
    actor: audit.Actor | None = None,
) -> PlantingRule:
    """Put a new conversion in force for ``year``; the one it replaces is kept, marked superseded. A staff member
    must be the city's forestry department (:mod:`registry.access`); without an actor, a seed or script sets it."""
    if actor is not None:
        access.check(actor, access.Action.PLANTING_RULE)
    year = _check_year(year)
    tickets_per_tree = _positive(tickets_per_tree, 1_000_000)
    trees_per_duty = _positive(trees_per_duty, 100)
    body = _clean_text(receiving_body, MAX_TEXT)
    basis = _clean_text(source, MAX_TEXT)
    if not body or not basis:
        raise InvalidPlantingRule()
    actor = actor or audit.Actor(None)
    now = clock.now()
    async with in_transaction():
        # Lock the rules in force for the year; should two first rules race, both stay unsuperseded and
        # :func:`rule_for` takes the newest, so the outcome is the same as if they had queued.
        await PlantingRule.filter(year=year, superseded_at=None).select_for_update()
        rule = await PlantingRule.create(
            year=year,
            tickets_per_tree=tickets_per_tree,
            trees_per_duty=trees_per_duty,
            receiving_body=body,
            source=basis,
            notes=str(notes or "")[:2000],
            set_by=actor.staff,
            set_by_name=actor.username,
            created_at=now,
        )
        current = await PlantingRule.filter(year=year, superseded_at=None).exclude(id=rule.id)
        for old in current:
            old.superseded_at = now
            old.superseded_by = rule
            await old.save(update_fields=["superseded_at", "superseded_by_id"])
        await audit.record(
            actor,
            "planting.rule.set",
            f"{year}",
            tickets_per_tree=tickets_per_tree,
            trees_per_duty=trees_per_duty,
            receiving_body=body,
            source=basis,
            supersedes=[old.id for old in current] or None,
        )
    return rule


async def rule_for(year: int) -> PlantingRule:
    """The conversion in force for ``year``; :class:`NoPlantingRule` when none was set (nothing is sold)."""
    year = _check_year(year)
    rule = await PlantingRule.filter(year=year, superseded_at=None).order_by("-id").first()
    if rule is None:
        raise NoPlantingRule(str(year))
    return rule


async def rule_or_none(year: int) -> PlantingRule | None:
    try:
        return await rule_for(year)
    except (NoPlantingRule, InvalidYear):
        return None


async def rule_history(year: int | None = None) -> list[PlantingRule]:
    """Every rule ever set (newest first), for one year or all."""
    query = PlantingRule.all()
    if year is not None:
        query = query.filter(year=year)
    return await query.order_by("-year", "-id")


async def years_on_sale() -> list[int]:
    """Years that have a rule in force, newest first."""
    rules = await PlantingRule.filter(superseded_at=None).order_by("-year")
    return sorted({rule.year for rule in rules}, reverse=True)


@dataclass(frozen=True)
class Quote:
    """What a number of trees costs under a rule at a ticket price (fen)."""

    year: int
    trees: int
    tickets: int
    price_fen: int
    amount_fen: int


def check_trees(value: object) -> int:
    """A whole number of trees from 3 to 5 (form text or int)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 4:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not TREES_MIN <= value <= TREES_MAX:
        raise InvalidTrees(str(value)[:20])
    return value


def quote(rule: PlantingRule, trees: int, price_fen: int) -> Quote:
    trees = check_trees(trees)
    tickets = rule.tickets_for(trees)
    return Quote(year=rule.year, trees=trees, tickets=tickets, price_fen=price_fen, amount_fen=tickets * price_fen)


@dataclass(frozen=True)
class MinimumOrderShortfall:
    """A rule under which one person's smallest purchase (3 trees) costs less than the shop's minimum order, so
    the shop refuses it: a citizen must buy ``trees_needed`` trees, or cannot buy at all when that is ``None``."""

    year: int
    trees: int
    amount_fen: int
    min_order_fen: int
    trees_needed: int | None


def below_minimum_order(rule: PlantingRule, price_fen: int, min_order_fen: int) -> MinimumOrderShortfall | None:
    """Whether ``rule`` at ``price_fen`` a ticket makes a single person's purchase smaller than the shop's
    minimum order (``LINPIAO_MIN_ORDER_FEN``); ``None`` when every purchase of 3–5 trees can be paid."""
    smallest = rule.tickets_for(TREES_MIN) * price_fen
    if smallest >= min_order_fen:
        return None
    enough = [t for t in range(TREES_MIN, TREES_MAX + 1) if rule.tickets_for(t) * price_fen >= min_order_fen]
    return MinimumOrderShortfall(
        year=rule.year,
        trees=TREES_MIN,
        amount_fen=smallest,
        min_order_fen=min_order_fen,
        trees_needed=enough[0] if enough else None,
    )


@dataclass(frozen=True)
class YearStats:
    """What was counted for a year across every channel (citizens and organisations)."""

    year: int
    purchases: int
    fulfilments: int  # fulfilment certificates
    honours: int  # honour certificates
    trees: int
    tickets: int
    amount_fen: int


async def year_stats(year: int) -> YearStats:
    counted = await _standing(await PlantingPurchase.filter(year=year, status=PurchaseStatus.COUNTED))
    return YearStats(
        year=year,
        purchases=len(counted),
        fulfilments=sum(1 for p in counted if p.outcome is PlantingOutcome.FULFILS),
        honours=sum(1 for p in counted if p.outcome is not PlantingOutcome.FULFILS),
        trees=sum(p.trees for p in counted),
        tickets=sum(int(p.tickets) for p in counted),
        amount_fen=sum(int(p.amount_fen) for p in counted),
    )


def retirement_purpose(year: int) -> str:
    """What the register records as the purpose of the retired tickets."""
    return f"义务植树尽责（{year}年度）"


# ---------------------------------------------------------------------------------------------------------
# The duty (尽责义务)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class DutyBasis(StrEnum):
    ID_NUMBER = "id_number"  # from the resident ID number
    DECLARED = "declared"  # declared by the buyer (no ID number given)
    PRESUMED = "presumed"  # roster row without ID number: staff are presumed to owe it


@dataclass(frozen=True)
class DutyAssessment:
    owes: bool
    basis: DutyBasis
    sex: Sex | None = None
    age: int | None = None  # age reached in the year


def normalise_resident_id(value: str) -> str:
    """The canonical 18-character resident ID number, or :class:`InvalidIdentifier` (:mod:`registry.identity`)."""
    return identity.validate_resident_id(value)


def sex_of(id_number: str) -> Sex:
    """The 17th digit: odd for men, even for women."""
    return Sex.MALE if int(id_number[16]) % 2 else Sex.FEMALE


def age_in_year(birth: date, year: int) -> int:
    """The age reached on the birthday in ``year`` (equivalently, the age on 31 December)."""
    return year - birth.year


def owes_by_age(sex: Sex, age: int) -> bool:
    upper = DUTY_MAX_AGE_MALE if sex is Sex.MALE else DUTY_MAX_AGE_FEMALE
    return DUTY_MIN_AGE <= age <= upper


def duty_from_id(id_number: str, year: int) -> DutyAssessment:
    """Whether the holder of a (valid, normalised) resident ID number owes the duty in ``year``."""
    birth = identity.birth_date(id_number)
    sex = sex_of(id_number)
    age = age_in_year(birth, year)
    return DutyAssessment(owes=owes_by_age(sex, age), basis=DutyBasis.ID_NUMBER, sex=sex, age=age)


def assess_duty(year: int, id_number: str | None = None, *, declared_owes: bool | None = None) -> DutyAssessment:
    """The duty from the ID number when given (validated here), else from the buyer's declaration."""
    year = _check_year(year)
    if id_number:
        return duty_from_id(normalise_resident_id(id_number), year)
    if declared_owes is None:
        raise DeclarationRequired()
    return DutyAssessment(owes=bool(declared_owes), basis=DutyBasis.DECLARED)


# ---------------------------------------------------------------------------------------------------------
# Purchases (one person, one year) and how they add up


class PurchaseStatus(StrEnum):
    PENDING = "pending"  # its order is not paid yet
    COUNTED = "counted"  # paid and fulfilled: counts toward the person's year
    VOID = "void"  # its order expired, failed or was cancelled / superseded


class PlantingOutcome(StrEnum):
    FULFILS = "fulfils"  # completes the year's duty → fulfilment certificate
    PARTIAL = "partial"  # counts toward the duty, still short → honour certificate for the contribution
    BEYOND_DUTY = "beyond_duty"  # the duty was already fulfilled this year → honour certificate
    OUTSIDE_DUTY = "outside_duty"  # the person does not owe the duty → honour certificate


CERTIFICATE_FOR = {
    PlantingOutcome.FULFILS: CertificateKind.PLANTING,
    PlantingOutcome.PARTIAL: CertificateKind.HONOUR,
    PlantingOutcome.BEYOND_DUTY: CertificateKind.HONOUR,
    PlantingOutcome.OUTSIDE_DUTY: CertificateKind.HONOUR,
}


class PlantingPurchase(Model):
    """Trees bought for one person for one year, inside an order (a citizen's own, or an organisation's)."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField()
    rule: fields.ForeignKeyRelation[PlantingRule] = fields.ForeignKeyField(
        "models.PlantingRule", related_name="purchases", on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="planting_purchases", null=True, on_delete=fields.RESTRICT
    )
    member: fields.ForeignKeyNullableRelation[RosterMember] = fields.ForeignKeyField(
        "models.RosterMember", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=MAX_NAME)
    # legacy plain text, emptied by the wave-3 data step and never written since (registry.idcrypt)
    id_number = fields.CharField(max_length=18, null=True)
    # the person's ID number: its blind index (adds up a person's year), its ciphertext for a citizen's own
    # purchase only (it becomes the register's holder at fulfilment; a roster's people never do), its masked form
    id_digest = fields.CharField(max_length=64, null=True)
    id_cipher = fields.TextField(null=True)
    id_masked = fields.CharField(max_length=40, default="")
    trees = fields.IntField()
    tickets = fields.BigIntField()
    amount_fen = fields.BigIntField()
    owes_duty = fields.BooleanField()
    duty_basis = fields.CharEnumField(DutyBasis, max_length=16)
    status = fields.CharEnumField(PurchaseStatus, max_length=16, default=PurchaseStatus.PENDING)
    outcome = fields.CharEnumField(PlantingOutcome, max_length=16, null=True)
    trees_in_year = fields.IntField(null=True)  # the person's counted trees for the year, this one included
    certificate_kind = fields.CharEnumField(CertificateKind, max_length=32, null=True)
    certificate: fields.ForeignKeyNullableRelation[Certificate] = fields.ForeignKeyField(
        "models.Certificate", related_name="planting_purchases", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    counted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "planting_purchase"
        indexes = (("id_digest", "year", "status"),)


WITHDRAWN = (CertificateStatus.REFUNDED, CertificateStatus.REVOKED)


async def _standing(purchases: Iterable[PlantingPurchase]) -> list[PlantingPurchase]:
    """Counted purchases whose certificate was not refunded or revoked since (those no longer count)."""
    purchases = list(purchases)
    certificate_ids = [p.certificate_id for p in purchases if p.certificate_id is not None]
    withdrawn: set[int] = set()
    if certificate_ids:
        withdrawn = {c.id for c in await Certificate.filter(id__in=certificate_ids, status__in=WITHDRAWN)}
    return [p for p in purchases if p.certificate_id not in withdrawn]


async def _counted(id_digest: str, year: int, **filters: object) -> list[PlantingPurchase]:
    query = PlantingPurchase.filter(id_digest=id_digest, year=year, status=PurchaseStatus.COUNTED, **filters)
    return await _standing(await query)


async def counted_trees(id_number: str, year: int) -> int:
    """Trees counted for this ID number in ``year`` (all channels: own purchases and rosters)."""
    return sum(p.trees for p in await _counted(idcrypt.digest(normalise_resident_id(id_number)), year))


async def fulfilled_digests(digests: Iterable[str], year: int) -> set[str]:
    """Which of these people (by the blind index of their ID number, :mod:`registry.idcrypt`) fulfilled the duty
    of ``year`` through any purchase — a citizen's own or any organisation's roster — whose certificate still
    stands. The one rule behind the citizen's notice, the roster preview's flag and the fulfilment report."""
    ordered = sorted({d for d in digests if d})
    done: set[str] = set()
    for start in range(0, len(ordered), CHUNK):
        fulfilling = await _standing(
            await PlantingPurchase.filter(
                id_digest__in=ordered[start : start + CHUNK],
                year=year,
                status=PurchaseStatus.COUNTED,
                outcome=PlantingOutcome.FULFILS,
            )
        )
        done |= {str(p.id_digest) for p in fulfilling}
    return done


async def already_fulfilled(id_number: str | None, year: int) -> bool:
    """Whether the holder of this ID number fulfilled the duty of ``year`` through Linpiao."""
    if not id_number:
        return False
    try:
        normalised = normalise_resident_id(id_number)
    except InvalidIdentifier:
        return False
    return idcrypt.digest(normalised) in await fulfilled_digests([idcrypt.digest(normalised)], year)


def decide_outcome(*, owes: bool, fulfilled_before: bool, trees_before: int, trees: int, duty: int) -> PlantingOutcome:
    """Which certificate a purchase earns, given what the same person already has for the year."""
    if not owes:
        return PlantingOutcome.OUTSIDE_DUTY
    if fulfilled_before:
        return PlantingOutcome.BEYOND_DUTY
    if trees_before + trees >= duty:
        return PlantingOutcome.FULFILS
    return PlantingOutcome.PARTIAL


@dataclass(frozen=True)
class CitizenRequest:
    year: int
    trees: int
    name: str
    id_number: str | None
    assessment: DutyAssessment
    # when the citizen consented to their ID number being processed (the privacy notice's version is
    # idcrypt.NOTICE_VERSION); None when no ID number was given
    consented_at: datetime | None = None


def parse_citizen_request(
    *,
    year: object,
    trees: object,
    name: object,
    id_number: object = None,
    declared_owes: bool | None = None,
    id_consent: bool = False,
) -> CitizenRequest:
    """Check what a citizen sent; the ID number is validated (and only ever shown masked). An ID number is taken
    only with the citizen's explicit consent (PIPL art. 29: sensitive personal information needs separate
    consent): without it, :class:`IdConsentRequired` and nothing is collected."""
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    checked_year = _check_year(year)
    checked_trees = check_trees(trees)
    text = visible_text(str(name or ""))
    if not text or len(text) > MAX_NAME:
        raise InvalidPlantingName()
    raw_id = str(id_number or "").strip()
    if raw_id and not id_consent:
        raise IdConsentRequired()
    normalised = normalise_resident_id(raw_id) if raw_id else None
    assessment = assess_duty(checked_year, normalised, declared_owes=declared_owes)
    return CitizenRequest(
        year=checked_year,
        trees=checked_trees,
        name=text,
        id_number=normalised,
        assessment=assessment,
        consented_at=clock.now() if normalised else None,
    )


async def create_purchase(
    *,
    rule: PlantingRule,
    name: str,
    trees: int,
    assessment: DutyAssessment,
    price_fen: int,
    id_number: str | None = None,
    order: Order | None = None,
    member: RosterMember | None = None,
) -> PlantingPurchase:
    """Record a pending purchase (call inside the transaction that creates its order). A citizen's ID number is
    kept encrypted (it becomes the register's holder when the order is fulfilled), never in plain text."""
    tickets = rule.tickets_for(trees)
    sealed = idcrypt.seal(id_number) if id_number else None
    return await PlantingPurchase.create(
        year=rule.year,
        rule=rule,
        order=order,
        member=member,
        name=name[:MAX_NAME],
        id_digest=sealed.digest if sealed else None,
        id_cipher=sealed.cipher if sealed else None,
        id_masked=sealed.masked if sealed else "",
        trees=trees,
        tickets=tickets,
        amount_fen=tickets * price_fen,
        owes_duty=assessment.owes,
        duty_basis=assessment.basis,
    )


CHUNK = 500


async def _years_so_far(purchases: Sequence[PlantingPurchase]) -> dict[tuple[str, int], tuple[int, bool]]:
    """(ID number's blind index, year) → (trees counted, duty fulfilled) before these purchases, in a few
    queries."""
    wanted: dict[int, set[str]] = {}
    for p in purchases:
        if p.id_digest:
            wanted.setdefault(p.year, set()).add(p.id_digest)
    own = {p.id for p in purchases}
    so_far: dict[tuple[str, int], tuple[int, bool]] = {}
    for year, numbers in wanted.items():
        ordered = sorted(numbers)
        for start in range(0, len(ordered), CHUNK):
            earlier = await PlantingPurchase.filter(
                id_digest__in=ordered[start : start + CHUNK], year=year, status=PurchaseStatus.COUNTED
            )
            for p in await _standing(q for q in earlier if q.id not in own):
                trees, fulfilled = so_far.get((str(p.id_digest), year), (0, False))
                so_far[(str(p.id_digest), year)] = (trees + p.trees, fulfilled or p.outcome is PlantingOutcome.FULFILS)
    return so_far


async def _count_all(purchases: Sequence[PlantingPurchase], now: datetime) -> None:
    """Decide each purchase's outcome in order, each seeing the ones before it (same person, same year)."""
    rules = {r.id: r for r in await PlantingRule.filter(id__in={p.rule_id for p in purchases})}
    so_far = await _years_so_far(purchases)
    for purchase in purchases:
        key = (str(purchase.id_digest), purchase.year)
        trees_before, fulfilled_before = so_far.get(key, (0, False)) if purchase.id_digest else (0, False)
        outcome = decide_outcome(
            owes=purchase.owes_duty,
            fulfilled_before=fulfilled_before,
            trees_before=trees_before,
            trees=purchase.trees,
            duty=rules[purchase.rule_id].trees_per_duty,
        )
        purchase.status = PurchaseStatus.COUNTED
        purchase.outcome = outcome
        purchase.certificate_kind = CERTIFICATE_FOR[outcome]
        purchase.trees_in_year = trees_before + purchase.trees
        purchase.counted_at = now
        if purchase.id_digest:
            so_far[key] = (trees_before + purchase.trees, fulfilled_before or outcome is PlantingOutcome.FULFILS)
    # One UPDATE per distinct outcome (a roster's people mostly share one), not a CASE per row: a 5,000-person
    # payment is counted in a few statements, inside the payment event's request.
    groups: dict[tuple[PlantingOutcome | None, CertificateKind | None, int | None], list[int]] = {}
    for purchase in purchases:
        groups.setdefault((purchase.outcome, purchase.certificate_kind, purchase.trees_in_year), []).append(purchase.id)
    for (decided, kind, in_year), ids in groups.items():
        for start in range(0, len(ids), CHUNK):
            await PlantingPurchase.filter(id__in=ids[start : start + CHUNK]).update(
                status=PurchaseStatus.COUNTED,
                outcome=decided,
                certificate_kind=kind,
                trees_in_year=in_year,
                counted_at=now,
            )


async def count_order_purchases(order: Order) -> list[PlantingPurchase]:
    """Count an order's purchases toward their persons' years and decide each one's certificate.

    Call it from the order's fulfilment (inside its transaction, which holds the register lock and so
    serialises counting). Safe to repeat: purchases already counted are returned unchanged. A roster
    payment paid through this order is marked paid with its members."""
    now = clock.now()
    async with in_transaction():
        purchases = await PlantingPurchase.filter(order=order).order_by("id")
        uncounted = [p for p in purchases if p.status is not PurchaseStatus.COUNTED]
        if uncounted:
            await _count_all(uncounted, now)
        payment = await RosterPayment.get_or_none(order=order)
        if payment is not None and payment.status is not PaymentStatus.PAID:
            await _mark_paid(payment, now)
    return purchases


async def void_order_purchases(order: Order) -> int:
    """The order will never be paid (expired, failed, cancelled): its purchases stop being pending and a
    roster payment it carried gives its members back to the roster, to be paid again."""
    async with in_transaction():
        voided = await PlantingPurchase.filter(order=order, status=PurchaseStatus.PENDING).update(
            status=PurchaseStatus.VOID
        )
        payment = await RosterPayment.get_or_none(order=order)
        if payment is not None and payment.status is PaymentStatus.PENDING:
            payment.status = PaymentStatus.CANCELLED
            await payment.save(update_fields=["status"])
            await RosterMember.filter(payment=payment, status=MemberStatus.IN_PAYMENT).update(
                status=MemberStatus.PENDING, payment_id=None
            )
    return voided


# ---------------------------------------------------------------------------------------------------------
# Organisations: roster, payments, report


UNPAID_ENDS = (OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.CANCELLED)


class MemberStatus(StrEnum):
    PENDING = "pending"  # on the roster, not paid
    IN_PAYMENT = "in_payment"  # part of a payment not yet completed
    PAID = "paid"
    SUPERSEDED = "superseded"  # replaced by a later upload before being paid


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SUPERSEDED = "superseded"  # a new upload replaced its rows before it was paid
    CANCELLED = "cancelled"  # its order expired, failed or was cancelled


class RosterSubmission(Model):
    """An organisation's roster for one year, reached again through a private management link (token)."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    organisation_name = fields.CharField(max_length=MAX_TEXT)
    credit_code = fields.CharField(max_length=18, db_index=True)  # 统一社会信用代码, validated
    contact = fields.CharField(max_length=MAX_TEXT)
    year = fields.IntField()
    uploads = fields.IntField(default=0)
    # the uploader's confirmation, with the latest upload, that each person on it agreed to their ID number being
    # processed (PIPL art. 13–14), and the version of the privacy notice it referred to
    consent_version = fields.CharField(max_length=32, default="")
    consent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "planting_roster"


class RosterPayment(Model):
    """One payment for a batch of roster rows (the first upload, then each group of late staff)."""

    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[RosterSubmission] = fields.ForeignKeyField(
        "models.RosterSubmission", related_name="payments", on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="roster_payments", null=True, on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(PaymentStatus, max_length=16, default=PaymentStatus.PENDING)
    members_count = fields.IntField()
    trees = fields.BigIntField()
    tickets = fields.BigIntField()
    amount_fen = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "planting_roster_payment"


class RosterMember(Model):
    """One row of an uploaded roster: a member of staff, with the problems found in the row."""

    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[RosterSubmission] = fields.ForeignKeyField(
        "models.RosterSubmission", related_name="members", on_delete=fields.RESTRICT
    )
    upload_no = fields.IntField()
    line_no = fields.IntField()
    name = fields.CharField(max_length=MAX_TEXT, default="")
    # legacy plain text, emptied by the wave-3 data step and never written since: a roster's ID numbers are only
    # ever checked (the year's duty, one person paid once), so only their blind index is kept (registry.idcrypt)
    id_number = fields.CharField(max_length=18, null=True)
    id_digest = fields.CharField(max_length=64, null=True)
    id_given_masked = fields.CharField(max_length=40, default="")  # what the file held, masked (bad IDs too)
    staff_no = fields.CharField(max_length=64, default="")
    trees = fields.IntField(null=True)  # None: the rule's trees per person
    problems = fields.JSONField(default=list)  # [{"code": ..., "severity": "error"|"warning", "detail": ...}]
    payable = fields.BooleanField()
    owes_duty = fields.BooleanField(default=True)
    duty_basis = fields.CharEnumField(DutyBasis, max_length=16, default=DutyBasis.PRESUMED)
    status = fields.CharEnumField(MemberStatus, max_length=16, default=MemberStatus.PENDING)
    payment: fields.ForeignKeyNullableRelation[RosterPayment] = fields.ForeignKeyField(
        "models.RosterPayment", related_name="members", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "planting_roster_member"
        indexes = (("submission", "status"),)

    @property
    def id_masked(self) -> str:
        return self.id_given_masked


class RosterLine(Protocol):
    """What a parsed roster row offers (``shop.roster.RosterRow`` is one)."""

    line: int
    name: str
    id_number: str | None
    staff_no: str
    trees: int | None

    @property
    def payable(self) -> bool: ...

    def problem_dicts(self) -> list[dict[str, str]]: ...


def normalise_credit_code(value: str) -> str:
    """The canonical credit code, or :class:`InvalidIdentifier` (:mod:`registry.identity`)."""
    return identity.validate_credit_code(value)


@dataclass(frozen=True)
class Organisation:
    name: str
    credit_code: str
    contact: str
    year: int


async def check_organisation(
    *, organisation_name: object, credit_code: object, contact: object, year: object
) -> Organisation:
    """Check an organisation's details (and that its year is on sale) without storing anything."""
    name = _clean_text(visible_text(str(organisation_name or "")), MAX_TEXT + 1)
    reach = _clean_text(contact, MAX_TEXT + 1)
    if not name or not reach or len(name) > MAX_TEXT or len(reach) > MAX_TEXT:
        raise InvalidOrganisation()
    code = normalise_credit_code(str(credit_code or ""))
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    checked_year = _check_year(year)
    await rule_for(checked_year)
    return Organisation(name=name, credit_code=code, contact=reach, year=checked_year)


async def create_submission(*, organisation_name: str, credit_code: str, contact: str, year: int) -> RosterSubmission:
    """Open an organisation's roster for a year that has a rule in force."""
    org = await check_organisation(
        organisation_name=organisation_name, credit_code=credit_code, contact=contact, year=year
    )
    return await RosterSubmission.create(
        token=secrets.token_urlsafe(32),
        organisation_name=org.name,
        credit_code=org.credit_code,
        contact=org.contact,
        year=org.year,
    )


async def submission_by_token(token: str) -> RosterSubmission:
    if not token or len(token) > 64:
        raise RosterNotFound()
    submission = await RosterSubmission.get_or_none(token=token)
    if submission is None:
        raise RosterNotFound()
    return submission


async def _lock_submission(submission: RosterSubmission) -> None:
    # A no-op write takes the row's lock (PostgreSQL) or the database's write lock (SQLite), so uploads and
    # payments of one roster never interleave.
    await RosterSubmission.filter(id=submission.id).update(uploads=F("uploads"))


def _identity_keys(member_id: str | None, staff_no: str, name: str) -> list[tuple[str, str]]:
    keys = []
    if member_id:
        keys.append(("id", member_id))
    if staff_no:
        keys.append(("staff", staff_no))
    if not keys and name:
        keys.append(("name", name))
    return keys


@dataclass
class UploadResult:
    submission: RosterSubmission
    upload_no: int
    members: list[RosterMember]
    superseded_payments: list[RosterPayment] = field(default_factory=list)

    @property
    def payable(self) -> list[RosterMember]:
        return [m for m in self.members if m.payable]


async def store_roster(
    submission: RosterSubmission, lines: Sequence[RosterLine], *, consented: bool = False
) -> UploadResult:
    """Store an upload's rows (problems included) as the roster's unpaid part, in one transaction.

    A roster that carries ID numbers is stored only when the uploader confirms (``consented``) that each person
    was told and agreed (PIPL art. 13–14); otherwise :class:`RosterConsentRequired` and nothing is written.
    Rows of an earlier upload that were not paid are superseded (kept, marked so), as is a payment still
    waiting for them — the caller cancels that payment's order. People already paid for in this roster are
    flagged ``already_paid`` and not paid twice."""
    if not consented and any(line.id_number or getattr(line, "id_raw", "") for line in lines):
        raise RosterConsentRequired()
    async with in_transaction():
        await _lock_submission(submission)
        submission = await RosterSubmission.get(id=submission.id)
        pending_payments = await RosterPayment.filter(submission=submission, status=PaymentStatus.PENDING)
        for payment in pending_payments:
            payment.status = PaymentStatus.SUPERSEDED
            await payment.save(update_fields=["status"])
        unpaid = RosterMember.filter(submission=submission, status__in=[MemberStatus.PENDING, MemberStatus.IN_PAYMENT])
        unpaid_ids = list(await unpaid.values_list("id", flat=True))
        if unpaid_ids:
            await RosterMember.filter(id__in=unpaid_ids).update(status=MemberStatus.SUPERSEDED)
            await PlantingPurchase.filter(member_id__in=unpaid_ids, status=PurchaseStatus.PENDING).update(
                status=PurchaseStatus.VOID
            )
        paid = await RosterMember.filter(submission=submission, status=MemberStatus.PAID)
        paid_keys = {key for m in paid for key in _identity_keys(m.id_digest, m.staff_no, m.name)}
        upload_no = submission.uploads + 1
        members = []
        for line in lines:
            problems = line.problem_dicts()
            payable = line.payable
            # only the blind index is kept: a roster's ID numbers are checked, never needed again whole
            digest = idcrypt.digest(line.id_number) if line.id_number else None
            if payable and any(k in paid_keys for k in _identity_keys(digest, line.staff_no, line.name)):
                problems = [*problems, {"code": "already_paid", "severity": "error", "detail": ""}]
                payable = False
            if line.id_number:
                assessment = duty_from_id(line.id_number, submission.year)
            else:
                assessment = DutyAssessment(owes=True, basis=DutyBasis.PRESUMED)
            members.append(
                RosterMember(
                    submission=submission,
                    upload_no=upload_no,
                    line_no=line.line,
                    name=line.name[:MAX_TEXT],
                    id_digest=digest,
                    id_given_masked=mask(line.id_number or getattr(line, "id_raw", "") or "")[:40],
                    staff_no=line.staff_no[:64],
                    trees=line.trees,
                    problems=problems,
                    payable=payable,
                    owes_duty=assessment.owes,
                    duty_basis=assessment.basis,
                )
            )
        await RosterMember.bulk_create(members, batch_size=500)
        submission.uploads = upload_no
        if consented:
            submission.consent_version = idcrypt.NOTICE_VERSION
            submission.consent_at = clock.now()
        await submission.save(update_fields=["uploads", "updated_at", "consent_version", "consent_at"])
        stored = await RosterMember.filter(submission=submission, upload_no=upload_no).order_by("line_no", "id")
    return UploadResult(
        submission=submission, upload_no=upload_no, members=stored, superseded_payments=list(pending_payments)
    )


async def already_fulfilled_members(members: Iterable[RosterMember], year: int) -> set[int]:
    """The rows not yet paid for whose person already fulfilled ``year``'s duty — through their own purchase or
    another roster's — so the preview can say so before the organisation pays. Told, not stopped: paying for
    them brings an honour certificate (given beyond the duty), as for a citizen."""
    unpaid = [m for m in members if m.id_digest and m.status in (MemberStatus.PENDING, MemberStatus.IN_PAYMENT)]
    done = await fulfilled_digests((str(m.id_digest) for m in unpaid), year)
    return {m.id for m in unpaid if m.id_digest in done}


async def lapsed_payments(submission: RosterSubmission | None = None) -> list[RosterPayment]:
    """Waiting payments whose order ended unpaid (expired, failed, cancelled) — of one roster, or of every one.
    Reading them changes nothing: the management page shows their rows as unpaid until they are released."""
    query = RosterPayment.filter(status=PaymentStatus.PENDING, order__status__in=list(UNPAID_ENDS))
    if submission is not None:
        query = query.filter(submission_id=submission.id)
    return await query.order_by("id")


async def release_lapsed_payments(submission: RosterSubmission | None = None) -> int:
    """Waiting payments whose order ended unpaid give their rows back to the roster, to be paid again — of one
    roster (before it is paid again), or of every roster (the expiry job's sweep). Returns how many were released."""
    lapsed = await lapsed_payments(submission)
    for order in await Order.filter(id__in=[p.order_id for p in lapsed]).order_by("id"):
        await void_order_purchases(order)
    return len(lapsed)


@dataclass(frozen=True)
class UnpaidSummary:
    """What paying for the roster's payable, unpaid rows would cost now."""

    members: int
    trees: int
    tickets: int
    amount_fen: int


async def unpaid_summary(
    submission: RosterSubmission, *, price_fen: int, lapsed: Collection[int] = ()
) -> UnpaidSummary:
    """The payable rows not paid for; ``lapsed``: payments whose order ended unpaid, their rows counted as unpaid
    (:func:`lapsed_payments`, not yet released)."""
    rule = await rule_for(submission.year)
    unpaid = Q(status=MemberStatus.PENDING)
    if lapsed:
        unpaid |= Q(status=MemberStatus.IN_PAYMENT, payment_id__in=list(lapsed))
    members = await RosterMember.filter(unpaid, submission=submission, payable=True)
    trees = [m.trees or rule.trees_per_duty for m in members]
    tickets = sum(rule.tickets_for(t) for t in trees)
    return UnpaidSummary(members=len(members), trees=sum(trees), tickets=tickets, amount_fen=tickets * price_fen)


async def open_payment(submission: RosterSubmission, *, price_fen: int) -> tuple[RosterPayment, list[PlantingPurchase]]:
    """Gather the roster's payable, unpaid rows into one payment and a pending purchase per person.

    Returns the waiting payment instead when there is one (a repeated click pays nothing twice); the caller
    creates the order for ``payment.amount_fen`` and attaches it with :func:`attach_order`."""
    rule = await rule_for(submission.year)
    async with in_transaction():
        await _lock_submission(submission)
        await release_lapsed_payments(submission)
        waiting = await RosterPayment.filter(submission=submission, status=PaymentStatus.PENDING).first()
        if waiting is not None:
            purchases = await PlantingPurchase.filter(member__payment=waiting, status=PurchaseStatus.PENDING).order_by(
                "id"
            )
            return waiting, list(purchases)
        candidates = await RosterMember.filter(
            submission=submission, status=MemberStatus.PENDING, payable=True
        ).order_by("line_no", "id")
        # A payment superseded by this upload may have been paid after all: never pay for a person twice.
        paid = await RosterMember.filter(submission=submission, status=MemberStatus.PAID)
        paid_keys = {key for m in paid for key in _identity_keys(m.id_digest, m.staff_no, m.name)}
        members = []
        for member in candidates:
            if any(k in paid_keys for k in _identity_keys(member.id_digest, member.staff_no, member.name)):
                member.payable = False
                member.problems = [*member.problems, {"code": "already_paid", "severity": "error", "detail": ""}]
                await member.save(update_fields=["payable", "problems"])
            else:
                members.append(member)
        if not members:
            raise NothingToPay()
        trees = [m.trees or rule.trees_per_duty for m in members]
        tickets = sum(rule.tickets_for(t) for t in trees)
        payment = await RosterPayment.create(
            submission=submission,
            members_count=len(members),
            trees=sum(trees),
            tickets=tickets,
            amount_fen=tickets * price_fen,
        )
        await RosterMember.filter(id__in=[m.id for m in members]).update(
            status=MemberStatus.IN_PAYMENT, payment=payment
        )
        purchases = [
            PlantingPurchase(
                year=submission.year,
                rule=rule,
                member_id=member.id,
                name=member.name[:MAX_NAME],
                id_digest=member.id_digest,
                id_masked=member.id_given_masked if member.id_digest else "",
                trees=count,
                tickets=rule.tickets_for(count),
                amount_fen=rule.tickets_for(count) * price_fen,
                owes_duty=member.owes_duty,
                duty_basis=member.duty_basis,
            )
            for member, count in zip(members, trees, strict=True)
        ]
        await PlantingPurchase.bulk_create(purchases, batch_size=500)
        stored = await PlantingPurchase.filter(member__payment=payment, status=PurchaseStatus.PENDING).order_by("id")
    return payment, list(stored)


def allot_serials(ranges: Sequence[Sequence[int]], quantities: Sequence[int]) -> list[list[list[int]]]:
    """Split the serial ranges one register entry retired (lowest first) into consecutive parts of
    ``quantities``, in order: each person of a roster payment gets the serials of their own tickets.

    The quantities must add up to the ranges' size exactly (a payment's tickets are its people's tickets)."""
    pieces = sorted((int(first), int(last)) for first, last in ranges)
    if any(q < 0 for q in quantities) or sum(quantities) != sum(last - first + 1 for first, last in pieces):
        raise InvalidState(f"{sum(quantities)} tickets for ranges {pieces[:3]}")
    parts: list[list[list[int]]] = []
    index, position = 0, pieces[0][0] if pieces else 0
    for quantity in quantities:
        part: list[list[int]] = []
        left = quantity
        while left:
            last = pieces[index][1]
            take = min(left, last - position + 1)
            part.append([position, position + take - 1])
            left -= take
            position += take
            if position > last and index + 1 < len(pieces):
                index += 1
                position = pieces[index][0]
        parts.append(part)
    return parts


async def attach_order(payment: RosterPayment, order: Order) -> None:
    """Link a payment and its purchases to the order that collects the money (same transaction as the order)."""
    payment.order = order
    await payment.save(update_fields=["order_id"])
    member_ids = list(await RosterMember.filter(payment=payment).values_list("id", flat=True))
    await PlantingPurchase.filter(member_id__in=member_ids, status=PurchaseStatus.PENDING).update(order=order)


async def _mark_paid(payment: RosterPayment, now: datetime) -> None:
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    await payment.save(update_fields=["status", "paid_at"])
    # Members of a payment superseded by a later upload were paid for all the same: they count.
    await RosterMember.filter(payment=payment).update(status=MemberStatus.PAID)


# The report ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    member_id: int
    certificate_id: int | None
    line_no: int
    name: str
    id_masked: str
    staff_no: str
    owes_duty: bool
    paid: bool
    fulfilled: bool
    outcome: PlantingOutcome | None
    trees: int | None


@dataclass(frozen=True)
class FulfilmentReport:
    """尽责情况报告: staff listed, owing the duty, fulfilled, and the rate fulfilled ÷ owing."""

    submission: RosterSubmission
    year: int
    lines: list[ReportLine]
    listed: int
    owing: int
    fulfilled: int
    paid: int
    honour: int  # paid for, outside the duty or beyond it

    @property
    def rate(self) -> Decimal | None:
        """The fulfilment rate in per cent, rounded half-up to 0.1; ``None`` when nobody owes the duty."""
        if not self.owing:
            return None
        return (Decimal(100 * self.fulfilled) / Decimal(self.owing)).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def rate_text(self) -> str:
        return "—" if self.rate is None else f"{self.rate}%"


DUPLICATE_CODES = frozenset({"duplicate", "already_paid"})


def _listed(members: Iterable[RosterMember]) -> list[RosterMember]:
    """The distinct people of the roster: paid rows, and the current upload's rows that are not a repeat of
    another row (rows with other problems are people all the same — owing, not yet fulfilled)."""

    def repeat(m: RosterMember) -> bool:
        return any(p.get("code") in DUPLICATE_CODES for p in m.problems)

    current = (MemberStatus.PENDING, MemberStatus.IN_PAYMENT)
    return [m for m in members if m.status is MemberStatus.PAID or (m.status in current and not repeat(m))]


async def fulfilment_report(submission: RosterSubmission) -> FulfilmentReport:
    """The roster's fulfilment for its year (see the module's docstring for the formula)."""
    everyone = await RosterMember.filter(submission=submission).order_by("upload_no", "line_no", "id")
    listed = _listed(everyone)
    purchases = await _standing(
        await PlantingPurchase.filter(member_id__in=[m.id for m in listed], status=PurchaseStatus.COUNTED)
    )
    by_member = {p.member_id: p for p in purchases}
    fulfilled_ids = await fulfilled_digests((m.id_digest for m in listed if m.id_digest), submission.year)
    lines = []
    for m in listed:
        purchase = by_member.get(m.id)
        own = purchase is not None and purchase.outcome is PlantingOutcome.FULFILS
        done = m.owes_duty and (own or (m.id_digest is not None and m.id_digest in fulfilled_ids))
        lines.append(
            ReportLine(
                member_id=m.id,
                certificate_id=purchase.certificate_id if purchase is not None else None,
                line_no=m.line_no,
                name=m.name,
                id_masked=m.id_masked,
                staff_no=m.staff_no,
                owes_duty=m.owes_duty,
                paid=m.status is MemberStatus.PAID,
                fulfilled=done,
                outcome=purchase.outcome if purchase is not None else None,
                trees=purchase.trees if purchase is not None else m.trees,
            )
        )
    honour = sum(1 for line in lines if line.paid and line.outcome is not PlantingOutcome.FULFILS)
    return FulfilmentReport(
        submission=submission,
        year=submission.year,
        lines=lines,
        listed=len(lines),
        owing=sum(1 for line in lines if line.owes_duty),
        fulfilled=sum(1 for line in lines if line.fulfilled),
        paid=sum(1 for line in lines if line.paid),
        honour=honour,
    )


# ---------------------------------------------------------------------------------------------------------
# What the register reads of the duty (registry/donations.py) and how it seals these tables' ID numbers
# (registry/sealing.py): registered here, so that the register imports nothing of planting
# ---------------------------------------------------------------------------------------------------------


async def receiving_bodies(order_ids: Sequence[int]) -> list[tuple[int, str, int]]:
    """The purchases of these orders as (order id, receiving body of the purchase's rule, the rule's year)."""
    purchases = await PlantingPurchase.filter(order_id__in=list(order_ids)).values(
        "order_id", "rule__receiving_body", "rule__year"
    )
    return [(p["order_id"], p["rule__receiving_body"], p["rule__year"]) for p in purchases]


RECEIVING_BODIES_SQL = (
    "SELECT p.order_id AS order_id, MAX(r.receiving_body) AS body "
    "FROM planting_purchase p JOIN planting_rule r ON r.id = p.rule_id GROUP BY p.order_id"
)


async def payer_code(submission_id: int) -> str:
    """The credit code of the organisation whose roster an order paid ("" when the roster is not found)."""
    found = await RosterSubmission.filter(id=submission_id).values_list("credit_code", flat=True)
    return str(found[0]) if found else ""


async def planting_year(year: int) -> donations.PlantingYear:
    """The tree-planting duty fulfilled in ``year`` (aggregate queries; refunded or revoked ones do not count)."""
    withdrawn = Subquery(Certificate.filter(status__in=list(WITHDRAWN)).values("id"))  # no join: sums stay plain
    standing = PlantingPurchase.filter(year=year, status=PurchaseStatus.COUNTED).filter(
        Q(certificate_id__isnull=True) | Q(certificate_id__not_in=withdrawn)
    )
    own = await standing.filter(outcome=PlantingOutcome.FULFILS, member_id__isnull=True).count()
    by_org = await standing.filter(outcome=PlantingOutcome.FULFILS, member_id__isnull=False).count()
    trees_row = await standing.annotate(t=Sum("trees")).values("t")
    organisations_row = (
        await RosterPayment.filter(status=PaymentStatus.PAID, submission__year=year)
        .annotate(n=Count("submission_id", distinct=True))
        .values("n")
    )
    return donations.PlantingYear(
        year=year,
        people=own + by_org,
        people_own=own,
        people_by_organisation=by_org,
        organisations=int(organisations_row[0]["n"] or 0) if organisations_row else 0,
        trees=int(trees_row[0]["t"] or 0) if trees_row else 0,
    )


async def seal_purchases() -> int:
    """Blind index and masked form of each plain-text ID number; a citizen's own purchase (no roster row) also
    keeps the ciphertext, since an unpaid one still becomes a holder when paid; the plain column emptied."""
    done = 0
    while purchases := await PlantingPurchase.filter(id_number__not_isnull=True).limit(CHUNK):
        for purchase in purchases:
            sealed = idcrypt.seal(str(purchase.id_number), keep=purchase.member_id is None)
            purchase.id_digest, purchase.id_masked = sealed.digest, sealed.masked
            if sealed.cipher is not None:  # a citizen's own purchase: it becomes a holder when paid
                purchase.id_cipher = sealed.cipher
            purchase.id_number = None
        await PlantingPurchase.bulk_update(purchases, fields=["id_number", "id_digest", "id_cipher", "id_masked"])
        done += len(purchases)
    return done


async def seal_members() -> int:
    """Blind index and masked form only of each roster row's plain-text ID number; the plain column emptied."""
    done = 0
    while members := await RosterMember.filter(id_number__not_isnull=True).limit(CHUNK):
        for member in members:
            member.id_digest = idcrypt.digest(str(member.id_number))
            member.id_given_masked = mask(str(member.id_number))
            member.id_number = None
        await RosterMember.bulk_update(members, fields=["id_number", "id_digest", "id_given_masked"])
        done += len(members)
    return done


donations.register(donations.PlantingBook(receiving_bodies, RECEIVING_BODIES_SQL, payer_code, planting_year))
sealing.register(sealing.SealedTable("planting_purchase", seal_purchases, ciphers=PlantingPurchase))
sealing.register(sealing.SealedTable("planting_roster_member", seal_members))
