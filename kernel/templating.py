"""One Jinja environment for every face: each package keeps its templates next to its routes.

A template's ``_()`` reads the translation domain of the package that owns it (the name's prefix: ``shop/…``,
``admin/…``, ``certificates/…``; the shared ``base.html``, ``error.html`` and their partials are the kernel's). A
page that extends the shared ``base.html`` renders the blocks it inherits in its own package's domain.

A package whose pages stand in those faces (planting: its shop pages and its back-office page) keeps their templates
in its own ``templates/`` folder, one folder per face (``planting/templates/shop/citizen.html`` is
``planting/shop/citizen.html``); they extend the face's layout and read the package's domain over the face's
(``planting.shop``: planting's catalog, then the shop's, then the shared ones).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jinja2
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from kernel import clock, i18n
from kernel.money import format_yuan

FACES = ("shop", "admin", "certificates")  # packages whose templates load under their name as a prefix
GUESTS = ("planting",)  # packages whose pages stand in the faces: ``planting/<face>/…``


class _PrefixLoader(jinja2.PrefixLoader):
    """Jinja's prefix loader, but a template keeps its full name (``shop/home.html``, not ``home.html``): the name
    is what tells :func:`_domain` whose template it is."""

    def load(
        self, environment: jinja2.Environment, name: str, globals: MutableMapping[str, Any] | None = None
    ) -> jinja2.Template:
        return jinja2.BaseLoader.load(self, environment, name, globals)


def _domain(context: Context) -> i18n.Domain:
    """The domain of the template being rendered: the prefix of its name, or the shared kernel's."""
    prefix, slash, rest = (context.name or "").partition("/")
    if slash and prefix in GUESTS:
        face = rest.partition("/")[0]
        return i18n.domain(f"{prefix}.{face}" if face in FACES else prefix)
    return i18n.domain(prefix if slash and prefix in FACES else "kernel")


@jinja2.pass_context
def _gettext(context: Context, message: str, **variables: Any) -> str:
    return _domain(context).gettext(message, **variables)


@jinja2.pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
    return _domain(context).ngettext(singular, plural, n, **variables)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("kernel", "templates"),
                _PrefixLoader(
                    {
                        **{face: jinja2.PackageLoader(face, "templates") for face in FACES},
                        **{guest: jinja2.FileSystemLoader(i18n.PACKAGES_DIR / guest / "templates") for guest in GUESTS},
                    }
                ),
            ]
        ),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.filters["yuan"] = format_yuan
    env.filters["datetime"] = _format_datetime
    env.filters["number"] = i18n.format_number  # {{ kg|number(2) }}: thousands separators, in the page's language
    env.filters["mass"] = i18n.format_mass  # {% set m = kg|mass %}{{ m.number }} {{ m.unit }}: kg or tonnes
    env.globals["html_lang"] = i18n.html_lang
    env.globals["lang_url"] = _lang_url
    return env


def _format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return clock.local(value).strftime("%Y-%m-%d %H:%M")


def _lang_url(request: Request, locale: str) -> str:
    params = dict(request.query_params)
    params["lang"] = locale
    return f"{request.url.path}?{urlencode(params)}"


templates = Jinja2Templates(env=_env())


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    settings = getattr(request.app.state, "settings", None)
    ctx = {
        "locale": request.scope.get("state", {}).get("locale", i18n.DEFAULT_LOCALE),
        "demo_payments": bool(settings and settings.demo_payments),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
