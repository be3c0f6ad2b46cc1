"""The calculator as short steps (分步计算): trip, meeting, event and home, each its own small form.

Each step reads its own fields from a query string or form, checks every field and says, per field, what is
wrong and why (in the page's language), and only then hands the numbers to :func:`shop.calculator.estimate`,
which stays the one place of the arithmetic (the JSON API uses it too). A step's values, once valid, are what
the basket (:mod:`shop.basket`) keeps: the result is always recomputed from them, never trusted from a cookie.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kernel.i18n import format_number
from shop.calculator import (
    MAX_COUNT,
    MAX_DAYS,
    MAX_KM,
    MAX_KWH,
    TRANSPORT_MODES,
    Estimate,
    estimate,
    load_factors,
)
from shop.errors import InvalidEstimate
from shop.i18n import gettext as _

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")
MAX_TEXT = 20  # a typed number longer than this is not a number anyone means
MIX_FIELD = "mix"  # the event's travel mix is checked as one group: its error sits on the group


@dataclass(frozen=True)
class Field:
    """One input of a step. ``kind``: ``int`` / ``decimal`` (typed), ``choice`` (a key of ``choices``), ``flag``
    (a checkbox). ``label`` is a Chinese msgid."""

    name: str
    label: str
    kind: str
    minimum: Decimal = Decimal(0)
    maximum: Decimal = Decimal(0)
    required: bool = False
    default: str = ""


@dataclass(frozen=True)
class CalcStep:
    key: str
    title: str  # msgid
    purpose: str  # the buy page's purpose for what this step measures (shop.orders.PURPOSES)
    fields: tuple[Field, ...]
    button: str = "计算"  # msgid of the step's own button


ONE = Decimal(1)
STEPS: dict[str, CalcStep] = {
    "trip": CalcStep(
        "trip",
        "出行",
        "travel",
        (
            Field("mode", "交通方式", "choice", required=True, default="car"),
            Field("to", "从银川到", "choice"),
            Field("km", "或单程公里数", "decimal", maximum=MAX_KM),
            Field("passengers", "人数", "int", minimum=ONE, maximum=MAX_COUNT, default="1"),
            Field("round_trip", "往返（按两次计）", "flag"),
        ),
        "计算出行排放",
    ),
    "meeting": CalcStep(
        "meeting",
        "会议",
        "meeting",
        (
            Field("meeting_attendees", "参会人数", "int", minimum=ONE, maximum=MAX_COUNT, required=True),
            Field("meeting_days", "会期（天）", "int", minimum=ONE, maximum=MAX_DAYS, default="1"),
            Field("meeting_overnight", "含住宿", "flag"),
        ),
        "计算会议排放",
    ),
    "event": CalcStep(
        "event",
        "大型活动",
        "event",
        (
            Field("event_attendees", "参与人数", "int", minimum=ONE, maximum=MAX_COUNT, required=True),
            Field("event_days", "场馆使用天数", "int", minimum=ONE, maximum=MAX_DAYS, default="1"),
            Field("event_km", "参与者平均单程距离（公里）", "decimal", maximum=MAX_KM, default="0"),
            Field("event_nights", "人均住宿晚数", "int", maximum=MAX_DAYS, default="0"),
            Field("event_kwh", "场馆用电（千瓦时）", "decimal", maximum=MAX_KWH, default="0"),
            *(Field(f"mix_{mode}", "", "decimal", maximum=Decimal(100)) for mode in TRANSPORT_MODES),
        ),
        "计算活动排放",
    ),
    "home": CalcStep(
        "home",
        "家庭用电",
        "daily",
        (
            Field("kwh", "用电量（千瓦时）", "decimal", minimum=Decimal("0.01"), maximum=MAX_KWH, required=True),
            Field("region", "电网区域", "choice"),
        ),
        "计算用电排放",
    ),
}
DEFAULT_STEP = "trip"
# An error of estimate() (its field path) → the form field it is about, should a check here ever let one through.
_ESTIMATE_FIELDS = {
    "trips[0].mode": "mode",
    "trips[0].to": "to",
    "trips[0].km": "km",
    "trips[0].passengers": "passengers",
    "meeting.attendees": "meeting_attendees",
    "meeting.days": "meeting_days",
    "event.attendees": "event_attendees",
    "event.venue_days": "event_days",
    "event.avg_km": "event_km",
    "event.nights": "event_nights",
    "event.venue_kwh": "event_kwh",
    "electricity.kwh": "kwh",
    "electricity.region": "region",
}


def step_of(params: Mapping[str, Any]) -> CalcStep:
    """The step ``?step=`` names; without it, the step whose fields the query carries (old links such as
    ``/calculator?kwh=100``), else the first."""
    named = STEPS.get(str(params.get("step") or ""))
    if named is not None:
        return named
    for step in STEPS.values():
        if any(spec.name in params for spec in step.fields if spec.kind != "choice" or spec.name == "to"):
            return step
    return STEPS[DEFAULT_STEP]


def _choices(name: str) -> dict[str, Any]:
    factors = load_factors()
    if name == "mode":
        return factors.transport
    if name == "to":
        return {key: km for key, km in factors.distances.items() if km > 0}
    return factors.electricity  # region


def clean_number_text(text: str) -> str:
    """What a phone keyboard or a copy-paste gives, as plain digits: full-width digits and points (NFKC), and
    thousands separators and spaces dropped (``１,２００`` → ``1200``)."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s,，_']", "", text).replace("。", ".")


@dataclass
class StepInput:
    """A step as submitted: the values as typed (to show again), the field errors (name → reason, translated),
    the estimate when every field is valid."""

    step: CalcStep
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    result: Estimate | None = None
    submitted: bool = False
    normalised: dict[str, str] = field(default_factory=dict)  # valid values as plain text (``１,２００`` → 1200)

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.errors

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(field id, label, reason) in the form's order, for the list at the top of the step."""
        modes = load_factors().raw["transport"]["factors"]
        labels = {f.name: f.label or modes[f.name.removeprefix("mix_")]["label"] for f in self.step.fields}
        labels[MIX_FIELD] = "出行方式构成"
        order = [f.name for f in self.step.fields] + [MIX_FIELD]
        return [(name, _(labels[name]), self.errors[name]) for name in order if name in self.errors]

    def stored(self) -> dict[str, str]:
        """The step's values as the basket keeps them: only this step's fields, only what was entered, as plain
        text."""
        return {"step": self.step.key, **{name: value for name, value in self.normalised.items() if value}}


def _check(spec: Field, text: str) -> tuple[Decimal | str | bool | None, str | None]:
    """The field's value, or the reason it is refused (translated)."""
    if spec.kind == "flag":
        return bool(text), None
    if not text:
        if spec.required:
            return None, _("请填写此项")
        text = spec.default
        if not text:
            return None, None
    if spec.kind == "choice":
        if text not in _choices(spec.name):
            return None, _("请从列表中选择")
        return text, None
    cleaned = clean_number_text(text)
    if len(cleaned) > MAX_TEXT or not _DECIMAL.fullmatch(cleaned):
        if cleaned.startswith("-") and _DECIMAL.fullmatch(cleaned[1:]):
            return None, _("不能是负数")
        return None, _("请输入数字，例如 12.5") if spec.kind == "decimal" else _("请输入整数，例如 12")
    number = Decimal(cleaned)
    if spec.kind == "int" and not _WHOLE.fullmatch(cleaned):
        return None, _("请输入整数，例如 12")
    if number < spec.minimum:
        return None, _("不能小于 %(min)s", min=format_number(spec.minimum, 2))
    if number > spec.maximum:
        return None, _("不能大于 %(max)s", max=format_number(spec.maximum, 2))
    return number, None


def read_step(step: CalcStep, params: Mapping[str, Any], *, kg_per_ticket: Decimal) -> StepInput:
    """Check the step's fields in ``params`` and estimate it. A step none of whose fields is in ``params`` was
    not submitted (no errors, no result): the page just shows the empty form."""
    values = {f.name: str(params.get(f.name, "") or "").strip()[:100] for f in step.fields}
    entry = StepInput(step=step, values=values)
    if not any(spec.name in params for spec in step.fields):
        return entry
    entry.submitted = True
    parsed: dict[str, Any] = {}
    for spec in step.fields:
        value, error = _check(spec, values[spec.name])
        if error:
            entry.errors[spec.name] = error
        parsed[spec.name] = value
        if values[spec.name] and value is not None and value is not False:
            entry.normalised[spec.name] = "1" if value is True else str(value)
    data = _estimate_input(step, parsed, entry.errors)
    if entry.errors or data is None:
        return entry
    try:
        entry.result = estimate(data, kg_per_ticket=kg_per_ticket)
    except InvalidEstimate as exc:  # a rule of estimate() this form does not know of: still on its field
        where = exc.detail or ""
        name = _ESTIMATE_FIELDS.get(where, MIX_FIELD if where.startswith("event.mix") else step.fields[0].name)
        entry.errors[name] = _(exc.message)
    return entry


def _estimate_input(step: CalcStep, parsed: dict[str, Any], errors: dict[str, str]) -> dict[str, Any] | None:
    """The checked values as estimate()'s input (the JSON API's shape); rules across fields add their errors."""

    def text(name: str) -> str | None:
        value = parsed.get(name)
        return None if value is None else str(value)

    if step.key == "trip":
        if parsed["to"] is None and parsed["km"] is None and "km" not in errors and "to" not in errors:
            errors["km"] = _("请选择目的地城市，或填写单程公里数")
        if parsed["to"] is None and parsed["km"] == 0:
            errors["km"] = _("不能小于 %(min)s", min=format_number(Decimal("0.01"), 2))
        trip = {
            "mode": parsed["mode"],
            "passengers": text("passengers") or "1",
            "round_trip": bool(parsed["round_trip"]),
        }
        trip.update({"to": parsed["to"]} if parsed["to"] is not None else {"km": text("km")})
        return {"trips": [trip]}
    if step.key == "meeting":
        return {
            "meeting": {
                "attendees": text("meeting_attendees"),
                "days": text("meeting_days") or "1",
                "overnight": bool(parsed["meeting_overnight"]),
            }
        }
    if step.key == "event":
        mix = {mode: parsed[f"mix_{mode}"] for mode in TRANSPORT_MODES if parsed.get(f"mix_{mode}") is not None}
        if mix and not any(f"mix_{mode}" in errors for mode in TRANSPORT_MODES):
            total = sum(mix.values(), Decimal(0))
            if total != 100:
                errors[MIX_FIELD] = _("各出行方式比例合计为 %(sum)s%%，应为 100%%", sum=format_number(total, 2))
        return {
            "event": {
                "attendees": text("event_attendees"),
                "venue_days": text("event_days") or "1",
                "avg_km": text("event_km") or "0",
                "nights": text("event_nights") or "0",
                "venue_kwh": text("event_kwh") or "0",
                "mix": {mode: str(share) for mode, share in mix.items()} or None,
            }
        }
    return {"electricity": {"kwh": text("kwh"), "region": parsed["region"]}}
