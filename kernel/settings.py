"""One settings object, read from ``LINPIAO_*`` environment variables (and a ``.env`` file in development)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_SECRET = "dev-insecure-secret-change-me"
log = logging.getLogger("linpiao.settings")

# Payment methods the payer picks (shop/payments/methods.py says who serves each and which fit a device). Their
# minimum order is a rule of the configuration, kept here so the shop and the back-office read the same one.
ALIPAY = "alipay"
WECHAT_PAY = "wechat_pay"
CARD = "card"
# Payment providers (who takes the money; shop/payments/ has one class each). Alipay and WeChat Pay are named as
# their methods; the card is Stripe's, or the demo's when nothing real is configured.
STRIPE = "stripe"
DEMO = "demo"
PROVIDERS = (ALIPAY, WECHAT_PAY, STRIPE, DEMO)
# Alipay and WeChat Pay accept any amount from ¥0.01, so one ¥1 ticket is payable; the card takes min_order_fen.
DIRECT_MINIMUM_FEN = 1


class SettingsError(RuntimeError):
    """The configuration cannot be used (e.g. production with a default secret)."""


ID_KEY_BYTES = 32  # the length of the identity master key (registry/idcrypt.py)


def parse_id_key(text: str) -> bytes:
    """``LINPIAO_ID_KEY``: 32 bytes, base64 (standard or URL-safe alphabet)."""
    try:
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("LINPIAO_ID_KEY must be base64 (make one with `linpiao id-key`)") from None
    if len(raw) != ID_KEY_BYTES:
        raise SettingsError(f"LINPIAO_ID_KEY must decode to {ID_KEY_BYTES} bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class S3Config:
    """An S3-compatible bucket for stored files (registry/storage.py)."""

    bucket: str
    endpoint: str = ""  # empty: AWS's own endpoint for the region
    access_key: str = ""  # empty (with the secret): boto3's usual credential chain (instance role, …)
    secret_key: str = ""
    region: str = ""
    prefix: str = ""  # keys are stored under this folder of the bucket (several deployments may share one)
    addressing_style: str = "auto"  # path (MinIO), virtual (Aliyun OSS) or auto


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite://linpiao.db"
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    env: str = "development"
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    # LINPIAO_PAYMENT_PROVIDERS: the providers the shop uses, e.g. ("alipay", "wechat_pay", "stripe"); empty: every
    # provider whose settings are all set, or the demo provider when none is (payment_providers()).
    providers: tuple[str, ...] = ()
    # The smallest order in fen: Stripe refuses charges under its settlement minimum (see PAYMENTS.md).
    min_order_fen: int = 500
    max_order_units: int = 1_000_000
    reservation_minutes: int = 30
    # Inventory protection (shop/limits.py): one order takes at most order_share_percent % of the tickets left in
    # the quota on sale, never less than order_floor_units (so small quotas still sell); one client (an address,
    # an IPv6 /64) keeps at most max_pending_orders unpaid orders holding max_pending_units tickets (never less
    # than one largest order); an unpaid order of large_order_units or more is held large_order_reservation_minutes
    # only. An organisation's API key (created in the back-office) lifts these limits.
    order_share_percent: int = 1
    order_floor_units: int = 200
    max_pending_orders: int = 5
    max_pending_units: int = 2000
    large_order_units: int = 500
    large_order_reservation_minutes: int = 10
    data_dir: Path = field(default_factory=lambda: Path("var"))
    # Stored files (registry/storage.py): the folder data_dir by default; S3-compatible object storage when a
    # bucket is set, so app servers and workers on several machines need no shared volume.
    s3_bucket: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    s3_addressing_style: str = "auto"
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Shown in the footer of every public page, each hidden when empty (shop/transparency.py): the operator, the
    # service hotline, the ICP filing number (ICP备案号), the public security filing number (公安联网备案号),
    # and where to ask for corrections of register data or personal information.
    operator: str = ""
    service_hotline: str = ""
    icp_number: str = ""
    psb_number: str = ""
    corrections_contact: str = ""
    # Alipay (支付宝) open platform, RSA2 keys (shop/payments/alipay.py); enabled when all but the gateway are set.
    alipay_app_id: str = ""
    alipay_private_key_file: str = ""
    alipay_public_key_file: str = ""
    alipay_seller_id: str = ""
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    # WeChat Pay API v3 in public-key mode (shop/payments/wechatpay.py); enabled when all but the gateway are set.
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_cert_serial: str = ""
    wechatpay_private_key_file: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key_file: str = ""
    wechatpay_public_key_id: str = ""
    wechatpay_gateway: str = "https://api.mch.weixin.qq.com"
    # JSAPI inside WeChat needs the payer's openid, from the official account's OAuth (its AppSecret).
    wechatpay_app_secret: str = ""
    wechat_oauth_base: str = "https://open.weixin.qq.com"
    wechat_api_base: str = "https://api.weixin.qq.com"
    # Back-office sessions end after this long without a request, and this long after sign-in whatever happens.
    admin_idle_minutes: int = 30
    admin_session_hours: int = 12
    # Mail to buyers (the customer-service desk resends order links): an SMTP server; without one, outside
    # production, messages only go to the log (linpiao/notify.py).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_security: str = "starttls"  # starttls | ssl | none
    # `linpiao serve` runs a job worker inside each server process unless told not to (`--no-worker`).
    in_process_worker: bool = True
    # Redis for what every app server must share besides the database: the rate limits (kernel/ratelimit.py).
    # Empty: each process counts in its own memory (one machine). redis://, rediss:// or unix:// URLs.
    redis_url: str = ""
    # Prefixes every key this deployment writes in Redis (several deployments, or tests, may share one Redis).
    redis_prefix: str = "linpiao"
    # The master key of resident ID numbers at rest (registry/idcrypt.py): 32 random bytes, base64. Empty: the
    # public development key (demo, tests), which production reports loudly at every start.
    id_key: str = ""

    @property
    def id_key_bytes(self) -> bytes | None:
        """The identity master key, ``None`` for the development key; a malformed key is a SettingsError."""
        return parse_id_key(self.id_key) if self.id_key else None

    @property
    def s3(self) -> S3Config | None:
        """The bucket of stored files when ``s3_bucket`` is set; ``None``: the folder ``data_dir``
        (:func:`registry.storage.storage_of` opens either)."""
        if not self.s3_bucket:
            return None
        return S3Config(
            bucket=self.s3_bucket,
            endpoint=self.s3_endpoint,
            access_key=self.s3_access_key,
            secret_key=self.s3_secret_key,
            region=self.s3_region,
            prefix=self.s3_prefix,
            addressing_style=self.s3_addressing_style,
        )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def alipay_enabled(self) -> bool:
        return bool(self.alipay_app_id and self.alipay_private_key_file and self.alipay_public_key_file)

    @property
    def wechatpay_enabled(self) -> bool:
        return all(getattr(self, name) for name in _WECHATPAY_REQUIRED)

    def _configured(self, provider: str) -> bool:
        return {
            ALIPAY: self.alipay_enabled,
            WECHAT_PAY: self.wechatpay_enabled,
            STRIPE: bool(self.stripe_secret_key),
            DEMO: True,
        }.get(provider, False)

    def payment_providers(self) -> tuple[str, ...]:
        """The one choice of payment providers: ``LINPIAO_PAYMENT_PROVIDERS`` when set, else every provider whose
        settings are all set (Alipay, WeChat Pay, Stripe), else the demo provider."""
        if self.providers:
            return self.providers
        return tuple(p for p in (ALIPAY, WECHAT_PAY, STRIPE) if self._configured(p)) or (DEMO,)

    @property
    def demo_payments(self) -> bool:
        """The demo payment provider runs (when no real provider is configured, or when chosen); every page then
        says so."""
        return DEMO in self.payment_providers()

    def card_provider(self) -> str:
        """Who takes the card: Stripe when it is on, else the demo provider."""
        return STRIPE if STRIPE in self.payment_providers() else DEMO

    def payment_methods(self) -> list[str]:
        """Methods this shop takes, in the order offered: Alipay, WeChat Pay, then the card (Stripe, or the demo
        provider)."""
        on = self.payment_providers()
        methods = [m for m in (ALIPAY, WECHAT_PAY) if m in on]
        if STRIPE in on or DEMO in on:
            methods.append(CARD)
        return methods

    def method_minimum_fen(self, method: str) -> int:
        """The smallest order ``method`` takes: Stripe's settlement minimum (``min_order_fen``) for the card, ¥0.01
        for Alipay and WeChat Pay."""
        return self.min_order_fen if method == CARD else DIRECT_MINIMUM_FEN

    def smallest_order_fen(self) -> int:
        """The shop's minimum order: the smallest any enabled method takes — one ticket when Alipay or WeChat Pay
        is on, ``min_order_fen`` when the card is the only method (the payment page then offers only the methods
        that take the order's amount)."""
        return min((self.method_minimum_fen(m) for m in self.payment_methods()), default=self.min_order_fen)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse configurations that must never serve real users."""
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(f"LINPIAO_TRUSTED_PROXIES: {proxy!r} is not an address or network") from None
        if self.smtp_security not in ("starttls", "ssl", "none"):
            raise SettingsError("LINPIAO_SMTP_SECURITY must be starttls, ssl or none")
        if self.smtp_host and "@" not in self.smtp_from:
            raise SettingsError("LINPIAO_SMTP_FROM must be the sender's e-mail address when LINPIAO_SMTP_HOST is set")
        if self.s3_addressing_style not in ("auto", "path", "virtual"):
            raise SettingsError("LINPIAO_S3_ADDRESSING_STYLE must be auto, path or virtual")
        if bool(self.s3_access_key) != bool(self.s3_secret_key):
            raise SettingsError("LINPIAO_S3_ACCESS_KEY and LINPIAO_S3_SECRET_KEY are set together (or neither)")
        if (self.s3_endpoint or self.s3_access_key) and not self.s3_bucket:
            raise SettingsError("LINPIAO_S3_BUCKET is needed when object storage is configured")
        self.id_key_bytes  # noqa: B018 -- a malformed LINPIAO_ID_KEY stops the start
        if self.production and not self.id_key:
            log.warning(
                "LINPIAO_ID_KEY is not set: resident ID numbers are encrypted with the PUBLIC DEVELOPMENT KEY, which "
                "protects nothing. Set LINPIAO_ID_KEY (`linpiao id-key` makes one) before collecting real ID numbers."
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("LINPIAO_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if self.admin_idle_minutes < 1 or self.admin_session_hours < 1:
            raise SettingsError("LINPIAO_ADMIN_IDLE_MINUTES and LINPIAO_ADMIN_SESSION_HOURS must be at least 1")
        if not 1 <= self.order_share_percent <= 100:
            raise SettingsError("LINPIAO_ORDER_SHARE_PERCENT must be 1 to 100")
        limits = (self.order_floor_units, self.max_pending_orders, self.max_pending_units, self.large_order_units)
        if min(*limits, self.large_order_reservation_minutes) < 1:
            raise SettingsError(
                "LINPIAO_ORDER_FLOOR_UNITS, LINPIAO_MAX_PENDING_ORDERS, LINPIAO_MAX_PENDING_UNITS, "
                "LINPIAO_LARGE_ORDER_UNITS and LINPIAO_LARGE_ORDER_RESERVATION_MINUTES must be at least 1"
            )
        self._check_direct_providers()
        self._check_provider_choice()
        if self.production:
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise SettingsError("LINPIAO_SECRET_KEY must be set to a long random value in production")
            if self.demo_payments:
                raise SettingsError(
                    "production needs a real payment provider (LINPIAO_STRIPE_SECRET_KEY, LINPIAO_ALIPAY_* or "
                    "LINPIAO_WECHATPAY_*)"
                )

    def _check_provider_choice(self) -> None:
        """``LINPIAO_PAYMENT_PROVIDERS`` names known providers, each fully configured, and one card provider."""
        unknown = [p for p in self.providers if p not in PROVIDERS]
        if unknown:
            raise SettingsError(
                f"LINPIAO_PAYMENT_PROVIDERS: unknown provider(s) {', '.join(unknown)} (known: {', '.join(PROVIDERS)})"
            )
        unready = [p for p in self.providers if not self._configured(p)]
        if unready:
            raise SettingsError(f"LINPIAO_PAYMENT_PROVIDERS names {', '.join(unready)}, whose settings are not all set")
        if STRIPE in self.providers and DEMO in self.providers:
            raise SettingsError("LINPIAO_PAYMENT_PROVIDERS: stripe and demo both take the card; choose one")

    def _check_direct_providers(self) -> None:
        """A half-configured Alipay or WeChat Pay is a mistake to report at start-up, not at the first payment."""
        alipay = {
            "LINPIAO_ALIPAY_APP_ID": self.alipay_app_id,
            "LINPIAO_ALIPAY_PRIVATE_KEY_FILE": self.alipay_private_key_file,
            "LINPIAO_ALIPAY_PUBLIC_KEY_FILE": self.alipay_public_key_file,
        }
        wechat = {f"LINPIAO_{name.upper()}": getattr(self, name) for name in _WECHATPAY_REQUIRED}
        for group in (alipay, wechat):
            missing = [name for name, value in group.items() if not value]
            if missing and len(missing) < len(group):
                raise SettingsError("incomplete payment settings, missing: " + ", ".join(missing))
        for name, path in (
            ("LINPIAO_ALIPAY_PRIVATE_KEY_FILE", self.alipay_private_key_file),
            ("LINPIAO_ALIPAY_PUBLIC_KEY_FILE", self.alipay_public_key_file),
            ("LINPIAO_WECHATPAY_PRIVATE_KEY_FILE", self.wechatpay_private_key_file),
            ("LINPIAO_WECHATPAY_PUBLIC_KEY_FILE", self.wechatpay_public_key_file),
        ):
            if path and not Path(path).is_file():
                raise SettingsError(f"{name}: no such file {path!r}")
        if self.wechatpay_apiv3_key and len(self.wechatpay_apiv3_key.encode()) != 32:
            raise SettingsError("LINPIAO_WECHATPAY_APIV3_KEY must be the 32-character APIv3 key")


_WECHATPAY_REQUIRED = (
    "wechatpay_mchid",
    "wechatpay_appid",
    "wechatpay_cert_serial",
    "wechatpay_private_key_file",
    "wechatpay_apiv3_key",
    "wechatpay_public_key_file",
    "wechatpay_public_key_id",
)


def _database_url(url: str) -> str:
    # Tortoise spells PostgreSQL as postgres://; accept the common postgresql:// too.
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def load_settings(environ: dict[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Read settings from the environment; a ``.env`` file fills in what the environment lacks,
    except in production, where only the real environment counts."""
    env = dict(os.environ if environ is None else environ)
    if env.get("LINPIAO_ENV", "development") != "production" and Path(env_file).is_file():
        for key, value in dotenv_values(env_file).items():
            if value is not None:
                env.setdefault(key, value)

    def get(name: str, default: str) -> str:
        return env.get(f"LINPIAO_{name}", default)

    defaults = Settings()
    return Settings(
        database_url=_database_url(get("DATABASE_URL", defaults.database_url)),
        secret_key=get("SECRET_KEY", defaults.secret_key),
        base_url=get("BASE_URL", defaults.base_url).rstrip("/"),
        env=get("ENV", defaults.env),
        stripe_secret_key=get("STRIPE_SECRET_KEY", ""),
        stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET", ""),
        stripe_api_base=get("STRIPE_API_BASE", defaults.stripe_api_base),
        providers=tuple(dict.fromkeys(p.strip().lower() for p in get("PAYMENT_PROVIDERS", "").split(",") if p.strip())),
        min_order_fen=int(get("MIN_ORDER_FEN", str(defaults.min_order_fen))),
        max_order_units=int(get("MAX_ORDER_UNITS", str(defaults.max_order_units))),
        reservation_minutes=int(get("RESERVATION_MINUTES", str(defaults.reservation_minutes))),
        order_share_percent=int(get("ORDER_SHARE_PERCENT", str(defaults.order_share_percent))),
        order_floor_units=int(get("ORDER_FLOOR_UNITS", str(defaults.order_floor_units))),
        max_pending_orders=int(get("MAX_PENDING_ORDERS", str(defaults.max_pending_orders))),
        max_pending_units=int(get("MAX_PENDING_UNITS", str(defaults.max_pending_units))),
        large_order_units=int(get("LARGE_ORDER_UNITS", str(defaults.large_order_units))),
        large_order_reservation_minutes=int(
            get("LARGE_ORDER_RESERVATION_MINUTES", str(defaults.large_order_reservation_minutes))
        ),
        data_dir=Path(get("DATA_DIR", str(defaults.data_dir))),
        s3_bucket=get("S3_BUCKET", "").strip(),
        s3_endpoint=get("S3_ENDPOINT", "").strip(),
        s3_access_key=get("S3_ACCESS_KEY", "").strip(),
        s3_secret_key=get("S3_SECRET_KEY", "").strip(),
        s3_region=get("S3_REGION", "").strip(),
        s3_prefix=get("S3_PREFIX", "").strip(),
        s3_addressing_style=get("S3_ADDRESSING_STYLE", defaults.s3_addressing_style).strip().lower(),
        trusted_proxies=tuple(p.strip() for p in get("TRUSTED_PROXIES", "").split(",") if p.strip()),
        alipay_app_id=get("ALIPAY_APP_ID", ""),
        alipay_private_key_file=get("ALIPAY_PRIVATE_KEY_FILE", ""),
        alipay_public_key_file=get("ALIPAY_PUBLIC_KEY_FILE", ""),
        alipay_seller_id=get("ALIPAY_SELLER_ID", ""),
        alipay_gateway=get("ALIPAY_GATEWAY", defaults.alipay_gateway),
        wechatpay_mchid=get("WECHATPAY_MCHID", ""),
        wechatpay_appid=get("WECHATPAY_APPID", ""),
        wechatpay_cert_serial=get("WECHATPAY_CERT_SERIAL", ""),
        wechatpay_private_key_file=get("WECHATPAY_PRIVATE_KEY_FILE", ""),
        wechatpay_apiv3_key=get("WECHATPAY_APIV3_KEY", ""),
        wechatpay_public_key_file=get("WECHATPAY_PUBLIC_KEY_FILE", ""),
        wechatpay_public_key_id=get("WECHATPAY_PUBLIC_KEY_ID", ""),
        wechatpay_gateway=get("WECHATPAY_GATEWAY", defaults.wechatpay_gateway).rstrip("/"),
        wechatpay_app_secret=get("WECHATPAY_APP_SECRET", ""),
        wechat_oauth_base=get("WECHAT_OAUTH_BASE", defaults.wechat_oauth_base).rstrip("/"),
        wechat_api_base=get("WECHAT_API_BASE", defaults.wechat_api_base).rstrip("/"),
        operator=get("OPERATOR", "").strip(),
        service_hotline=get("SERVICE_HOTLINE", "").strip(),
        icp_number=get("ICP_NUMBER", "").strip(),
        psb_number=get("PSB_NUMBER", "").strip(),
        corrections_contact=get("CORRECTIONS_CONTACT", "").strip(),
        admin_idle_minutes=int(get("ADMIN_IDLE_MINUTES", str(defaults.admin_idle_minutes))),
        admin_session_hours=int(get("ADMIN_SESSION_HOURS", str(defaults.admin_session_hours))),
        smtp_host=get("SMTP_HOST", ""),
        smtp_port=int(get("SMTP_PORT", str(defaults.smtp_port))),
        smtp_username=get("SMTP_USERNAME", ""),
        smtp_password=get("SMTP_PASSWORD", ""),
        smtp_from=get("SMTP_FROM", ""),
        smtp_security=get("SMTP_SECURITY", defaults.smtp_security),
        redis_url=get("REDIS_URL", "").strip(),
        redis_prefix=get("REDIS_PREFIX", defaults.redis_prefix).strip() or defaults.redis_prefix,
        in_process_worker=get("IN_PROCESS_WORKER", "1").strip().lower() not in ("0", "false", "no", "off"),
        id_key=get("ID_KEY", "").strip(),
    )
