"""The tree-planting duty's back-office page: the per-year conversion (forestry sets it), mounted under ``/admin``
beside the back-office's own routes by ``linpiao/app.py``, each route naming the permission it needs."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admin.permissions import Perm
from admin.routes import get, post
from planting.admin import views

routes: list[BaseRoute] = [
    get("/planting", Perm.PLANTING_VIEW, views.rule_list),
    post("/planting", Perm.PLANTING_RULE, views.rule_set),
]
