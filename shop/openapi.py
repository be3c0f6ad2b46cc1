"""The OpenAPI 3.1 document of ``/api/v1``, written by hand; tests validate real responses against it."""

from __future__ import annotations

from typing import Any

from shop.calculator import TRANSPORT_MODES, load_factors
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
_AMOUNT = {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]}
_COUNT = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+$"}]}


def _schemas() -> dict[str, Any]:
    regions = sorted(load_factors().electricity)
    cities = sorted(load_factors().distances)
    modes = list(TRANSPORT_MODES)
    return {
        "Error": _ERROR,
        "OrderCreate": {
            "type": "object",
            "required": ["quantity", "purpose", "certificate_name"],
            "properties": {
                "quantity": {"type": "integer", "minimum": 1, "description": "whole tickets"},
                "purpose": {"type": "string", "enum": list(PURPOSES)},
                "certificate_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                "contact": {"type": "string", "maxLength": MAX_CONTACT},
                "buyer_kind": {"type": "string", "enum": ["individual", "enterprise"]},
            },
        },
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
                "order_url",
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
                "payment_url": {"type": ["string", "null"]},
                "order_url": {"type": "string"},
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
            ],
            "properties": {
                "serial_prefix": {"type": ["string", "null"]},
                "open": {"type": "boolean"},
                "price_fen": {"type": "integer"},
                "currency": {"const": "CNY"},
                "kg_co2e_per_ticket": {"type": "integer"},
                "units_total": {"type": "integer"},
                "units_left": {"type": "integer"},
                "units_sold_total": {"type": "integer"},
                "kg_co2e_offset_total": {"type": "integer"},
                "min_order_fen": {"type": "integer"},
                "min_quantity": {"type": "integer"},
                "max_quantity": {"type": "integer"},
            },
        },
        "EstimateRequest": {
            "type": "object",
            "properties": {
                "trips": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "required": ["mode"],
                        "properties": {
                            "mode": {"type": "string", "enum": modes},
                            "km": _AMOUNT,
                            "to": {"type": "string", "enum": cities, "description": "city from Yinchuan"},
                            "round_trip": {"type": "boolean"},
                            "passengers": _COUNT,
                        },
                    },
                },
                "meeting": {
                    "type": "object",
                    "required": ["attendees"],
                    "properties": {"attendees": _COUNT, "days": _COUNT, "overnight": {"type": "boolean"}},
                },
                "event": {
                    "type": "object",
                    "required": ["attendees"],
                    "properties": {
                        "attendees": _COUNT,
                        "venue_days": _COUNT,
                        "avg_km": _AMOUNT,
                        "nights": _COUNT,
                        "venue_kwh": _AMOUNT,
                        "mix": {
                            "type": "object",
                            "description": "percent by mode, adding up to 100",
                            "propertyNames": {"enum": modes},
                            "additionalProperties": _AMOUNT,
                        },
                    },
                },
                "electricity": {
                    "type": "object",
                    "required": ["kwh"],
                    "properties": {"kwh": _AMOUNT, "region": {"type": "string", "enum": regions}},
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


def openapi_document(base_url: str = "") -> dict[str, Any]:
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
                            "schema": {"type": "string", "maxLength": 128},
                            "description": "retrying with the same key returns the same order",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderCreate"}}},
                    },
                    "responses": {
                        "201": _ok("created; send the buyer to payment_url", "Order"),
                        "200": _ok("the order made earlier with this Idempotency-Key", "Order"),
                        "400": _error("invalid input"),
                        "409": _error("quota exhausted or no quota on sale"),
                        "413": _error("request too large"),
                        "502": _error("payment provider unavailable; nothing reserved"),
                    },
                }
            },
            "/orders/{id}": {
                "get": {
                    "summary": "Read an order with its private token",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                        {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _ok("the order", "Order"), "404": _error("no such order or wrong token")},
                }
            },
            "/quota": {"get": {"summary": "The carbon quota on sale", "responses": {"200": _ok("the quota", "Quota")}}},
            "/certificates/{code}": {
                "get": {
                    "summary": "Verify a certificate by its code (any case, spaces or dashes)",
                    "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _ok("the certificate as the public may see it", "CertificateVerification"),
                        "404": _error("no such certificate"),
                        "429": _error("too many failed look-ups from this client; retry after Retry-After"),
                    },
                }
            },
            "/compensation-cases/{case_number}": {
                "get": {
                    "summary": "Verify a fulfilled ecological compensation case by its case number",
                    "parameters": [
                        {"name": "case_number", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _ok("the case: tickets retired, area, date, deciding body", "CompensationCase"),
                        "404": _error("no fulfilled case with this number"),
                        "429": _error("too many failed look-ups from this client; retry after Retry-After"),
                    },
                }
            },
            "/estimate": {
                "post": {
                    "summary": "Estimate emissions and the tickets that cover them",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EstimateRequest"}}},
                    },
                    "responses": {
                        "200": _ok("the estimate with its steps", "Estimate"),
                        "400": _error("invalid input"),
                    },
                }
            },
        },
        "components": {"schemas": _schemas()},
    }
