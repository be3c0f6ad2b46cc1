"""Steps shared by the Alipay and WeChat Pay tests: a buyer on a device, the payment page, the notifications."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from kernel.settings import Settings
from registry.models import Order

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
WECHAT_UA = PHONE_UA + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"


async def buy(client: httpx.AsyncClient, quantity: int = 1, name: str = "银川市民") -> Order:
    """Order ``quantity`` tickets on /buy; the buyer lands on the order's payment page."""
    response = await client.post("/buy", data={"quantity": str(quantity), "purpose": "daily", "certificate_name": name})
    assert response.status_code == 303, response.text
    order = await Order.filter(certificate_name=name).order_by("-id").first()
    assert order is not None
    assert response.headers["location"] == f"http://testserver/pay/{order.token}"
    return order


async def choose(client: httpx.AsyncClient, order: Order, method: str, agent: str) -> httpx.Response:
    return await client.post(f"/pay/{order.token}", data={"method": method}, headers={"User-Agent": agent})


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def outside(url: str, **kwargs: object) -> httpx.Response:
    """The payer's browser opening a page of the (fake) provider."""
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.get(url, **kwargs)  # type: ignore[arg-type]


def provider_env(settings: Settings) -> dict[str, str]:
    """The ``LINPIAO_*`` variables that configure Alipay and WeChat Pay as ``settings`` do (for child processes)."""
    names = {
        "ALIPAY_APP_ID": settings.alipay_app_id,
        "ALIPAY_PRIVATE_KEY_FILE": settings.alipay_private_key_file,
        "ALIPAY_PUBLIC_KEY_FILE": settings.alipay_public_key_file,
        "ALIPAY_SELLER_ID": settings.alipay_seller_id,
        "ALIPAY_GATEWAY": settings.alipay_gateway,
        "WECHATPAY_MCHID": settings.wechatpay_mchid,
        "WECHATPAY_APPID": settings.wechatpay_appid,
        "WECHATPAY_CERT_SERIAL": settings.wechatpay_cert_serial,
        "WECHATPAY_PRIVATE_KEY_FILE": settings.wechatpay_private_key_file,
        "WECHATPAY_APIV3_KEY": settings.wechatpay_apiv3_key,
        "WECHATPAY_PUBLIC_KEY_FILE": settings.wechatpay_public_key_file,
        "WECHATPAY_PUBLIC_KEY_ID": settings.wechatpay_public_key_id,
        "WECHATPAY_GATEWAY": settings.wechatpay_gateway,
        "WECHATPAY_APP_SECRET": settings.wechatpay_app_secret,
        "WECHAT_OAUTH_BASE": settings.wechat_oauth_base,
        "WECHAT_API_BASE": settings.wechat_api_base,
    }
    return {f"LINPIAO_{name}": value for name, value in names.items()}
