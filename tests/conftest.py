"""Shared fixtures: a fresh database per test (SQLite by default, PostgreSQL when
``LINPIAO_TEST_DATABASE_URL`` is set), the application, and an HTTP client bound to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tortoise import Tortoise

from kernel.settings import Settings
from linpiao.app import create_app
from linpiao.db import tortoise_config
from tests import schema
from tests.timetravel import start_from_environment

TRAVELLED = pytest.StashKey[datetime]()
PG_URL = os.environ.get("LINPIAO_TEST_DATABASE_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    """``LINPIAO_TEST_CLOCK=17:00 pytest`` runs the whole suite at another time of day (see tests/timetravel.py)."""
    travelled = start_from_environment()
    if travelled is not None:
        config.stash[TRAVELLED] = travelled


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Say what to install, once, rather than fail every browser test one by one."""
    from tests.live import CHROMIUM

    if any(item.get_closest_marker("browser") for item in items) and not os.access(CHROMIUM, os.X_OK):
        pytest.exit(
            f"The browser tests need Debian's Chromium at {CHROMIUM} and CJK fonts. Install them with\n"
            "    apt-get update && apt-get install -y chromium fonts-noto-cjk\n"
            "or run the rest of the suite with: pytest -m 'not browser'",
            returncode=4,
        )


def pytest_report_header(config: pytest.Config) -> str | None:
    travelled = config.stash.get(TRAVELLED, None)
    return f"clock travelled to {travelled.isoformat()} (LINPIAO_TEST_CLOCK)" if travelled else None


def is_postgres() -> bool:
    return bool(PG_URL)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return PG_URL or f"sqlite://{tmp_path / 'test.db'}"


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database with the schema the migrations build (tests/schema.py); yields its URL (other processes
    may connect to it)."""
    if not is_postgres():
        schema.SQLITE.copy_to(tmp_path / "test.db")
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    if is_postgres():
        await schema.POSTGRES.reset()
    try:
        yield database_url
    finally:
        await Tortoise.close_connections()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        base_url="http://testserver",
        data_dir=tmp_path / "var",
    )


@pytest.fixture
def app(settings: Settings, db: str):  # type: ignore[no-untyped-def]
    return create_app(settings, manage_db=False)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    return {
        "LINPIAO_DATABASE_URL": settings.database_url,
        "LINPIAO_SECRET_KEY": settings.secret_key,
        "LINPIAO_ENV": "development",
        "LINPIAO_DATA_DIR": str(settings.data_dir),
    }


@pytest.fixture
def live_server(db: str, server_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The app served by uvicorn in a child process, on the test's database (seed it through ``db``)."""
    from tests.live import free_port, start_server, stop_server

    port = free_port()
    env = {**server_env, "LINPIAO_BASE_URL": f"http://127.0.0.1:{port}"}
    process, base = start_server(env, port=port)
    try:
        yield base
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def chromium_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Chromium, started once for the whole session (and only if a browser test runs); tests connect to it."""
    from tests.live import start_browser_server, stop_server

    process, endpoint = start_browser_server(tmp_path_factory.mktemp("chromium"))
    try:
        yield endpoint
    finally:
        stop_server(process)


@pytest.fixture
async def browser(chromium_endpoint: str):  # type: ignore[no-untyped-def]
    """The session's Chromium, connected for this test: the contexts a test opens close when it ends, so each
    test starts with no cookies, storage or pages of another."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.connect(chromium_endpoint)
        # Every page of every browser test must work under the Content-Security-Policy: Chromium reports each
        # blocked inline script, handler, style or javascript: URL on the console, and the test fails.
        blocked: list[str] = []
        new_context = chromium.new_context

        async def watched_context(*args, **kwargs):  # type: ignore[no-untyped-def]
            context = await new_context(*args, **kwargs)
            context.on(
                "console",
                lambda m: (
                    blocked.append(f"{m.location.get('url')}: {m.text}")
                    if "Content Security Policy" in m.text
                    else None
                ),
            )
            return context

        chromium.new_context = watched_context  # type: ignore[method-assign]
        try:
            yield chromium
        finally:
            await chromium.close()  # closes this test's contexts and disconnects; Chromium runs on
        assert not blocked, blocked


@pytest.fixture
async def browser_page(browser):  # type: ignore[no-untyped-def]
    """A phone-sized page (390×844) in Chinese."""
    from tests.live import PHONE

    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
