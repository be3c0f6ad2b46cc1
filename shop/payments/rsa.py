"""SHA256withRSA (PKCS #1 v1.5) signatures and key files, for Alipay's RSA2 and WeChat Pay's
WECHATPAY2-SHA256-RSA2048 — the same primitive, with ``cryptography`` directly.

Key files may be PEM (PKCS #8 ``PRIVATE KEY``, PKCS #1 ``RSA PRIVATE KEY``, ``PUBLIC KEY``) or the bare base64
text Alipay's key tool and open platform hand out (DER inside)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class KeyFileError(ValueError):
    """A key file that cannot be read as an RSA key."""


def _read(path: str) -> tuple[bytes, bool]:
    data = Path(path).read_bytes().strip()
    return data, data.startswith(b"-----BEGIN")


@lru_cache(maxsize=16)
def _private_key(path: str, _mtime: int) -> rsa.RSAPrivateKey:
    data, pem = _read(path)
    try:
        key = (
            serialization.load_pem_private_key(data, password=None)
            if pem
            else serialization.load_der_private_key(base64.b64decode(data), password=None)
        )
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyFileError(f"{path}: not an RSA private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path}: not an RSA private key")
    return key


@lru_cache(maxsize=16)
def _public_key(path: str, _mtime: int) -> rsa.RSAPublicKey:
    data, pem = _read(path)
    try:
        key = (
            serialization.load_pem_public_key(data)
            if pem
            else serialization.load_der_public_key(base64.b64decode(data))
        )
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyFileError(f"{path}: not an RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFileError(f"{path}: not an RSA public key")
    return key


def private_key(path: str) -> rsa.RSAPrivateKey:
    """The key in ``path`` (read again when the file changes: keys are rotated by replacing the file)."""
    return _private_key(path, Path(path).stat().st_mtime_ns)


def public_key(path: str) -> rsa.RSAPublicKey:
    return _public_key(path, Path(path).stat().st_mtime_ns)


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """Base64 of the SHA256withRSA signature of ``message`` (UTF-8)."""
    signature = key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``key``'s SHA256withRSA signature of ``message``; never raises."""
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error, UnicodeEncodeError):
        return False
    return True
