"""Every payment provider against the one interface (shop/payments/base.py): the same members, and its own genuine
report read into the one event type that settlement needs — naming the order, its trade and the amount — while
anything forged is refused before a row is written. The setting that chooses the providers is checked here too."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from factories import shop as factories
from kernel import settings as settings_module
from kernel.settings import Settings, SettingsError, load_settings
from linpiao.app import create_app
from registry.models import Order, OrderStatus, Payment
from shop.payments import PROVIDERS, InvalidNotification, PaymentEvent, PaymentProvider, get_provider
from shop.payments.demo import DemoProvider
from shop.settlement import settle
from tests.fakealipay import FakeAlipay
from tests.fakestripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.fakewechatpay import FakeWechatPay
from tests.shop.conftest import china_pay_settings
from tests.shop.paying import DESKTOP_UA, buy, choose, outside

MEMBERS = ("create_checkout", "retrieve_status", "expire_checkout", "refund", "parse_notification", "event_is_for")


@pytest.fixture
def every_settings(
    settings: Settings, tmp_path: Path, fake_stripe: FakeStripe, fake_alipay: FakeAlipay, fake_wechatpay: FakeWechatPay
) -> Settings:
    """Alipay, WeChat Pay and Stripe at once, each against its fake; the demo provider alone for ``demo``."""
    with_stripe = settings.with_(
        stripe_secret_key=API_KEY, stripe_webhook_secret=WEBHOOK_SECRET, stripe_api_base=fake_stripe.url
    )
    return china_pay_settings(with_stripe, tmp_path / "keys", fake_alipay, fake_wechatpay)


@pytest.fixture
async def every_client(every_settings: Settings, db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(every_settings, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


Report = tuple[Order, Callable[[PaymentProvider], Awaitable[PaymentEvent | None]]]


async def _stripe_report(client: httpx.AsyncClient, fake: FakeStripe) -> Report:
    order = await buy(client, 10)
    assert (await choose(client, order, "card", DESKTOP_UA)).status_code == 303
    await order.refresh_from_db()
    fake.pay(str(order.provider_ref))
    body = fake.dumps(fake.session_event("checkout.session.completed", str(order.provider_ref)))
    headers = {"stripe-signature": fake.sign(body)}
    return order, lambda provider: provider.parse_notification(body.encode(), headers)


async def _alipay_report(client: httpx.AsyncClient, fake: FakeAlipay) -> Report:
    order = await buy(client, 2)
    chosen = await choose(client, order, "alipay", DESKTOP_UA)
    assert (await outside(chosen.headers["location"])).status_code == 200  # the payer opens Alipay's cashier
    await order.refresh_from_db()
    body = fake.encode(fake.pay(str(order.provider_ref)))
    return order, lambda provider: provider.parse_notification(body, {})


async def _wechatpay_report(client: httpx.AsyncClient, fake: FakeWechatPay) -> Report:
    order = await buy(client, 3)
    assert (await choose(client, order, "wechat_pay", DESKTOP_UA)).status_code == 303
    await order.refresh_from_db()
    headers, body = fake.pay(str(order.provider_ref))
    return order, lambda provider: provider.parse_notification(body, headers)


async def _demo_report(settings: Settings) -> Report:
    order = await factories.order(settings, 5, provider="demo")

    async def pressed(provider: PaymentProvider) -> PaymentEvent:
        assert isinstance(provider, DemoProvider)
        return provider.page_event(order, "confirm")  # the demo's only report: its page's button

    return order, pressed


def test_the_setting_and_the_registry_name_the_same_providers() -> None:
    assert set(PROVIDERS) == set(settings_module.PROVIDERS)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
async def test_every_provider_keeps_the_interface(  # type: ignore[no-untyped-def]
    name, every_settings, settings, every_client, fake_stripe, fake_alipay, fake_wechatpay
):
    await factories.quota(1000)
    chosen = settings if name == "demo" else every_settings
    if name == "stripe":
        order, report = await _stripe_report(every_client, fake_stripe)
    elif name == "alipay":
        order, report = await _alipay_report(every_client, fake_alipay)
    elif name == "wechat_pay":
        order, report = await _wechatpay_report(every_client, fake_wechatpay)
    else:
        order, report = await _demo_report(settings)
    assert order.provider == name
    provider = get_provider(chosen, name)
    try:
        assert isinstance(provider, PaymentProvider) and provider.name == name
        for member in MEMBERS:  # the protocol's parameters, in order (a provider may add optional ones after them)
            mine = getattr(provider, member)
            assert inspect.iscoroutinefunction(mine), member
            wanted = list(inspect.signature(getattr(PaymentProvider, member)).parameters)[1:]
            assert list(inspect.signature(mine).parameters)[: len(wanted)] == wanted, member

        with pytest.raises(InvalidNotification):  # forged: refused before anything is recorded
            await provider.parse_notification(b"order=1&paid=yes", {"stripe-signature": "t=1,v1=00"})
        assert await Payment.all().count() == 0

        event = await report(provider)
        assert event is not None and event.provider == name and event.kind == "paid"
        assert (event.order_id, event.amount_fen) == (order.id, int(order.amount_fen))
        assert event.trade_no == ("" if name == "demo" else order.provider_ref)  # the order's own trade
        assert await provider.event_is_for(order, event)
        other = await factories.order(chosen, 5, provider=name)
        assert not await provider.event_is_for(other, event)
        if event.trade_no:  # naming another order is not enough: the trade must be one opened for it
            assert not await provider.event_is_for(other, replace(event, order_id=other.id))

        assert str(await settle(order.id, event, provider)) == "fulfilled"  # the event is all settlement needs
        await order.refresh_from_db()
        assert order.status is OrderStatus.FULFILLED
    finally:
        await provider.aclose()


def test_one_setting_chooses_the_providers(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-")
    alipay = {
        "LINPIAO_ALIPAY_APP_ID": "2021",
        "LINPIAO_ALIPAY_PRIVATE_KEY_FILE": str(key),
        "LINPIAO_ALIPAY_PUBLIC_KEY_FILE": str(key),
    }
    stripe = {"LINPIAO_STRIPE_SECRET_KEY": "sk_test"}
    env_file = tmp_path / "none.env"

    def chosen(**env: str) -> Settings:
        loaded = load_settings(env, env_file=env_file)
        loaded.check()
        return loaded

    assert chosen().payment_providers() == ("demo",)  # nothing configured: the demo
    both = chosen(**alipay, **stripe)
    assert both.payment_providers() == ("alipay", "stripe") and both.payment_methods() == ["alipay", "card"]
    only = chosen(**alipay, **stripe, LINPIAO_PAYMENT_PROVIDERS="alipay")
    assert only.payment_providers() == ("alipay",) and only.payment_methods() == ["alipay"]
    assert not only.demo_payments
    refusals = {  # unknown, not configured, two providers for the card
        "unknown": {**alipay, "LINPIAO_PAYMENT_PROVIDERS": "alipay,paypal"},
        "whose settings": {**alipay, "LINPIAO_PAYMENT_PROVIDERS": "stripe"},
        "choose one": {**stripe, "LINPIAO_PAYMENT_PROVIDERS": "stripe,demo"},
    }
    for reason, env in refusals.items():
        with pytest.raises(SettingsError, match=reason):
            chosen(**env)


async def test_a_provider_left_out_of_the_setting_takes_no_notifications(every_settings, db, fake_alipay):  # type: ignore[no-untyped-def]
    chosen = every_settings.with_(providers=("stripe",))
    app = create_app(chosen, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        refused = await http.post("/webhooks/alipay", content=b"trade_status=TRADE_SUCCESS")
        assert refused.status_code == 404
        page = await http.get("/buy")
        assert page.status_code == 200
    assert await Payment.all().count() == 0
