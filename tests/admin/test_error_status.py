"""One mapping from the register's refusals to HTTP status (linpiao.errors.status_of reading each class's
``http_status``): every refusal has a deliberate status, no view keeps its own copy, and the back-office, the
shop's pages and the API answer the same refusal with the same status."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from linpiao.errors import status_of
from registry import quotas
from registry.access import NotPermitted, OutsideReach
from registry.apikeys import InvalidApiKey
from registry.errors import InsufficientUnits, InvalidState, NotFound, RegisterError
from registry.models import StaffRole
from registry.service_desk import RefundFailed, ResendLimited
from registry.staff import LoginLocked
from shop.errors import IdempotencyConflict, PaymentUnavailable, QuotaExhausted

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "registry", "planting", "certificates", "shop", "admin", "linpiao", "tools")
# a provider or a message channel failed, not the request: the only refusals that are not a 4xx
UPSTREAM_FAILURES = {"PaymentUnavailable", "RefundFailed", "DeliveryFailed"}


def _import_everything() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)


def _subclasses(cls: type[RegisterError]) -> Iterator[type[RegisterError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_refusal_states_a_client_error_status() -> None:
    _import_everything()
    refusals = set(_subclasses(RegisterError))
    assert len(refusals) > 50  # the register's, the shop's, the desk's, the staff's …
    assert RegisterError.http_status == 400
    for cls in refusals:
        status = cls.http_status
        assert isinstance(status, int) and HTTPStatus(status), cls
        if cls.__name__ in UPSTREAM_FAILURES:
            assert status == 502, cls
        else:
            assert 400 <= status < 500, (cls, status)
    # the statuses clients and pages rely on
    stated = {(cls.__name__, cls.http_status) for cls in refusals}
    assert stated >= {
        ("NotFound", 404),
        ("OrderNotFound", 404),
        ("NotPermitted", 403),
        ("OutsideReach", 403),
        ("InvalidApiKey", 401),
        ("InsufficientUnits", 409),
        ("QuotaExhausted", 409),
        ("AboveOrderLimit", 409),
        ("IdempotencyConflict", 409),
        ("TooManyPendingOrders", 429),
        ("ResendLimited", 429),
        ("LoginLocked", 429),
        ("InvalidState", 400),
    }
    assert status_of(OutsideReach()) == 403 and status_of(QuotaExhausted()) == 409


def _handled_type(module: Any, node: ast.expr | None) -> list[Any]:
    if node is None:
        return []
    if isinstance(node, ast.Tuple):
        return [t for element in node.elts for t in _handled_type(module, element)]
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    found: Any = getattr(module, node.id, None)
    for part in path:
        found = getattr(found, part, None)
    return [found] if isinstance(found, type) else []


def test_no_view_answers_a_refusal_with_a_status_of_its_own() -> None:
    """An ``except <RegisterError> as exc`` in a web package never writes a status number: it asks status_of."""
    copies = []
    for name in ("admin", "shop", "planting", "certificates", "linpiao", "kernel"):
        for path in sorted((ROOT / name).rglob("*.py")):
            module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = importlib.import_module(module_name)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ExceptHandler):
                    continue
                if not any(issubclass(t, RegisterError) for t in _handled_type(module, node.type)):
                    continue
                for inner in (n for statement in node.body for n in ast.walk(statement)):
                    if isinstance(inner, ast.Constant) and type(inner.value) is int and 400 <= inner.value < 600:
                        copies.append(f"{module_name}:{inner.lineno}")
    assert copies == []


REFUSALS = [
    NotFound(),
    NotPermitted(),
    InvalidApiKey(),
    InsufficientUnits(),
    QuotaExhausted(),
    IdempotencyConflict(),
    ResendLimited(),
    LoginLocked(),
    InvalidState(),
    PaymentUnavailable(),
    RefundFailed(),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda exc: type(exc).__name__)
async def test_back_office_shop_and_api_answer_a_refusal_alike(
    refusal: RegisterError, sign_in, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise refusal

    async def refuse_async(*args: object, **kwargs: object) -> None:
        raise refusal

    forestry = await sign_in(StaffRole.FORESTRY)
    quota = await quotas.open_quota(units=1000)
    monkeypatch.setattr(quotas, "close_quota", refuse_async)
    monkeypatch.setattr("shop.routes.parse_order_request", refuse)
    monkeypatch.setattr("shop.api.parse_order_request", refuse)

    back_office = await forestry.post(f"/admin/quotas/{quota.id}/close")
    shop_page = await client.post("/buy", data={"quantity": "2"})
    api = await client.post("/api/v1/orders", json={"quantity": 2})

    expected = status_of(refusal)
    assert (back_office.status_code, shop_page.status_code, api.status_code) == (expected,) * 3
    assert api.json()["error"]["code"] == refusal.code
    assert quota.is_open and await quotas.current_quota() == quota  # nothing was written
