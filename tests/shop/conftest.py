"""Shop fixtures: an open carbon quota, the fake Stripe server, and an app configured for Stripe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from kernel.settings import Settings
from linpiao.app import create_app
from tests.fakealipay import APP_ID as ALIPAY_APP_ID
from tests.fakealipay import SELLER_ID as ALIPAY_SELLER_ID
from tests.fakealipay import FakeAlipay
from tests.fakestripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.fakewechatpay import APIV3_KEY as WECHAT_APIV3_KEY
from tests.fakewechatpay import APP_SECRET as WECHAT_APP_SECRET
from tests.fakewechatpay import APPID as WECHAT_APPID
from tests.fakewechatpay import CERT_SERIAL as WECHAT_CERT_SERIAL
from tests.fakewechatpay import MCHID as WECHAT_MCHID
from tests.fakewechatpay import PUBLIC_KEY_ID as WECHAT_PUBLIC_KEY_ID
from tests.fakewechatpay import FakeWechatPay


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


# --- Alipay and WeChat Pay: fake gateways on loopback, an app configured for both ------------------------------


@pytest.fixture(scope="session")
def fake_alipay_server() -> Iterator[FakeAlipay]:
    fake = FakeAlipay()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_alipay(fake_alipay_server: FakeAlipay) -> FakeAlipay:
    fake_alipay_server.reset()
    return fake_alipay_server


@pytest.fixture(scope="session")
def fake_wechatpay_server() -> Iterator[FakeWechatPay]:
    fake = FakeWechatPay()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_wechatpay(fake_wechatpay_server: FakeWechatPay) -> FakeWechatPay:
    fake_wechatpay_server.reset()
    return fake_wechatpay_server


def china_pay_settings(base: Settings, folder: Path, alipay: FakeAlipay, wechat: FakeWechatPay) -> Settings:
    """Alipay and WeChat Pay configured against the fakes (no Stripe: the card is not offered)."""
    folder.mkdir(parents=True, exist_ok=True)
    alipay_private, alipay_public = alipay.key_files(folder)
    wechat_private, wechat_public = wechat.key_files(folder)
    return base.with_(
        alipay_app_id=ALIPAY_APP_ID,
        alipay_private_key_file=alipay_private,
        alipay_public_key_file=alipay_public,
        alipay_seller_id=ALIPAY_SELLER_ID,
        alipay_gateway=f"{alipay.url}/gateway.do",
        wechatpay_mchid=WECHAT_MCHID,
        wechatpay_appid=WECHAT_APPID,
        wechatpay_cert_serial=WECHAT_CERT_SERIAL,
        wechatpay_private_key_file=wechat_private,
        wechatpay_apiv3_key=WECHAT_APIV3_KEY,
        wechatpay_public_key_file=wechat_public,
        wechatpay_public_key_id=WECHAT_PUBLIC_KEY_ID,
        wechatpay_gateway=wechat.url,
        wechatpay_app_secret=WECHAT_APP_SECRET,
        wechat_oauth_base=wechat.url,
        wechat_api_base=wechat.url,
    )


@pytest.fixture
def china_settings(
    settings: Settings, tmp_path: Path, fake_alipay: FakeAlipay, fake_wechatpay: FakeWechatPay
) -> Settings:
    return china_pay_settings(settings, tmp_path / "keys", fake_alipay, fake_wechatpay)


@pytest.fixture
async def china_client(china_settings: Settings, db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(china_settings, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
