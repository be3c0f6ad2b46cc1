"""Full ID numbers never travel in a URL (they would land in server and proxy logs).

A search by a whole resident ID number is submitted by POST (with the CSRF token). The server then redirects to
the list with a *sealed search*: ``?s=<token>``, the typed text encrypted (AES-256-GCM from ``cryptography``, a
random nonce, so the same number never looks the same twice) under a key derived from ``LINPIAO_SECRET_KEY``, with
its expiry inside. The token is opaque to whoever reads the logs and short-lived: after :data:`TTL` the list
says the search has expired and asks for the number again. Names and the last digits stay plain ``?q=`` searches,
bookmarkable as before (:func:`is_full_id`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel import clock
from registry.identity import clean

TTL = timedelta(minutes=15)
_AAD = b"linpiao:admin-sealed-search"
# a resident ID number (18 characters, or the old 15 digits), typed any way registry.identity.clean folds
_FULL_ID = re.compile(r"\d{15}|\d{17}[\dX]")


def is_full_id(text: str) -> bool:
    """Whether ``text`` is (shaped like) a whole resident ID number: such a search must not go into a URL."""
    return bool(_FULL_ID.fullmatch(clean(text)))


def _aead(secret_key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"linpiao admin sealed search v1")
    return AESGCM(hkdf.derive(hashlib.sha256(secret_key.encode()).digest()))


def seal(secret_key: str, text: str) -> str:
    """An opaque, short-lived token for the search ``text``."""
    payload = json.dumps({"q": text, "exp": int((clock.now() + TTL).timestamp())}).encode()
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + _aead(secret_key).encrypt(nonce, payload, _AAD)).decode().rstrip("=")


def unseal(secret_key: str, token: str) -> str | None:
    """The search inside ``token``; ``None`` when it is expired, altered, or not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(_aead(secret_key).decrypt(raw[:12], raw[12:], _AAD))
        text, expires = payload["q"], payload["exp"]
    except (ValueError, binascii.Error, InvalidTag, KeyError, TypeError):
        return None
    if not isinstance(text, str) or not isinstance(expires, int) or clock.now().timestamp() > expires:
        return None
    return text
