"""The public face of the register: /retirements and its open data, /impact, /forests, the trust pages — what
they show, how they page and filter, and what they never show (no unmasked name, no ID number, anywhere)."""

from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest
from jsonschema import Draft202012Validator

from certificates.codes import group_code
from certificates.service import public_name
from factories import id_of
from factories.certificates import paid_order
from kernel import clock
from linpiao.app import create_app
from registry.chain import entry_hash
from registry.models import Batch, StaffRole, TicketKind
from registry.quotas import open_quota
from registry.retirements import PublicRetirement
from shop.openapi import openapi_document
from tests.shop import public_world
from tests.shop.public_world import CASE_NUMBER

DOC = openapi_document("http://testserver")


def check(response, path: str) -> dict:
    """The response matches the document's schema for GET ``path`` and its status."""
    operation = DOC["paths"][path]["get"]
    assert str(response.status_code) in operation["responses"], response.status_code
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(response.json())
    return response.json()


@pytest.fixture
async def world(db):
    return await public_world.build()


async def all_items(client, **params) -> list[dict]:
    items, cursor = [], ""
    while True:
        body = check(await client.get("/api/v1/retirements", params={**params, "cursor": cursor}), "/retirements")
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        cursor = body["next_cursor"]


def by_seq(world, name: str, items: list[dict]) -> dict:
    [item] = [i for i in items if i["seq"] == world.entries[name].seq]
    return item


async def test_every_retirement_is_listed_with_what_the_certificate_shows(client, world):
    items = await all_items(client)
    assert len(items) == 8  # 4 carbon, 2 planting, 1 green-land offset, 1 compensation case
    assert [i["seq"] for i in items] == sorted((i["seq"] for i in items), reverse=True)  # newest first
    carbon = by_seq(world, "carbon", items)
    assert (
        carbon["kind"] == "carbon"
        and carbon["purpose"] == "meeting"
        and carbon["purpose_label"] == world.entries["carbon"].purpose
    )
    assert carbon["quantity"] == 10 and carbon["kg_co2e"] == "100"
    assert carbon["beneficiary"] == "张*丰" == public_name(world.certificates["carbon"])
    assert carbon["certificate_status"] == "valid" and carbon["certificates"] == 1
    assert carbon["serial_ranges"] == [f"{world.quota.serial_prefix}-00000001 – {world.quota.serial_prefix}-00000010"]
    assert carbon["date"] == clock.local_date(world.entries["carbon"].created_at).isoformat()
    assert by_seq(world, "body", items)["beneficiary"] == "宁夏绿色出行协会"  # a body's name is public
    assert by_seq(world, "refunded", items)["certificate_status"] == "refunded"
    assert by_seq(world, "refunded", items)["beneficiary"] == "欧**明"
    reissued = by_seq(world, "reissued", items)
    assert reissued["certificate_status"] == "valid" and reissued["certificates"] == 1  # the replacement counts
    planting = by_seq(world, "planting", items)
    assert planting["kind"] == planting["purpose"] == "planting" and planting["beneficiary"] == "李*光"
    roster = by_seq(world, "roster", items)
    assert roster["beneficiary"] == "银川市某局" and roster["certificates"] == 2  # the organisation, two people
    offset = by_seq(world, "green_land", items)
    assert offset["kind"] == "green_land_offset" and offset["beneficiary"] == "银川某某置业有限公司"
    assert offset["kg_co2e"] is None and offset["ticket_kind"] == "state" and offset["certificate_status"] == "none"
    case = by_seq(world, "compensation", items)
    assert case["kind"] == "compensation" and case["case_number"] == CASE_NUMBER and case["beneficiary"] == ""


async def test_each_row_carries_its_entry_and_the_hash_recomputes(client, world):
    for item in await all_items(client):
        entry = item["entry"]
        assert entry["seq"] == item["seq"] and entry["quantity"] == item["quantity"]
        assert entry["purpose"] == item["purpose_label"] and entry["prev"] == item["prev_hash"]
        assert entry_hash(entry) == item["hash"]
        assert item["digest_day"] is None and item["proof"] is None  # today is still open


async def test_keyset_pages_cover_everything_once(client, world):
    seen, cursor, pages = [], "", 0
    while True:
        body = check(await client.get("/api/v1/retirements", params={"limit": "3", "cursor": cursor}), "/retirements")
        pages += 1
        assert len(body["items"]) <= 3
        seen += [i["seq"] for i in body["items"]]
        if body["next_cursor"] is None:
            break
        assert int(body["next_cursor"]) == body["items"][-1]["seq"]
        cursor = body["next_cursor"]
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, reverse=True)
    # a retirement written while someone pages does not shift the pages already read
    first = check(await client.get("/api/v1/retirements", params={"limit": "3"}), "/retirements")
    second = check(await client.get(f"/api/v1/retirements?limit=3&cursor={first['next_cursor']}"), "/retirements")
    await paid_order(4, name="后来者", batch=world.quota)
    again = check(await client.get(f"/api/v1/retirements?limit=3&cursor={first['next_cursor']}"), "/retirements")
    assert [i["seq"] for i in again["items"]] == [i["seq"] for i in second["items"]]


async def test_filters(client, world):
    kinds = {
        k: len(await all_items(client, kind=k)) for k in ("carbon", "planting", "green_land_offset", "compensation")
    }
    assert kinds == {"carbon": 4, "planting": 2, "green_land_offset": 1, "compensation": 1}
    assert [i["purpose"] for i in await all_items(client, purpose="travel")] == ["travel", "travel"]
    month = clock.today().strftime("%Y-%m")
    assert len(await all_items(client, month=month)) == 8
    assert await all_items(client, month="1999-01") == []
    state = await all_items(client, batch=world.state.serial_prefix)
    assert {i["kind"] for i in state} == {"green_land_offset", "compensation"}
    for bad in ({"kind": "gift"}, {"purpose": "x"}, {"month": "2026-13"}, {"cursor": "abc"}, {"limit": "0"}):
        response = await client.get("/api/v1/retirements", params=bad)
        assert response.status_code == 400, bad
        assert check(response, "/retirements")["error"]["code"] in ("invalid_query", "invalid_cursor")
    refused = await client.get("/retirements?kind=gift")
    assert refused.status_code == 400 and "查询条件无效" in refused.text


async def test_search_by_serial_code_and_case_number(client, world):
    prefix = world.quota.serial_prefix
    carbon = world.entries["carbon"]
    for q in (f"{prefix}-00000007", f"{prefix.lower()}-00000010"):
        [found] = (await client.get("/api/v1/retirements", params={"q": q})).json()["items"]
        assert found["seq"] == carbon.seq
    code = world.certificates["carbon"].code
    [found] = (await client.get("/api/v1/retirements", params={"q": group_code(code).lower()})).json()["items"]
    assert found["seq"] == carbon.seq
    new_code = world.certificates["reissued_new"].code  # a reissued certificate finds its original retirement
    [found] = (await client.get("/api/v1/retirements", params={"q": new_code})).json()["items"]
    assert found["seq"] == world.entries["reissued"].seq
    roster_code = world.certificates["roster-赵六"].code
    [found] = (await client.get("/api/v1/retirements", params={"q": roster_code})).json()["items"]
    assert found["seq"] == world.entries["roster"].seq
    [found] = (await client.get("/api/v1/retirements", params={"q": CASE_NUMBER})).json()["items"]
    assert found["kind"] == "compensation"
    held = f"{world.land.serial_prefix}-00000001"  # held, not retired
    assert (await client.get("/api/v1/retirements", params={"q": held})).json()["items"] == []
    page = await client.get("/retirements", params={"q": f"{prefix}-00000007"})
    assert page.status_code == 200 and page.text.count('class="card retirement"') == 1 and "张*丰" in page.text


async def test_guessing_codes_in_the_search_is_limited_like_verify(client, world):
    for i in range(20):
        response = await client.get("/api/v1/retirements", params={"q": f"AAAA-BBBB-CCCC-DDDD-{i:04d}"})
        assert response.status_code == 200 and response.json()["items"] == []
    refused = await client.get("/api/v1/retirements", params={"q": "AAAA-BBBB-CCCC-DDDD-9999"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    check(refused, "/retirements")
    assert (await client.get("/verify/AAAA-BBBB-CCCC-DDDD-9999")).status_code == 429  # one limit for both
    # a serial or a case number is no guess: it still answers
    assert (await client.get("/api/v1/retirements", params={"q": CASE_NUMBER})).status_code == 200


async def test_the_page_lists_filters_and_pages(client, world):
    page = await client.get("/retirements")
    assert page.status_code == 200
    assert page.text.count('class="card retirement"') == 8
    assert "张*丰" in page.text and "宁夏绿色出行协会" in page.text and CASE_NUMBER in page.text
    assert world.entries["carbon"].hash in page.text
    assert 'href="/api/v1/retirements.csv"' in page.text
    english = await client.get("/retirements?lang=en&kind=compensation")
    assert '<html lang="en">' in english.text and "Ecological compensation" in english.text
    assert english.text.count('class="card retirement"') == 1


async def test_the_csv_export_has_every_row_and_recomputable_hashes(client, world):
    response = await client.get("/api/v1/retirements.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8 and [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    for row in rows:
        assert hashlib.sha256(row["entry"].encode()).hexdigest() == row["hash"]
    carbon = next(r for r in rows if int(r["seq"]) == world.entries["carbon"].seq)
    assert carbon["beneficiary"] == "张*丰" and carbon["purpose"] == "meeting" and carbon["kg_co2e"] == "100"
    only = list(csv.DictReader(io.StringIO((await client.get("/api/v1/retirements.csv?kind=compensation")).text)))
    assert [r["case_number"] for r in only] == [CASE_NUMBER]


async def test_a_formula_in_a_purpose_is_neutralised_in_the_csv(client, db):
    quota = await open_quota(units=100)
    _order, entry = await paid_order(5, name="=cmd|' /C calc'!A0", batch=quota, purpose="travel")
    entry.purpose = "=HYPERLINK(1)"  # as if a purpose were typed by someone: the cell must not run
    from registry.chain import hashed_content

    entry.hash = entry_hash(hashed_content(entry))
    await entry.save(update_fields=["purpose", "hash"])
    text = (await client.get("/api/v1/retirements.csv")).content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=HYPERLINK(1)" in cells and not any(c.startswith(("=", "+", "@")) for c in cells)


# --- privacy ------------------------------------------------------------------------------------------------

PUBLIC_PATHS = [
    "/",
    "/impact",
    "/retirements",
    "/retirements?kind=compensation",
    "/forests",
    "/notices",
    "/privacy",
    "/refunds",
    "/contact",
    "/api/v1/retirements",
    "/api/v1/retirements?limit=200",
    "/api/v1/retirements.csv",
    "/api/v1/register/digests",
]


async def test_no_name_or_id_number_appears_unmasked_in_any_public_response(client, world):
    paths = [*PUBLIC_PATHS]
    paths += [f"/forests/{b.serial_prefix}" for b in await Batch.all()]
    paths += [f"/retirements?q={q}" for q in (CASE_NUMBER, world.certificates["carbon"].code)]
    paths += [f"/api/v1/retirements?q={world.certificates[k].code}" for k in world.certificates]
    secrets = {p.name for p in world.people} | set(world.names)
    ids = {id_of(p) for p in world.people}
    assert len(secrets) >= 8 and len(ids) >= 8
    for lang in ("zh_CN", "en"):
        for path in paths:
            response = await client.get(path, params={"lang": lang})
            assert response.status_code == 200, path
            body = response.content.decode("utf-8", "replace")
            for secret in secrets:
                assert secret not in body, (path, secret)
            for number in ids:
                assert number not in body and number[:-4] not in body, (path, number)
    # the masked forms are what the public does see
    assert "张*丰" in (await client.get("/retirements")).text


# --- impact -------------------------------------------------------------------------------------------------


async def test_impact_adds_up_the_register(client, world):
    page = await client.get("/impact")
    assert page.status_code == 200
    # carbon tickets sold: 10 + 20 + 5 + 7 (offsets) + 30 + 60 (planting) = 132; 10 kg each
    assert 'id="sold-units">132<' in page.text
    assert 'id="kg-total">1,320<' in page.text
    assert 'id="retirement-count">8<' in page.text
    assert page.text.count('<svg class="chart"') == 5
    assert page.text.count("<table") >= 5  # a table beside each chart
    assert 'aria-labelledby="chart-kind-title"' in page.text
    assert "<script" not in page.text.split("</main>")[0]  # the charts need no script
    # the index the figures are read from is the register's retirements, one row each
    assert await PublicRetirement.all().count() == 8
    english = await client.get("/impact?lang=en")
    assert "Green-land offset" in english.text and '<html lang="en">' in english.text


async def test_impact_counts_the_planting_duty_of_the_year_and_land_by_district(client, db):
    from factories import make_batch
    from factories.certificates import planting_certificate
    from factories.trades import make_actor
    from planting.domain.models import DutyBasis, PlantingOutcome, PlantingPurchase, PurchaseStatus
    from planting.domain.rules import set_rule
    from registry.models import CertificateStatus

    year = clock.today().year
    rule = await set_rule(
        year=year,
        tickets_per_tree=10,
        trees_per_duty=3,
        receiving_body="银川市绿化基金会",
        source="通知",
        actor=await make_actor(StaffRole.FORESTRY),
    )

    async def purchase(outcome, *, member=None, refunded=False):  # type: ignore[no-untyped-def]
        certificate = await planting_certificate("甲")
        if refunded:
            certificate.status = CertificateStatus.REFUNDED
            await certificate.save(update_fields=["status"])
        return await PlantingPurchase.create(
            year=year,
            rule=rule,
            name="甲",
            trees=3,
            tickets=30,
            amount_fen=3000,
            owes_duty=True,
            duty_basis=DutyBasis.DECLARED,
            status=PurchaseStatus.COUNTED,
            outcome=outcome,
            certificate=certificate,
            member=member,
        )

    await purchase(PlantingOutcome.FULFILS)
    await purchase(PlantingOutcome.FULFILS)
    await purchase(PlantingOutcome.FULFILS, refunded=True)  # refunded: no longer counts
    await purchase(PlantingOutcome.BEYOND_DUTY)
    await make_batch(TicketKind.COLLECTIVE, units=1000)
    await make_batch(TicketKind.STATE, units=400)
    page = await client.get("/impact")
    assert 'id="planting-total">2<' in page.text and 'id="planting-own">2<' in page.text
    assert 'id="planting-trees">9<' in page.text  # 3 standing purchases of 3 trees
    land = page.text.split('id="land"')[1]
    assert "兴庆区" in land and "1,000" in land and "400" in land


# --- forests ------------------------------------------------------------------------------------------------


async def test_forests_list_every_batch_with_units_and_outline(client, world):
    page = await client.get("/forests")
    assert page.status_code == 200
    for batch in await Batch.all():
        assert f'data-batch="{batch.serial_prefix}"' in page.text
    detail = await client.get(f"/forests/{world.land.serial_prefix}")
    assert detail.status_code == 200
    assert 'id="units-issued">1,000' in detail.text and 'id="units-held">1,000' in detail.text
    assert 'id="units-retired">0' in detail.text
    assert '<svg class="outline"' in detail.text and '<path d="M' in detail.text  # drawn from its GeoJSON
    assert "新疆杨" in detail.text and "150" in detail.text  # species and area of the parcel
    state = await client.get(f"/forests/{world.state.serial_prefix}")
    assert 'id="units-retired">6' in state.text  # 3 for the offset, 3 for the case
    quota = await client.get(f"/forests/{world.quota.serial_prefix}")
    assert 'id="kg-per-ticket">10<' in quota.text and 'id="units-retired">132' in quota.text
    assert 'id="basis-missing"' in quota.text
    missing = await client.get("/forests/NO-SUCH-BATCH")
    assert missing.status_code == 404


async def test_a_quota_shows_the_basis_it_records(client, db):
    quota = await open_quota(units=1000)
    await Batch.filter(id=quota.id).update(
        co2e_method="CCER 造林碳汇方法学 AR-CM-001", co2e_source="宁夏林草局 2025 年核算报告", co2e_year=2025
    )
    page = await client.get(f"/forests/{quota.serial_prefix}")
    assert 'id="basis-method">CCER 造林碳汇方法学 AR-CM-001<' in page.text
    assert 'id="basis-source">宁夏林草局 2025 年核算报告<' in page.text and 'id="basis-year">2025<' in page.text
    assert 'id="basis-missing"' not in page.text


# --- notices ------------------------------------------------------------------------------------------------


async def test_the_notice_board(client, db):
    from registry import notices
    from tests.registry.test_notices import PUBLISHED, _dividend

    dividend, actor, household = await _dividend()
    with clock.use(clock.FixedClock(PUBLISHED)):
        old = await notices.publish_dividend_notice(dividend, actor=actor)
        objection = await notices.record_objection(notice=old, received_on=clock.today(), summary="异议", actor=actor)
        await notices.resolve_objection(objection, resolution="已答复", actor=actor)
    other, actor2, _ = await _dividend()
    fresh = await notices.publish_dividend_notice(other, actor=actor2)
    page = await client.get("/notices")
    assert page.status_code == 200
    open_part, closed_part = page.text.split('id="closed-notices"')
    assert f'data-notice="{fresh.id}"' in open_part and f'data-notice="{old.id}"' in closed_part
    assert "收到异议 1 件，已全部处理" in closed_part
    assert "经核实成立" not in page.text
    with clock.use(clock.FixedClock(PUBLISHED)):
        upheld = await notices.record_objection(notice=old, received_on=clock.today(), summary="异议二", actor=actor)
        await notices.resolve_objection(upheld, resolution="收入少计，异议成立", upheld=True, actor=actor)
    closed_part = (await client.get("/notices")).text.split('id="closed-notices"')[1]
    assert "收到异议 2 件，已全部处理" in closed_part and "其中 1 件经核实成立，公示事项不予办理" in closed_part
    assert "收入少计" not in closed_part  # the settlement's text stays in the back-office
    assert household.name not in page.text and id_of(household) not in page.text
    english = await client.get("/notices?lang=en")
    assert "Notice board" in english.text and '<html lang="en">' in english.text


# --- trust items --------------------------------------------------------------------------------------------


async def test_the_footer_carries_the_trust_items_from_settings(settings, db):
    import httpx

    configured = settings.with_(
        operator="银川市自然资源局",
        service_hotline="0951-12345",
        icp_number="宁ICP备00000000号-1",
        psb_number="宁公网安备64010402000001号",
        corrections_contact="linpiao@example.gov.cn",
    )
    app = create_app(configured, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        for path in ("/", "/impact", "/retirements", "/forests", "/verify", "/privacy", "/buy", "/no-such-page"):
            text = (await http.get(path)).text
            assert "宁ICP备00000000号-1" in text and "宁公网安备64010402000001号" in text, path
            assert "0951-12345" in text and 'href="/privacy"' in text and 'href="/refunds"' in text, path
        contact = (await http.get("/contact")).text
        assert "linpiao@example.gov.cn" in contact and "银川市自然资源局" in contact
        privacy = (await http.get("/privacy")).text
        assert "个人信息处理者：银川市自然资源局" in privacy


async def test_empty_trust_items_are_hidden(client, db):
    text = (await client.get("/")).text
    assert 'id="footer-icp"' not in text and 'id="footer-psb"' not in text and 'id="footer-operator"' not in text
    assert 'href="/privacy"' in text and 'href="/impact"' in text  # the links are always there
    assert "运营单位尚未公布联系方式" in (await client.get("/contact")).text


@pytest.mark.parametrize("path", ["/privacy", "/refunds", "/contact"])
async def test_trust_pages_in_both_languages(client, db, path):
    zh = await client.get(path)
    en = await client.get(path, params={"lang": "en"})
    assert zh.status_code == en.status_code == 200 and '<html lang="en">' in en.text
    assert re.search(r"[\u4e00-\u9fff]", zh.text.split("<main")[1])
    main = en.text.split('<main class="page">')[1].split("</main>")[0].replace("张*丰", "")  # an example name
    assert not re.search(r"[\u4e00-\u9fff]", main), path  # every sentence is translated


# --- the document ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["positive", "negative"])
async def test_the_open_data_keep_their_document(app, client, world, mode):
    """Schemathesis on the open-data operations alone, over a register with every kind of retirement (the
    suite's test_schemathesis.py runs the whole document over an empty one)."""
    import asyncio

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    from tests.shop.test_schemathesis import BASE, _send

    served = await client.get("/api/v1/openapi.json")
    schema = schemathesis.openapi.from_dict(served.json()).include(path_regex="^/(retirements|register)")
    schema.app = app
    loop = asyncio.get_running_loop()
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(schema.as_strategy(generation_mode=generation))
    def run(case: schemathesis.Case) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE)
        response = asyncio.run_coroutine_threadsafe(_send(client, kwargs), loop).result(timeout=30)
        case.validate_response(response, transport_kwargs={"app": app})

    await asyncio.to_thread(run)


async def test_the_impact_totals_equal_the_index_whoever_syncs_first(client, world):
    """/impact reads totals kept as entries are indexed; readers arriving together count each retirement once,
    and a retirement made afterwards is added to them."""
    import asyncio

    from tortoise.functions import Count, Sum

    from registry import retirements

    await asyncio.gather(*(retirements.sync() for _ in range(4)))
    quota = await open_quota(units=1000)
    await paid_order(3, name="后来者", batch=quota)
    await asyncio.gather(*(retirements.sync() for _ in range(4)))
    for column in ("kind", "purpose", "month", "district_code"):
        indexed = {
            str(r[column]): (int(r["q"]), int(r["g"]), int(r["n"]))
            for r in await PublicRetirement.all()
            .annotate(q=Sum("quantity"), g=Sum("g_co2e"), n=Count("id"))
            .group_by(column)
            .values(column, "q", "g", "n")
        }
        totals = {t.key: (t.quantity, t.g_co2e, t.retirements) for t in await retirements.totals_by(column)}
        assert totals == indexed, column
    assert sum(t.retirements for t in await retirements.totals_by("kind")) == 9
