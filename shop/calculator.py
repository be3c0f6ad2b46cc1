"""The emission calculator (碳排放计算器): trips, meetings, large events and home electricity.

Every factor is data in ``factors.json`` with its source and year; the arithmetic is ``Decimal`` throughout
and the result carries the steps that produced it, so a buyer can see how the figure was reached. The
tickets that cover an emission are ``ceil(kg / kg CO2e per ticket)`` of the quota on sale.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from shop.errors import InvalidEstimate, MixNot100

FACTORS_PATH = Path(__file__).with_name("factors.json")
TRANSPORT_MODES = ("car", "taxi", "bus", "metro", "high_speed_rail", "train", "flight")
MAX_KM = Decimal(100_000)
MAX_COUNT = Decimal(1_000_000)
MAX_KWH = Decimal(100_000_000)
MAX_DAYS = Decimal(365)
_NUMBER_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
_WHOLE_TEXT = re.compile(r"[0-9]+")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Factors:
    """The factor tables, validated: a missing or non-positive factor stops the application at start-up."""

    transport: dict[str, Decimal]
    electricity: dict[str, Decimal]
    default_region: str
    room_night: Decimal
    meal: Decimal
    meals_per_day: int
    distances: dict[str, int]
    raw: dict[str, Any]


def _positive(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"factor {where} is not a number: {value!r}") from exc
    if not number.is_finite() or number <= 0:
        raise ValueError(f"factor {where} must be positive: {value!r}")
    return number


def parse_factors(raw: dict[str, Any]) -> Factors:
    """Check that every factor the calculator uses exists, is positive and names its source and year."""
    for section in ("transport", "electricity", "accommodation", "catering", "distances"):
        if section not in raw:
            raise ValueError(f"factors: section {section} missing")
        if not raw[section].get("source"):
            raise ValueError(f"factors: section {section} has no source")
        if section != "distances" and not raw[section].get("year"):
            raise ValueError(f"factors: section {section} has no year")
    transport = {}
    for mode in TRANSPORT_MODES:
        entry = raw["transport"]["factors"].get(mode)
        if entry is None:
            raise ValueError(f"factors: transport mode {mode} missing")
        transport[mode] = _positive(entry.get("kg_per_pkm"), f"transport.{mode}")
    electricity = {
        region: _positive(entry.get("kg_per_kwh"), f"electricity.{region}")
        for region, entry in raw["electricity"]["factors"].items()
    }
    default_region = raw["electricity"].get("default_region", "")
    if default_region not in electricity:
        raise ValueError("factors: electricity.default_region is not a listed region")
    distances = {}
    for city, entry in raw["distances"]["cities"].items():
        km = entry.get("km")
        if not isinstance(km, int) or km < 0:
            raise ValueError(f"factors: distance to {city} invalid")
        distances[city] = km
    meals = raw["catering"].get("meals_per_day")
    if not isinstance(meals, int) or meals <= 0:
        raise ValueError("factors: catering.meals_per_day invalid")
    return Factors(
        transport=transport,
        electricity=electricity,
        default_region=default_region,
        room_night=_positive(raw["accommodation"].get("kg_per_room_night"), "accommodation"),
        meal=_positive(raw["catering"].get("kg_per_meal"), "catering"),
        meals_per_day=meals,
        distances=distances,
        raw=raw,
    )


@cache
def load_factors() -> Factors:
    return parse_factors(json.loads(FACTORS_PATH.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Step:
    """One line of the working: ``label`` is a Chinese msgid, ``formula`` is language-neutral."""

    label: str
    formula: str
    kg: Decimal


@dataclass(frozen=True)
class Estimate:
    kg_co2e: Decimal
    tickets: int
    kg_per_ticket: Decimal
    steps: list[Step] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "kg_co2e": str(self.kg_co2e),
            "tickets": self.tickets,
            "kg_co2e_per_ticket": str(self.kg_per_ticket),
            "steps": [{"label": s.label, "formula": s.formula, "kg_co2e": str(s.kg)} for s in self.steps],
        }


def _number(value: Any, name: str, *, maximum: Decimal, integer: bool = False) -> Decimal:
    """A JSON number, or a string of ASCII digits with an optional fraction (none when ``integer``): no sign,
    exponent, spaces or other scripts' digits, as the OpenAPI document's patterns say."""
    if isinstance(value, str):
        if not (_WHOLE_TEXT if integer else _NUMBER_TEXT).fullmatch(value):
            raise InvalidEstimate(name)
        number = Decimal(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float):
        try:
            number = Decimal(repr(value))
        except InvalidOperation as exc:
            raise InvalidEstimate(name) from exc
    else:
        raise InvalidEstimate(name)
    if not number.is_finite() or number < 0 or number > maximum:
        raise InvalidEstimate(name)
    if integer and number != number.to_integral_value():
        raise InvalidEstimate(name)
    return number


def _key(value: Any, table: dict[str, Any], name: str) -> str:
    """A key of a factor table; a list or an object (unhashable) is refused like any unknown key."""
    if not isinstance(value, str) or value not in table:
        raise InvalidEstimate(name)
    return value


def _flag(value: Any, name: str) -> bool:
    """A yes/no option: JSON ``true``/``false`` (absent or null is no)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidEstimate(name)
    return value


def _fmt(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def _trip(factors: Factors, trip: dict[str, Any], index: int) -> Step:
    if not isinstance(trip, dict):
        raise InvalidEstimate(f"trips[{index}]")
    mode = _key(trip.get("mode"), factors.transport, f"trips[{index}].mode")
    typed_km = trip.get("km")
    if typed_km is not None or trip.get("to") is None:  # checked even when `to` names the distance
        km = _number(typed_km, f"trips[{index}].km", maximum=MAX_KM)
    if trip.get("to") is not None:  # null (or absent): by `km`
        city = _key(trip["to"], factors.distances, f"trips[{index}].to")
        km = Decimal(factors.distances[city])
    passengers = _number(trip.get("passengers", 1), f"trips[{index}].passengers", maximum=MAX_COUNT, integer=True)
    legs = Decimal(2) if _flag(trip.get("round_trip"), f"trips[{index}].round_trip") else Decimal(1)
    factor = factors.transport[mode]
    kg = km * legs * passengers * factor
    formula = f"{_fmt(km)} km × {legs} × {_fmt(passengers)} × {factor} kg/pkm"
    return Step(label=f"trip:{mode}", formula=formula, kg=kg)


def estimate(data: dict[str, Any], *, kg_per_ticket: Decimal, factors: Factors | None = None) -> Estimate:
    """Estimate the kg CO2e of the activities in ``data`` and the tickets that cover it.

    ``data`` may hold ``trips`` (list of ``{mode, km | to, round_trip, passengers}``), ``meeting``
    (``{attendees, days, overnight}``), ``event`` (``{attendees, venue_days, avg_km, mix, nights,
    venue_kwh}``) and ``electricity`` (``{kwh, region}``). Bad input raises :class:`InvalidEstimate`."""
    factors = factors or load_factors()
    if not isinstance(data, dict):
        raise InvalidEstimate("body")
    if kg_per_ticket <= 0:
        raise InvalidEstimate("kg_per_ticket")
    steps: list[Step] = []
    trips = data.get("trips")
    trips = [] if trips is None else trips
    if not isinstance(trips, list) or len(trips) > 50:
        raise InvalidEstimate("trips")
    steps.extend(_trip(factors, trip, i) for i, trip in enumerate(trips))

    meeting = data.get("meeting")
    if meeting is not None:
        if not isinstance(meeting, dict):
            raise InvalidEstimate("meeting")
        people = _number(meeting.get("attendees"), "meeting.attendees", maximum=MAX_COUNT, integer=True)
        days = _number(meeting.get("days", 1), "meeting.days", maximum=MAX_DAYS, integer=True)
        meals = factors.meals_per_day
        steps.append(
            Step(
                "meeting:catering",
                f"{people} × {days} × {meals} × {factors.meal} kg",
                people * days * meals * factors.meal,
            )
        )
        if _flag(meeting.get("overnight"), "meeting.overnight"):
            nights = max(days - 1, Decimal(1))
            steps.append(
                Step(
                    "meeting:hotel",
                    f"{people} × {nights} × {factors.room_night} kg",
                    people * nights * factors.room_night,
                )
            )

    event = data.get("event")
    if event is not None:
        steps.extend(_event(factors, event))

    electricity = data.get("electricity")
    if electricity is not None:
        if not isinstance(electricity, dict):
            raise InvalidEstimate("electricity")
        kwh = _number(electricity.get("kwh"), "electricity.kwh", maximum=MAX_KWH)
        region = electricity.get("region")
        region = factors.default_region if region is None else region
        region = _key(region, factors.electricity, "electricity.region")
        factor = factors.electricity[region]
        steps.append(Step(f"electricity:{region}", f"{_fmt(kwh)} kWh × {factor} kg/kWh", kwh * factor))

    total = sum((s.kg for s in steps), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    rounded = [Step(s.label, s.formula, s.kg.quantize(CENT, rounding=ROUND_HALF_UP)) for s in steps]
    tickets = int((total / kg_per_ticket).to_integral_value(rounding=ROUND_CEILING)) if total > 0 else 0
    return Estimate(kg_co2e=total, tickets=tickets, kg_per_ticket=kg_per_ticket, steps=rounded)


def _event(factors: Factors, event: Any) -> list[Step]:
    if not isinstance(event, dict):
        raise InvalidEstimate("event")
    people = _number(event.get("attendees"), "event.attendees", maximum=MAX_COUNT, integer=True)
    venue_days = _number(event.get("venue_days", 1), "event.venue_days", maximum=MAX_DAYS, integer=True)
    avg_km = _number(event.get("avg_km", 0), "event.avg_km", maximum=MAX_KM)
    nights = _number(event.get("nights", 0), "event.nights", maximum=MAX_DAYS, integer=True)
    venue_kwh = _number(event.get("venue_kwh", 0), "event.venue_kwh", maximum=MAX_KWH)
    mix = event.get("mix")
    mix = {"car": 100} if mix is None else mix
    if not isinstance(mix, dict):
        raise InvalidEstimate("event.mix")
    shares: dict[str, Decimal] = {}
    for mode, share in mix.items():
        _key(mode, factors.transport, "event.mix")
        shares[mode] = _number(share, f"event.mix.{mode}", maximum=Decimal(100))
    if sum(shares.values(), Decimal(0)) != 100:
        raise MixNot100("event.mix")
    steps = []
    if avg_km > 0:
        for mode, share in shares.items():
            if share == 0:
                continue
            factor = factors.transport[mode]
            kg = people * share / 100 * avg_km * 2 * factor
            steps.append(
                Step(f"event:travel:{mode}", f"{people} × {share}% × {_fmt(avg_km)} km × 2 × {factor} kg/pkm", kg)
            )
    if nights > 0:
        steps.append(
            Step("event:hotel", f"{people} × {nights} × {factors.room_night} kg", people * nights * factors.room_night)
        )
    meals = factors.meals_per_day
    steps.append(
        Step(
            "event:catering",
            f"{people} × {venue_days} × {meals} × {factors.meal} kg",
            people * venue_days * meals * factors.meal,
        )
    )
    if venue_kwh > 0:
        factor = factors.electricity[factors.default_region]
        steps.append(Step("event:venue_power", f"{_fmt(venue_kwh)} kWh × {factor} kg/kWh", venue_kwh * factor))
    return steps


STEP_LABELS = {
    "trip": "出行",
    "meeting:catering": "会议餐饮",
    "meeting:hotel": "会议住宿",
    "event:travel": "活动参与者出行",
    "event:hotel": "活动住宿",
    "event:catering": "活动餐饮",
    "event:venue_power": "活动场馆用电",
    "electricity": "家庭用电",
}


def step_label_parts(label: str) -> tuple[str, str]:
    """``trip:flight`` → (``出行``, ``flight``): the msgid of the kind and the factor key, for display."""
    for prefix in sorted(STEP_LABELS, key=len, reverse=True):
        if label == prefix:
            return STEP_LABELS[prefix], ""
        if label.startswith(prefix + ":"):
            return STEP_LABELS[prefix], label[len(prefix) + 1 :]
    return label, ""
