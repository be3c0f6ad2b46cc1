"""The shop's fixtures, for planting's shop pages (planting/shop/)."""

from tests.shop.conftest import (  # noqa: F401 - fixtures, by name
    china_client,
    china_settings,
    fake_alipay,
    fake_alipay_server,
    fake_stripe,
    fake_stripe_server,
    fake_wechatpay,
    fake_wechatpay_server,
    stripe_client,
    stripe_settings,
)
