"""The per-year conversion (折算标准) of the tree-planting duty: the rule staff set, and quotes under it."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from kernel import clock
from planting.domain.errors import InvalidPlantingRule, InvalidTrees, InvalidYear, NoPlantingRule
from planting.domain.models import DEFAULT_TREES_PER_DUTY, MAX_TEXT, PlantingRule
from registry import access, audit, donations

# What one citizen may buy for one year, in trees (the duty is "three to five trees").
TREES_MIN = 3
TREES_MAX = 5
# Order.purpose of a tree-planting order (planting.shop.orders): its money goes to the rule's receiving body,
# never into carbon revenue (registry.stock keeps the two apart).
ORDER_PURPOSE = donations.PLANTING_PURPOSE
YEAR_MIN = 2000
YEAR_MAX = 2100


def check_year(year: object) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidYear(str(year)[:20])
    return year


def _positive(value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InvalidPlantingRule(str(value)[:20])
    return value


def clean_text(value: object, limit: int) -> str:
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
    year = check_year(year)
    tickets_per_tree = _positive(tickets_per_tree, 1_000_000)
    trees_per_duty = _positive(trees_per_duty, 100)
    body = clean_text(receiving_body, MAX_TEXT)
    basis = clean_text(source, MAX_TEXT)
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
    year = check_year(year)
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


def retirement_purpose(year: int) -> str:
    """What the register records as the purpose of the retired tickets."""
    return f"义务植树尽责（{year}年度）"
