from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from shop.calculator import estimate, load_factors, parse_factors
from shop.errors import InvalidEstimate

TEN = Decimal(10)


def test_every_factor_exists_with_source_and_year():
    factors = load_factors()
    assert factors.electricity["northwest"] == Decimal("0.5857")
    assert factors.electricity["national"] == Decimal("0.5366")
    assert factors.transport["flight"] == Decimal("0.229")
    for section in ("transport", "electricity", "accommodation", "catering"):
        assert factors.raw[section]["source"] and factors.raw[section]["year"]


@pytest.mark.parametrize("breakage", ["drop_mode", "zero", "text", "no_source", "bad_region"])
def test_a_missing_or_bad_factor_is_refused_at_load(breakage):
    raw = copy.deepcopy(load_factors().raw)
    if breakage == "drop_mode":
        del raw["transport"]["factors"]["taxi"]
    elif breakage == "zero":
        raw["electricity"]["factors"]["north"]["kg_per_kwh"] = "0"
    elif breakage == "text":
        raw["catering"]["kg_per_meal"] = "undefined"
    elif breakage == "no_source":
        raw["accommodation"]["source"] = ""
    else:
        raw["electricity"]["default_region"] = "mars"
    with pytest.raises(ValueError):
        parse_factors(raw)


def test_return_flight_by_city_pair():
    result = estimate({"trips": [{"mode": "flight", "to": "beijing", "round_trip": True}]}, kg_per_ticket=TEN)
    # 895 km × 2 × 1 × 0.229 = 409.91 kg → 41 tickets of 10 kg
    assert result.kg_co2e == Decimal("409.91")
    assert result.tickets == 41
    assert result.steps[0].formula.startswith("895 km × 2 × 1")


def test_home_electricity_north_west_grid_by_default():
    result = estimate({"electricity": {"kwh": "100"}}, kg_per_ticket=TEN)
    assert result.kg_co2e == Decimal("58.57")
    assert result.tickets == 6


def test_meeting_with_overnight_stay_and_event_mix():
    meeting = estimate({"meeting": {"attendees": 10, "days": 2, "overnight": True}}, kg_per_ticket=TEN)
    # catering 10 × 2 × 2 × 1.7 = 68; hotel 10 × 1 × 53.5 = 535
    assert meeting.kg_co2e == Decimal("603.00")
    event = estimate(
        {"event": {"attendees": 100, "venue_days": 1, "avg_km": 10, "mix": {"bus": 50, "metro": 50}}},
        kg_per_ticket=TEN,
    )
    # travel 100×.5×10×2×.104=104 + 100×.5×10×2×.028=28 ; catering 100×1×2×1.7=340
    assert event.kg_co2e == Decimal("472.00")
    assert event.tickets == 48


def test_exact_multiple_is_not_rounded_up_and_zero_needs_no_ticket():
    assert estimate({"trips": [{"mode": "car", "km": 100}]}, kg_per_ticket=Decimal("17.3")).tickets == 1
    assert estimate({}, kg_per_ticket=TEN).tickets == 0


@pytest.mark.parametrize(
    "data",
    [
        {"trips": [{"mode": "rocket", "km": 1}]},
        {"trips": [{"mode": "car", "km": -5}]},
        {"trips": [{"mode": "car", "km": "abc"}]},
        {"trips": [{"mode": "car", "km": "NaN"}]},
        {"trips": [{"mode": "car", "km": "1e30"}]},
        {"trips": [{"mode": "car", "to": "atlantis"}]},
        {"meeting": {"attendees": "2.5"}},
        {"electricity": {"kwh": 10, "region": "moon"}},
        {"event": {"attendees": 10, "mix": {"car": 60}}},
        {"trips": "car"},
    ],
)
def test_bad_input_is_refused(data):
    with pytest.raises(InvalidEstimate):
        estimate(data, kg_per_ticket=TEN)
