"""``/api/v1/docs``: a readable API reference rendered from the very document ``/api/v1/openapi.json`` serves,
with our own template and CSS (no CDN, no script): every path and method, its parameters, body, responses and
the shapes of the objects they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kernel.templating import render
from shop.openapi import narrow_payment_methods, openapi_document
from shop.payments.methods import enabled_methods
from shop.views import quota_view

METHODS = ("get", "post", "put", "patch", "delete")


def summary(schema: dict[str, Any]) -> str:
    """A schema in a few words: ``integer, 5 … 1000000``, ``string, one of: a | b``, ``Order``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema and "type" not in schema:
            return " | ".join(summary(part) for part in schema[combinator])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    words = [" | ".join(kind) if isinstance(kind, list) else str(kind)]
    if "enum" in schema:
        words.append("one of: " + " | ".join("null" if v is None else str(v) for v in schema["enum"]))
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        words.append(f"{'' if low is None else low} … {'' if high is None else high}")
    if "minLength" in schema or "maxLength" in schema:
        words.append(f"length {schema.get('minLength', 0)} … {schema.get('maxLength', '')}")
    if "maxItems" in schema:
        words.append(f"at most {schema['maxItems']} items")
    if "pattern" in schema:
        words.append(f"pattern {schema['pattern']}")
    if "format" in schema:
        words.append(str(schema["format"]))
    if kind == "array" and isinstance(schema.get("items"), dict):
        words.append("of " + summary(schema["items"]))
    if isinstance(schema.get("additionalProperties"), dict):
        words.append("values: " + summary(schema["additionalProperties"]))
    return ", ".join(words)


@dataclass
class Field:
    name: str
    shape: str
    required: bool
    description: str


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    parameters: list[Field] = field(default_factory=list)
    body: str = ""
    responses: list[tuple[str, str, str]] = field(default_factory=list)  # status, description, shape


def _fields(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", []))
    return [
        Field(name, summary(sub), name in required, str(sub.get("description", "")))
        for name, sub in schema.get("properties", {}).items()
    ]


def reference(document: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, in the document's order."""
    prefix = document["servers"][0]["url"].split("://", 1)[-1].split("/", 1)
    base = "/" + prefix[1] if len(prefix) > 1 else ""
    operations = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            anchor = f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}"
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            operations.append(
                Operation(
                    method=method.upper(),
                    path=base + path,
                    anchor=anchor,
                    summary=str(op.get("summary", "")),
                    description=str(op.get("description", "")),
                    parameters=[
                        Field(
                            f"{p['name']} ({p['in']})",
                            summary(p.get("schema", {})),
                            bool(p.get("required")),
                            str(p.get("description", "")),
                        )
                        for p in op.get("parameters", [])
                    ],
                    body=summary(body) if body else "",
                    responses=[
                        (
                            status,
                            str(r.get("description", "")),
                            summary(r.get("content", {}).get("application/json", {}).get("schema", {})),
                        )
                        for status, r in sorted(op.get("responses", {}).items())
                    ],
                )
            )
    schemas = {
        name: {"description": str(schema.get("description", "")), "fields": _fields(schema), "shape": summary(schema)}
        for name, schema in document["components"]["schemas"].items()
    }
    return {"info": document["info"], "base": base, "operations": operations, "schemas": schemas}


async def docs_page(request: Request) -> Response:
    settings = request.app.state.settings
    view = await quota_view(settings)
    document = openapi_document(
        settings.base_url, min_quantity=view.min_quantity, max_quantity=view.max_quantity, limits=view.limits
    )
    narrow_payment_methods(document, enabled_methods(settings), view.card_min_quantity)  # the methods taken here
    context = {"ref": reference(document), "active": "api", "quota": view}
    return render(request, "shop/api_docs.html", context)
