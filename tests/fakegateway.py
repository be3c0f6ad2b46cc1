"""What the fake Alipay and WeChat Pay gateways share: RSA keys made on the spot, written to files the app reads
as its settings, and a uvicorn server on loopback in a thread (as ``tests/fakestripe.py``)."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette

from tests.live import free_port


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey, *, pkcs1: bool = False) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_base64(key: rsa.RSAPrivateKey) -> bytes:
    """The bare base64 form Alipay's open platform shows (DER, no PEM armour)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der)


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class FakeGateway:
    """A loopback server; subclasses give ``app()``."""

    def __init__(self) -> None:
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.delivered: list[tuple[str, int]] = []  # (url, status) of notifications sent over HTTP

    def app(self) -> Starlette:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> str:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none", http="h11"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def deliver(self, url: str, *, content: bytes, headers: dict[str, str]) -> int:
        """Send a notification to the app, as the provider's servers do (only to loopback here)."""
        assert url.startswith("http://127.0.0.1:"), url
        async with httpx.AsyncClient(timeout=20) as http:
            response = await http.post(url, content=content, headers=headers)
        self.delivered.append((url, response.status_code))
        return response.status_code


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
