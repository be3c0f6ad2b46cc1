"""Back-office screens of public notices (公示): the district's issuer publishes, records an objection and settles it
with its outcome; issuing before the notice clears is refused on the application's page and issues nothing."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from admin.web import PAGE_SIZE
from kernel import clock
from registry import applications as apps
from registry.audit import Actor
from registry.models import AuditLog, Batch, StaffRole, TicketKind
from registry.notices import NoticeKind, NoticeObjection, PublicNotice
from tests.admin.conftest import make_staff, village_with_parcel


async def _approved(actor: Actor) -> apps.IssuanceApplication:
    village, parcel = await village_with_parcel("640104", "150")
    application = await apps.submit_application(
        kind=TicketKind.COLLECTIVE, parcel=parcel, applicant=village, actor=actor
    )
    return await apps.approve_application(application, actor=actor)


async def test_the_issuer_publishes_records_and_settles_an_objection_and_issuing_waits(sign_in):
    issuer = await sign_in(StaffRole.ISSUER)
    application = await _approved(Actor(issuer.user, ""))
    listing = await issuer.get("/admin/notices")
    assert listing.status_code == 200 and f'value="application:{application.id}"' in listing.text
    assert 'href="/admin/notices"' in listing.text  # in the navigation

    published = await issuer.post("/admin/notices", {"subject": f"application:{application.id}", "period_days": ""})
    assert published.status_code == 303
    notice = await PublicNotice.get(application_id=application.id)
    assert notice.period_days == 7 and notice.is_open  # the default period
    assert published.headers["location"] == f"/admin/notices/{notice.id}"
    listing = await issuer.get("/admin/notices")
    assert notice.title in listing.text.split('data-testid="open-notices"')[1].split("</table>")[0]

    refused = await issuer.post(f"/admin/applications/{application.id}/issue", {"unit_area_m2": "100"})
    assert refused.status_code == 400 and "发放公示期未满，不能发放林票" in refused.text
    assert await Batch.filter(kind=TicketKind.COLLECTIVE).count() == 0

    outside = await issuer.post(f"/admin/notices/{notice.id}/objections", {"received_on": "2000-01-01", "summary": "x"})
    assert outside.status_code == 400 and await NoticeObjection.all().count() == 0
    today = notice.opens_on.isoformat()
    recorded = await issuer.post(
        f"/admin/notices/{notice.id}/objections", {"received_on": today, "summary": "邻村称四至与本村林地重叠"}
    )
    assert recorded.status_code == 303
    objection = await NoticeObjection.get(notice_id=notice.id)
    url = f"/admin/notices/{notice.id}/objections/{objection.id}/resolve"
    assert (await issuer.post(url, {"resolution": "经现场核实", "outcome": ""})).status_code == 400
    assert (await issuer.post(url, {"resolution": "经现场核实，四至确有重叠", "outcome": "upheld"})).status_code == 303
    await objection.refresh_from_db()
    assert objection.upheld and objection.resolved_by == "staff:issuer-user"
    page = await issuer.get(f"/admin/notices/{notice.id}")
    assert "异议成立" in page.text and "经现场核实，四至确有重叠" in page.text
    again = await issuer.post(url, {"resolution": "改判", "outcome": "dismissed"})
    assert again.status_code == 400 and "该异议已处理" in again.text
    actions = await AuditLog.filter(target=f"notice:{notice.id}").values_list("action", flat=True)
    assert sorted(actions) == ["notice.objection", "notice.publish", "notice.resolve"]


async def test_another_districts_issuer_neither_sees_nor_publishes(sign_in):
    owner = await make_staff(StaffRole.ISSUER, "issuer-xingqing", "640104")
    application = await _approved(Actor(owner, ""))
    other = await sign_in(StaffRole.ISSUER, "issuer-helan", "640122")
    listing = await other.get("/admin/notices")
    assert f"application:{application.id}" not in listing.text
    refused = await other.post("/admin/notices", {"subject": f"application:{application.id}", "period_days": "7"})
    assert refused.status_code == 404 and await PublicNotice.all().count() == 0


def _titles(html: str, table: str) -> list[str]:
    body = html.split(f'data-testid="{table}"')[1].split("</table>")[0]
    return re.findall(r'<a href="/admin/notices/\d+">([^<]+)</a>', body)


async def _follow(auditor, table: str, url: str) -> tuple[list[str], list[str]]:
    """The titles of ``table`` page after page by its own next link, and each page's URL."""
    shown: list[str] = []
    urls: list[str] = []
    for _page in range(10):
        response = await auditor.get(url)
        assert response.status_code == 200
        shown += _titles(response.text, table)
        urls.append(url)
        following = re.search(rf'href="\?([^"]+)" data-testid="{table}-next"', response.text)
        if following is None:
            return shown, urls
        url = "/admin/notices?" + html.unescape(following.group(1))
    raise AssertionError("no last page")


@pytest.mark.parametrize("sort", ["", "title", "-title", "district", "-period"])
async def test_each_notices_table_pages_through_every_notice_once(sign_in, sort):
    auditor = await sign_in(StaffRole.AUDITOR, "zulu")
    start = clock.now()
    made: dict[str, list[PublicNotice]] = {"open-notices": [], "closed-notices": []}
    for n in range(PAGE_SIZE + 6):
        closing = (("open-notices", timedelta(days=1 + n % 4)), ("closed-notices", -timedelta(days=1 + n % 3)))
        for table, closes in closing:
            made[table].append(
                await PublicNotice.create(
                    kind=NoticeKind.DIVIDEND,
                    title=f"{table[:4]}-{n % 5}-{n:03d}",
                    body="b",
                    district_code=["640104", "640105"][n % 2],
                    opens_at=start - timedelta(days=10),
                    closes_at=start + closes,
                )
            )
    url = "/admin/notices" + (f"?sort={sort}" if sort else "")
    first = await auditor.get(url)
    for table, rows in made.items():
        assert len(_titles(first.text, table)) == PAGE_SIZE  # a page, not every row
        shown, urls = await _follow(auditor, table, url)
        assert len(urls) == 2  # the next page shows the rest
        assert sorted(shown) == sorted(n.title for n in rows) and len(set(shown)) == len(shown)  # none missed or twice
    # paging one table keeps the other where it was, and a header click starts both again
    second_open = (await _follow(auditor, "open-notices", url))[1][1]
    page = await auditor.get(second_open)
    closed_next = re.search(r'href="\?([^"]+)" data-testid="closed-notices-next"', page.text)
    assert closed_next is not None and "open_after=" in closed_next.group(1)
    both = await auditor.get("/admin/notices?" + html.unescape(closed_next.group(1)))
    assert _titles(both.text, "open-notices") == _titles(page.text, "open-notices")
    assert len(_titles(both.text, "closed-notices")) == 6
    header = re.search(r'data-testid="open-notices".*?<a href="\?([^"]*)" data-testid="sort-title"', both.text, re.S)
    assert header is not None and "after" not in header.group(1)
