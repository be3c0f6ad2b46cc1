"""The open data of the register in the OpenAPI document (merged into :func:`shop.openapi.openapi_document`):
``/retirements`` (JSON pages and the CSV export) and ``/register/digests``. The schema is stable: fields are only
ever added, never renamed or removed."""

from __future__ import annotations

from typing import Any

from registry.retirements import MAX_LIMIT, MAX_QUERY, PURPOSES, RetirementKind

# one public retirement as /api/v1/retirements gives it; the CSV export has these columns, in this order
RETIREMENT_FIELDS = [
    "seq",
    "date",
    "retired_at",
    "kind",
    "purpose",
    "purpose_label",
    "batch",
    "ticket_kind",
    "district_code",
    "serial_ranges",
    "quantity",
    "kg_co2e",
    "beneficiary",
    "case_number",
    "certificate_status",
    "certificates",
    "hash",
    "prev_hash",
    "entry",
    "digest_day",
    "proof",
]

_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}
_ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_BAD_QUERY = "a filter, cursor or limit that is not one of those documented (`error.code` says which)"
_MONTH = r"^$|^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])$"
_LIMITED = {
    "description": "too many failed certificate-code look-ups from this client (the limit of /verify)",
    "headers": {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "seconds"}},
    **_ERROR_REF,
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_ERROR_REF}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_FILTERS = [
    _query(
        "kind",
        {"type": "string", "enum": ["", *[k.value for k in RetirementKind]]},
        "carbon (shop offsets), planting (obligatory tree planting), green_land_offset, compensation (ecological "
        "compensation, by case number), other; empty: every kind",
    ),
    _query(
        "purpose",
        {"type": "string", "enum": ["", *PURPOSES]},
        "the shop's purpose of a carbon retirement (travel, meeting, event, daily, other), or the kind's own",
    ),
    _query("month", {"type": "string", "pattern": _MONTH}, "YYYY-MM, a Beijing month"),
    _query("batch", {"type": "string", "pattern": "^[A-Za-z0-9-]{0,40}$"}, "a batch's serial prefix"),
    _query(
        "q",
        {"type": "string", "maxLength": MAX_QUERY, "pattern": r"^[^\x00]*$"},  # a NUL is a 400 before any route
        "a serial number as printed (PREFIX-00000042), a certificate's verification code (a failed code counts "
        "toward the limit of /verify) or an ecological compensation case number",
    ),
]
_PAGE = [
    _query("cursor", {"type": "string", "pattern": "^$|^[1-9][0-9]{0,17}$"}, "next_cursor of the previous page"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "rows per page"),
]


def public_paths() -> dict[str, Any]:
    return {
        "/retirements": {
            "get": {
                "summary": "Every retirement of the register, newest first (keyset pages)",
                "description": (
                    "Each row carries its register entry: `entry` is exactly what the entry's SHA-256 `hash` "
                    "covers (canonical JSON: sorted keys, no spaces, UTF-8), and `proof` links that hash to the "
                    "`entries_root` of the digest of `digest_day` (null while the day is still open). People's "
                    "names are masked as on the certificate's verification; identifiers never appear."
                ),
                "parameters": [*_FILTERS, *_PAGE],
                "responses": {
                    "200": {
                        "description": "a page; follow `next_cursor` until it is null",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetirementPage"}}},
                    },
                    "400": _error(_BAD_QUERY),
                    "429": _LIMITED,
                },
            }
        },
        "/retirements.csv": {
            "get": {
                "summary": "Every matching retirement as CSV (UTF-8 with BOM), oldest first",
                "description": (
                    "The columns are the fields of `Retirement`, in its order: `serial_ranges` joined by `; `, "
                    "`entry` as the canonical JSON its hash covers, `proof` joined by spaces. A cell a spreadsheet "
                    "would read as a formula starts with an apostrophe. Check it against the digests with "
                    "`linpiao audit --export FILE --digest URL` or `python tools/audit.py`."
                ),
                "parameters": _FILTERS,
                "responses": {
                    "200": {"description": "the export", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "400": _error(_BAD_QUERY),
                    "429": _LIMITED,
                },
            }
        },
        "/register/digests": {
            "get": {
                "summary": "The daily digests of the register, newest first",
                "description": (
                    "One per closed Beijing day since the first entry; a day without one is published when this "
                    "is read (`published_by: on_demand`), otherwise by `linpiao digest`. `pairing_rule` states "
                    "how the Merkle roots are computed."
                ),
                "parameters": [
                    _query("before", {"type": "string", "format": "date"}, "only days before this one"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 31}, "days"),
                ],
                "responses": {
                    "200": {
                        "description": "digests; follow `next_before` until it is null",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/RegisterDigestPage"}}
                        },
                    },
                    "400": _error(_BAD_QUERY),
                },
            }
        },
        "/register/digests/{day}": {
            "get": {
                "summary": "The digest of one Beijing day",
                "parameters": [
                    {"name": "day", "in": "path", "required": True, "schema": {"type": "string", "format": "date"}}
                ],
                "responses": {
                    "200": {
                        "description": "the digest",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegisterDigest"}}},
                    },
                    "400": _error("not a date (YYYY-MM-DD)"),
                    "404": _error("the day is not over yet, or lies before the register's first entry"),
                },
            }
        },
    }


def public_schemas() -> dict[str, Any]:
    entry_fields = ["seq", "kind", "batch", "from", "to", "quantity", "ranges", "price_fen", "purpose"]
    entry_fields += ["details", "actor", "created_at", "prev"]
    return {
        "RegisterEntryContent": {
            "type": "object",
            "description": "what an entry's hash covers, exactly (holders by their register number, never by name)",
            "required": entry_fields,
            "additionalProperties": False,
            "properties": {
                "seq": {"type": "integer", "minimum": 1},
                "kind": {"type": "string"},
                "batch": {"type": ["integer", "null"]},
                "from": {"type": ["integer", "null"]},
                "to": {"type": ["integer", "null"]},
                "quantity": {"type": "integer"},
                "ranges": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                "price_fen": {"type": ["integer", "null"]},
                "purpose": {"type": "string"},
                "details": {"type": "object"},
                "actor": {"type": "string"},
                "created_at": {"type": "string", "description": "UTC, microseconds"},
                "prev": _HASH,
                "chain_seq": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "the entry's place in its batch's hash chain; ``prev`` is the hash of the one "
                    "before it in that chain (absent on entries of the single chain the register kept before)",
                },
            },
        },
        "Retirement": {
            "type": "object",
            "description": "one retirement of the register as the public sees it",
            "required": RETIREMENT_FIELDS,
            "additionalProperties": False,
            "properties": {
                "seq": {"type": "integer", "minimum": 1, "description": "the register entry's number"},
                "date": {"type": "string", "format": "date", "description": "Beijing date"},
                "retired_at": {"type": "string", "format": "date-time"},
                "kind": {"type": "string", "enum": [k.value for k in RetirementKind]},
                "purpose": {"type": "string", "enum": ["", *PURPOSES]},
                "purpose_label": {"type": "string", "description": "the purpose as the register records it"},
                "batch": {"type": "string", "description": "the batch's serial prefix"},
                "ticket_kind": {"type": "string", "enum": ["carbon", "collective", "state"]},
                "district_code": {"type": "string"},
                "serial_ranges": {"type": "array", "items": {"type": "string"}},
                "quantity": {"type": "integer", "minimum": 1},
                "kg_co2e": {"oneOf": [{"type": "null"}, _DECIMAL], "description": "carbon tickets only"},
                "beneficiary": {
                    "type": "string",
                    "description": "a person's name masked (张*丰), a body's in full; empty for a compensation case",
                },
                "case_number": {"type": ["string", "null"], "description": "ecological compensation only"},
                "certificate_status": {"type": "string", "enum": ["none", "valid", "revoked", "refunded", "mixed"]},
                "certificates": {"type": "integer", "minimum": 0},
                "hash": _HASH,
                "prev_hash": _HASH,
                "entry": {"$ref": "#/components/schemas/RegisterEntryContent"},
                "digest_day": {"type": ["string", "null"], "format": "date"},
                "proof": {
                    "oneOf": [
                        {"type": "null"},
                        {"type": "array", "items": {"type": "string", "pattern": "^[LR][0-9a-f]{64}$"}},
                    ]
                },
            },
        },
        "RetirementPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Retirement"}},
                "next_cursor": {"type": ["string", "null"], "pattern": "^[1-9][0-9]{0,17}$"},
            },
        },
        "ChainHead": {
            "type": "object",
            "required": ["chain", "head_seq", "head_hash"],
            "additionalProperties": False,
            "properties": {
                "chain": {"type": "string"},
                "head_seq": {"type": "integer", "minimum": 0},
                "head_hash": _HASH,
            },
        },
        "RegisterDigest": {
            "type": "object",
            "required": [
                "day",
                "timezone",
                "entry_count",
                "day_entries",
                "chains",
                "merkle_root",
                "entries_root",
                "published_by",
                "published_at",
            ],
            "additionalProperties": False,
            "properties": {
                "day": {"type": "string", "format": "date"},
                "timezone": {"const": "Asia/Shanghai"},
                "entry_count": {"type": "integer", "minimum": 0, "description": "entries at the end of the day"},
                "day_entries": {"type": "integer", "minimum": 0, "description": "entries appended that day"},
                "chains": {"type": "array", "items": {"$ref": "#/components/schemas/ChainHead"}},
                "merkle_root": {**_HASH, "description": "over the chain heads"},
                "entries_root": {**_HASH, "description": "over the hashes of the day's entries"},
                "published_by": {"type": "string", "enum": ["cli", "on_demand"]},
                "published_at": {"type": "string", "format": "date-time"},
            },
        },
        "RegisterDigestPage": {
            "type": "object",
            "required": ["items", "next_before", "pairing_rule"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/RegisterDigest"}},
                "next_before": {"type": ["string", "null"], "format": "date"},
                "pairing_rule": {"type": "string"},
            },
        },
    }
