"""One settings object, read from ``LINPIAO_*`` environment variables (and a ``.env`` file in development)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_SECRET = "dev-insecure-secret-change-me"


class SettingsError(RuntimeError):
    """The configuration cannot be used (e.g. production with a default secret)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite://linpiao.db"
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    env: str = "development"
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    # The smallest order in fen: Stripe refuses charges under its settlement minimum (see PAYMENTS.md).
    min_order_fen: int = 500
    max_order_units: int = 1_000_000
    reservation_minutes: int = 30
    data_dir: Path = field(default_factory=lambda: Path("var"))
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; none by default.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def demo_payments(self) -> bool:
        """The demo payment provider runs when no Stripe key is set; every page then says so."""
        return not self.stripe_secret_key

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
        if self.production:
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise SettingsError("LINPIAO_SECRET_KEY must be set to a long random value in production")
            if not self.stripe_secret_key:
                raise SettingsError("production needs a real payment provider (LINPIAO_STRIPE_SECRET_KEY)")


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
        min_order_fen=int(get("MIN_ORDER_FEN", str(defaults.min_order_fen))),
        max_order_units=int(get("MAX_ORDER_UNITS", str(defaults.max_order_units))),
        reservation_minutes=int(get("RESERVATION_MINUTES", str(defaults.reservation_minutes))),
        data_dir=Path(get("DATA_DIR", str(defaults.data_dir))),
        trusted_proxies=tuple(p.strip() for p in get("TRUSTED_PROXIES", "").split(",") if p.strip()),
    )
