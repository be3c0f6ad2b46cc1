"""Record-level access (registry/access.py), walked through the back-office.

Every back-office action is tried by every demo account (each role, and the district accounts of 兴庆区, 贺兰县 and
西夏区) against records of several districts and of every ticket kind — collective batches of 兴庆区, 永宁县 and
贺兰县, state batches of 西夏区 and 兴庆区, the carbon quota — and against the carbon pool holder the shop sells
from. An allowed action succeeds; a refused one answers 403 (404 for a record the account may not even see) and
leaves the database as it was. The expectations below are the rules written out again by hand, so a change to
``registry.access.RULES`` that nobody meant shows up here.

One database for the module (seeded once with the demo and the extra records), so the walk stays fast: reads and
lists run first, the walk of writes last (its allowed actions change the data).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from tortoise import Tortoise

from admin.permissions import Perm, staff_allowed
from certificates import service as certificate_service
from certificates.codes import new_code
from factories import id_of, make_holder, make_parcel, resident_id
from kernel import clock
from kernel.settings import Settings
from linpiao.app import create_app
from linpiao.db import tortoise_config
from linpiao.demo import STAFF, VILLAGE_CODE, seed_demo
from registry import access, apikeys, dividends, holders, idcrypt, notices, offsets, quotas, register, trades
from registry.applications import IssuanceApplication, submit_application
from registry.audit import Actor
from registry.idempotency import new_form_token
from registry.identity import uscc_check_char
from registry.models import (
    Batch,
    Certificate,
    CertificateKind,
    Holder,
    HolderKind,
    Parcel,
    StaffRole,
    StaffUser,
    TicketKind,
)
from registry.parcels import ParcelDocument, attach_document, species_text
from registry.pool import POOL_HOLDER_CODE
from registry.storage import LocalStorage
from tests import schema
from tests.admin.conftest import Staff, csrf_of, login
from tests.conftest import PG_URL, is_postgres

pytestmark = pytest.mark.asyncio(loop_scope="module")

X, Y, H, S = "640104", "640121", "640122", "640105"  # 兴庆区, 永宁县, 贺兰县, 西夏区
TODAY = clock.today().isoformat()
PDF = b"%PDF-1.4\n% a parcel document\n"

# the demo accounts (linpiao/demo.py): who they are and where
ADMIN, ISSUER, ISSUER_H, FORESTRY, FORESTRY_S = "admin", "issuer", "issuer_helan", "forestry", "forestry_xixia"
LANDSCAPING, GREENING_S, FINANCE, AUDITOR = "landscaping", "greening_xixia", "finance", "auditor"
EVERYONE = frozenset(s.username for s in STAFF)
DISTRICT_OF = {ISSUER: X, ISSUER_H: H, FORESTRY_S: S, GREENING_S: S}
CLERKS = (ISSUER, ISSUER_H, FORESTRY_S)  # district accounts that keep holders and parcels
ANYWHERE = frozenset({X, Y, H, S, "640106", "640181"})  # an unattached holder: every district's clerk


# ---------------------------------------------------------------------------------------------------------
# The rules, written out again (the specification the walk checks registry.access against)
# ---------------------------------------------------------------------------------------------------------


def clerks(districts: frozenset[str] | set[str]) -> frozenset[str]:
    return frozenset(u for u in CLERKS if DISTRICT_OF[u] in districts)


def issuers(district: str) -> frozenset[str]:
    return frozenset(u for u in (ISSUER, ISSUER_H) if DISTRICT_OF[u] == district)


def state_forestry(district: str) -> frozenset[str]:
    """The forestry departments covering state tickets of ``district``: the city's and that district's."""
    return frozenset({FORESTRY} | {u for u in (FORESTRY_S,) if DISTRICT_OF[u] == district})


def holder_readers(ties: frozenset[str]) -> frozenset[str]:
    return frozenset({FORESTRY, LANDSCAPING, GREENING_S, AUDITOR}) | clerks(ties)


def holder_editors(ties: frozenset[str], *, pool: bool = False) -> frozenset[str]:
    return frozenset() if pool else frozenset({FORESTRY}) | clerks(ties)


def parcel_readers(district: str) -> frozenset[str]:
    return frozenset({FORESTRY, LANDSCAPING, AUDITOR}) | clerks({district})


def parcel_editors(district: str) -> frozenset[str]:
    return frozenset({FORESTRY}) | clerks({district})


def register_readers(kind: TicketKind, district: str) -> frozenset[str]:
    """Who reads a batch's register entries, trades, inheritance cases and dividends."""
    readers = {FORESTRY, AUDITOR} | issuers(district)
    if kind is TicketKind.STATE:
        readers |= state_forestry(district)
    return frozenset(readers)


def keepers(kind: TicketKind, district: str, *, city_carbon: bool = False) -> frozenset[str]:
    """Who records for a batch: collective — the district's issuer; state — the forestry departments covering
    it; carbon — the city forestry department where it acts on carbon at all (``city_carbon``), else nobody."""
    if kind is TicketKind.COLLECTIVE:
        return issuers(district)
    if kind is TicketKind.STATE:
        return state_forestry(district)
    return frozenset({FORESTRY}) if city_carbon else frozenset()


def application_readers(kind: TicketKind, district: str) -> frozenset[str]:
    return frozenset({FORESTRY, AUDITOR}) | keepers(kind, district)


def offset_readers(district: str) -> frozenset[str]:
    greening = {GREENING_S} if district == S else set()
    return frozenset({FORESTRY, FORESTRY_S, LANDSCAPING, FINANCE, AUDITOR} | greening)


CASE_READERS = frozenset({FORESTRY, FORESTRY_S, FINANCE, AUDITOR})


# ---------------------------------------------------------------------------------------------------------
# The world: the demo, and records of every district and kind
# ---------------------------------------------------------------------------------------------------------


@dataclass
class World:
    app: Any
    ids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    ties: dict[str, frozenset[str]] = field(default_factory=dict)  # holder → the districts it is tied to
    staff: dict[str, Staff] = field(default_factory=dict)


async def _actor(username: str) -> Actor:
    return Actor(await StaffUser.get(username=username), "127.0.0.1")


async def _body(name: str, kind: HolderKind, code17: str, district: str) -> Holder:
    """A body whose credit code says what it is (N2 a village collective, 12 a public institution), checked in
    ``district``: the holder form accepts it as it is."""
    holder = await make_holder(name, kind=kind, region=district)
    holder.id_number = code17 + uscc_check_char(code17)
    holder.id_digest = idcrypt.digest(holder.id_number)
    await holder.save(update_fields=["id_number", "id_digest"])
    return holder


async def _batch(prefix: str, kind: TicketKind, holder: Holder, district: str, units: int = 1000) -> Batch:
    parcel = await make_parcel(district)
    parcel.owner = holder
    await parcel.save()
    return await register.issue_batch(
        kind=kind,
        holder=holder,
        total_units=units,
        serial_prefix=prefix,
        parcel=parcel,
        unit_area_m2=Decimal("100"),
    )


async def _give(batch: Batch, source: Holder, to: Holder, quantity: int = 10) -> None:
    await register.transfer_units(
        batch=batch, from_holder=source, to_holder=to, quantity=quantity, entry_kind=register.EntryKind.TRANSFER
    )


async def _application_parcels(owner: Holder, district: str, *, state: bool = False) -> list[Parcel]:
    parcels = []
    for _ in range(3):
        parcel = await make_parcel(district)
        parcel.owner = owner
        if state:
            parcel.afforested_on = clock.today()
        await parcel.save()
        parcels.append(parcel)
    return parcels


async def build_world(w: World, data_dir: Path) -> None:
    await seed_demo()
    ids, ties = w.ids, w.ties
    issuer, helan, forestry = await _actor(ISSUER), await _actor(ISSUER_H), await _actor(FORESTRY)
    village = await Holder.get(id_number=VILLAGE_CODE)
    household = await Holder.get(name="马建国")
    enterprise = await Holder.get(name="宁夏贺兰山林业发展有限公司")
    farm = await Holder.get(name="银川市国有林场")
    pool = await quotas.pool_holder()
    b_cx = await Batch.get(serial_prefix="YC-JT-640104-2026-001")
    b_cy = await Batch.get(serial_prefix="YC-JT-640121-2026-001")
    b_s = await Batch.get(serial_prefix="YC-GY-2026-001")
    b_c = await Batch.get(kind=TicketKind.CARBON)
    assert (b_cx.district_code, b_cy.district_code, b_s.district_code) == (X, Y, S)

    helan_village = await _body("贺兰县金山村股份经济合作社", HolderKind.VILLAGE_COLLECTIVE, "N2640122MF0000091", H)
    farm_x = await _body("兴庆区国有苗圃", HolderKind.STATE_UNIT, "12640104MB0000092", X)
    b_ch = await _batch("YC-JT-640122-2026-001", TicketKind.COLLECTIVE, helan_village, H)
    b_sx = await _batch("YC-GY-640104-2026-001", TicketKind.STATE, farm_x, X)
    xixia_village = await _body("西夏区镇北堡村股份经济合作社", HolderKind.VILLAGE_COLLECTIVE, "N2640105MF0000093", S)
    b_cs = await _batch("YC-JT-640105-2026-001", TicketKind.COLLECTIVE, xixia_village, S)
    newcomer = await make_holder("新登记未核实", residence="")  # tied to no district yet
    heir_x, heir_h = await make_holder("兴庆继承人", region=X), await make_holder("贺兰继承人", region=H)
    buyer_s = await make_holder("西夏受让人", region=S)
    deceased = {}
    for name, batch, source, district in (
        ("d_x", b_cx, village, X),
        ("d_h", b_ch, helan_village, H),
        ("d_s", b_s, farm, S),
        ("d_x0", b_cx, village, X),
        ("d_s0", b_s, farm, S),
        ("d_sx", b_sx, farm_x, X),  # state tickets of 兴庆区: the forestry department's, not 兴庆区's issuer's
    ):
        deceased[name] = await make_holder(f"被继承人{name}", region=district)
        await _give(batch, source, deceased[name])

    holders_ = {
        "village": (village, {X}),
        "household": (household, {Y}),
        "enterprise": (enterprise, {H, X}),
        "farm": (farm, {S}),
        "farm_x": (farm_x, {X}),
        "helan_village": (helan_village, {H}),
        "xixia_village": (xixia_village, {S}),
        "pool": (pool, set()),
        "newcomer": (newcomer, set(ANYWHERE)),
        "heir_x": (heir_x, {X}),
        "heir_h": (heir_h, {H}),
        "buyer_s": (buyer_s, {S}),
        **{name: (holder, {holder.residence_district}) for name, holder in deceased.items()},
    }
    for name, (holder, districts) in holders_.items():
        ids[name], ties[name] = holder.id, frozenset(districts)
    batches = {"b_cx": b_cx, "b_cy": b_cy, "b_ch": b_ch, "b_cs": b_cs, "b_s": b_s, "b_sx": b_sx, "b_c": b_c}
    for name, batch in batches.items():
        ids[name] = batch.id

    # parcels, with a stored document each
    ids["p_x"] = (await Parcel.get(district_code=X, owner_id=village.id)).id
    ids["p_y"] = (await Parcel.get(district_code=Y)).id
    ids["p_s"] = (await Parcel.get(district_code=S, owner_id=farm.id)).id
    ids["p_h"] = (await Parcel.get(id=b_ch.parcel_id)).id  # type: ignore[attr-defined]
    for name, parcel_name, actor in (("doc_x", "p_x", issuer), ("doc_h", "p_h", helan), ("doc_s", "p_s", forestry)):
        parcel = await Parcel.get(id=ids[parcel_name])
        document = await attach_document(
            parcel, title="林权证", filename="a.pdf", content=PDF, storage=LocalStorage(data_dir), actor=actor
        )
        ids[name] = document.id

    # issuance applications: one to approve and issue, one to return, a parcel to apply on, per district and kind
    xixia = await _actor(FORESTRY_S)
    for key, owner, district, kind, actor in (
        ("x", village, X, TicketKind.COLLECTIVE, issuer),
        ("h", helan_village, H, TicketKind.COLLECTIVE, helan),
        ("s", farm, S, TicketKind.STATE, xixia),
    ):
        first, second, third = await _application_parcels(owner, district, state=kind is TicketKind.STATE)
        for n, parcel in ((1, first), (2, second)):
            application = await submit_application(kind=kind, parcel=parcel, applicant=owner, actor=actor)
            ids[f"a_{key}{n}"] = application.id
            if kind is TicketKind.COLLECTIVE and n == 1:  # its notice (公示) closed a month ago: it may be issued
                with clock.use(clock.FixedClock(clock.now() - timedelta(days=30))):
                    await notices.publish_issuance_notice(application, actor=actor)
        ids[f"pa_{key}"] = third.id

    # pending trades (their filings), a dividend each, two recorded inheritance cases
    issuer_s = await StaffUser.create(
        username="issuer_xixia", password_hash="x", role=StaffRole.ISSUER, district_code=S
    )
    for name, batch, seller, buyer, actor in (
        ("t_cx", b_cx, village, heir_x, issuer),
        ("t_ch", b_ch, helan_village, heir_h, helan),
        ("t_s", b_s, farm, buyer_s, forestry),
        # collective tickets of 西夏区: its issuer's (no demo account), never 西夏区's forestry department's
        ("t_cs", b_cs, xixia_village, buyer_s, Actor(issuer_s)),
    ):
        trade = await trades.record_transfer(
            batch=batch, seller=seller, buyer=buyer, quantity=1, price_fen=100, actor=actor
        )
        ids[name] = trade.id
    ids["t_demo"] = (await trades.Trade.get(batch_id=b_cx.id, kind=trades.TradeKind.SUBSCRIPTION)).id
    for name, batch, actor in (("div_x", b_cx, issuer), ("div_h", b_ch, helan)):
        dividend = await dividends.record_dividend(
            batch=batch, income_fen=10_000, record_date=clock.today(), source="经营收益", actor=actor
        )
        ids[name] = dividend.id
        # its public notice (公示), open, with one objection received (tests/admin/test_notices_pages.py)
        notice = await notices.publish_dividend_notice(dividend, actor=actor)
        objection = await notices.record_objection(notice, received_on=clock.today(), summary="份额有误", actor=actor)
        ids[f"n_{name[-1]}"], ids[f"obj_{name[-1]}"] = notice.id, objection.id
    documents = [
        trades.SupportingDocument(trades.DocumentKind.DEATH_CERTIFICATE, "死亡证明"),
        trades.SupportingDocument(trades.DocumentKind.NOTARIAL_CERTIFICATE, "公证书"),
    ]
    for name, dead, heir, actor in (("i_x", "d_x0", heir_x, issuer), ("i_s", "d_s0", buyer_s, forestry)):
        case = await trades.record_inheritance(
            deceased=deceased[dead],
            heirs=[register.Heir(heir, Fraction(1))],
            died_on=clock.today(),
            documents=documents,
            actor=actor,
        )
        ids[name] = case.id

    # holding certificates of each district and kind, and a carbon certificate
    for name, batch, holder in (("cert_cx", b_cx, village), ("cert_ch", b_ch, helan_village), ("cert_s", b_s, farm)):
        w.codes[name] = (await certificate_service.issue_holding_certificate(batch, holder)).code
    carbon = await Certificate.create(
        code=new_code(), kind=CertificateKind.CARBON, holder_name="某公司", batch=b_c, issued_at=clock.now()
    )
    w.codes["cert_c"] = carbon.code

    # green-land offsets of 西夏区 (two) and of 兴庆区; a compensation case
    greening_x = await StaffUser.create(
        username="greening_xingqing", password_hash="x", role=StaffRole.GREENING, district_code=X
    )
    for name, district, actor in (
        ("o_s1", S, await _actor(GREENING_S)),
        ("o_s2", S, await _actor(GREENING_S)),
        ("o_x", X, Actor(greening_x)),
    ):
        offset = await offsets.apply_offset(
            company=enterprise,
            offset_type="occupation",
            project=f"项目{name}",
            location="城区",
            district_code=district,
            lacking_area_m2="100",
            planning_approval_ref="规-1",
            actor=actor,
        )
        ids[name] = offset.id
    case = await offsets.open_case(
        case_number="（2026）银林罚字第1号",
        offence="illegal_logging",
        deciding_body="银川市林草局",
        offender=household,
        decided_on=clock.today(),
        actor=forestry,
    )
    ids["case"] = case.id
    key, _text = await apikeys.create_key(organisation="某机构", actor=await _actor(ADMIN))
    ids["key"] = key.id
    for name in ("spare1", "spare2"):
        spare = await StaffUser.create(username=name, password_hash="x", role=StaffRole.AUDITOR)
        ids[name] = spare.id


async def _sign_in(app: Any, username: str, password: str) -> Staff:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    response = await login(client, username, password)
    assert response.status_code == 303, (username, response.status_code)
    staff = Staff(client, await StaffUser.get(username=username))
    staff.csrf = csrf_of((await client.get("/admin/password")).text)
    return staff


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    import registry.staff as staff_module

    patch = pytest.MonkeyPatch()
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    patch.setattr(staff_module, "_hasher", cheap)
    patch.setattr(staff_module, "_DUMMY_HASH", cheap.hash("dummy"))
    folder = tmp_path_factory.mktemp("record-access")
    url = PG_URL or f"sqlite://{folder / 'test.db'}"
    if not is_postgres():
        schema.SQLITE.copy_to(folder / "test.db")
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        if is_postgres():
            await schema.POSTGRES.reset()
        settings = Settings(
            database_url=url,
            secret_key="test-secret-key-that-is-long-enough-0123456789",
            base_url="http://testserver",
            data_dir=folder / "var",
        )
        w = World(app=create_app(settings, manage_db=False))
        await build_world(w, settings.data_dir)
        for account in STAFF:
            w.staff[account.username] = await _sign_in(w.app, account.username, account.password)
        yield w
        for staff in w.staff.values():
            await staff.client.aclose()
    finally:
        await Tortoise.close_connections()
        patch.undo()


# ---------------------------------------------------------------------------------------------------------
# Walking
# ---------------------------------------------------------------------------------------------------------

Payload = dict[str, str] | Callable[[], dict[str, str]] | None


@dataclass
class Case:
    method: str
    url: str
    perm: Perm | None  # the route's role gate (None: every signed-in account)
    allowed: frozenset[str] | None = None  # who may (None: whoever passes the gate: no record to narrow)
    visible: frozenset[str] | None = None  # who sees the record; past the gate the others get 404
    data: Payload = None
    upload: bool = False
    upload_file: tuple[str, bytes, str] | None = None  # (name, content, type) instead of the sample PDF
    succeeds: bool = True  # the first account allowed gets 2xx/3xx (the others may find the work done: 400)

    def form(self) -> dict[str, str]:
        return (self.data() if callable(self.data) else dict(self.data or {})) if self.data is not None else {}


_ACCOUNTS: dict[str, StaffUser] = {}


async def passes_gate(username: str, perm: Perm | None) -> bool:
    if username not in _ACCOUNTS:
        _ACCOUNTS[username] = await StaffUser.get(username=username)
    return perm is None or staff_allowed(_ACCOUNTS[username], perm)


async def expected(case: Case, username: str) -> int | str:
    if not await passes_gate(username, case.perm):
        return 403
    allowed = case.allowed
    if allowed is None or username in allowed:
        return "ok"
    if case.visible is not None and username not in case.visible:
        return 404
    return 403


EXCLUDED = {"AuditLog", "LoginThrottle", "Aerich"}  # what a request writes whoever it is: the audit trail, throttles


async def fingerprint() -> dict[str, tuple[int, str]]:
    """A count and a hash of the rows of every table a back-office action could change."""
    result = {}
    for name, model in sorted(Tortoise.apps["models"].items()):
        if name in EXCLUDED:
            continue
        rows = await model.all().order_by(model._meta.pk_attr).values()
        if name == "StaffSession":  # its last_seen_at moves with any request, refused or not
            rows = [{k: v for k, v in row.items() if k != "last_seen_at"} for row in rows]
        result[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return result


async def send(staff: Staff, case: Case) -> httpx.Response:
    if case.method == "GET":
        return await staff.get(case.url)
    if case.upload:
        files = {"file": case.upload_file or ("林权证.pdf", PDF, "application/pdf")}
        return await staff.client.post(case.url, data={"csrf": staff.csrf, **case.form()}, files=files)
    return await staff.post(case.url, case.form())


async def walk(w: World, case: Case) -> None:
    """Refused accounts first (403 or 404, nothing changed), then the allowed ones (the first succeeds)."""
    plan = {name: await expected(case, name) for name in sorted(EVERYONE)}
    if case.allowed is not None:
        assert case.visible is None or case.allowed <= case.visible, case
    before = await fingerprint() if case.method == "POST" else None
    for name, outcome in plan.items():
        if outcome == "ok":
            continue
        response = await send(w.staff[name], case)
        assert response.status_code == outcome, (name, case.method, case.url, response.status_code)
    if before is not None:
        assert await fingerprint() == before, (case.method, case.url, "a refused request changed the database")
    first = True
    for name in sorted((n for n, o in plan.items() if o == "ok"), key=lambda n: (n != FORESTRY, n)):
        response = await send(w.staff[name], case)
        status = response.status_code
        assert status not in (401, 403, 404) and status < 500, (name, case.method, case.url, status)
        if first and case.succeeds:
            assert status < 400, (name, case.method, case.url, status, response.text[:2000])
        first = False


# ---------------------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------------------

HOLDERS_WALKED = ("village", "household", "enterprise", "farm", "farm_x", "helan_village", "pool", "newcomer")


def read_cases(w: World) -> list[Case]:
    i = w.ids
    cases = [
        Case("GET", url, perm)
        for url, perm in (
            ("/admin/", Perm.DASHBOARD),
            ("/admin/password", None),
            ("/admin/staff", Perm.STAFF_MANAGE),
            ("/admin/audit", Perm.AUDIT_VIEW),
            ("/admin/apikeys", Perm.APIKEY_MANAGE),
            ("/admin/holders", Perm.HOLDER_VIEW),
            ("/admin/pick/holders?field=buyer_id&buyer_id__q=%E6%9D%91", Perm.HOLDER_VIEW),  # 村
            ("/admin/pick/batches?field=batch_id&action=transfer&batch_id__q=YC", Perm.REGISTER_VIEW),
            ("/admin/pick/parcels?field=parcel_id&parcel_id__q=%E6%9D%91", Perm.PARCEL_VIEW),
            ("/admin/holders/new", Perm.HOLDER_EDIT),
            ("/admin/parcels", Perm.PARCEL_VIEW),
            ("/admin/parcels/new", Perm.PARCEL_EDIT),
            ("/admin/applications", Perm.APPLICATION_VIEW),
            ("/admin/applications/new", Perm.APPLICATION_HANDLE),
            ("/admin/quotas", Perm.QUOTA_VIEW),
            ("/admin/register", Perm.REGISTER_VIEW),
            ("/admin/register.csv", Perm.REGISTER_VIEW),
            ("/admin/register.xlsx", Perm.REGISTER_VIEW),
            (f"/admin/certificates?code={w.codes['cert_ch']}", Perm.REGISTER_VIEW),
            ("/admin/revenue", Perm.REVENUE_VIEW),
            ("/admin/revenue/state", Perm.REVENUE_VIEW),
            ("/admin/trades", Perm.TRADE_VIEW),
            ("/admin/trades/transfer/new", Perm.TRANSFER_RECORD),
            ("/admin/trades/subscription/new", Perm.TRADE_RECORD),
            ("/admin/inheritance/new", Perm.INHERITANCE_RECORD),
            ("/admin/dividends", Perm.TRADE_VIEW),
            ("/admin/dividends/new", Perm.TRADE_RECORD),
            ("/admin/offsets", Perm.OFFSET_VIEW),
            ("/admin/offsets/new", Perm.OFFSET_RECEIVE),
            ("/admin/compensation", Perm.COMPENSATION_VIEW),
            ("/admin/compensation/new", Perm.COMPENSATION_MANAGE),
            ("/admin/planting", Perm.PLANTING_VIEW),
        )
    ]
    for name in HOLDERS_WALKED:
        h, ties, pool = i[name], w.ties[name], name == "pool"
        readers = holder_readers(ties)
        cases += [
            Case("GET", f"/admin/holders/{h}", Perm.HOLDER_VIEW, readers, readers),
            Case("GET", f"/admin/holders/{h}/edit", Perm.HOLDER_EDIT, holder_editors(ties, pool=pool), readers),
            Case("GET", f"/admin/holders/{h}/statement", Perm.REGISTER_VIEW, readers, readers),
            Case("GET", f"/admin/holders/{h}/statement.pdf", Perm.REGISTER_VIEW, readers, readers),
        ]
    for parcel, district, document in (("p_x", X, "doc_x"), ("p_y", Y, None), ("p_s", S, "doc_s"), ("p_h", H, "doc_h")):
        p, readers = i[parcel], parcel_readers(district)
        cases += [
            Case("GET", f"/admin/parcels/{p}", Perm.PARCEL_VIEW, readers, readers),
            Case("GET", f"/admin/parcels/{p}/edit", Perm.PARCEL_EDIT, parcel_editors(district), readers),
        ]
        if document:
            cases.append(Case("GET", f"/admin/parcels/{p}/documents/{i[document]}", Perm.PARCEL_VIEW, readers, readers))
    for name, kind, district in (
        ("a_x1", TicketKind.COLLECTIVE, X),
        ("a_h1", TicketKind.COLLECTIVE, H),
        ("a_s1", TicketKind.STATE, S),
    ):
        readers = application_readers(kind, district)
        cases.append(Case("GET", f"/admin/applications/{i[name]}", Perm.APPLICATION_VIEW, readers, readers))
    for path, name, kind, district in (
        ("trades", "t_cx", TicketKind.COLLECTIVE, X),
        ("trades", "t_demo", TicketKind.COLLECTIVE, X),
        ("trades", "t_ch", TicketKind.COLLECTIVE, H),
        ("trades", "t_s", TicketKind.STATE, S),
        ("trades", "t_cs", TicketKind.COLLECTIVE, S),
        ("inheritance", "i_x", TicketKind.COLLECTIVE, X),
        ("inheritance", "i_s", TicketKind.STATE, S),
        ("dividends", "div_x", TicketKind.COLLECTIVE, X),
        ("dividends", "div_h", TicketKind.COLLECTIVE, H),
    ):
        readers = register_readers(kind, district)
        cases.append(Case("GET", f"/admin/{path}/{i[name]}", Perm.TRADE_VIEW, readers, readers))
    for name, district in (("o_s1", S), ("o_x", X)):
        readers = offset_readers(district)
        cases.append(Case("GET", f"/admin/offsets/{i[name]}", Perm.OFFSET_VIEW, readers, readers))
    cases.append(Case("GET", f"/admin/compensation/{i['case']}", Perm.COMPENSATION_VIEW, CASE_READERS, CASE_READERS))
    return cases


async def test_every_read_answers_each_account_by_role_district_and_kind(world: World) -> None:
    for case in read_cases(world):
        await walk(world, case)


def _links(html: str, path: str) -> set[int]:
    return {int(n) for n in re.findall(rf'href="/admin/{path}/(\d+)"', html)}


async def test_lists_show_each_account_only_what_it_may_read(world: World) -> None:
    """Issuers list only their district's holders (and holders of tickets there), parcels, applications,
    trades, dividends and register entries; the city level lists them all."""
    i = world.ids
    holders_listed = {name: _links((await s.get("/admin/holders")).text, "holders") for name, s in world.staff.items()}
    parcels_listed = {name: _links((await s.get("/admin/parcels")).text, "parcels") for name, s in world.staff.items()}
    for name in EVERYONE:
        may_list = await passes_gate(name, Perm.HOLDER_VIEW)
        for holder, ties in world.ties.items():
            shown = i[holder] in holders_listed[name]
            assert shown == (may_list and name in holder_readers(ties)), (name, holder)
        may_list = await passes_gate(name, Perm.PARCEL_VIEW)
        for parcel, district in (("p_x", X), ("p_y", Y), ("p_s", S), ("p_h", H)):
            assert (i[parcel] in parcels_listed[name]) == (may_list and name in parcel_readers(district)), (
                name,
                parcel,
            )
    listed = {
        name: {
            "applications": _links((await s.get("/admin/applications")).text, "applications"),
            "trades": _links((await s.get("/admin/trades")).text, "trades"),
            "dividends": _links((await s.get("/admin/dividends")).text, "dividends"),
            "offsets": _links((await s.get("/admin/offsets")).text, "offsets"),
        }
        for name, s in world.staff.items()
    }
    for name in EVERYONE:
        for app, kind, district in (
            ("a_x1", TicketKind.COLLECTIVE, X),
            ("a_h1", TicketKind.COLLECTIVE, H),
            ("a_s1", TicketKind.STATE, S),
        ):
            expected_shown = name in application_readers(kind, district) and await passes_gate(
                name, Perm.APPLICATION_VIEW
            )
            assert (i[app] in listed[name]["applications"]) == expected_shown, (name, app)
        for path, record, kind, district in (
            ("trades", "t_cx", TicketKind.COLLECTIVE, X),
            ("trades", "t_ch", TicketKind.COLLECTIVE, H),
            ("trades", "t_s", TicketKind.STATE, S),
            ("trades", "t_cs", TicketKind.COLLECTIVE, S),
            ("dividends", "div_x", TicketKind.COLLECTIVE, X),
            ("dividends", "div_h", TicketKind.COLLECTIVE, H),
        ):
            expected_shown = name in register_readers(kind, district) and await passes_gate(name, Perm.TRADE_VIEW)
            assert (i[record] in listed[name][path]) == expected_shown, (name, record)
        for record, district in (("o_s1", S), ("o_x", X)):
            expected_shown = name in offset_readers(district) and await passes_gate(name, Perm.OFFSET_VIEW)
            assert (i[record] in listed[name]["offsets"]) == expected_shown, (name, record)
    # the register and its export: an issuer reads its own district's batches only
    for name, own, other in (
        (ISSUER, "YC-JT-640104-2026-001", "YC-JT-640122-2026-001"),
        (ISSUER_H, "YC-JT-640122-2026-001", "YC-JT-640104-2026-001"),
    ):
        for url in ("/admin/register", "/admin/register.csv"):
            text = (await world.staff[name].get(url)).text
            assert own in text and other not in text and "YC-GY-2026-001" not in text, (name, url)
    xixia = (await world.staff[FORESTRY_S].get("/admin/register.csv")).text
    assert "YC-GY-2026-001" in xixia and "YC-JT-640104" not in xixia and "YC-GY-640104" not in xixia
    assert "YC-JT-640105" not in xixia  # collective tickets of its own district are the issuer's, not forestry's
    city = (await world.staff[FORESTRY].get("/admin/register.csv")).text
    assert all(p in city for p in ("YC-JT-640104", "YC-JT-640122", "YC-GY-2026-001", "YC-GY-640104"))


async def test_pickers_offer_each_account_only_what_it_may_read(world: World) -> None:
    """The search-as-you-type pickers of the forms (admin/pickers.py) answer with the holders and parcels the
    account may read, as the lists do: searched by each one's name or certificate number."""
    i = world.ids
    for holder, ties in world.ties.items():
        record = await Holder.get(id=i[holder])
        for name, staff in world.staff.items():
            response = await staff.get("/admin/pick/holders", params={"field": "h", "h__q": record.name})
            if not await passes_gate(name, Perm.HOLDER_VIEW):
                assert response.status_code == 403, (name, holder)
                continue
            offered = {int(n) for n in re.findall(r'name="h" value="(\d+)"', response.text)}
            assert (i[holder] in offered) == (name in holder_readers(ties)), (name, holder)
    for parcel, district in (("p_x", X), ("p_y", Y), ("p_s", S), ("p_h", H)):
        record = await Parcel.get(id=i[parcel])
        for name, staff in world.staff.items():
            params = {"field": "p", "p__q": record.forest_right_cert_no}
            response = await staff.get("/admin/pick/parcels", params=params)
            if not await passes_gate(name, Perm.PARCEL_VIEW):
                assert response.status_code == 403, (name, parcel)
                continue
            offered = {int(n) for n in re.findall(r'name="p" value="(\d+)"', response.text)}
            assert (i[parcel] in offered) == (name in parcel_readers(district)), (name, parcel)


async def test_a_holders_page_and_statement_show_only_the_readers_batches(world: World) -> None:
    """The 贺兰 company holds units in 兴庆区 (its subscription) and lives in 贺兰县: both issuers read it, each
    sees what it holds in its own district only."""
    enterprise = world.ids["enterprise"]
    for name, own, other in ((ISSUER, "YC-JT-640104", "YC-JT-640122"), (ISSUER_H, "YC-JT-640122", "YC-JT-640104")):
        for url in (f"/admin/holders/{enterprise}", f"/admin/holders/{enterprise}/statement"):
            page = (await world.staff[name].get(url)).text
            assert other not in page, (name, url)
    assert "YC-JT-640104" in (await world.staff[ISSUER].get(f"/admin/holders/{enterprise}/statement")).text
    both = (await world.staff[FORESTRY].get(f"/admin/holders/{enterprise}/statement")).text
    assert "YC-JT-640104" in both


async def test_an_exact_identifier_finds_another_districts_holder_by_number_only(world: World) -> None:
    """A clerk holding a buyer's ID card may name that holder of another district in a trade: the number is found,
    its page is not opened."""
    household = await Holder.get(id=world.ids["household"])
    page = (await world.staff[ISSUER_H].get(f"/admin/holders?q={id_of(household)}")).text
    assert 'data-testid="holder-elsewhere"' in page and f"{household.id}" in page
    assert f'href="/admin/holders/{household.id}"' not in page
    assert (await world.staff[ISSUER_H].get(f"/admin/holders/{household.id}")).status_code == 404
    fragment = (await world.staff[ISSUER_H].get(f"/admin/holders?q={id_of(household)[:6]}")).text
    assert 'data-testid="holder-elsewhere"' not in fragment and household.name not in fragment


# ---------------------------------------------------------------------------------------------------------
# The finding, as reported: 贺兰县's issuer against the pool, a 永宁县 holder and a state batch of 西夏区
# ---------------------------------------------------------------------------------------------------------


def _holder_form(holder: Holder, **changes: str) -> dict[str, str]:
    values = {
        "kind": str(holder.kind),
        "name": holder.name,
        "id_number": holder.id_number or "",
        "contact": holder.contact,
        "residence_district": holder.residence_district,
        "residence_evidence": str(holder.residence_evidence) if holder.residence_confirmed else "",
    }
    return {**values, **changes}


def _inheritance_form(deceased: int, heir: int) -> dict[str, str]:
    return {
        "deceased_id": str(deceased),
        "died_on": TODAY,
        "heir_0": str(heir),
        "share_0": "100",
        "doc_death_certificate": "死亡证明 No.1",
        "doc_notarial_certificate": "(2026)宁银证字第1号",
        "form_token": new_form_token(),
        "step": "confirm",
    }


async def test_the_reported_attacks_are_refused_and_change_nothing(world: World) -> None:
    i, helan = world.ids, world.staff[ISSUER_H]
    pool = await Holder.get(id=i["pool"])
    household = await Holder.get(id=i["household"])
    before = await fingerprint()
    # the city pool holder: not even there for a district issuer; the city's forestry department reads it but
    # nobody edits it, so the shop keeps selling from it
    assert (await helan.post(f"/admin/holders/{pool.id}", _holder_form(pool, name="贺兰"))).status_code == 404
    refused = await world.staff[FORESTRY].post(f"/admin/holders/{pool.id}", _holder_form(pool, name="改名"))
    assert refused.status_code == 403 and "资金池" in refused.text
    # a 永宁县 holder: not 贺兰县's
    assert (await helan.post(f"/admin/holders/{household.id}", _holder_form(household, name="改名"))).status_code == 404
    # every unit of the state batch of 西夏区 held by the forest farm, to the 贺兰 company
    response = await helan.post("/admin/inheritance", _inheritance_form(i["farm"], i["enterprise"]))
    assert response.status_code == 403 and "辖区" in response.text
    assert await fingerprint() == before
    assert (await quotas.pool_holder()).id == pool.id and (await quotas.current_quota()) is not None


async def test_workflows_refuse_a_caller_that_is_not_a_view(world: World) -> None:
    """The register's own functions ask the same rules: a script acting for 贺兰县's issuer is refused too."""
    i = world.ids
    helan, forestry = await _actor(ISSUER_H), await _actor(FORESTRY)
    farm, enterprise = await Holder.get(id=i["farm"]), await Holder.get(id=i["enterprise"])
    pool, household = await Holder.get(id=i["pool"]), await Holder.get(id=i["household"])
    before = await fingerprint()
    with pytest.raises(access.OutsideReach):
        await trades.record_inheritance(
            deceased=farm,
            heirs=[register.Heir(enterprise, Fraction(1))],
            died_on=clock.today(),
            documents=[
                trades.SupportingDocument(trades.DocumentKind.DEATH_CERTIFICATE, "x"),
                trades.SupportingDocument(trades.DocumentKind.COURT_JUDGMENT, "y"),
            ],
            actor=helan,
        )
    data = holders.HolderInput(kind=HolderKind.GOVERNMENT, name="改名", id_number=POOL_HOLDER_CODE)
    with pytest.raises(access.ReservedRecord):
        await holders.update_holder(pool, data, actor=forestry)
    rename = holders.HolderInput(kind=HolderKind.INDIVIDUAL, name="改名", id_number=id_of(household))
    with pytest.raises(access.OutsideReach):
        await holders.update_holder(household, rename, actor=helan)
    with pytest.raises(access.ReservedRecord):  # nobody else may take the pool's code
        await holders.create_holder(data, actor=forestry)
    b_s = await Batch.get(id=i["b_s"])
    with pytest.raises(access.CityLevelOnly):  # a county forestry department sells no offset units
        await offsets.complete_offset(
            await offsets.GreenLandOffset.get(id=i["o_s1"]), batch=b_s, unit_price_fen=1, actor=await _actor(FORESTRY_S)
        )
    with pytest.raises(access.CityLevelOnly):
        await quotas.close_quota(await Batch.get(id=i["b_c"]), actor=await _actor(FORESTRY_S))
    with pytest.raises(access.NotYourRole):
        await quotas.close_quota(await Batch.get(id=i["b_c"]), actor=helan)
    assert await fingerprint() == before


# ---------------------------------------------------------------------------------------------------------
# Writes: every mutating route, in an order where the allowed actions do not change what the later ones expect
# ---------------------------------------------------------------------------------------------------------


def _parcel_form(parcel: Parcel, **changes: str) -> dict[str, str]:
    values = {
        "district_code": parcel.district_code,
        "area_mu": str(parcel.area_mu),
        "township": parcel.township,
        "village": parcel.village,
        "boundary_east": parcel.boundary_east,
        "boundary_south": parcel.boundary_south,
        "boundary_west": parcel.boundary_west,
        "boundary_north": parcel.boundary_north,
        "species": species_text(parcel.species),
        "forest_right_cert_no": parcel.forest_right_cert_no,
        "afforested_on": parcel.afforested_on.isoformat() if parcel.afforested_on else "",
        "accepted_on": parcel.accepted_on.isoformat() if parcel.accepted_on else "",
        "boundary_geojson": "",
        "owner_id": str(parcel.owner_id or ""),  # type: ignore[attr-defined]
    }
    return {**values, **changes}


def _token(data: dict[str, str]) -> Callable[[], dict[str, str]]:
    """The form confirmed, as the preview page's button sends it (admin/preview.py), with a fresh form token."""
    return lambda: {**data, "form_token": new_form_token(), "step": "confirm"}


async def write_cases(w: World) -> list[Case]:
    i, c = w.ids, w.codes
    cases: list[Case] = []
    # holders: anyone keeping holders registers a newcomer; the pool's code is nobody's
    cases.append(
        Case(
            "POST",
            "/admin/holders",
            Perm.HOLDER_EDIT,
            frozenset({ISSUER, ISSUER_H, FORESTRY, FORESTRY_S}),
            data=lambda: {"kind": "individual", "name": "新登记人", "id_number": resident_id(X), "informed": "1"},
        )
    )
    pool_code = {"kind": "government", "name": "冒名资金池", "id_number": POOL_HOLDER_CODE}
    cases.append(Case("POST", "/admin/holders", Perm.HOLDER_EDIT, frozenset(), data=pool_code))
    for name in HOLDERS_WALKED:
        holder, ties = await Holder.get(id=i[name]), w.ties[name]
        editors = holder_editors(ties, pool=name == "pool")
        cases.append(
            Case(
                "POST",
                f"/admin/holders/{holder.id}",
                Perm.HOLDER_EDIT,
                editors,
                holder_readers(ties),
                _holder_form(holder),
            )
        )
    # parcels: created in, kept in, documented in one's own district
    template = await Parcel.get(id=i["p_x"])
    for district in (X, Y, H, S):
        form = _parcel_form(template, district_code=district, owner_id="", forest_right_cert_no="")
        cases.append(Case("POST", "/admin/parcels", Perm.PARCEL_EDIT, parcel_editors(district), data=form))
    for parcel_name, district in (("p_x", X), ("p_y", Y), ("p_s", S), ("p_h", H)):
        parcel = await Parcel.get(id=i[parcel_name])
        readers, editors = parcel_readers(district), parcel_editors(district)
        cases += [
            Case("POST", f"/admin/parcels/{parcel.id}", Perm.PARCEL_EDIT, editors, readers, _parcel_form(parcel)),
            Case(
                "POST",
                f"/admin/parcels/{parcel.id}/documents",
                Perm.PARCEL_EDIT,
                editors,
                readers,
                {"title": "验收报告"},
                upload=True,
            ),
        ]
    # publishing a parcel's document on /forests: forestry of the parcel's district (the city's covers every one)
    for document, district in (("doc_x", X), ("doc_s", S), ("doc_h", H)):
        parcel = await Parcel.get(id=(await ParcelDocument.get(id=i[document])).parcel_id)
        cases.append(
            Case(
                "POST",
                f"/admin/parcels/{parcel.id}/documents/{i[document]}/publish",
                Perm.PARCEL_EDIT,
                state_forestry(district),
                parcel_readers(district),
                {"publish": "1"},
            )
        )
    # a county's holders and parcels are imported into one's own district only (registry/county_import.py)
    for district in (X, Y, H, S):
        county_file = f"姓名,证件号码\r\n导入者,{resident_id(district)}\r\n".encode()
        cases.append(
            Case(
                "POST",
                "/admin/import",
                Perm.PARCEL_EDIT,
                parcel_editors(district),
                data={"district_code": district, "informed": "1"},
                upload=True,
                upload_file=("名册.csv", county_file, "text/csv"),
            )
        )
    # issuance applications
    for key, owner, kind, district in (
        ("x", "village", TicketKind.COLLECTIVE, X),
        ("h", "helan_village", TicketKind.COLLECTIVE, H),
        ("s", "farm", TicketKind.STATE, S),
    ):
        readers, handlers = application_readers(kind, district), keepers(kind, district)
        form = {"kind": str(kind), "parcel_id": str(i[f"pa_{key}"]), "applicant_id": str(i[owner])}
        cases += [
            Case("POST", "/admin/applications", Perm.APPLICATION_HANDLE, handlers, data=form),
            Case(
                "POST",
                f"/admin/applications/{i[f'a_{key}1']}/approve",
                Perm.APPLICATION_HANDLE,
                handlers,
                readers,
                {"comment": "同意"},
            ),
            Case(
                "POST",
                f"/admin/applications/{i[f'a_{key}1']}/issue",
                Perm.APPLICATION_HANDLE,
                handlers,
                readers,
                _token({"unit_area_m2": "100"}),
            ),
            *(
                [  # its public notice (公示): published by the district's issuer, before it is returned below
                    Case(
                        "POST",
                        "/admin/notices",
                        Perm.NOTICE_MANAGE,
                        handlers,
                        readers,
                        {"subject": f"application:{i[f'a_{key}2']}", "period_days": "7"},
                    )
                ]
                if kind is TicketKind.COLLECTIVE
                else []
            ),
            Case(
                "POST",
                f"/admin/applications/{i[f'a_{key}2']}/return",
                Perm.APPLICATION_HANDLE,
                handlers,
                readers,
                {"reason": "材料不全"},
            ),
        ]
    # certificates: reissued by their issuing authority
    for name, kind, district in (
        ("cert_cx", TicketKind.COLLECTIVE, X),
        ("cert_ch", TicketKind.COLLECTIVE, H),
        ("cert_s", TicketKind.STATE, S),
        ("cert_c", TicketKind.CARBON, ""),
    ):
        authority = keepers(kind, district, city_carbon=True)
        cases.append(
            Case(
                "POST",
                f"/admin/certificates/{c[name]}/reissue",
                Perm.CERTIFICATE_REISSUE,
                authority,
                data={"reason": "遗失"},
            )
        )
    # transfers, subscriptions, dividends: for each batch, its keeper only; carbon and the pool, nobody
    transfers = (
        ("b_cx", "village", "heir_x", TicketKind.COLLECTIVE, X),
        ("b_ch", "helan_village", "heir_h", TicketKind.COLLECTIVE, H),
        ("b_cy", "household", "heir_x", TicketKind.COLLECTIVE, Y),
        ("b_s", "farm", "buyer_s", TicketKind.STATE, S),
        ("b_sx", "farm_x", "heir_x", TicketKind.STATE, X),
        ("b_cs", "xixia_village", "buyer_s", TicketKind.COLLECTIVE, S),
        ("b_c", "pool", "heir_x", TicketKind.CARBON, ""),
        ("b_cx", "village", "pool", None, X),  # the pool as a buyer: nobody
    )
    for batch, seller, buyer, kind, district in transfers:
        allowed = keepers(kind, district) if kind is not None else frozenset()
        form = {
            "batch_id": str(i[batch]),
            "seller_id": str(i[seller]),
            "buyer_id": str(i[buyer]),
            "quantity": "1",
            "price": "1",
        }
        cases.append(Case("POST", "/admin/trades/transfer", Perm.TRANSFER_RECORD, allowed, data=_token(form)))
    for batch, seller, kind, district in (
        ("b_cx", "village", TicketKind.COLLECTIVE, X),
        ("b_ch", "helan_village", TicketKind.COLLECTIVE, H),
        ("b_s", "farm", TicketKind.STATE, S),
    ):
        allowed = issuers(district) if kind is TicketKind.COLLECTIVE else frozenset()
        form = {
            "batch_id": str(i[batch]),
            "subscriber_id": str(i["enterprise"]),
            "from_id": str(i[seller]),
            "share": "1/1000" if batch != "b_s" else "1/400",
            "price": "10",
            "operating_form": "equity",
        }
        cases.append(Case("POST", "/admin/trades/subscription", Perm.TRADE_RECORD, allowed, data=_token(form)))
    for batch, kind, district in (
        ("b_cx", TicketKind.COLLECTIVE, X),
        ("b_ch", TicketKind.COLLECTIVE, H),
        ("b_s", TicketKind.STATE, S),
        ("b_c", TicketKind.CARBON, ""),
    ):
        allowed = issuers(district) if kind is TicketKind.COLLECTIVE else frozenset()
        form = {"batch_id": str(i[batch]), "income": "100", "record_date": TODAY, "source": "经营收益"}
        cases.append(Case("POST", "/admin/dividends", Perm.TRADE_RECORD, allowed, data=_token(form)))
    # filings: the district's own filings by its keeper; the city forestry department files its own of any trade
    for trade, kind, district in (
        ("t_cx", TicketKind.COLLECTIVE, X),
        ("t_ch", TicketKind.COLLECTIVE, H),
        ("t_s", TicketKind.STATE, S),
    ):
        readers = register_readers(kind, district)
        city = keepers(kind, district) | {FORESTRY}
        filing = {"filed_on": TODAY, "reference": "备字第1号", "step": "confirm"}
        if kind is TicketKind.COLLECTIVE:
            local = {**filing, "authority": "village_committee"}
            cases.append(
                Case(
                    "POST",
                    f"/admin/trades/{i[trade]}/filings",
                    Perm.TRADE_FILE,
                    keepers(kind, district),
                    readers,
                    local,
                )
            )
        cases.append(
            Case(
                "POST",
                f"/admin/trades/{i[trade]}/filings",
                Perm.TRADE_FILE,
                city,
                readers,
                {**filing, "authority": "city_forestry"},
            )
        )
    # green-land offsets: received by the project's district, decided by landscaping, sold by the city forestry
    for district in (S, X):
        greening = frozenset({GREENING_S}) if district == S else frozenset()
        form = {
            "company_id": str(i["enterprise"]),
            "offset_type": "occupation",
            "project": "某小区",
            "location": "某路",
            "district_code": district,
            "lacking_area_m2": "100",
            "planning_approval_ref": "规-2",
        }
        cases.append(Case("POST", "/admin/offsets", Perm.OFFSET_RECEIVE, greening, data=_token(form)))
    for name, action, form in (
        ("o_s1", "approve", {"comment": "同意"}),
        ("o_s2", "reject", {"reason": "不符"}),
        ("o_x", "approve", {"comment": "同意"}),
    ):
        district = S if name != "o_x" else X
        cases.append(
            Case(
                "POST",
                f"/admin/offsets/{i[name]}/{action}",
                Perm.OFFSET_APPROVE,
                frozenset({LANDSCAPING}),
                offset_readers(district),
                form,
            )
        )
    complete = {"batch_id": str(i["b_s"]), "unit_price": "10"}
    cases.append(
        Case(
            "POST",
            f"/admin/offsets/{i['o_s1']}/complete",
            Perm.OFFSET_ISSUE,
            frozenset({FORESTRY}),
            offset_readers(S),
            _token(complete),
        )
    )
    # compensation, quotas, the planting rule: the city forestry department
    case_form = {
        "case_number": "（2026）银林罚字第9号",
        "offence": "fire",
        "deciding_body": "银川市林草局",
        "offender_id": str(i["household"]),
        "decided_on": TODAY,
    }
    order = {"batch_id": str(i["b_s"]), "unit_price": "10", "units": "1"}
    only_city = frozenset({FORESTRY})
    cases += [
        Case("POST", "/admin/compensation", Perm.COMPENSATION_MANAGE, only_city, data=case_form),
        Case(
            "POST",
            f"/admin/compensation/{i['case']}/order",
            Perm.COMPENSATION_MANAGE,
            only_city,
            CASE_READERS,
            _token(order),
        ),
        Case(
            "POST",
            f"/admin/compensation/{i['case']}/pay",
            Perm.COMPENSATION_PAY,
            only_city,
            CASE_READERS,
            _token({"payment_ref": "缴-1"}),
        ),
        Case(
            "POST",
            "/admin/quotas",
            Perm.QUOTA_MANAGE,
            only_city,
            data={"units": "100", "price_yuan": "1", "kg_co2e": "10"},
        ),
        Case("POST", f"/admin/quotas/{i['b_c']}/close", Perm.QUOTA_MANAGE, only_city, data={"step": "confirm"}),
        Case(
            "POST", f"/admin/quotas/{i['b_c']}/withdraw", Perm.QUOTA_MANAGE, only_city, data=_token({"reason": "到期"})
        ),
        Case(
            "POST",
            "/admin/planting",
            Perm.PLANTING_RULE,
            only_city,
            data={
                "year": str(clock.today().year),
                "tickets_per_tree": "12",
                "trees_per_duty": "3",
                "receiving_body": "银川市绿化基金会",
                "source": "通知",
            },
        ),
    ]
    # staff, API keys, sessions: the administrator's; another account's session is nobody's to end
    session = await _other_session(w)
    admin_only = frozenset({ADMIN})
    cases += [
        Case(
            "POST",
            "/admin/staff",
            Perm.STAFF_MANAGE,
            admin_only,
            data={"username": "new.clerk", "role": "auditor", "password": "a-long-password-1"},
        ),
        Case("POST", f"/admin/staff/{i['spare1']}/toggle", Perm.STAFF_MANAGE, admin_only, data={}),
        Case(
            "POST",
            f"/admin/staff/{i['spare1']}/password",
            Perm.STAFF_MANAGE,
            admin_only,
            data={"new_password": "another-long-password"},
        ),
        Case("POST", "/admin/apikeys", Perm.APIKEY_MANAGE, admin_only, data={"organisation": "某出行平台"}),
        Case("POST", f"/admin/apikeys/{i['key']}/revoke", Perm.APIKEY_MANAGE, admin_only, data={}),
        Case("POST", "/admin/sessions/revoke", None, frozenset(), frozenset(), {"session": session}),
        # one's own password, with a wrong current one: for everyone, and it changes nothing
        Case(
            "POST",
            "/admin/password",
            None,
            None,
            data={"current_password": "wrong", "new_password": "x" * 12, "repeat_password": "x" * 12},
            succeeds=False,
        ),
    ]
    # inheritance last (it ties heirs to new districts): whoever keeps every batch the deceased holds
    for deceased, heir, kind, district in (
        ("d_x", "heir_x", TicketKind.COLLECTIVE, X),
        ("d_h", "heir_h", TicketKind.COLLECTIVE, H),
        ("d_s", "enterprise", TicketKind.STATE, S),  # the finding: a state batch of 西夏区 to the 贺兰 company
        ("d_sx", "heir_x", TicketKind.STATE, X),
        ("pool", "heir_x", None, ""),
    ):
        allowed = keepers(kind, district) if kind is not None else frozenset()
        cases.append(
            Case(
                "POST",
                "/admin/inheritance",
                Perm.INHERITANCE_RECORD,
                allowed,
                data=lambda d=deceased, h=heir: _inheritance_form(i[d], i[h]),
            )
        )
    # public notices of dividends (公示): the batch's issuer records and settles objections; paying is refused
    # while the notice is open (400); the auditor reads them, and the others do not see them at all
    for key, district in (("x", X), ("h", H)):
        notice_id, keeper, readers = i[f"n_{key}"], issuers(district), frozenset({AUDITOR}) | issuers(district)
        cases += [
            Case(
                "POST",
                f"/admin/notices/{notice_id}/objections",
                Perm.NOTICE_MANAGE,
                keeper,
                readers,
                {"received_on": clock.today().isoformat(), "summary": "二组称份额有误"},
            ),
            Case(
                "POST",
                f"/admin/notices/{notice_id}/objections/{i[f'obj_{key}']}/resolve",
                Perm.NOTICE_MANAGE,
                keeper,
                readers,
                {"resolution": "已核对，份额无误", "outcome": "dismissed"},
            ),
            Case(
                "POST",
                f"/admin/notices/{notice_id}/pay",
                Perm.NOTICE_MANAGE,
                keeper,
                readers,
                {"payment_ref": "银行代发"},
                succeeds=False,
            ),
        ]
    return cases


async def _other_session(w: World) -> str:
    """A live session of an account none of the walkers is (its id as the sessions list shows it)."""
    spare = await StaffUser.get(id=w.ids["spare2"])
    spare.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("spare-password-2")
    await spare.save(update_fields=["password_hash"])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=w.app), base_url="http://testserver")
    async with client:
        assert (await login(client, "spare2", "spare-password-2")).status_code == 303
    from registry.sessions import StaffSession

    session = await StaffSession.filter(staff_id=spare.id).order_by("-created_at").first()
    assert session is not None
    return str(session.id)


# Mutating routes whose only rule is the role gate: the shop's orders and the job queue are city-level records
# with no district or ticket kind (tests/admin/test_permissions.py walks their roles). A new route must be walked
# above or named here, with its reason.
ROLE_GATE_ONLY = {
    ("POST", "/jobs/{}/retry"),
    ("POST", "/service/orders/{}/resend"),
    ("POST", "/service/orders/{}/refund"),
    ("POST", "/service/orders/{}/reissue"),
    # confirming a county import: an upload is only its uploader's (404 to anyone else), and its district was
    # walked at the upload above and is checked again at confirmation (tests/admin/test_county_import.py)
    ("POST", "/import/confirm"),
}
PUBLIC_OR_SESSION = {("POST", "/login"), ("POST", "/logout")}  # signing in and out: tests/admin/test_staff.py
# searches that POST only so that a whole ID number stays out of URLs (tests/admin/test_id_not_in_urls.py): they
# write nothing, and what they find is scoped like their GET forms, walked in the read cases above
SEARCHES_BY_POST = {("POST", "/pick/holders"), ("POST", "/pick/batches"), ("POST", "/pick/parcels")}
SEARCHES_BY_POST |= {("POST", "/holders/search")}
# the service desk's search POSTs so that a phone number or e-mail address stays out of URLs
# (tests/admin/test_service_pages.py): it only redirects to the GET list, which reads orders by the desk's permission
SEARCHES_BY_POST |= {("POST", "/service/search")}


def _template(url: str) -> str:
    path = url.removeprefix("/admin").split("?")[0]
    return re.sub(r"/[0-9A-Z]{20,}(?=/)", "/{}", re.sub(r"/\d+(?=/|$)", "/{}", path))


async def test_every_mutating_route_is_walked(world: World) -> None:
    from linpiao.app import back_office_routes as routes  # the back-office's own and planting's page

    declared = {
        (method, re.sub(r"\{[a-z]+\}", "{}", route.path))
        for route in routes
        for method in (getattr(route, "methods", None) or set()) - {"HEAD"}
        if method != "GET"
    }
    walked = {(case.method, _template(case.url)) for case in await write_cases(world)}
    assert walked <= declared
    unwalked = declared - walked - PUBLIC_OR_SESSION - SEARCHES_BY_POST
    assert unwalked == ROLE_GATE_ONLY, "a mutating route has no record-level walk"


async def test_every_write_is_allowed_or_refused_by_role_district_and_kind(world: World) -> None:
    for case in await write_cases(world):
        await walk(world, case)
    # the allowed ones did their work: the finding's inheritance went through the forestry department
    farm_heir = await Holder.get(id=world.ids["enterprise"])
    assert await register.holder_total(farm_heir, batch=await Batch.get(id=world.ids["b_s"])) >= 10
    assert await IssuanceApplication.filter(status="issued").count() == 3
    assert await ParcelDocument.filter(parcel_id=world.ids["p_h"]).count() == 3  # 贺兰县 and the city uploaded
