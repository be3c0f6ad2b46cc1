"""The doors around the register: body limits before reading, security headers, and the real client address."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factories import shop as factories
from kernel.proxy import parse_networks, real_client
from kernel.settings import Settings, SettingsError, load_settings
from linpiao import bodylimit, cli
from linpiao.app import create_app
from registry.models import AuditLog

CHUNK = 16 * 1024
ROOT = Path(__file__).resolve().parents[2]


class Body:
    """An ASGI ``receive`` that would deliver ``total`` bytes in chunks, counting what was pulled from it."""

    def __init__(self, total: int, chunk: int = CHUNK, prefix: bytes = b"") -> None:
        self.total, self.chunk, self.pulled, self.prefix = total, chunk, 0, prefix

    async def __call__(self) -> dict[str, Any]:
        sent = self.pulled * self.chunk
        if sent >= self.total:
            return {"type": "http.disconnect"}
        self.pulled += 1
        size = min(self.chunk, self.total - sent)
        data = (self.prefix + b" " * size)[:size] if sent == 0 else b" " * size
        return {"type": "http.request", "body": data, "more_body": sent + size < self.total}


async def call(app: Any, method: str, path: str, body: Body, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Run one request through the ASGI app; the status, headers and body it answered."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, body, send)
    return answer


HUNDRED_MB = 100 * 1024 * 1024
CHUNKED_JSON = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]


# --- body limits ----------------------------------------------------------------------------------------------


async def test_a_chunked_json_body_is_refused_as_soon_as_it_passes_the_limit(app):
    body = Body(HUNDRED_MB)
    answer = await call(app, "POST", "/api/v1/orders", body, CHUNKED_JSON)
    assert answer["status"] == 413
    assert json.loads(answer["body"])["error"]["code"] == "body_too_large"
    assert body.pulled <= bodylimit.SMALL // CHUNK + 1  # 64 KiB of 100 MB read, not more


async def test_a_chunked_webhook_body_is_refused_before_it_is_read_whole(settings, db):
    stripe = settings.with_(stripe_secret_key="sk_test_limit", stripe_webhook_secret="whsec_test")
    app = create_app(stripe, manage_db=False)
    body = Body(HUNDRED_MB)
    answer = await call(app, "POST", "/webhooks/stripe", body, CHUNKED_JSON)
    assert answer["status"] == 413 and json.loads(answer["body"])["error"]["code"] == "body_too_large"
    assert body.pulled <= bodylimit.SMALL // CHUNK + 1


async def test_a_declared_length_over_the_limit_is_refused_without_reading_anything(app):
    for path in ("/api/v1/orders", "/webhooks/stripe", "/buy", "/admin/parcels/1/documents", "/planting/org"):
        body = Body(HUNDRED_MB)
        length = str(HUNDRED_MB).encode()
        answer = await call(app, "POST", path, body, [(b"content-length", length)])
        assert answer["status"] == 413, path
        assert body.pulled == 0, path


async def test_a_chunked_upload_is_counted_against_the_upload_limit(app):
    """A roster may be 20 MB, but a chunked upload is still stopped just past the upload limit."""
    part = b'--x\r\nContent-Disposition: form-data; name="roster"; filename="a.csv"\r\n\r\n'
    body = Body(HUNDRED_MB, chunk=256 * 1024, prefix=part)
    headers = [(b"content-type", b"multipart/form-data; boundary=x"), (b"transfer-encoding", b"chunked")]
    answer = await call(app, "POST", "/planting/org", body, headers)
    assert answer["status"] == 413 and "text/html" in answer["headers"]["content-type"]
    assert body.pulled <= bodylimit.ROSTER_UPLOAD // (256 * 1024) + 1


async def test_pages_refuse_in_the_visitors_language(client):
    async def big() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * CHUNK

    form = {"content-type": "application/x-www-form-urlencoded"}
    zh = await client.post("/buy", content=big(), headers=form)
    assert zh.status_code == 413 and "text/html" in zh.headers["content-type"]
    assert "请求内容超过了允许的大小" in zh.text
    en = await client.post("/buy?lang=en", content=big(), headers=form)
    assert en.status_code == 413 and "The request is larger than this address accepts" in en.text


async def test_bodies_under_the_limit_are_served(client):
    await factories.quota(500)
    payload = json.dumps({"quantity": 10, "purpose": "travel", "certificate_name": "张三"}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # chunked, no Content-Length
        for start in range(0, len(payload), 7):
            yield payload[start : start + 7]

    created = await client.post("/api/v1/orders", content=chunks(), headers={"content-type": "application/json"})
    assert created.status_code == 201, created.text
    near_limit = await client.post("/api/v1/estimate", content=b'{"trips": []' + b" " * 60_000 + b"}")
    assert near_limit.status_code != 413


def test_each_route_has_its_limit():
    assert bodylimit.limit_for("/api/v1/orders") == bodylimit.limit_for("/webhooks/stripe") == 64 * 1024
    assert bodylimit.limit_for("/admin/parcels/7/documents") == 12 * 1024 * 1024
    assert bodylimit.limit_for("/planting/org") == bodylimit.limit_for("/planting/org/abc/upload") == 21 * 1024 * 1024
    assert bodylimit.limit_for("/admin/parcels/7") == 2 * 1024 * 1024
    assert bodylimit.limit_for("/buy") == bodylimit.limit_for("/planting/org/abc/pay") == 64 * 1024


# --- security headers ---------------------------------------------------------------------------------------


async def test_every_page_carries_the_security_headers(client):
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in response.headers  # http: no HSTS
    assert "no-store" not in response.headers.get("cache-control", "")


async def test_hsts_when_the_site_is_served_over_https(settings, db):
    app = create_app(settings.with_(base_url="https://linpiao.example.cn"), manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as http:
        response = await http.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_private_pages_are_never_stored_nor_leak_their_address(client, settings):
    await factories.quota(500)
    order = await factories.order(settings)
    for path in ("/admin/login", f"/orders/{order.token}", f"/pay/demo/{order.token}", "/planting/org/unknown"):
        response = await client.get(path)
        assert "no-store" in response.headers["cache-control"], path
        assert response.headers["referrer-policy"] == "no-referrer", path


TEMPLATE_DIRS = [
    "kernel/templates",
    "shop/templates",
    "admin/templates",
    "certificates/templates",
    "planting/templates",
]
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_templates_need_no_inline_script_or_style():
    """What the CSP forbids must not be in any template (the browser tests then show the pages still work)."""
    found = []
    for directory in TEMPLATE_DIRS:
        for template in sorted((ROOT / directory).rglob("*.html")):
            text = template.read_text(encoding="utf-8")
            found += [f"{template.relative_to(ROOT)}: {what}" for what, rx in INLINE.items() if rx.search(text)]
    assert not found


# --- the client's address behind proxies ----------------------------------------------------------------------

PROXY = ("10.0.0.5", 40000)


def test_forwarded_for_is_read_only_from_trusted_proxies():
    trusted = parse_networks(["10.0.0.0/8"])
    assert real_client("203.0.113.9", "198.51.100.7", trusted) == "203.0.113.9"  # untrusted peer: ignored
    assert real_client("10.0.0.5", "198.51.100.7", trusted) == "198.51.100.7"
    assert real_client("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.0.0.3", trusted) == "198.51.100.7"  # spoofed left
    assert real_client("10.0.0.5", "garbage", trusted) == "10.0.0.5"
    assert real_client("10.0.0.5", "198.51.100.7", ()) == "10.0.0.5"  # nothing trusted by default


def _client(app: Any, peer: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://testserver")


async def _login_attempt(http: httpx.AsyncClient, forwarded_for: str) -> None:
    page = await http.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    headers = {"x-forwarded-for": forwarded_for}
    data = {"username": "nobody", "password": "wrong", "csrf": csrf.group(1)}
    assert (await http.post("/admin/login", data=data, headers=headers)).status_code in (400, 429)


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    import registry.staff as staff_module

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(staff_module, "_hasher", cheap)
    monkeypatch.setattr(staff_module, "_DUMMY_HASH", cheap.hash("dummy"))


async def test_the_audit_log_sees_the_address_a_trusted_proxy_reports(settings, db, cheap_argon2):
    app = create_app(settings.with_(trusted_proxies=("10.0.0.0/8",)), manage_db=False)
    async with _client(app, ("203.0.113.9", 50000)) as direct, _client(app, PROXY) as via_proxy:
        await _login_attempt(direct, "198.51.100.1")  # spoofed by a client talking to us directly
        await _login_attempt(via_proxy, "1.2.3.4, 198.51.100.7")  # nginx appended the address it saw
    ips = [line.ip for line in await AuditLog.all().order_by("id")]
    assert ips == ["203.0.113.9", "198.51.100.7"]


async def test_the_verify_limiter_counts_real_clients(settings, db):
    app = create_app(settings.with_(trusted_proxies=("10.0.0.5",)), manage_db=False)
    unknown = "/api/v1/certificates/ZZZZ-ZZZZ-ZZZZ-ZZZZ"
    async with _client(app, PROXY) as via_proxy, _client(app, ("203.0.113.9", 50000)) as direct:
        for n in range(40):  # one guesser behind the proxy, and one talking directly with a new spoofed address
            await via_proxy.get(unknown, headers={"x-forwarded-for": "198.51.100.7"})
            await direct.get(unknown, headers={"x-forwarded-for": f"192.0.2.{n}"})
        assert (await via_proxy.get(unknown, headers={"x-forwarded-for": "198.51.100.7"})).status_code == 429
        assert (await direct.get(unknown, headers={"x-forwarded-for": "192.0.2.200"})).status_code == 429
        # another visitor behind the same proxy is not locked out with the guesser
        assert (await via_proxy.get(unknown, headers={"x-forwarded-for": "198.51.100.8"})).status_code == 404


def test_trusted_proxies_come_from_the_environment():
    settings = load_settings({"LINPIAO_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}, env_file="/nonexistent")
    assert settings.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    assert load_settings({}, env_file="/nonexistent").trusted_proxies == ()
    with pytest.raises(SettingsError):
        Settings(trusted_proxies=("nginx.local",)).check()


@pytest.mark.parametrize(("trusted", "allow", "proxy_headers"), [((), None, False), (("10.0.0.5",), "10.0.0.5", True)])
def test_serve_passes_the_trusted_proxies_to_uvicorn(monkeypatch, trusted, allow, proxy_headers):
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(cli, "cmd_migrate", lambda settings, args: 0)
    args = cli.build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "8000"])
    cli.cmd_serve(Settings(trusted_proxies=trusted), args)
    assert seen["forwarded_allow_ips"] == allow and seen["proxy_headers"] is proxy_headers
