"""Lists that grow with sales page by the last row shown (``?after=``), never by an offset or a count: every page
costs what the first does, and following the pages shows every row exactly once."""

from __future__ import annotations

import re

import httpx

from factories import make_batch, make_holder
from registry import register
from registry.models import AuditLog, StaffRole, TicketKind
from registry.register_view import EntryFilter, find_entries

NEXT = re.compile(r'href="\?([^"]*after=\d+)" data-testid="next-page"')


async def _follow(staff, path: str, pattern: re.Pattern[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """Every match of ``pattern`` on every page, following the next-page links."""
    found: list[str] = []
    url = path
    for _ in range(50):
        page: httpx.Response = await staff.get(url)
        assert page.status_code == 200
        found += pattern.findall(page.text)
        link = NEXT.search(page.text)
        if link is None:
            return found
        url = path.split("?")[0] + "?" + link.group(1).replace("&amp;", "&")
    raise AssertionError("too many pages")


async def test_the_register_view_pages_by_seq(sign_in):
    holder, other = await make_holder("甲"), await make_holder("乙")
    batch = await make_batch(TicketKind.COLLECTIVE, units=500, holder=holder)
    for _ in range(60):
        await register.transfer_units(batch=batch, from_holder=holder, to_holder=other, quantity=1)
    auditor = await sign_in(StaffRole.AUDITOR)
    first = await auditor.get("/admin/register")
    assert "第一页" not in first.text and NEXT.search(first.text)
    hashes = await _follow(auditor, "/admin/register", re.compile(r'title="([0-9a-f]{64})"'))
    assert len(hashes) == len(set(hashes)) == 61  # the issue and 60 transfers, each once, in order
    one = await _follow(auditor, f"/admin/register?holder={other.id}", re.compile(r'title="([0-9a-f]{64})"'))
    assert len(one) == 60


async def test_a_holders_entries_page_by_seq(db):
    holder, other = await make_holder("甲"), await make_holder("乙")
    batch = await make_batch(TicketKind.COLLECTIVE, units=500, holder=holder)
    for _ in range(7):
        await register.transfer_units(batch=batch, from_holder=holder, to_holder=other, quantity=1)
    rows = await find_entries(EntryFilter(holder_id=other.id), limit=3)
    rest = await find_entries(EntryFilter(holder_id=other.id), limit=10, after_seq=rows[-1].seq)
    assert [r.seq for r in rows + rest] == sorted({r.seq for r in rows + rest}) and len(rows + rest) == 7


async def test_the_audit_log_pages_newest_first(sign_in):
    admin = await sign_in(StaffRole.ADMIN)
    for n in range(40):
        await AuditLog.create(username="clerk", action="holder.update", target=f"holder:{n:03d}")
    targets = await _follow(admin, "/admin/audit?username=clerk", re.compile(r"holder:(\d{3})"))
    assert targets == [f"{n:03d}" for n in reversed(range(40))]
