"""The composition root: one Starlette application serving the shop, the back-office and certificates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin.routes import routes as admin_routes
from certificates.routes import routes as certificate_routes
from kernel import i18n
from kernel.proxy import ProxyHeadersMiddleware
from kernel.security import SecurityHeadersMiddleware
from kernel.settings import Settings, load_settings
from linpiao import jobqueue
from linpiao.bodylimit import BodyLimitMiddleware
from linpiao.db import close_db, init_db
from linpiao.errors import exception_handlers
from linpiao.inputs import InputGuard
from linpiao.notify import notifier_for
from planting.admin import routes as planting_admin_routes
from planting.shop.pages import routes as planting_routes
from registry import idcrypt, sealing
from shop.bills import ProviderBills
from shop.payments.methods import payment_form_targets
from shop.routes import routes as shop_routes
from shop.service_desk import ProviderRefunds
from shop.transparency import routes as public_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# the back-office under /admin: its own routes and planting's page (planting/admin), each naming its permission
back_office_routes: list[BaseRoute] = [*admin_routes, *planting_admin_routes]


async def switch_language(request: Request) -> Response:
    """``/lang/en?next=/buy``: remember the language and go back where the user was."""
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    locale = i18n.normalise_locale(request.path_params["code"]) or i18n.DEFAULT_LOCALE
    response.set_cookie(i18n.COOKIE, locale, max_age=31536000, samesite="lax")
    return response


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    """Build the application. ``manage_db=False`` leaves the ORM to the caller (tests own it)."""
    settings = settings or load_settings()
    settings.check()
    idcrypt.configure(settings.id_key_bytes)  # resident ID numbers at rest (registry/idcrypt.py)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = None
        if manage_db:
            await init_db(settings.database_url)
            await sealing.check_key()  # a wrong LINPIAO_ID_KEY stops here, not at the first look-up that finds nothing
            # the job engine (procrastinate on PostgreSQL, the job table on SQLite) and this process's worker
            runtime = await jobqueue.start(settings, worker=settings.in_process_worker)
        try:
            yield
        finally:
            if runtime is not None:
                await runtime.stop()
            if manage_db:
                await close_db()

    routes: list[BaseRoute] = [
        Route("/healthz", health),
        Route("/lang/{code}", switch_language),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        Mount("/admin", routes=back_office_routes, name="admin"),
        *certificate_routes,
        *shop_routes,
        *planting_routes,  # the tree-planting duty's pages (they register its order purpose)
        *public_routes,  # /impact, /retirements, /forests, trust pages, open data and register digests
    ]
    app = Starlette(
        routes=routes,
        middleware=[  # outermost first: the real client address, then headers on every answer (a 413 too)
            Middleware(ProxyHeadersMiddleware, trusted=settings.trusted_proxies),
            Middleware(SecurityHeadersMiddleware, https=settings.https, form_targets=payment_form_targets(settings)),
            Middleware(i18n.LocaleMiddleware),
            Middleware(InputGuard),  # a NUL byte in the path or query: 400 before any route
            Middleware(BodyLimitMiddleware),
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    # what the back-office's customer-service desk needs from the outside (registry.service_desk): the shop's
    # refunds through the payment providers, and mail/SMS to buyers
    app.state.refund_desk = ProviderRefunds(settings)
    app.state.messenger = notifier_for(settings)
    # finance's reconciliation page (registry.reconciliation): the providers' bills against the register
    app.state.bill_reader = ProviderBills(settings)
    return app
