"""The OpenAPI 3.1 document of ``/api/v1``, written by hand; tests validate real responses against it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shop.calculator import MAX_COUNT, MAX_DAYS, MAX_KM, MAX_KWH, TRANSPORT_MODES, load_factors
from shop.limits import StatedLimits
from shop.openapi_public import public_paths, public_schemas
from shop.orders import MAX_CONTACT, MAX_NAME, PURPOSES

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

_DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}
MAX_ID = 2**31 - 1
DEFAULT_MIN_QUANTITY = 5  # ¥5 (LINPIAO_MIN_ORDER_FEN's default) at ¥1 a ticket
DEFAULT_MAX_QUANTITY = 1_000_000  # LINPIAO_MAX_ORDER_UNITS's default
# Text the API stores: no control characters (they are refused, not dropped); a required one has a visible character.
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_NO_NUL = r"^[^\x00]+$"  # a NUL byte anywhere in a path or query is a 400 (linpiao.inputs.InputGuard)
_VISIBLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


_LIMIT_FIELDS = {
    "max_quantity": "the most tickets one order may take now",
    "share_percent": "the per-order maximum is this share (%) of the tickets left (LINPIAO_ORDER_SHARE_PERCENT)",
    "floor_units": "but never less than this (LINPIAO_ORDER_FLOOR_UNITS)",
    "max_pending_orders": "unpaid orders one client (address) may keep at once (LINPIAO_MAX_PENDING_ORDERS)",
    "max_pending_units": "tickets one client's unpaid orders may hold together (LINPIAO_MAX_PENDING_UNITS)",
    "large_order_units": "an order this large or larger is held briefly (LINPIAO_LARGE_ORDER_UNITS)",
    "large_order_reservation_minutes": "how long a large order is held (LINPIAO_LARGE_ORDER_RESERVATION_MINUTES)",
    "reservation_minutes": "how long other orders are held (LINPIAO_RESERVATION_MINUTES, at least 30)",
}


def _dynamic_maximum(limits: StatedLimits | None) -> str:
    """The per-order maximum in words, with its value now when known."""
    now = f" (now {limits.order_maximum}, at {limits.share_percent} %, floor {limits.floor_units})" if limits else ""
    return (
        "Without an organisation API key one order may take at most LINPIAO_ORDER_SHARE_PERCENT % of the tickets "
        f"left in the quota on sale, never less than LINPIAO_ORDER_FLOOR_UNITS{now}: more is a 409 "
        "`above_order_limit` whose message states the maximum and what is left. One client's unpaid orders are "
        "capped in number and tickets: more is a 429 `pending_orders_limit` or `pending_units_limit`."
    )


def _amount(maximum: Decimal, *, integer: bool = False) -> dict[str, Any]:
    """A number from 0 to ``maximum`` (a power of ten): a JSON number, or a string of ASCII digits with an
    optional fraction (none for ``integer``) whose value is at most ``maximum``, exactly as the calculator
    parses it (:func:`shop.calculator._number`)."""
    top = int(maximum)
    digits = len(str(top)) - 1
    fraction = "" if integer else r"(\.[0-9]+)?"
    zeros = "" if integer else r"(\.0+)?"
    pattern = f"^0*([0-9]{{1,{digits}}}{fraction}|{top}{zeros})$"
    number = {"type": "integer" if integer else "number", "minimum": 0, "maximum": top}
    return {"oneOf": [number, {"type": "string", "pattern": pattern}]}


_KM = _amount(MAX_KM)
_KWH = _amount(MAX_KWH)
_PEOPLE = _amount(MAX_COUNT, integer=True)
_SHARE = _amount(Decimal(100))
_DAYS = {
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": int(MAX_DAYS)},
        {"type": "string", "pattern": r"^0*([0-9]{1,2}|[12][0-9]{2}|3[0-5][0-9]|36[0-5])$"},
    ]
}


_PAYMENT_CHOICE: dict[str, Any] = {
    "payment_method": {
        "type": "string",
        "enum": ["alipay", "wechat_pay", "card"],
        "description": (
            "how the payer pays; only the methods the shop takes are listed (GET /openapi.json). Without it the "
            "payer picks on the order's payment page (payment_url). The minimum order follows the method: one "
            "ticket with Alipay or WeChat Pay, LINPIAO_MIN_ORDER_FEN with the card (Stripe)"
        ),
    },
    "payment_channel": {
        "type": "string",
        "enum": ["page", "wap", "native", "jsapi"],
        "description": (
            "Alipay: `page` (desktop cashier with Alipay's QR, the default) or `wap` (phone); WeChat Pay: `native` "
            "(a QR code: show `payment.qr_content`, the default) or `jsapi` (inside WeChat, with `wechat_openid`)"
        ),
    },
    "wechat_openid": {
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]{1,128}$",
        "description": "the payer's openid for the official account (WeChat Pay `jsapi` only)",
    },
}
_PAYMENT = {
    "type": "object",
    "description": "the trade opened for the order, and what the client needs to let the payer pay it",
    "additionalProperties": False,
    "required": ["method", "channel", "url", "qr_content", "jsapi"],
    "properties": {
        "method": {"type": "string", "enum": ["alipay", "wechat_pay", "card"]},
        "channel": {"type": "string", "enum": ["", "page", "wap", "native", "h5", "jsapi"]},
        "url": {"type": "string", "description": "where to send the payer"},
        "qr_content": {"type": ["string", "null"], "description": "WeChat Pay Native: show this as a QR code"},
        "jsapi": {
            "oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"type": "string"}}],
            "description": "WeChat Pay JSAPI: pass to WeixinJSBridge.invoke('getBrandWCPayRequest', …)",
        },
    },
}


def narrow_payment_methods(document: dict[str, Any], methods: list[str], card_min_quantity: int = 0) -> dict[str, Any]:
    """The served document lists only the methods the shop takes (and their channels), and states the card's own
    minimum when it is above the shop's (an ``if``/``then`` on ``payment_method``)."""
    schema = document["components"]["schemas"]["OrderCreate"]
    properties = schema["properties"]
    properties["payment_method"] = {**properties["payment_method"], "enum": list(methods)}
    channels = [
        c for m, cs in (("alipay", ["page", "wap"]), ("wechat_pay", ["native", "jsapi"])) if m in methods for c in cs
    ]
    refused = {"not": {}, "description": "refused (400 `invalid_payment_method`): no method here takes it"}
    if channels:
        properties["payment_channel"] = {**properties["payment_channel"], "enum": channels}
    else:
        properties["payment_channel"] = refused
    if "jsapi" not in channels:
        properties["wechat_openid"] = refused
    rules: list[dict[str, Any]] = [
        {"if": _when("payment_channel", "page", "wap"), "then": _when("payment_method", "alipay")},
        {"if": _when("payment_channel", "native", "jsapi"), "then": _when("payment_method", "wechat_pay")},
        {"if": _when("payment_channel", "jsapi"), "then": {"required": ["wechat_openid"]}},
    ]
    if card_min_quantity and "card" in methods:
        rules.append(
            {
                "if": _when("payment_method", "card"),
                "then": {"properties": {"quantity": {"minimum": card_min_quantity}}},
            }
        )
    schema["allOf"] = rules
    schema["dependentRequired"] = {"payment_channel": ["payment_method"], "wechat_openid": ["payment_channel"]}
    return document


def _when(name: str, *values: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"enum": list(values)}}}


def _schemas(min_quantity: int, max_quantity: int, limits: StatedLimits | None = None) -> dict[str, Any]:
    regions = sorted(load_factors().electricity)
    cities = sorted(load_factors().distances)
    modes = list(TRANSPORT_MODES)
    return {
        "Error": _ERROR,
        "OrderCreate": {
            "type": "object",
            "required": ["quantity", "purpose", "certificate_name"],
            "properties": {
                "quantity": {
                    "type": "integer",
                    "minimum": min_quantity,
                    "maximum": max_quantity,
                    "description": (
                        f"whole tickets, from {min_quantity} (the shop's minimum order, LINPIAO_MIN_ORDER_FEN, at "
                        f"the quota's price: payment providers refuse smaller amounts) to {max_quantity} "
                        "(LINPIAO_MAX_ORDER_UNITS); GET /quota tells both. More than the quota has left is a 409. "
                        + _dynamic_maximum(limits)
                    ),
                    **({"x-current-maximum": limits.order_maximum} if limits else {}),
                },
                "purpose": {"type": "string", "enum": list(PURPOSES)},
                "certificate_name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_NAME,
                    "pattern": _VISIBLE,
                    "description": "printed on the certificate as sent (spaces collapsed); no control characters",
                },
                "contact": {"type": "string", "maxLength": MAX_CONTACT, "pattern": _NO_CONTROL},
                "buyer_kind": {"type": "string", "enum": ["individual", "enterprise"], "default": "individual"},
                **_PAYMENT_CHOICE,
            },
        },
        "Payment": _PAYMENT,
        "Certificate": {
            "type": "object",
            "required": ["code", "status", "pdf_url", "verify_url"],
            "properties": {
                "code": {"type": "string"},
                "status": {"type": "string", "enum": ["valid", "reissued", "revoked", "refunded"]},
                "pdf_url": {"type": "string"},
                "verify_url": {"type": "string"},
            },
        },
        "Order": {
            "type": "object",
            "required": [
                "id",
                "token",
                "status",
                "quantity",
                "amount_fen",
                "currency",
                "purpose",
                "certificate_name",
                "contact",
                "kg_co2e",
                "expires_at",
                "payment_url",
                "payment_method",
                "payment",
                "order_url",
                "receipt_url",
                "serial_ranges",
                "certificate",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer"},
                "token": {"type": "string", "description": "private: needed to read the order"},
                "status": {
                    "type": "string",
                    "enum": ["pending", "paid", "fulfilled", "expired", "failed", "cancelled", "refunded"],
                },
                "quantity": {"type": "integer", "minimum": 1},
                "amount_fen": {"type": "integer", "minimum": 1, "description": "CNY fen (1 yuan = 100 fen)"},
                "currency": {"const": "CNY"},
                "purpose": {"type": "string", "enum": list(PURPOSES)},
                "certificate_name": {"type": "string"},
                "contact": {"type": "string"},
                "kg_co2e": {"type": "integer"},
                "expires_at": {"type": "string", "format": "date-time"},
                "payment_url": {
                    "type": ["string", "null"],
                    "description": "where to send the payer: the provider's page, or our payment page (choice, QR)",
                },
                "payment_method": {"type": ["string", "null"], "enum": ["alipay", "wechat_pay", "card", None]},
                "payment": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Payment"}]},
                "order_url": {"type": "string"},
                "receipt_url": {
                    "type": ["string", "null"],
                    "description": "the payment receipt (收款凭证, PDF; `?lang=en` for English) once the money was "
                    "received, refunded orders included (stamped 已退款); null before. Not a fiscal bill: the fiscal "
                    "e-bill (财政电子票据) comes from the finance department",
                },
                "serial_ranges": {"type": "array", "items": {"type": "string"}},
                "certificate": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Certificate"}]},
            },
        },
        "CertificateVerification": {
            "type": "object",
            "description": "what a certificate's public verification shows; names of people are masked",
            "required": [
                "code",
                "status",
                "valid",
                "reason",
                "kind",
                "kind_label",
                "holder_name",
                "quantity",
                "serial_ranges",
                "date",
                "issuer",
                "verification_url",
            ],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$"},
                "status": {"type": "string", "enum": ["valid", "reissued", "revoked", "refunded"]},
                "valid": {"type": "boolean"},
                "reason": {"type": "string"},
                "kind": {
                    "type": "string",
                    "enum": ["carbon", "planting", "honour", "collective_holding", "state_holding"],
                },
                "kind_label": {"type": "string"},
                "holder_name": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 0, "description": "tickets this certificate carries"},
                "serial_ranges": {"type": "array", "items": {"type": "string"}},
                "date": {"type": "string", "format": "date"},
                "issuer": {"type": "string"},
                "verification_url": {"type": "string"},
                "kg_co2e": {"type": "string"},
                "purpose": {"type": "string"},
                "year": {"type": ["integer", "null"]},
                "trees": {"type": "string"},
                "batch": {"type": "string"},
                "location": {"type": "string"},
                "area_mu": {"type": "string"},
                "reissued_on": {"type": "string", "format": "date"},
            },
        },
        "CompensationCase": {
            "type": "object",
            "description": "a fulfilled ecological compensation case; the offender is never shown",
            "required": [
                "case_number",
                "offence",
                "offence_label",
                "deciding_body",
                "decided_on",
                "units",
                "area_m2",
                "area_mu",
                "ordered_area_m2",
                "batch",
                "serial_ranges",
                "retired_on",
                "register_seq",
                "verification_url",
            ],
            "additionalProperties": False,
            "properties": {
                "case_number": {"type": "string"},
                "offence": {
                    "type": "string",
                    "enum": ["fire", "illegal_logging", "tree_destruction", "illegal_occupation"],
                },
                "offence_label": {"type": "string"},
                "deciding_body": {"type": "string"},
                "decided_on": {"type": "string", "format": "date"},
                "units": {"type": "integer", "minimum": 1, "description": "state forest-land tickets retired"},
                "area_m2": {**_DECIMAL, "description": "forest area the retired tickets stand for, m²"},
                "area_mu": _DECIMAL,
                "ordered_area_m2": {"oneOf": [{"type": "null"}, _DECIMAL], "description": "when ordered by area"},
                "batch": {"type": "string"},
                "serial_ranges": {"type": "array", "items": {"type": "string"}},
                "retired_on": {"type": "string", "format": "date"},
                "register_seq": {"type": "integer"},
                "verification_url": {"type": "string"},
            },
        },
        "Quota": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "serial_prefix",
                "open",
                "price_fen",
                "currency",
                "kg_co2e_per_ticket",
                "units_total",
                "units_left",
                "units_sold_total",
                "kg_co2e_offset_total",
                "min_order_fen",
                "min_quantity",
                "max_quantity",
                "units_reserved",
                "order_limits",
            ],
            "properties": {
                "serial_prefix": {"type": ["string", "null"]},
                "open": {"type": "boolean"},
                "price_fen": {"type": "integer"},
                "currency": {"const": "CNY"},
                "kg_co2e_per_ticket": {"type": "integer"},
                "units_total": {"type": "integer"},
                "units_left": {
                    "type": "integer",
                    "description": "tickets free to buy now: reserved (unpaid) tickets are not counted",
                },
                "units_reserved": {
                    "type": "integer",
                    "description": "tickets held by unpaid orders; back in units_left when a reservation runs out",
                },
                "units_sold_total": {"type": "integer"},
                "kg_co2e_offset_total": {"type": "integer"},
                "min_order_fen": {"type": "integer"},
                "min_quantity": {"type": "integer"},
                "max_quantity": {"type": "integer", "description": "the largest order with an organisation API key"},
                "order_limits": {"$ref": "#/components/schemas/OrderLimits"},
            },
        },
        "OrderLimits": {
            "type": "object",
            "description": "what one order without an organisation API key may take now (they change as tickets sell)",
            "additionalProperties": False,
            "required": list(_LIMIT_FIELDS),
            "properties": {name: {"type": "integer", "description": text} for name, text in _LIMIT_FIELDS.items()},
        },
        "EstimateRequest": {
            "type": "object",
            "description": "every part is optional; null is the same as leaving it out",
            "properties": {
                "trips": {
                    "type": ["array", "null"],
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "required": ["mode"],
                        "description": "a trip of `km` kilometres, or from Yinchuan `to` a listed city",
                        "anyOf": [
                            {"required": ["km"], "properties": {"km": _KM}},
                            {"required": ["to"], "properties": {"to": {"type": "string"}}},
                        ],
                        "properties": {
                            "mode": {"type": "string", "enum": modes},
                            "km": {"anyOf": [_KM, {"type": "null"}]},
                            "to": {
                                "type": ["string", "null"],
                                "enum": [*cities, None],
                                "description": "city from Yinchuan (null: by km)",
                            },
                            "round_trip": {"type": ["boolean", "null"]},
                            "passengers": _PEOPLE,
                        },
                    },
                },
                "meeting": {
                    "type": ["object", "null"],
                    "required": ["attendees"],
                    "properties": {"attendees": _PEOPLE, "days": _DAYS, "overnight": {"type": ["boolean", "null"]}},
                },
                "event": {
                    "type": ["object", "null"],
                    "required": ["attendees"],
                    "properties": {
                        "attendees": _PEOPLE,
                        "venue_days": _DAYS,
                        "avg_km": _KM,
                        "nights": _DAYS,
                        "venue_kwh": _KWH,
                        "mix": {
                            "type": ["object", "null"],
                            "description": (
                                "percent of attendees by travel mode; the shares MUST add up to exactly 100 "
                                "(otherwise 400 `invalid_estimate`); absent means all by car"
                            ),
                            "x-sum-of-values": 100,
                            "propertyNames": {"enum": modes},
                            "additionalProperties": _SHARE,
                        },
                    },
                },
                "electricity": {
                    "type": ["object", "null"],
                    "required": ["kwh"],
                    "properties": {"kwh": _KWH, "region": {"type": ["string", "null"], "enum": [*regions, None]}},
                },
            },
        },
        "Estimate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kg_co2e", "tickets", "kg_co2e_per_ticket", "steps"],
            "properties": {
                "kg_co2e": _DECIMAL,
                "tickets": {"type": "integer", "minimum": 0},
                "kg_co2e_per_ticket": _DECIMAL,
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["label", "formula", "kg_co2e"],
                        "properties": {"label": {"type": "string"}, "formula": {"type": "string"}, "kg_co2e": _DECIMAL},
                    },
                },
            },
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_BAD_INPUT = "invalid input (a NUL byte in the path or query, a malformed value); `error.code` says which"
_LIMITED = {
    "description": "too many failed look-ups from this client; retry after Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "seconds"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def openapi_document(
    base_url: str = "",
    *,
    min_quantity: int = DEFAULT_MIN_QUANTITY,
    max_quantity: int = DEFAULT_MAX_QUANTITY,
    limits: StatedLimits | None = None,
) -> dict[str, Any]:
    """The document; the served one (``/api/v1/openapi.json``) states the shop's real order limits, from the
    settings, the price of the quota on sale and what it has left (``GET /quota`` tells the same numbers)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Linpiao carbon-sink tickets API",
            "version": "1.0.0",
            "description": (
                "Buy carbon-sink forest tickets (碳汇林票) of Yinchuan, and verify certificates and ecological "
                "compensation cases. Amounts are CNY fen."
            ),
        },
        "servers": [{"url": f"{base_url}/api/v1"}],
        "paths": {
            "/orders": {
                "post": {
                    "summary": "Create an order and reserve its tickets",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
                            "description": (
                                "1 to 128 printable ASCII characters; retrying with the same key returns the same "
                                "order, the same key with a different order is a 409 `idempotency_conflict`; a key "
                                "belongs to the client that sent it (its address): another client's same key is "
                                "another order"
                            ),
                        }
                    ],
                    "description": (
                        _dynamic_maximum(limits) + " GET /quota tells the limits in force (`order_limits`); "
                        "an organisation's key goes in `Authorization: Bearer lp_…`."
                    ),
                    "security": [{}, {"organisationKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderCreate"}}},
                    },
                    "responses": {
                        "201": _ok("created; send the buyer to payment_url", "Order"),
                        "200": _ok("the order made earlier with this Idempotency-Key", "Order"),
                        "400": _error(_BAD_INPUT + ", a quantity outside the limits"),
                        "401": _error("`invalid_api_key`: the Authorization header names no active organisation key"),
                        "409": _error(
                            "`quota_exhausted`, `no_open_quota`, `idempotency_conflict` (the Idempotency-Key names "
                            "another order), or `above_order_limit`: more than one order may take now (the message "
                            "states the maximum and what is left)"
                        ),
                        "413": _error("request too large"),
                        "429": {
                            **_LIMITED,
                            "description": (
                                "`pending_orders_limit` / `pending_units_limit`: this client's unpaid orders already "
                                "hold what it may hold; retry after Retry-After (when its oldest reservation ends)"
                            ),
                        },
                        "502": _error("payment provider unavailable; nothing reserved"),
                    },
                }
            },
            "/orders/{id}": {
                "get": {
                    "summary": "Read an order with its private token",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        },
                        {
                            "name": "token",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                            "description": "the order's private token, returned when it was created",
                        },
                    ],
                    "responses": {
                        "200": _ok("the order", "Order"),
                        "400": _error(_BAD_INPUT),
                        "404": _error("no such order, wrong or missing token"),
                    },
                }
            },
            "/quota": {
                "get": {
                    "summary": "The carbon quota on sale, with the order limits",
                    "responses": {"200": _ok("the quota", "Quota"), "400": _error(_BAD_INPUT)},
                }
            },
            "/certificates/{code}": {
                "get": {
                    "summary": "Verify a certificate by its code",
                    "description": (
                        "The 20-character verification code printed on the certificate and in its QR code, in any "
                        "case, with or without spaces or dashes (O is read as 0, I and L as 1). Every kind answers: "
                        "carbon offsets, tree-planting duty, honour, collective and state holdings; a reissued, "
                        "revoked or refunded certificate answers 200 with `valid: false` and its status. Unknown "
                        "codes are a plain 404, and 20 failed look-ups in 10 minutes from one client a 429."
                    ),
                    "parameters": [
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": _NO_NUL},
                        }
                    ],
                    "responses": {
                        "200": _ok("the certificate as the public may see it", "CertificateVerification"),
                        "400": _error(_BAD_INPUT),
                        "404": _error("no such certificate"),
                        "429": _LIMITED,
                    },
                }
            },
            "/compensation-cases/{case_number}": {
                "get": {
                    "summary": "Verify a fulfilled ecological compensation case by its case number",
                    "parameters": [
                        {
                            "name": "case_number",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": _NO_NUL},
                        }
                    ],
                    "responses": {
                        "200": _ok("the case: tickets retired, area, date, deciding body", "CompensationCase"),
                        "400": _error(_BAD_INPUT),
                        "404": _error("no fulfilled case with this number"),
                        "429": _LIMITED,
                    },
                }
            },
            "/estimate": {
                "post": {
                    "summary": "Estimate emissions and the tickets that cover them",
                    "description": (
                        "Each part is optional. The shares of `event.mix` must add up to exactly 100. A refusal "
                        "is a 400 `invalid_estimate` whose message ends with the field, e.g. `(trips[0].mode)`."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EstimateRequest"}}},
                    },
                    "responses": {
                        "200": _ok("the estimate with its steps", "Estimate"),
                        "400": _error(_BAD_INPUT + ", event.mix not adding up to 100"),
                        "413": _error("request too large"),
                    },
                }
            },
            **public_paths(),  # the register's open data (shop/openapi_public.py)
        },
        "components": {
            "schemas": {**_schemas(min_quantity, max_quantity, limits), **public_schemas()},
            "securitySchemes": {
                "organisationKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "an organisation API key (`lp_…`), issued in the back-office and shown once; optional: "
                        "it lifts the limits on orders (a key may cap what its unpaid orders hold)"
                    ),
                }
            },
        },
    }
