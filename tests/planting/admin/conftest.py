"""The back-office's fixtures, for planting's back-office page (planting/admin/)."""

from tests.admin.conftest import (  # noqa: F401 - fixtures, by name
    cheap_argon2,
    china_client,
    china_settings,
    fake_alipay,
    fake_alipay_server,
    fake_wechatpay,
    fake_wechatpay_server,
    sign_in,
)
from tests.shop.conftest import fake_stripe, fake_stripe_server, stripe_client, stripe_settings  # noqa: F401
