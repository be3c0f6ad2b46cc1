"""Organisation API keys (机构 API 密钥): known buyers whose orders are not held to the shop's anonymous limits.

The back-office (staff with the key permission) creates a key for an organisation; its full text is shown once
and never stored: the database keeps its SHA-256 (the key is 256 random bits, so a plain hash is enough — there is
nothing to guess) and a visible prefix to find it by and to show in lists. A revoked key is refused from then on.
Each key may cap the tickets its organisation's unpaid orders hold (``max_pending_units``; none: no cap).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import audit
from registry.errors import RegisterError
from registry.identity import normalise_id_number
from registry.models import HolderKind

PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
PREFIX_LENGTH = 12
KEY_RE = re.compile(rf"^(lp_[a-z2-7]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{43}}$")
MAX_ORGANISATION = 200
MAX_CONTACT = 200
MAX_PENDING_UNITS = 10**12


class ApiKey(Model):
    """One organisation's key: its prefix (``lp_…``), the SHA-256 of the whole key, and what it may hold."""

    id = fields.IntField(primary_key=True)
    prefix = fields.CharField(max_length=24, unique=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    organisation = fields.CharField(max_length=MAX_ORGANISATION)
    credit_code = fields.CharField(max_length=18, default="")
    contact = fields.CharField(max_length=MAX_CONTACT, default="")
    max_pending_units = fields.BigIntField(null=True)  # None: no cap on the tickets its unpaid orders hold
    created_by = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.CharField(max_length=64, default="")

    class Meta:
        table = "api_key"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyError(RegisterError):
    code = "api_key_error"
    message = "机构 API 密钥操作被拒绝"


class InvalidApiKey(ApiKeyError):
    """Unknown, malformed or revoked: the caller is told no more than that."""

    code = "invalid_api_key"
    message = "机构 API 密钥无效或已被吊销"
    http_status = 401  # answered with ``WWW-Authenticate`` (linpiao.errors)


class InvalidApiKeyRequest(ApiKeyError):
    code = "invalid_api_key_request"
    message = "请填写机构名称；统一社会信用代码（选填）须有效；未付款订单最多预留张数须为正整数或留空（不限）"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and its prefix: ``lp_`` + 12 random base-32 characters (the prefix) + ``_`` + 256 random bits."""
    prefix = "lp_" + "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


async def create_key(
    *,
    organisation: str,
    actor: audit.Actor,
    credit_code: str = "",
    contact: str = "",
    max_pending_units: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its full text, which exists nowhere else afterwards (show it once)."""
    organisation = " ".join(organisation.split())
    if not organisation or len(organisation) > MAX_ORGANISATION or len(contact) > MAX_CONTACT:
        raise InvalidApiKeyRequest()
    if max_pending_units is not None and not 1 <= max_pending_units <= MAX_PENDING_UNITS:
        raise InvalidApiKeyRequest()
    code = ""
    if credit_code.strip():
        try:
            code = normalise_id_number(credit_code, HolderKind.ENTERPRISE)
        except RegisterError as exc:
            raise InvalidApiKeyRequest() from exc
    key, prefix = new_key()
    async with in_transaction():
        made = await ApiKey.create(
            prefix=prefix,
            key_hash=key_hash(key),
            organisation=organisation,
            credit_code=code,
            contact=contact.strip(),
            max_pending_units=max_pending_units,
            created_by=actor.username,
            created_at=clock.now(),
        )
        await audit.record(
            actor,
            "apikey.create",
            f"apikey:{prefix}",
            organisation=organisation,
            max_pending_units=max_pending_units,
        )
    return made, key


async def revoke_key(key: ApiKey, *, actor: audit.Actor) -> ApiKey:
    """Revoke a key at once (a second revocation changes nothing)."""
    async with in_transaction():
        await key.refresh_from_db()
        if key.revoked_at is not None:
            return key
        key.revoked_at = clock.now()
        key.revoked_by = actor.username
        await key.save(update_fields=["revoked_at", "revoked_by"])
        await audit.record(actor, "apikey.revoke", f"apikey:{key.prefix}", organisation=key.organisation)
    return key


async def authenticate(key: str) -> ApiKey:
    """The active key behind ``key``, its use noted; anything else is :class:`InvalidApiKey`."""
    match = KEY_RE.fullmatch(key or "")
    if match is None:
        raise InvalidApiKey()
    found = await ApiKey.get_or_none(prefix=match.group(1))
    if found is None or not secrets.compare_digest(found.key_hash, key_hash(key)) or found.revoked_at is not None:
        raise InvalidApiKey()
    found.last_used_at = clock.now()
    await ApiKey.filter(id=found.id).update(last_used_at=found.last_used_at)
    return found


async def all_keys() -> list[ApiKey]:
    """Active keys first, newest first."""
    keys = await ApiKey.all().order_by("-id")
    return sorted(keys, key=lambda k: k.revoked_at is not None)
