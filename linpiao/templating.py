"""One Jinja environment for every face: each package keeps its templates next to its routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from linpiao import i18n
from linpiao.money import format_yuan
from registry import clock


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("linpiao", "templates"),
                jinja2.PrefixLoader(
                    {
                        "shop": jinja2.PackageLoader("shop", "templates"),
                        "admin": jinja2.PackageLoader("admin", "templates"),
                        "certificates": jinja2.PackageLoader("certificates", "templates"),
                    }
                ),
            ]
        ),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
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
