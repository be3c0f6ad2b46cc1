"""Payment methods, who serves them, their minimum order, and which fit the payer's device.

A method is what the payer picks (``alipay``, ``wechat_pay``, ``card``); a provider is who takes the money
(``alipay``, ``wechat_pay``, ``stripe``, or ``demo`` standing in for a card when nothing is configured).
Alipay and WeChat Pay take ¥0.01 and up, so one ¥1 ticket is payable; Stripe refuses charges under its
settlement minimum, so ``LINPIAO_MIN_ORDER_FEN`` applies only when the card is chosen (the demo provider
follows the same rule, so what the demo shows is what Stripe does). Which methods are enabled and what each
takes at least is written once, on :class:`kernel.settings.Settings` (``payment_methods``,
``method_minimum_fen``, ``smallest_order_fen``), where the back-office — which never imports the shop — reads
it too; this module answers in the shop's terms from there.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# the method names, defined with their minimum orders in kernel.settings (re-exported for the shop)
from kernel.settings import ALIPAY as ALIPAY
from kernel.settings import CARD as CARD
from kernel.settings import WECHAT_PAY as WECHAT_PAY
from kernel.settings import Settings

METHODS = (ALIPAY, WECHAT_PAY, CARD)
# Channels each method may be paid through (the API may ask for one; the pay page chooses by device).
CHANNELS = {ALIPAY: ("page", "wap"), WECHAT_PAY: ("native", "h5", "jsapi"), CARD: ("",)}

DESKTOP = "desktop"
PHONE = "phone"
WECHAT = "wechat"  # WeChat's in-app browser
_PHONE_AGENT = re.compile(r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|OpenHarmony|Windows Phone", re.IGNORECASE)


def enabled_methods(settings: Settings) -> list[str]:
    """Methods this shop takes, in the order offered: Alipay, WeChat Pay, then the card (Stripe, or the demo
    provider when no provider at all is configured)."""
    return settings.payment_methods()


def provider_of_method(settings: Settings, method: str) -> str:
    if method == CARD:
        return settings.card_provider()
    return method


def method_of_provider(provider: str) -> str:
    """``""`` for an order whose method the payer has not chosen yet."""
    return {"stripe": CARD, "demo": CARD, ALIPAY: ALIPAY, WECHAT_PAY: WECHAT_PAY}.get(provider, "")


def method_minimum_fen(settings: Settings, method: str) -> int:
    return settings.method_minimum_fen(method)


def order_minimum_fen(settings: Settings, provider: str = "") -> int:
    """The smallest order for ``provider``; for an order whose method is chosen later (``""``), the smallest any
    enabled method takes (the payment page then offers only the methods that take the order's amount)."""
    method = method_of_provider(provider)
    return settings.method_minimum_fen(method) if method else settings.smallest_order_fen()


def device_of(user_agent: str | None) -> str:
    """``wechat`` inside WeChat's browser, ``phone`` for other mobile browsers, else ``desktop``."""
    agent = user_agent or ""
    if "MicroMessenger" in agent:
        return WECHAT
    return PHONE if _PHONE_AGENT.search(agent) else DESKTOP


def offered_methods(settings: Settings, device: str, amount_fen: int) -> list[str]:
    """What the pay page offers this device for this amount, best first: inside WeChat, WeChat Pay (JSAPI; Alipay
    does not open there); elsewhere Alipay then WeChat Pay (H5 on phones, a QR code on desktops); the card last,
    and only when the amount reaches its minimum."""
    methods = [m for m in enabled_methods(settings) if amount_fen >= method_minimum_fen(settings, m)]
    if device == WECHAT:
        methods = [m for m in methods if m != ALIPAY]
        if not settings.wechatpay_app_secret:  # JSAPI needs the payer's openid, from the official account's OAuth
            methods = [m for m in methods if m != WECHAT_PAY]
    return methods


def channel_for(method: str, device: str) -> str:
    if method == ALIPAY:
        return "page" if device == DESKTOP else "wap"
    if method == WECHAT_PAY:
        return {DESKTOP: "native", PHONE: "h5", WECHAT: "jsapi"}[device]
    return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def payment_form_targets(settings: Settings) -> tuple[str, ...]:
    """Origins a payment form's redirect leads to: the Alipay gateway (its cashier), WeChat Pay's H5 page (served
    from ``wx.tenpay.com``; a test gateway serves its own). For the Content-Security-Policy's ``form-action``."""
    targets = []
    chosen = settings.payment_providers()
    if ALIPAY in chosen:
        targets.append(_origin(settings.alipay_gateway))
    if WECHAT_PAY in chosen:
        targets += ["https://wx.tenpay.com", _origin(settings.wechatpay_gateway)]
    return tuple(t for t in targets if t)
