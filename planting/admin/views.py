"""Back-office page of obligatory tree planting: the per-year conversion (义务植树折算标准), set by forestry.

Every rule ever set is listed (a new one supersedes, nothing is deleted), with who set it and when, and what
each year has counted so far. The rules themselves live in :mod:`planting.domain`.
"""

from __future__ import annotations

from starlette.responses import Response

from admin.session import AdminContext, settings_of
from admin.web import page, redirect
from kernel import clock
from linpiao.errors import refusal_text, status_of
from planting.domain.models import DEFAULT_TREES_PER_DUTY
from planting.domain.purchases import year_stats
from planting.domain.rules import below_minimum_order, rule_history, set_rule
from registry.errors import RegisterError
from registry.quotas import current_quota

FIELDS = ("year", "tickets_per_tree", "trees_per_duty", "receiving_body", "source", "notes")


def _whole(text: str) -> int | str:
    """A whole number from a form field, or the text as typed (the rule refuses it with its own message)."""
    text = text.strip().replace(",", "")
    return int(text) if text.isdigit() and len(text) < 10 else text


async def rule_list(ctx: AdminContext, error: str = "", status: int = 200) -> Response:
    rules = await rule_history()
    years = sorted({r.year for r in rules}, reverse=True)
    stats = {year: await year_stats(year) for year in years}
    quota = await current_quota()
    price_fen = int(quota.price_fen or 100) if quota else 100
    # rules in force under which one person's purchase is below the shop's minimum order: the shop would refuse it.
    # That minimum follows the payment methods enabled (one ticket with Alipay or WeChat Pay, the card's otherwise).
    min_order_fen = settings_of(ctx.request).smallest_order_fen()
    warnings = [
        shortfall
        for rule in rules
        if rule.in_force and (shortfall := below_minimum_order(rule, price_fen, min_order_fen)) is not None
    ]
    values = {name: ctx.field(name) for name in FIELDS}
    if not values["year"]:
        values["year"] = str(clock.today().year)
    if not values["trees_per_duty"]:
        values["trees_per_duty"] = str(DEFAULT_TREES_PER_DUTY)
    return page(
        ctx,
        "rules.html",
        {
            "rules": rules,
            "stats": stats,
            "price_fen": price_fen,
            "warnings": warnings,
            "values": values,
            "error": error,
        },
        status,
        folder="planting/admin",
    )


async def rule_set(ctx: AdminContext) -> Response:
    try:
        await set_rule(
            year=_whole(ctx.field("year")),  # type: ignore[arg-type]
            tickets_per_tree=_whole(ctx.field("tickets_per_tree")),  # type: ignore[arg-type]
            trees_per_duty=_whole(ctx.field("trees_per_duty") or str(DEFAULT_TREES_PER_DUTY)),  # type: ignore[arg-type]
            receiving_body=ctx.field("receiving_body"),
            source=ctx.field("source"),
            notes=ctx.field("notes"),
            actor=ctx.actor,
        )
    except RegisterError as exc:
        return await rule_list(ctx, refusal_text(exc), status_of(exc))
    return redirect("/admin/planting")
