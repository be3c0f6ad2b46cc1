"""Languages: Chinese (zh_CN) is the default and the language of the source strings; English is second.

Catalogs are Babel ``.po`` files under ``<package>/locale/<locale>/LC_MESSAGES/*.po``; they are compiled in memory
on first use, so no binary ``.mo`` file is committed. The current locale lives in a context variable set by
:class:`LocaleMiddleware` for each request: a ``?lang=`` query sets a cookie that sticks.

Each package is its own translation domain (:func:`domain`): the shop's code and templates read the shop's catalog
first, then the shared kernel's (``kernel``) and the register's (``registry``: its refusals' messages), so a phrase
the back-office words differently (订单 "Orders") never overrides the shop's (订单 "Order"). Each package binds its
``gettext`` once (``shop/i18n.py``, ``admin/i18n.py``, ``certificates/i18n.py``); templates read the domain of the
package that owns them (:mod:`kernel.templating`). ``gettext`` here is the shared kernel's own.
"""

from __future__ import annotations

import gettext as gettext_module
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from http.cookies import SimpleCookie
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LOCALE = "zh_CN"
COOKIE = "lang"
LOCALE_DIR = Path(__file__).parent / "locale"
_ALIASES = {"zh": "zh_CN", "zh-cn": "zh_CN", "zh_cn": "zh_CN", "en": "en", "en-us": "en", "en_us": "en"}

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)


def normalise_locale(value: str | None) -> str | None:
    if not value:
        return None
    return _ALIASES.get(value.strip().lower())


PACKAGES_DIR = LOCALE_DIR.parent.parent
SHARED_DOMAINS = ("kernel", "registry")  # every domain falls back on these, in this order


def _catalog(package: str, locale: str) -> Translations | None:
    """One package's catalogs under ``locale`` (several ``.po`` files), compiled in memory and merged."""
    merged: Translations | None = None
    for po_path in sorted((PACKAGES_DIR / package / "locale" / locale / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer, domain=package)
        merged = part if merged is None else merged.merge(part)
    return merged


def lookup_order(domain: str) -> tuple[str, ...]:
    """The packages whose catalogs a look-up in ``domain`` reads, first match wins: its own, then the shared. A
    package's pages that stand in another package's face (``"planting.shop"``: planting's shop pages, which extend
    the shop's layout) read the package's catalog, then the face's, then the shared."""
    own = tuple(domain.split("."))
    return (*own, *(shared for shared in SHARED_DOMAINS if shared not in own))


@cache
def translations(locale: str, domain: str = "kernel") -> gettext_module.NullTranslations:
    """The catalog a look-up in ``domain`` reads: the package's own entries over the shared ones'."""
    merged: Translations | None = None
    for package in reversed(lookup_order(domain)):  # merged last wins: the package's own catalog goes on top
        part = _catalog(package, locale)
        if part is not None:
            merged = part if merged is None else merged.merge(part)
    return merged or gettext_module.NullTranslations()


@dataclass(frozen=True)
class Domain:
    """The look-ups of one package, in the current request's locale."""

    name: str

    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(current_locale.get(), self.name).gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = translations(current_locale.get(), self.name).ngettext(singular, plural, n)
        variables.setdefault("num", n)
        return text % variables


@cache
def domain(package: str) -> Domain:
    """The translation domain of ``package`` (``"shop"``, ``"admin"``, …); a package without catalogs of its own
    reads the shared ones only."""
    return Domain(package)


def domain_of(module: str) -> Domain:
    """The domain of the package a dotted module name belongs to (``"shop.errors"`` → the shop's)."""
    return domain(module.partition(".")[0])


_shared = domain("kernel")
gettext = _shared.gettext
ngettext = _shared.ngettext
_ = gettext


def html_lang(locale: str) -> str:
    return "zh-CN" if locale == "zh_CN" else locale


# --- numbers ----------------------------------------------------------------------------------------------
# Babel formats every number a page shows, in the page's language; values are rounded half up (as the
# calculator rounds) before Babel sees them, so its default half-even rounding never decides a digit.

_BABEL_LOCALES = {"zh_CN": "zh_Hans_CN", "en": "en"}
TONNE_FROM_KG = Decimal(1000)


def format_number(value: Decimal | int | None, places: int = 0) -> str:
    """``1234567.891`` → ``1,234,567.89`` (places=2): thousands separators, at most ``places`` decimals,
    trailing zeros dropped (an area of ``150.0000`` 亩 is ``150``); nothing for ``None``."""
    if value is None:
        return ""
    number = Decimal(value)
    if places:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    else:
        number = number.to_integral_value(rounding=ROUND_HALF_UP)
    pattern = "#,##0." + "#" * places if places else "#,##0"
    return format_decimal(number, format=pattern, locale=_BABEL_LOCALES.get(current_locale.get(), "en"))


@dataclass(frozen=True)
class Quantity:
    """A formatted amount and its unit, apart so a page can set the number in bold."""

    number: str
    unit: str

    def __str__(self) -> str:
        return f"{self.number} {self.unit}"


def format_mass(kg: Decimal | int, *, short: bool = False) -> Quantity:
    """A mass of CO2e as a reader wants it. *Decision*: under 1,000 kg in kilograms with up to two decimals
    (``409.91 千克``); from 1,000 kg on in tonnes, with two decimals under 10 t (``1.23 吨``) and one from 10 t on
    (``200,105.6 kg`` → ``200.1 吨``), so a figure always keeps three significant digits. The exact kilograms stay
    in the calculator's working. ``short``: ``千克``/``吨`` without ``二氧化碳当量``."""
    value = Decimal(kg)
    if abs(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) < TONNE_FROM_KG:
        return Quantity(format_number(value, 2), gettext("千克") if short else gettext("千克二氧化碳当量"))
    tonnes = value / TONNE_FROM_KG
    number = format_number(tonnes, 2 if abs(tonnes) < 10 else 1)
    return Quantity(number, gettext("吨") if short else gettext("吨二氧化碳当量"))


class LocaleMiddleware:
    """Choose the locale per request: ``?lang=`` (and remember it in a cookie), else the cookie, else zh_CN."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        chosen = normalise_locale((query.get("lang") or [None])[0])
        cookie_locale = None
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # noqa: S112 - a malformed cookie header is not the user's fault
                    continue
                if COOKIE in jar:
                    cookie_locale = normalise_locale(jar[COOKIE].value)
        locale = chosen or cookie_locale or DEFAULT_LOCALE
        scope.setdefault("state", {})["locale"] = locale
        token = current_locale.set(locale)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and chosen and chosen != cookie_locale:
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            current_locale.reset(token)
