"""The per-year tree-planting conversion in the back-office: forestry sets it, a new one supersedes the old,
auditors read it, everyone else is refused; bad input writes nothing."""

from __future__ import annotations

from registry import planting
from registry.models import AuditLog, StaffRole
from registry.planting import PlantingRule

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
    rule = await planting.rule_for(2026)
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
    assert (await planting.rule_for(2026)).tickets_per_tree == 10
