"""Sorting back-office lists by their columns (admin/sorting.py): every sortable column sorts both ways, ties by
the id, and a hostile ``sort`` parameter is ignored — the list comes in its default order and nothing reaches SQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from admin.sorting import Sorting
from admin.web import PAGE_SIZE
from factories import make_batch, make_holder
from kernel import clock
from registry import quotas, register
from registry.apikeys import ApiKey
from registry.applications import ApplicationBasis, ApplicationStatus, IssuanceApplication
from registry.dividends import Dividend
from registry.models import AuditLog, Batch, Holder, HolderKind, Parcel, StaffRole, StaffUser, TicketKind
from registry.notices import NoticeKind, PublicNotice
from registry.offsets import (
    CompensationCase,
    CompensationStatus,
    GreenLandOffset,
    Offence,
    OffsetStatus,
    OffsetType,
)
from registry.trades import Trade, TradeKind, TradeStatus
from tests.admin.conftest import make_staff

# lower-case ASCII values: SQLite, PostgreSQL's collations and Python agree on their order
NAMES = ["delta", "alpha", "echo", "charlie", "bravo", "alpha"]


def ids_on(html: str, path: str) -> list[int]:
    found = [int(i) for i in re.findall(rf'<a href="/admin/{path}/(\d+)"', html)]
    return list(dict.fromkeys(found))  # a row may link to its record more than once


def expected(rows: list[Any], key: Callable[[Any], tuple], descending: bool, ident: Callable = lambda r: r.id) -> list:
    ordered = [ident(r) for r in sorted(rows, key=lambda r: (*key(r), r.id))]
    return ordered[::-1] if descending else ordered


async def check_every_column(
    staff,
    url: str,
    path: str,
    rows: list[Any],
    columns: dict[str, Callable],
    listed: Callable | None = None,
    ident: Callable | None = None,
) -> None:
    """``listed(html)`` reads the rows' order off a page whose rows link no record of their own (then rows are
    told apart by ``ident``, their ``username`` unless told)."""
    ident = ident or ((lambda r: r.id) if listed is None else (lambda r: r.username))
    page = await staff.get(url)
    headers = set(re.findall(r'data-testid="sort-([a-z]+)"', page.text))
    assert headers == set(columns), "every sortable column is tested, and only those"
    for key, value in columns.items():
        for descending in (False, True):
            sort = f"-{key}" if descending else key
            response = await staff.get(f"{url}?sort={sort}")
            assert response.status_code == 200
            shown = ids_on(response.text, path) if listed is None else listed(response.text)
            assert shown == expected(rows, value, descending, ident), sort
            direction = "descending" if descending else "ascending"
            assert f'aria-sort="{direction}"><a href="?sort={key if descending else "-" + key}"' in response.text


async def holders() -> list[Holder]:
    return [await make_holder(name, kind=kind) for name, kind in zip(NAMES, [*HolderKind, HolderKind.INDIVIDUAL])]


async def test_every_holder_column_sorts(sign_in):
    rows = await holders()
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    columns = {
        "name": lambda h: (h.name,),
        "kind": lambda h: (str(h.kind), h.name),
        "residence": lambda h: (h.residence_district, h.name),
    }
    await check_every_column(issuer, "/admin/holders", "holders", rows, columns)


async def parcels(owners: list[Holder]) -> list[Parcel]:
    made = []
    for n, owner in enumerate(owners):
        made.append(
            await Parcel.create(
                district_code="640104",
                township=NAMES[(n + 2) % len(NAMES)],
                village=NAMES[(n + 4) % len(NAMES)],
                area_mu=Decimal(f"{(n * 37) % 11}.25"),
                boundary_east="e",
                boundary_south="s",
                boundary_west="w",
                boundary_north="n",
                forest_right_cert_no=f"c{(n * 5) % 7:02d}",
                owner=owner,
            )
        )
    return [await Parcel.get(id=p.id).prefetch_related("owner") for p in made]


async def test_every_parcel_column_sorts(sign_in):
    rows = await parcels(await holders())
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    columns = {
        "id": lambda p: (),
        "district": lambda p: (p.district_code, p.township),
        "township": lambda p: (p.township, p.village),
        "village": lambda p: (p.village,),
        "area": lambda p: (p.area_mu,),
        "cert": lambda p: (p.forest_right_cert_no,),
        "owner": lambda p: (p.owner.name,),
    }
    await check_every_column(issuer, "/admin/parcels", "parcels", rows, columns)


async def test_every_application_column_sorts(sign_in):
    owners = await holders()
    places = await parcels(owners)
    statuses = [ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED, ApplicationStatus.APPROVED]
    rows = []
    for n, (owner, parcel) in enumerate(zip(owners, reversed(places))):
        rows.append(
            await IssuanceApplication.create(
                kind=TicketKind.COLLECTIVE,
                basis=ApplicationBasis.OWNER,
                status=statuses[n % 3],
                parcel=parcel,
                applicant=owner,
                district_code="640104",
            )
        )
    rows = [await IssuanceApplication.get(id=a.id).prefetch_related("applicant") for a in rows]
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    columns = {
        "id": lambda a: (),
        "kind": lambda a: (str(a.kind),),
        "applicant": lambda a: (a.applicant.name,),
        "parcel": lambda a: (a.district_code, a.parcel_id),
        "status": lambda a: (str(a.status),),
        "updated": lambda a: (a.updated_at,),
    }
    await check_every_column(issuer, "/admin/applications", "applications", rows, columns)


async def test_every_trade_column_sorts_and_a_trade_without_seller_stays_listed(sign_in):
    people = await holders()
    batches = [await make_batch(TicketKind.COLLECTIVE, units=1000) for _ in range(2)]
    rows = []
    for n, buyer in enumerate(people):
        rows.append(
            await Trade.create(
                kind=TradeKind.TRANSFER if n % 2 else TradeKind.SUBSCRIPTION,
                status=TradeStatus.EFFECTIVE if n % 3 else TradeStatus.PENDING_FILING,
                batch=batches[n % 2],
                buyer=buyer,
                seller=people[(n + 1) % len(people)],
                quantity=(n * 7) % 5 + 1,
                price_fen=(n * 3) % 4 * 100,
            )
        )
    rows = [await Trade.get(id=t.id).prefetch_related("batch", "buyer", "seller") for t in rows]
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    columns = {
        "id": lambda t: (),
        "kind": lambda t: (str(t.kind),),
        "batch": lambda t: (t.batch.serial_prefix,),
        "seller": lambda t: (t.seller.name,),
        "buyer": lambda t: (t.buyer.name,),
        "quantity": lambda t: (t.quantity,),
        "price": lambda t: (t.price_fen,),
        "status": lambda t: (str(t.status),),
    }
    await check_every_column(issuer, "/admin/trades", "trades", rows, columns)
    # a subscription by holding shares names no seller: sorting by seller keeps it on the list
    shares = await Trade.create(
        kind=TradeKind.SUBSCRIPTION, batch=batches[0], buyer=people[0], seller=None, quantity=1, price_fen=0
    )
    for sort in ("seller", "-seller"):
        assert shares.id in ids_on((await issuer.get(f"/admin/trades?sort={sort}")).text, "trades")


async def offsets() -> list[GreenLandOffset]:
    companies = [await make_holder(f"{n} co", kind=HolderKind.ENTERPRISE) for n in NAMES]
    made = [
        await GreenLandOffset.create(
            offset_type=[*OffsetType][n % len(OffsetType)],
            status=[*OffsetStatus][n % len(OffsetStatus)],
            company=company,
            project=NAMES[(n + 3) % len(NAMES)],
            location="x",
            district_code="640104",
            lacking_area_m2=Decimal(f"{(n * 37) % 11}.5"),
            planning_approval_ref="p",
        )
        for n, company in enumerate(companies)
    ]
    return [await GreenLandOffset.get(id=o.id).prefetch_related("company") for o in made]


async def cases() -> list[CompensationCase]:
    offender = await make_holder("offender")
    return [
        await CompensationCase.create(
            case_number=f"{NAMES[n]}-{n}",
            offence=[*Offence][n % len(Offence)],
            deciding_body=NAMES[(n + 2) % len(NAMES)],
            offender=offender,
            decided_on=date(2026, 1, 1),
            status=[*CompensationStatus][n % len(CompensationStatus)],
            ordered_units=(n * 7) % 4 + 1,
        )
        for n in range(len(NAMES))
    ]


async def dividends() -> list[Dividend]:
    batches = [await make_batch(TicketKind.COLLECTIVE, units=1000) for _ in range(2)]
    made = [
        await Dividend.create(
            batch=batches[n % 2],
            record_date=date(2026, 1, 1 + (n * 5) % 7),
            income_fen=(n * 3) % 4 * 100,
            source=NAMES[n],
        )
        for n in range(len(NAMES))
    ]
    return [await Dividend.get(id=d.id).prefetch_related("batch") for d in made]


async def staff_accounts() -> list[StaffUser]:
    for n, name in enumerate(NAMES[:-1]):  # usernames are unique
        account = await make_staff([*StaffRole][n % len(StaffRole)], name, district=["640104", "640105"][n % 2])
        await StaffUser.filter(id=account.id).update(display_name=NAMES[(n + 1) % len(NAMES)], is_active=n % 3 > 0)
    # an administrator's account names no district: give every account one, so each column has a total order
    await StaffUser.filter(district_code=None).update(district_code="640106")
    return list(await StaffUser.all())  # with the administrator signed in


def usernames(html: str) -> list[str]:
    return re.findall(r'<tr><td class="mono">([^<]+)</td>', html)


def empty_last(value: Any) -> tuple[bool, Any]:
    """An empty value after every other ascending (before them descending), as PostgreSQL and the lists do."""
    return (value is None, 0 if value is None else value)


SOLD: dict[int, int] = {}  # a quota's id → the tickets sold from it (today), filled by carbon_quotas


async def carbon_quotas() -> list[Batch]:
    buyer = await make_holder("buyer")
    for n in range(len(NAMES)):
        quota = await quotas.open_quota(units=(n * 7) % 4 * 100 + 100)
        SOLD[quota.id] = (n * 5) % 3 * 10
        if SOLD[quota.id]:
            await register.retire_held_units(
                batch=quota,
                holder=await quotas.pool_holder(),
                quantity=SOLD[quota.id],
                purpose="offset",
                beneficiary=buyer,
                price_fen=SOLD[quota.id] * 100,
            )
        await Batch.filter(id=quota.id).update(
            serial_prefix=f"TH-{NAMES[n]}-{n}",
            price_fen=(n * 3) % 4 * 100,
            g_co2e_per_unit=(n * 5) % 3 * 1000 + 1000,
            valid_until=date(2027, 1, 1 + (n * 5) % 7),
            is_open=n % 3 > 0,
        )
    return list(await Batch.filter(kind=TicketKind.CARBON))


async def api_keys() -> list[ApiKey]:
    start = clock.now()
    return [
        await ApiKey.create(
            prefix=f"lp_{NAMES[(n + 1) % len(NAMES)]}{n}",
            key_hash=f"{n:064d}",
            organisation=NAMES[n],
            max_pending_units=None if n % 3 == 0 else (n * 7) % 4,
            created_at=start - timedelta(hours=(n * 5) % 7),
            last_used_at=None if n % 2 else start - timedelta(minutes=(n * 3) % 4),
            revoked_at=None if n % 3 else start - timedelta(minutes=n),
        )
        for n in range(len(NAMES))
    ]


def key_prefixes(html: str) -> list[str]:
    return re.findall(r'<tr data-prefix="([^"]+)"', html)


async def notices_open() -> list[PublicNotice]:
    start = clock.now()
    return [
        await PublicNotice.create(
            kind=NoticeKind.DIVIDEND,
            title=NAMES[n],
            body="b",
            district_code=["640104", "640105"][n % 2],
            opens_at=start,
            closes_at=start + timedelta(days=1 + (n * 5) % 4),  # all open: one table, in the chosen order
        )
        for n in range(len(NAMES))
    ]


async def audit_lines() -> list[AuditLog]:
    for n in range(len(NAMES)):
        await AuditLog.create(
            username=NAMES[n], action=f"sorting.{NAMES[-n]}", target=f"t{NAMES[(n + 2) % 6]}{n}", ip=f"10.0.0.{n % 3}"
        )
    return list(await AuditLog.all())  # with the sign-in's own lines


def audit_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<td class="mono">([^<]*)</td><td class="mono">[^<]*</td><td class="mono">([^<]*)</td>', html)


# the other lists with column sorts: (url, role, path of a row's link, rows, the columns' Python sort keys)
LISTS = {
    "offsets": (
        "/admin/offsets",
        StaffRole.AUDITOR,
        "offsets",
        offsets,
        {
            "id": lambda o: (),
            "type": lambda o: (str(o.offset_type),),
            "company": lambda o: (o.company.name,),
            "project": lambda o: (o.project,),
            "area": lambda o: (o.lacking_area_m2,),
            "status": lambda o: (str(o.status),),
        },
    ),
    "cases": (
        "/admin/compensation",
        StaffRole.AUDITOR,
        "compensation",
        cases,
        {
            "number": lambda c: (c.case_number,),
            "offence": lambda c: (str(c.offence),),
            "body": lambda c: (c.deciding_body,),
            "units": lambda c: (c.ordered_units,),
            "status": lambda c: (str(c.status),),
        },
    ),
    "dividends": (
        "/admin/dividends",
        StaffRole.AUDITOR,
        "dividends",
        dividends,
        {
            "id": lambda d: (),
            "batch": lambda d: (d.batch.serial_prefix,),
            "date": lambda d: (d.record_date,),
            "income": lambda d: (d.income_fen,),
            "source": lambda d: (d.source,),
        },
    ),
    "staff": (
        "/admin/staff",
        StaffRole.ADMIN,
        "",
        staff_accounts,
        {
            "username": lambda a: (a.username,),
            "name": lambda a: (a.display_name,),
            "role": lambda a: (str(a.role), a.username),
            "district": lambda a: (a.district_code, a.username),
            "active": lambda a: (not a.is_active, a.username),
        },
    ),
    "quotas": (
        "/admin/quotas",
        StaffRole.FORESTRY,
        "",
        carbon_quotas,
        {
            "quota": lambda q: (q.serial_prefix,),
            "price": lambda q: (q.price_fen,),
            "carbon": lambda q: (q.g_co2e_per_unit,),
            "valid": lambda q: (q.valid_until,),
            "total": lambda q: (q.total_units,),
            "available": lambda q: (q.total_units - SOLD[q.id],),
            "reserved": lambda q: (0,),
            "sold": lambda q: (SOLD[q.id],),
            "recent": lambda q: (SOLD[q.id], SOLD[q.id]),
            "status": lambda q: (not q.is_open,),
        },
    ),
    "apikeys": (
        "/admin/apikeys",
        StaffRole.ADMIN,
        "",
        api_keys,
        {
            "prefix": lambda k: (k.prefix,),
            "organisation": lambda k: (k.organisation,),
            "limit": lambda k: (empty_last(k.max_pending_units),),
            "created": lambda k: (k.created_at,),
            "used": lambda k: (empty_last(k.last_used_at),),
            "status": lambda k: ((k.revoked_at is not None, -(k.revoked_at.timestamp() if k.revoked_at else 0)),),
        },
    ),
    "notices": (
        "/admin/notices",
        StaffRole.AUDITOR,  # reads every district's notices
        "notices",
        notices_open,
        {
            "title": lambda n: (n.title,),
            "district": lambda n: (n.district_code, n.title),
            "period": lambda n: (n.closes_at,),
        },
    ),
    # the audit log sorts by every column but the details (a JSON object)
    "audit": (
        "/admin/audit",
        StaffRole.AUDITOR,
        "",
        audit_lines,
        {
            "time": lambda a: (),
            "username": lambda a: (a.username,),
            "action": lambda a: (a.action,),
            "target": lambda a: (a.target,),
            "address": lambda a: (a.ip,),
        },
    ),
}
# lists whose rows link no record: how a page's order is read, and what names a row
READERS: dict[str, tuple[Callable, Callable]] = {
    "staff": (usernames, lambda a: a.username),
    "quotas": (lambda html: re.findall(r'<tr><td class="mono">([^<]+)</td>', html), lambda q: q.serial_prefix),
    "apikeys": (key_prefixes, lambda k: k.prefix),
    "audit": (audit_rows, lambda a: (a.username, a.target)),
}


@pytest.mark.parametrize("name", LISTS)
async def test_every_column_of_the_other_lists_sorts(sign_in, name):
    url, role, path, make, columns = LISTS[name]
    clerk = await sign_in(role, "zulu", district="640104")  # last by name, district and role among the rows
    rows = await make()
    listed, ident = READERS.get(name, (None, None))
    await check_every_column(clerk, url, path, rows, columns, listed=listed, ident=ident)


@pytest.mark.parametrize("sort", ["time", "-time", "username", "-username", "action", "-target", "address"])
async def test_the_audit_log_pages_through_every_line_in_each_order(sign_in, sort):
    auditor = await sign_in(StaffRole.AUDITOR, "zulu")
    for n in range(PAGE_SIZE + 7):
        await AuditLog.create(
            username=NAMES[n % len(NAMES)],
            action=f"paging.{NAMES[n % 4]}",
            target=f"p{n % 9}-{n}",
            ip=f"10.0.{n % 5}.1",
        )
    rows = list(await AuditLog.all())
    field = {"time": None, "username": "username", "action": "action", "target": "target", "address": "ip"}[
        sort.lstrip("-")
    ]
    key = (lambda a: ()) if field is None else (lambda a: (getattr(a, field),))
    shown: list[tuple[str, str]] = []
    url = f"/admin/audit?sort={sort}"
    for _page in range(5):
        response = await auditor.get(url)
        assert response.status_code == 200
        shown += audit_rows(response.text)
        following = re.search(r'href="\?([^"]+)" data-testid="next-page"', response.text)
        if following is None:
            break
        url = "/admin/audit?" + following.group(1).replace("&amp;", "&")
    assert shown == expected(rows, key, sort.startswith("-"), lambda a: (a.username, a.target))


HOSTILE = [
    "name;DROP TABLE holder",
    "name) --",
    "--name",
    "-",
    "id_number",  # a real field, but not a sortable column
    "owner__id_number",
    "__class__",
    "name\u00a0",
    "x" * 5000,
]


@pytest.mark.parametrize("sort", HOSTILE)
async def test_a_hostile_sort_is_ignored(sign_in, sort):
    rows = await holders()
    issuer = await sign_in(StaffRole.ISSUER, district="640104")
    response = await issuer.get("/admin/holders", params={"sort": sort})
    assert response.status_code == 200
    assert ids_on(response.text, "holders") == expected(rows, lambda h: (h.name,), False)  # the default order
    assert await Holder.all().count() == len(rows)
    for url in ("/admin/parcels", "/admin/applications", "/admin/trades"):
        assert (await issuer.get(url, params={"sort": sort})).status_code == 200
    for name, (url, role, _path, _make, _columns) in LISTS.items():
        other = await sign_in(role, f"{name}-hostile")
        assert (await other.get(url, params={"sort": sort})).status_code == 200


def test_a_sorting_only_ever_returns_its_own_fields():
    sorting = Sorting({"name": ("name",), "newest": ("-created_at",)}, default="-name")
    assert sorting.choose("name").order == ("name", "id")
    assert sorting.choose("-name").order == ("-name", "-id")
    assert sorting.choose("-newest").order == ("created_at", "-id")
    for text in (None, "", "id", "--name", "name,id", "-name; select 1"):
        assert sorting.choose(text).key == "-name"
    with pytest.raises(ValueError):
        Sorting({"name": ("name",)}, default="kind")
