"""The calculator's pages: one short step per category (``GET /calculator?step=…``), and the basket's actions
(``POST /calculator/basket``). Everything works as plain forms and links; no script is needed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kernel.settings import Settings
from kernel.templating import render
from linpiao import inputs
from shop.basket import MAX_ITEMS, basket_of, fits, purpose_label, read_items, write_items
from shop.calcsteps import MIX_FIELD, STEPS, StepInput, read_step, step_of
from shop.calculator import TRANSPORT_MODES, Estimate, load_factors, step_label_parts
from shop.views import QuotaView, quota_view

FORM_LIMITS = {"max_files": 0, "max_fields": 40}
NOTICES = ("added", "removed", "cleared", "full")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def kg_per_ticket(quota: QuotaView) -> Decimal:
    return Decimal(quota.kg_per_ticket or 10)


def working(result: Estimate) -> list[dict[str, Any]]:
    """The estimate's lines as the page shows them: kind and factor as msgids, the formula as computed."""
    raw = load_factors().raw
    names = {key: entry["label"] for key, entry in raw["transport"]["factors"].items()}
    names.update({key: entry["label"] for key, entry in raw["electricity"]["factors"].items()})
    lines = []
    for step in result.steps:
        kind, key = step_label_parts(step.label)
        lines.append({"kind": kind, "key": names.get(key, key), "formula": step.formula, "kg": step.kg})
    return lines


async def calculator(request: Request) -> Response:
    settings = _settings(request)
    quota = await quota_view(settings)
    per_ticket = kg_per_ticket(quota)
    step = step_of(request.query_params)
    entry = read_step(step, request.query_params, kg_per_ticket=per_ticket)
    basket = basket_of(read_items(request, settings), per_ticket)
    notice = request.query_params.get("notice")
    return render(
        request,
        "shop/calculator.html",
        {
            "active": "calculator",
            "quota": quota,
            "factors": load_factors(),
            "modes": TRANSPORT_MODES,
            "steps": STEPS,
            "step": step,
            "entry": entry,
            "result": entry.result if entry.ok else None,
            "working": working(entry.result) if entry.ok and entry.result else [],
            "mix_field": MIX_FIELD,
            "basket": basket,
            "basket_full": len(basket.lines) >= MAX_ITEMS,
            "max_items": MAX_ITEMS,
            "purpose_label": purpose_label,
            "notice": notice if notice in NOTICES else "",
            "next_step": _next_step(step.key),
        },
        status_code=400 if entry.errors else 200,
    )


def _next_step(key: str) -> str:
    keys = list(STEPS)
    position = keys.index(key)
    return keys[position + 1] if position + 1 < len(keys) else ""


def _step_query(entry: StepInput, **extra: str) -> str:
    return urlencode({"step": entry.step.key, **entry.values, **extra})


async def basket_action(request: Request) -> Response:
    """``action=add`` (a step's values, checked again), ``remove`` (``index``) or ``clear``; then back to the step.
    An add that does not check goes back to the step with its values, where the errors show field by field."""
    settings = _settings(request)
    async with request.form(**FORM_LIMITS) as submitted:
        form = inputs.form_fields(submitted)
    items = read_items(request, settings)
    step = step_of(form)
    action = form.get("action", "")
    notice = ""
    if action == "add":
        quota = await quota_view(settings)
        entry = read_step(step, form, kg_per_ticket=kg_per_ticket(quota))
        if not entry.ok:
            return RedirectResponse(f"/calculator?{_step_query(entry)}#step-form", status_code=303)
        if fits(settings, [*items, entry.stored()]):
            items.append(entry.stored())
            notice = "added"
        else:
            notice = "full"
    elif action == "remove":
        index = inputs.whole_number(form.get("index"))
        if index is not None and index < len(items):
            items.pop(index)
            notice = "removed"
    elif action == "clear":
        items, notice = [], "cleared"
    query = urlencode({"step": step.key, **({"notice": notice} if notice else {})})
    response = RedirectResponse(f"/calculator?{query}#basket", status_code=303)
    write_items(response, settings, items)
    return response


routes: list[BaseRoute] = [
    Route("/calculator", calculator, name="calculator"),
    Route("/calculator/basket", basket_action, methods=["POST"], name="calculator_basket"),
]
