"""The per-year tree-planting conversion in the back-office: forestry sets it, a new one supersedes the old,
auditors read it, everyone else is refused; bad input writes nothing."""

from __future__ import annotations

from planting.domain.models import PlantingRule
from planting.domain.rules import below_minimum_order, rule_for, set_rule
from registry.models import AuditLog, StaffRole

RULE = {
    "year": "2026",
    "tickets_per_tree": "10",
    "trees_per_duty": "3",
    "receiving_body": "银川市绿化基金会",
    "source": "银川市绿化委员会办公室 2026 年第 1 号通知",
    "notes": "",
}


async def test_forestry_sets_and_supersedes_the_conversion(sign_in):
    forester = await sign_in(StaffRole.FORESTRY, "forester")
    page = await forester.get("/admin/planting")
    assert page.status_code == 200 and 'id="planting-rule-form"' in page.text
    assert (await forester.post("/admin/planting", RULE)).status_code == 303
    assert (await forester.post("/admin/planting", {**RULE, "tickets_per_tree": "20"})).status_code == 303
    rule = await rule_for(2026)
    assert (rule.tickets_per_tree, rule.trees_per_duty, rule.set_by_name) == (20, 3, "forester")
    assert await PlantingRule.all().count() == 2
    listing = await forester.get("/admin/planting")
    assert "现行" in listing.text and "已取代" in listing.text and "银川市绿化基金会" in listing.text
    assert await AuditLog.filter(action="planting.rule.set", username="forester").count() == 2


async def test_bad_conversion_is_refused_and_writes_nothing(sign_in):
    forester = await sign_in(StaffRole.FORESTRY, "forester")
    for changes in ({"tickets_per_tree": "0"}, {"tickets_per_tree": "abc"}, {"receiving_body": ""}, {"year": "1900"}):
        response = await forester.post("/admin/planting", {**RULE, **changes})
        assert response.status_code == 400 and 'id="planting-error"' in response.text
    assert await PlantingRule.all().count() == 0


async def test_auditor_reads_others_are_refused(sign_in):
    forester = await sign_in(StaffRole.FORESTRY, "forester")
    await forester.post("/admin/planting", RULE)
    auditor = await sign_in(StaffRole.AUDITOR, "auditor")
    page = await auditor.get("/admin/planting")
    assert page.status_code == 200 and "银川市绿化基金会" in page.text and 'id="planting-rule-form"' not in page.text
    assert (await auditor.post("/admin/planting", {**RULE, "tickets_per_tree": "99"})).status_code == 403
    issuer = await sign_in(StaffRole.ISSUER, "issuer")
    assert (await issuer.get("/admin/planting")).status_code == 403
    assert (await rule_for(2026)).tickets_per_tree == 10


async def test_warns_when_one_persons_purchase_is_below_the_shops_minimum_order(sign_in):
    from registry.quotas import open_quota

    await open_quota(units=1000, price_fen=100)  # ¥1 a ticket; the shop's minimum order is ¥5 (settings)
    forester = await sign_in(StaffRole.FORESTRY, "forester")
    assert (await forester.post("/admin/planting", {**RULE, "tickets_per_tree": "1"})).status_code == 303
    page = await forester.get("/admin/planting")
    assert page.text.count('data-testid="min-order-warning"') == 1 and 'data-year="2026"' in page.text
    # 3 trees × 1 ticket × ¥1 = ¥3 < ¥5: a citizen has to buy 5 trees
    assert "¥3.00" in page.text and "¥5.00" in page.text and "至少要买5株" in page.text
    english = await forester.get("/admin/planting?lang=en")
    assert "below the shop's minimum order of ¥5.00" in english.text and "at least 5 trees" in english.text
    await forester.get("/admin/planting?lang=zh_CN")
    # a rule that makes 3 trees cost ¥6 supersedes it: no warning any more
    assert (await forester.post("/admin/planting", {**RULE, "tickets_per_tree": "2"})).status_code == 303
    assert 'data-testid="min-order-warning"' not in (await forester.get("/admin/planting")).text


async def test_below_minimum_order_names_the_fewest_trees_that_can_be_paid(db):
    rule = await set_rule(year=2026, tickets_per_tree=1, receiving_body="基金会", source="通知")
    shortfall = below_minimum_order(rule, price_fen=100, min_order_fen=400)
    assert shortfall is not None and (shortfall.amount_fen, shortfall.trees_needed) == (300, 4)
    nothing_payable = below_minimum_order(rule, price_fen=100, min_order_fen=501)
    assert nothing_payable is not None and nothing_payable.trees_needed is None
    assert below_minimum_order(rule, price_fen=100, min_order_fen=300) is None
