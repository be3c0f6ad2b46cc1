"""The planting page's warning about the shop's minimum order follows the payment methods enabled: the card's
minimum (Stripe's settlement minimum, ``LINPIAO_MIN_ORDER_FEN``) when the card is the only method, one ticket when
Alipay or WeChat Pay is on — the same rule the shop applies (:class:`kernel.settings.Settings` holds it once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.settings import Settings
from linpiao.app import create_app
from registry.models import StaffRole
from registry.quotas import open_quota
from shop.payments.methods import order_minimum_fen
from tests.fakealipay import APP_ID as ALIPAY_APP_ID
from tests.fakealipay import FakeAlipay
from tests.fakewechatpay import APIV3_KEY, APPID, CERT_SERIAL, MCHID, PUBLIC_KEY_ID, FakeWechatPay

RULE = {
    "year": "2026",
    "tickets_per_tree": "1",  # 3 trees × 1 ticket × ¥1 = ¥3: under the card's ¥5, above Alipay's ¥0.01
    "trees_per_duty": "3",
    "receiving_body": "银川市绿化基金会",
    "source": "银川市绿化委员会办公室 2026 年第 1 号通知",
    "notes": "",
}


def with_alipay(settings: Settings, folder: Path) -> Settings:
    private, public = FakeAlipay().key_files(folder)
    return settings.with_(alipay_app_id=ALIPAY_APP_ID, alipay_private_key_file=private, alipay_public_key_file=public)


def with_wechat_pay(settings: Settings, folder: Path) -> Settings:
    private, public = FakeWechatPay().key_files(folder)
    return settings.with_(
        wechatpay_mchid=MCHID,
        wechatpay_appid=APPID,
        wechatpay_cert_serial=CERT_SERIAL,
        wechatpay_private_key_file=private,
        wechatpay_apiv3_key=APIV3_KEY,
        wechatpay_public_key_file=public,
        wechatpay_public_key_id=PUBLIC_KEY_ID,
    )


CONFIGURATIONS = {
    "card only (Stripe)": (lambda s, _folder: s.with_(stripe_secret_key="sk_test_x"), 500),
    "demo card": (lambda s, _folder: s, 500),
    "Alipay and the card": (lambda s, folder: with_alipay(s.with_(stripe_secret_key="sk_test_x"), folder), 1),
    "WeChat Pay only": (with_wechat_pay, 1),
    "Alipay and WeChat Pay": (lambda s, folder: with_wechat_pay(with_alipay(s, folder), folder), 1),
}


@pytest.mark.parametrize(("configure", "smallest"), CONFIGURATIONS.values(), ids=CONFIGURATIONS.keys())
def test_the_smallest_order_is_the_shops_own_rule(settings, tmp_path, configure, smallest):
    configured = configure(settings, tmp_path)
    configured.check()
    assert configured.smallest_order_fen() == smallest
    assert order_minimum_fen(configured) == smallest  # the shop asks the same rule
    assert configured.method_minimum_fen("card") == configured.min_order_fen == 500
    assert configured.method_minimum_fen("alipay") == configured.method_minimum_fen("wechat_pay") == 1


def configured_for(method: str, settings: Settings, folder: Path) -> Settings:
    if method == "card":
        return settings.with_(stripe_secret_key="sk_test_x")
    if method == "alipay":
        return with_alipay(settings.with_(stripe_secret_key="sk_test_x"), folder)
    return with_wechat_pay(settings, folder)


@pytest.fixture(params=["card", "alipay", "wechat_pay"])
def app(request, settings: Settings, db: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The back-office of each test below, with one set of payment methods enabled (``request.param``)."""
    return create_app(configured_for(request.param, settings, tmp_path), manage_db=False)


async def test_the_warning_follows_the_payment_methods(sign_in, app):
    await open_quota(units=1000, price_fen=100)  # ¥1 a ticket
    forester = await sign_in(StaffRole.FORESTRY, "forester")
    assert (await forester.post("/admin/planting", RULE)).status_code == 303
    page = await forester.get("/admin/planting")
    if app.state.settings.payment_methods() == ["card"]:  # ¥3 is under the card's ¥5: a citizen must buy 5 trees
        assert page.text.count('data-testid="min-order-warning"') == 1
        assert "¥3.00" in page.text and "¥5.00" in page.text and "至少要买5株" in page.text
    else:  # Alipay and WeChat Pay take one ticket: 3 trees are payable, nothing to warn about
        assert app.state.settings.smallest_order_fen() == 1
        assert 'data-testid="min-order-warning"' not in page.text
