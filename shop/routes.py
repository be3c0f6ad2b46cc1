"""Routes of the public shop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from linpiao.templating import render


async def home(request: Request) -> Response:
    return render(request, "shop/home.html")


routes: list[BaseRoute] = [Route("/", home, name="home")]
