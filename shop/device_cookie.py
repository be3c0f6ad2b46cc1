"""A short list kept on the visitor's device: a cookie signed with the site's secret (itsdangerous), so it cannot
be forged or altered, and read back as nothing when it is missing, tampered with, expired, oversized or not a list.
The calculator's basket (:mod:`shop.basket`) and "my orders" (:mod:`shop.my_orders`) are two such lists; each
checks the items it reads back itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from kernel.settings import Settings

MAX_CHARS = 3800  # of the signed value, leaving room for the cookie's name and attributes in the 4 KB browsers keep


@dataclass(frozen=True)
class DeviceList:
    cookie: str
    salt: str  # a signature made for one list never verifies for another
    max_age: int  # seconds

    def _serializer(self, settings: Settings) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(settings.secret_key, salt=self.salt)

    def read(self, request: Request, settings: Settings) -> list[Any]:
        raw = request.cookies.get(self.cookie)
        if not raw or len(raw) > MAX_CHARS:
            return []
        try:
            value = self._serializer(settings).loads(raw, max_age=self.max_age)
        except BadSignature:
            return []
        return value if isinstance(value, list) else []

    def fits(self, settings: Settings, items: list[Any]) -> bool:
        """Whether ``items`` fit one cookie (a browser drops an oversized one)."""
        return len(self._serializer(settings).dumps(items)) <= MAX_CHARS

    def write(self, response: Response, settings: Settings, items: list[Any]) -> None:
        """Keep ``items`` on the device; an empty list forgets the cookie."""
        attributes: dict[str, Any] = {"path": "/", "httponly": True, "samesite": "lax", "secure": settings.https}
        if not items:
            response.delete_cookie(self.cookie, **attributes)
            return
        response.set_cookie(self.cookie, self._serializer(settings).dumps(items), max_age=self.max_age, **attributes)
