"""The audit page's action choices (registry.audit.actions): every name written, in order, read by seeking through
the action index rather than a DISTINCT over the whole log."""

from __future__ import annotations

from tortoise import connections

from registry import audit
from registry.models import AuditLog
from tests.conftest import is_postgres


async def test_actions_are_the_names_written_in_order(db):
    assert await audit.actions() == []
    for name in ["trade.record", "holder.create", "login", "holder.create", "trade.record", "login", "apikey.revoke"]:
        await AuditLog.create(username="clerk", action=name)
    assert await audit.actions() == ["apikey.revoke", "holder.create", "login", "trade.record"]


async def test_actions_seek_the_index_and_never_scan_the_log(db):
    conn = connections.get("default")
    if is_postgres():
        await conn.execute_script("SET enable_seqscan = off")  # a tiny table would be read whole whatever the plan
        plan = "\n".join(row["QUERY PLAN"] for row in await conn.execute_query_dict("EXPLAIN " + audit.ACTIONS_SQL))
        await conn.execute_script("RESET enable_seqscan")
        assert "Seq Scan on audit_log" not in plan and "audit_log_action" in plan, plan
    else:
        rows = await conn.execute_query_dict("EXPLAIN QUERY PLAN " + audit.ACTIONS_SQL)
        plan = "\n".join(row["detail"] for row in rows)
        assert "SCAN audit_log" not in plan and "USING COVERING INDEX idx_audit_log_action" in plan, plan


async def test_the_audit_page_offers_the_actions(sign_in):
    from registry.models import StaffRole

    auditor = await sign_in(StaffRole.AUDITOR)
    await AuditLog.create(username="x", action="quota.close")
    page = await auditor.get("/admin/audit")
    assert page.status_code == 200 and '<option value="quota.close"' in page.text
