"""Back-office fixtures: staff of every role, signing in through the real login form, CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import pytest
from argon2 import PasswordHasher

from factories import make_holder
from registry.idempotency import new_form_token
from registry.models import Holder, HolderKind, Parcel, StaffRole, StaffUser
from registry.staff import create_staff
from tests.shop.conftest import (  # noqa: F401 - the fake Alipay and WeChat Pay gateways, for finance's reconciliation
    china_client,
    china_settings,
    fake_alipay,
    fake_alipay_server,
    fake_wechatpay,
    fake_wechatpay_server,
)

PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def confirm_step() -> dict[str, str]:
    """The fields of a previewed action's confirm (admin/preview.py): ``step=confirm`` and a fresh form token, as
    the preview page's button or a script sends them."""
    return {"step": "confirm", "form_token": new_form_token()}


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def make_staff(role: StaffRole, username: str | None = None, district: str | None = None) -> StaffUser:
    if role in (StaffRole.ISSUER, StaffRole.GREENING) and district is None:
        district = "640104"
    return await create_staff(username=username or f"{role}-user", role=role, password=PASSWORD, district_code=district)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/admin/login")
    return await client.post(
        "/admin/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)}
    )


class Staff:
    """A signed-in staff member's client: ``post`` adds the session's CSRF token."""

    def __init__(self, client: httpx.AsyncClient, user: StaffUser) -> None:
        self.client = client
        self.user = user
        self.csrf = ""

    async def sign_in(self) -> Staff:
        response = await login(self.client, self.user.username)
        assert response.status_code == 303, response.text
        self.csrf = csrf_of((await self.client.get("/admin/password")).text)
        return self

    async def get(self, url: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return await self.client.get(url, **kwargs)

    async def post(self, url: str, data: dict | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return await self.client.post(url, data={"csrf": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest parameters: the production cost (~0.1–1 s a hash) would make the suite slow."""
    import registry.staff as staff_module

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(staff_module, "_hasher", cheap)
    monkeypatch.setattr(staff_module, "_DUMMY_HASH", cheap.hash("dummy"))


SignIn = Callable[..., Awaitable[Staff]]


@pytest.fixture
def sign_in(app, client: httpx.AsyncClient) -> SignIn:  # type: ignore[no-untyped-def]
    """``await sign_in(StaffRole.ISSUER)`` → a :class:`Staff` on its own cookie jar."""

    async def factory(role: StaffRole, username: str | None = None, district: str | None = None) -> Staff:
        user = await make_staff(role, username, district)
        own = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(own)
        return await Staff(own, user).sign_in()

    clients: list[httpx.AsyncClient] = []
    return factory


async def village_with_parcel(district: str = "640104", area_mu: str = "150") -> tuple[Holder, Parcel]:
    """A village collective owning a parcel with registered forest rights."""
    village = await make_holder("春林村股份经济合作社", kind=HolderKind.VILLAGE_COLLECTIVE, region=district)
    parcel = await Parcel.create(
        district_code=district,
        township="掌政镇",
        village="春林村",
        area_mu=Decimal(area_mu),
        boundary_east="至渠",
        boundary_south="至路",
        boundary_west="至林带",
        boundary_north="至村界",
        species=[{"species": "新疆杨", "count": 1200}],
        forest_right_cert_no="宁(2023)兴庆区林权第0001号",
        owner=village,
    )
    return village, parcel


async def state_unit_with_parcel() -> tuple[Holder, Parcel]:
    from datetime import date

    unit = await make_holder("银川市国有林场", kind=HolderKind.STATE_UNIT, region="640105")
    parcel = await Parcel.create(
        district_code="640105",
        township="镇北堡镇",
        village="",
        area_mu=Decimal("300"),
        boundary_east="至贺兰山路",
        boundary_south="至林场道路",
        boundary_west="至山脚",
        boundary_north="至防火带",
        species=[{"species": "樟子松", "count": 5000}, {"species": "山杏", "count": 800}],
        afforested_on=date(2022, 4, 1),
        owner=unit,
    )
    return unit, parcel
