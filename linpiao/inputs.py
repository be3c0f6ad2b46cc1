"""Input at the edge: what a request carries becomes a typed value here, or one clear 4xx error.

Every face (the JSON API, the shop's forms, the back-office, certificate look-ups) parses through these
functions, so a value the database or the arithmetic cannot hold never gets past the handler that received it:

* ids are whole numbers from 1 to 2^31 - 1 (a PostgreSQL ``integer``; SQLite overflows at 2^63);
* dates lie between :data:`MIN_DATE` and :data:`MAX_DATE` (a day later than 9999-12-31 does not exist);
* text is a ``str`` with no control characters (PostgreSQL refuses NUL) and no lone surrogates (no encoding
  can store them);
* JSON bodies are objects nested at most :data:`MAX_JSON_DEPTH` deep (the parser recurses);
* a request whose path or query string holds a NUL byte is refused by :class:`InputGuard` before any route.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from datetime import date
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.errors import RegisterError
from registry.names import visible_text

MAX_ID = 2**31 - 1
MAX_JSON_DEPTH = 32
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)
MAX_PAGE = 100_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidInput(RegisterError):
    code = "invalid_input"
    message = "请求参数无效"


class InvalidJSON(InvalidInput):
    code = "invalid_json"
    message = "请求体必须是JSON对象"


def _depth(body: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in body:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_object(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A JSON request body as a ``dict``; anything else (not JSON, not an object, nested too deep) is
    :class:`InvalidJSON`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON() from exc
    if _depth(text) > max_depth:
        raise InvalidJSON("nested too deep")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON() from exc
    if not isinstance(data, dict):
        raise InvalidJSON()
    return data


def text(
    value: Any,
    *,
    limit: int,
    required: bool = False,
    error: type[RegisterError] = InvalidInput,
    one_line: bool = True,
    strict: bool = False,
    printed: bool = False,
) -> str:
    """A string a person typed: control characters dropped, spaces collapsed (``one_line``), at most ``limit``
    characters. Not a string, a lone surrogate, empty when ``required``, or too long → ``error``.

    ``strict`` (the JSON API, whose document states the rule): ``None`` is refused, a control character is
    refused rather than dropped, and the limit counts the characters as sent.

    ``printed`` (a name printed on a certificate): bidi controls and zero-width characters are removed too, and
    as :func:`registry.names.visible_text` does; the name keeps its own characters (no NFKC folding)."""
    if value is None and not strict:
        value = ""
    if not isinstance(value, str) or _SURROGATE.search(value):
        raise error()
    if strict and (_CONTROL.search(value) or len(value) > limit):
        raise error()
    cleaned = _CONTROL.sub("", value)
    cleaned = " ".join(cleaned.split()) if one_line else cleaned.strip()
    if printed:
        cleaned = visible_text(cleaned)
    if (required and not cleaned) or len(cleaned) > limit:
        raise error()
    return cleaned


def clean(value: str) -> str:
    """A form field with what no database column can hold removed: NUL and other control characters (tabs and
    line breaks stay) and lone surrogates."""
    return _SURROGATE.sub("", _CONTROL.sub("", value))


def form_fields(form: Any) -> dict[str, str]:
    """The text fields of a submitted form, each :func:`clean` (uploaded files are left out)."""
    return {str(k): clean(v) for k, v in form.items() if isinstance(v, str)}


def choice(value: Any, choices: Container[str], *, error: type[RegisterError] = InvalidInput) -> str:
    """One of ``choices``; a value of another type (a list, an object, null) is ``error``, never a TypeError."""
    if not isinstance(value, str) or value not in choices:
        raise error()
    return value


def whole_number(value: Any) -> int | None:
    """A whole number from 0 to :data:`MAX_ID` (ASCII digits, surrounding spaces allowed), or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        stripped = str(value).strip()
        if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 10:
            return None
        number = int(stripped)
    return number if 0 <= number <= MAX_ID else None


def record_id(value: Any) -> int | None:
    """An id from a path, query or form (1 to :data:`MAX_ID`), or ``None`` when it is malformed or out of the
    range a record id can have."""
    number = whole_number(value)
    return number if number else None


def day(value: str) -> date | None:
    """An ISO date (``YYYY-MM-DD``) between :data:`MIN_DATE` and :data:`MAX_DATE`, or ``None``."""
    try:
        parsed = date.fromisoformat(value.strip())
    except (ValueError, TypeError, AttributeError):
        return None
    return parsed if MIN_DATE <= parsed <= MAX_DATE else None


def page_number(value: str | None) -> int:
    """A page number from a query: 1 unless it is a whole number from 1 to :data:`MAX_PAGE`."""
    raw = (value or "").strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 6:
        return min(max(int(raw), 1), MAX_PAGE)
    return 1


class IdConvertor(Convertor[int]):
    """``{id:id}`` in a route: digits only, and a number past :data:`MAX_ID` becomes 0, which names no record,
    so the handler answers 404 instead of the database overflowing."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return record_id(value) or 0

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("id", IdConvertor())


class InputGuard:
    """Refuse (400) a request whose path or query string holds a NUL byte, before any route reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            from kernel.i18n import gettext as _
            from linpiao.errors import error_response

            request = Request(scope, receive)
            response = error_response(request, 400, InvalidInput.code, _(InvalidInput.message))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query = bytes(scope.get("query_string", b"")).lower()
    return "\x00" in str(scope.get("path", "")) or b"%00" in query or b"\x00" in query
