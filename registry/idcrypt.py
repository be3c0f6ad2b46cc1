"""Resident ID numbers at rest (身份证号码的存储): encrypted, blind-indexed, masked.

A resident ID number is sensitive personal information (敏感个人信息, PIPL art. 28). The register keeps it in up
to three forms, never in plain text:

* **ciphertext** (``id_cipher``) — AES-256-GCM (``cryptography``), only where the whole number is needed later:
  a holder of the register, and a citizen's own tree-planting purchase (it becomes the holder at fulfilment);
* **blind index** (``id_digest``) — HMAC-SHA256 of the canonical number under a key of its own, for exact look-up
  ("the holder with this number", "this person's trees this year") and uniqueness; where only that is needed
  (roster members checked against the year's duty) it is all that is kept;
* **the last four characters** (``id_last4``) and the masked form (``6401**********1234``), for the back-office's
  "last digits" search and for display.

Facts read from the number (birth date, sex → the planting duty; the region code → ``Holder.region_code``) are
derived when it is written, so decryption is rare: :func:`decrypt` is called to make a holder from a citizen's
purchase and nowhere on a page.

Both keys come from one master key, ``LINPIAO_ID_KEY`` (32 random bytes, base64), by HKDF-SHA256 with distinct
labels; each ciphertext names the key it was made with (``v1.<key id>.<base64>``), so a wrong key is reported by
name (:class:`IdentityKeyError`) rather than found by a look-up that silently matches nothing — the application
checks the configured key against the database when it starts (:func:`registry.sealing.check_key`).
Unconfigured (development, tests, the demo) the module uses a fixed development key derived from a public label:
fine for sample data, worthless as protection, and production settings say so loudly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.settings import ID_KEY_BYTES

KEY_BYTES = ID_KEY_BYTES
VERSION = "v1"
# Bound into every ciphertext (AES-GCM associated data): a ciphertext of something else cannot pass as an ID.
_AAD = b"linpiao:resident-id"
DEVELOPMENT_KEY = hashlib.sha256(b"linpiao development identity key: not a secret, never for production").digest()
# The version of the privacy notice (/privacy) people are shown before an ID number is collected; consent records
# name it. Change it when the notice's text about ID numbers changes.
NOTICE_VERSION = "2026-12-05"


class IdentityKeyError(RuntimeError):
    """The identity key is malformed, or is not the key the stored ID numbers were encrypted with."""


def new_key() -> str:
    """A fresh master key, as ``LINPIAO_ID_KEY`` wants it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(master)


@dataclass(frozen=True)
class _Keys:
    aead: AESGCM
    files: AESGCM  # files that carry ID numbers while they wait (a county's upload between preview and import)
    mac: bytes
    key_id: str  # names the master key in each ciphertext (not secret: 8 hex digits of an HMAC of a label)
    development: bool

    @classmethod
    def from_master(cls, master: bytes, *, development: bool = False) -> _Keys:
        key_id = hmac.new(_derive(master, b"linpiao id key-id"), b"key-id", hashlib.sha256).hexdigest()[:8]
        return cls(
            aead=AESGCM(_derive(master, b"linpiao id aes-gcm v1")),
            files=AESGCM(_derive(master, b"linpiao id files aes-gcm v1")),
            mac=_derive(master, b"linpiao id blind-index v1"),
            key_id=key_id,
            development=development,
        )


_keys = _Keys.from_master(DEVELOPMENT_KEY, development=True)


def configure(master: bytes | None) -> None:
    """Use ``master`` (32 bytes) from now on; ``None``: the development key. Called by the composition root."""
    global _keys
    if master is None:
        _keys = _Keys.from_master(DEVELOPMENT_KEY, development=True)
        return
    if len(master) != KEY_BYTES:
        raise IdentityKeyError(f"the identity key must be {KEY_BYTES} bytes")
    _keys = _Keys.from_master(master)


def using_development_key() -> bool:
    return _keys.development


def key_id() -> str:
    return _keys.key_id


# --- the three forms -------------------------------------------------------------------------------------


def digest(number: str) -> str:
    """The blind index of a canonical identifier (64 hex digits): equal numbers, equal digests, under one key."""
    return hmac.new(_keys.mac, number.encode(), hashlib.sha256).hexdigest()


def encrypt(number: str) -> str:
    nonce = os.urandom(12)
    sealed = _keys.aead.encrypt(nonce, number.encode(), _AAD)
    return f"{VERSION}.{_keys.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    """The number inside a ciphertext; :class:`IdentityKeyError` when it was made with another key or altered."""
    try:
        version, kid, body = token.split(".", 2)
        raw = base64.urlsafe_b64decode(body)
    except (ValueError, binascii.Error):
        raise IdentityKeyError("a stored ID number is not a ciphertext of this application") from None
    if version != VERSION:
        raise IdentityKeyError(f"unknown ciphertext version {version!r}")
    if kid != _keys.key_id:
        raise IdentityKeyError(
            f"stored ID numbers were encrypted with key {kid}, but LINPIAO_ID_KEY is key {_keys.key_id}: "
            "set the key they were made with (see README, 'ID numbers at rest')"
        )
    try:
        return _keys.aead.decrypt(raw[:12], raw[12:], _AAD).decode()
    except InvalidTag:
        raise IdentityKeyError("a stored ID number fails its authentication tag (altered, or another key)") from None


# --- files that carry ID numbers --------------------------------------------------------------------------

_FILE_MAGIC = b"LPF1."


def seal_file(data: bytes, purpose: str) -> bytes:
    """``data`` (a file with ID numbers in it, e.g. a county's upload waiting for confirmation) encrypted with
    AES-256-GCM under a key of its own from ``LINPIAO_ID_KEY``, bound to ``purpose``: ``LPF1.<key id>.`` + nonce +
    ciphertext. CPU work for a large file: call it through :mod:`registry.cpu`."""
    nonce = os.urandom(12)
    sealed = _keys.files.encrypt(nonce, data, b"linpiao:file:" + purpose.encode())
    return _FILE_MAGIC + _keys.key_id.encode() + b"." + nonce + sealed


def is_sealed_file(blob: bytes) -> bool:
    return blob.startswith(_FILE_MAGIC)


def open_file(blob: bytes, purpose: str) -> bytes:
    """The file inside :func:`seal_file`'s output; :class:`IdentityKeyError` when it is not one, was made with
    another key or for another purpose, or was altered."""
    if not is_sealed_file(blob):
        raise IdentityKeyError("not a sealed file of this application")
    head = len(_FILE_MAGIC)
    kid, body = blob[head : head + 8].decode("ascii", "replace"), blob[head + 9 :]
    if kid != _keys.key_id:
        raise IdentityKeyError(f"a sealed file was made with key {kid}, but LINPIAO_ID_KEY is key {_keys.key_id}")
    try:
        return _keys.files.decrypt(body[:12], body[12:], b"linpiao:file:" + purpose.encode())
    except InvalidTag:
        raise IdentityKeyError("a sealed file fails its authentication tag (altered, or another purpose)") from None


def mask(value: str | None) -> str:
    """Show only the first four and the last four characters: 6401**********1234."""
    if not value:
        return ""
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 1)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def masked(prefix: str, last4: str) -> str:
    """``6401**********1234`` from the first four and the last four characters of an 18-character number."""
    if not last4:
        return ""
    return f"{prefix[:4]}{'*' * 10}{last4}"


@dataclass(frozen=True)
class SealedId:
    """What is stored of one resident ID number."""

    cipher: str | None
    digest: str
    last4: str
    masked: str


def seal(number: str, *, keep: bool = True) -> SealedId:
    """The stored forms of a canonical resident ID number; ``keep=False`` when only verification is needed
    (no ciphertext: the number cannot be recovered from what is stored)."""
    return SealedId(
        cipher=encrypt(number) if keep else None,
        digest=digest(number),
        last4=number[-4:],
        masked=masked(number[:4], number[-4:]),
    )
