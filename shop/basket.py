"""The calculator's basket (清单): results of several steps added up into one purchase, kept on the visitor's device.

No server state for anonymous visitors: the basket is a cookie signed with the site's secret (itsdangerous), holding
each item's *inputs* (a step and the values typed in it), never a result. Every page recomputes the results from
those inputs with the factors in force, so a cookie can neither be forged nor carry a stale or invented figure.
The basket's total becomes the buy page's quantity (``ceil(total kg ÷ kg per ticket)``, the same rounding as one
estimate) and its purpose: the one whose items weigh most, preselected and changeable, with every item's purpose
listed beside it. Placing the order empties it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from kernel.i18n import format_number
from kernel.settings import Settings
from shop.calcsteps import STEPS, CalcStep, read_step
from shop.calculator import load_factors
from shop.device_cookie import DeviceList
from shop.i18n import gettext as _
from shop.orders import PURPOSES

BASKET = DeviceList(cookie="linpiao_basket", salt="linpiao-shop-basket", max_age=30 * 24 * 3600)
MAX_ITEMS = 10  # keeps the cookie far below the 4 KB browsers allow


def _item(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or value.get("step") not in STEPS:
        return None
    names = {spec.name for spec in STEPS[value["step"]].fields} | {"step"}
    if not all(isinstance(k, str) and isinstance(v, str) and k in names and len(v) <= 100 for k, v in value.items()):
        return None
    return value


def read_items(request: Request, settings: Settings) -> list[dict[str, str]]:
    """The basket's items; an unsigned, tampered, expired or malformed cookie is an empty basket."""
    items = [_item(entry) for entry in BASKET.read(request, settings)[:MAX_ITEMS]]
    return [item for item in items if item is not None]


def fits(settings: Settings, items: list[dict[str, str]]) -> bool:
    """Whether ``items`` still fit one cookie (browsers keep 4 KB a cookie; an oversized one would be dropped)."""
    return len(items) <= MAX_ITEMS and BASKET.fits(settings, items)


def write_items(response: Response, settings: Settings, items: list[dict[str, str]]) -> None:
    BASKET.write(response, settings, items[:MAX_ITEMS])


@dataclass(frozen=True)
class BasketLine:
    index: int
    step: CalcStep
    summary: str  # what was entered, in a few words, in the page's language
    kg: Decimal
    values: dict[str, str]

    @property
    def purpose(self) -> str:
        return self.step.purpose

    @property
    def query(self) -> str:
        """The step's query string: the link back to the step with these values in it."""
        return urlencode(self.values)


@dataclass(frozen=True)
class Basket:
    lines: list[BasketLine]
    kg_per_ticket: Decimal

    @property
    def total_kg(self) -> Decimal:
        return sum((line.kg for line in self.lines), Decimal(0))

    @property
    def tickets(self) -> int:
        total = self.total_kg
        return int((total / self.kg_per_ticket).to_integral_value(rounding=ROUND_CEILING)) if total > 0 else 0

    @property
    def purposes(self) -> list[tuple[str, Decimal]]:
        """Each purpose with the kg of its items, heaviest first (ties in the order of the steps)."""
        weights: dict[str, Decimal] = {}
        for step in STEPS.values():
            kg = sum((line.kg for line in self.lines if line.step is step), Decimal(0))
            if kg > 0:
                weights[step.purpose] = weights.get(step.purpose, Decimal(0)) + kg
        return sorted(weights.items(), key=lambda pair: -pair[1])

    @property
    def purpose(self) -> str:
        """The purpose the buy page preselects: the one whose items weigh most."""
        purposes = self.purposes
        return purposes[0][0] if purposes else "other"

    def buy_query(self, minimum: int) -> str:
        return urlencode({"quantity": max(self.tickets, minimum), "purpose": self.purpose, "basket": "1"})


def basket_of(items: list[dict[str, str]], kg_per_ticket: Decimal) -> Basket:
    """The basket's lines, each recomputed from its stored inputs; an item that no longer checks (the factors
    changed) is left out rather than shown with a wrong figure."""
    lines = []
    for index, values in enumerate(items):
        step = STEPS[values["step"]]
        entry = read_step(step, _as_submitted(step, values), kg_per_ticket=kg_per_ticket)
        if entry.ok and entry.result is not None:
            lines.append(BasketLine(index, step, summary(step, entry.stored()), entry.result.kg_co2e, entry.stored()))
    return Basket(lines, kg_per_ticket)


def _as_submitted(step: CalcStep, values: Mapping[str, str]) -> dict[str, str]:
    """A stored item keeps only what was entered; as a submitted form, every field of its step is present."""
    return {spec.name: values.get(spec.name, "") for spec in step.fields}


def summary(step: CalcStep, values: Mapping[str, str]) -> str:
    """``飞机 · 北京 · 往返 · 2 人``: what a basket line stands for, translated."""
    raw = load_factors().raw
    parts: list[str] = []
    if step.key == "trip":
        parts.append(_(raw["transport"]["factors"][values.get("mode") or "car"]["label"]))
        city = values.get("to")
        if city:
            parts.append(_(raw["distances"]["cities"][city]["label"]))
        else:
            parts.append(f"{format_number(Decimal(values.get('km') or 0), 2)} km")
        if values.get("round_trip"):
            parts.append(_("往返"))
        if (values.get("passengers") or "1") != "1":
            parts.append(_("%(n)s 人", n=format_number(Decimal(values["passengers"]))))
    elif step.key == "meeting":
        parts.append(_("%(n)s 人", n=format_number(Decimal(values.get("meeting_attendees") or 0))))
        parts.append(_("%(n)s 天", n=format_number(Decimal(values.get("meeting_days") or 1))))
        if values.get("meeting_overnight"):
            parts.append(_("含住宿"))
    elif step.key == "event":
        parts.append(_("%(n)s 人", n=format_number(Decimal(values.get("event_attendees") or 0))))
        parts.append(_("%(n)s 天", n=format_number(Decimal(values.get("event_days") or 1))))
    else:
        parts.append(f"{format_number(Decimal(values.get('kwh') or 0), 2)} kWh")
        region = values.get("region") or load_factors().default_region
        parts.append(_(raw["electricity"]["factors"][region]["label"]))
    return " · ".join(parts)


def purpose_label(code: str) -> str:
    return _(PURPOSES.get(code, PURPOSES["other"]))
