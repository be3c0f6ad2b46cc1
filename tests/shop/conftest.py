"""Shop fixtures: an open carbon quota, the fake Stripe server, and an app configured for Stripe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from linpiao.app import create_app
from linpiao.settings import Settings
from tests.fakestripe import API_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe) -> FakeStripe:
    fake_stripe_server.reset()
    return fake_stripe_server


@pytest.fixture
def stripe_settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.with_(
        stripe_secret_key=API_KEY, stripe_webhook_secret=WEBHOOK_SECRET, stripe_api_base=fake_stripe.url
    )


@pytest.fixture
async def stripe_client(stripe_settings: Settings, db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stripe_settings, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
