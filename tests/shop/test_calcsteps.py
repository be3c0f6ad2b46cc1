"""The calculator's steps: each field checked on its own, with its reason, in the page's language."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from factories import shop as factories
from kernel import i18n
from shop.calcsteps import STEPS, read_step, step_of

TEN = Decimal(10)


@pytest.fixture
def english() -> Iterator[None]:
    token = i18n.current_locale.set("en")
    try:
        yield
    finally:
        i18n.current_locale.reset(token)


def trip(**values: str):  # type: ignore[no-untyped-def]
    form = {"mode": "car", "to": "", "km": "", "passengers": "", **values}
    return read_step(STEPS["trip"], form, kg_per_ticket=TEN)


def test_a_valid_trip_estimates_and_keeps_only_what_was_entered():
    entry = trip(mode="flight", to="beijing", round_trip="1")
    assert entry.ok and entry.result is not None
    assert entry.result.kg_co2e == Decimal("409.91") and entry.result.tickets == 41
    assert entry.stored() == {"step": "trip", "mode": "flight", "to": "beijing", "round_trip": "1"}


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"km": "abc"}, "km", "请输入数字，例如 12.5"),
        ({"km": "-5"}, "km", "不能是负数"),
        ({"km": "100001"}, "km", "不能大于 100,000"),
        ({"km": "1e5"}, "km", "请输入数字，例如 12.5"),
        ({"km": ""}, "km", "请选择目的地城市，或填写单程公里数"),
        ({"km": "0"}, "km", "不能小于 0.01"),
        ({"km": "10", "passengers": "2.5"}, "passengers", "请输入整数，例如 12"),
        ({"km": "10", "passengers": "0"}, "passengers", "不能小于 1"),
        ({"km": "10", "mode": "rocket"}, "mode", "请从列表中选择"),
        ({"to": "atlantis"}, "to", "请从列表中选择"),
    ],
)
def test_each_refusal_names_its_field_and_says_why(values, field, reason):
    entry = trip(**values)
    assert entry.result is None
    assert entry.errors == {field: reason}


def test_every_wrong_field_is_reported_at_once_and_in_the_forms_order():
    form = {"event_attendees": "", "event_days": "1.5", "event_km": "x", "mix_car": "50", "mix_bus": "20"}
    entry = read_step(STEPS["event"], form, kg_per_ticket=TEN)
    assert entry.errors == {
        "event_attendees": "请填写此项",
        "event_days": "请输入整数，例如 12",
        "event_km": "请输入数字，例如 12.5",
        "mix": "各出行方式比例合计为 70%，应为 100%",
    }
    assert [name for name, _label, _reason in entry.error_summary()] == [
        "event_attendees",
        "event_days",
        "event_km",
        "mix",
    ]


def test_reasons_are_in_english_on_english_pages(english):
    assert trip(km="abc").errors == {"km": "Enter a number, such as 12.5"}
    meeting = read_step(STEPS["meeting"], {"meeting_attendees": "", "meeting_days": "400"}, kg_per_ticket=TEN)
    assert meeting.errors == {"meeting_attendees": "Fill this in", "meeting_days": "Must be at most 365"}
    assert [label for _name, label, _reason in meeting.error_summary()] == ["Attendees", "Duration (days)"]


def test_phone_keyboards_full_width_digits_and_separators_are_read():
    entry = read_step(STEPS["home"], {"kwh": "１,２００", "region": ""}, kg_per_ticket=TEN)
    assert entry.ok and entry.result is not None
    assert entry.result.kg_co2e == Decimal("702.84")  # 1,200 kWh × 0.5857 (north-west grid)
    assert entry.stored() == {"step": "home", "kwh": "1200"}


def test_a_step_not_submitted_shows_no_errors():
    entry = read_step(STEPS["meeting"], {"step": "meeting"}, kg_per_ticket=TEN)
    assert not entry.submitted and not entry.errors and entry.result is None


def test_the_step_is_named_or_read_from_an_old_link():
    assert step_of({"step": "home"}).key == "home"
    assert step_of({"kwh": "100"}).key == "home"
    assert step_of({"meeting_attendees": "5"}).key == "meeting"
    assert step_of({"step": "nonsense"}).key == "trip"
    assert step_of({}).key == "trip"


async def test_the_page_marks_the_field_and_links_the_summary_to_it(client):
    await factories.quota(1000)
    page = await client.get("/calculator", params={"step": "trip", "mode": "car", "km": "abc", "to": ""})
    assert page.status_code == 400
    html = page.text
    assert 'id="km-error">请输入数字，例如 12.5<' in html
    assert 'aria-invalid="true" aria-describedby="km-hint km-error"' in html
    assert '<a href="#km">或单程公里数：请输入数字，例如 12.5</a>' in html
    assert 'value="abc"' in html  # what was typed stays, to be corrected
    english = await client.get("/calculator", params={"step": "trip", "mode": "car", "km": "abc", "lang": "en"})
    assert 'id="km-error">Enter a number, such as 12.5<' in english.text
    assert "Correct 1 field to calculate" in english.text


async def test_results_are_formatted_with_separators_and_tonnes(client):
    await factories.quota(1000)
    page = await client.get("/calculator", params={"step": "home", "kwh": "341650", "region": "northwest"})
    assert page.status_code == 200
    # 341,650 kWh × 0.5857 = 200,104.405 kg → 200.1 t, the exact figure beside it
    assert 'id="result-kg">200.1<' in page.text and 'id="result-unit">吨二氧化碳当量<' in page.text
    assert "即 200,104.41 千克" in page.text
    assert "需要 20,011 张碳汇林票" in page.text
    assert "200,104.41 kg" in page.text  # the working, with separators
    english = await client.get("/calculator", params={"step": "home", "kwh": "341650", "lang": "en"})
    assert 'id="result-unit">t CO2e<' in english.text and "that is 200,104.41 kg" in english.text
