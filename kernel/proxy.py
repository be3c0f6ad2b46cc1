"""The client's real address behind reverse proxies.

``X-Forwarded-For`` is believed only when the connection comes from an address named in
``LINPIAO_TRUSTED_PROXIES`` (none by default): anyone can send the header, so from any other peer it is ignored.
:class:`ProxyHeadersMiddleware` puts the real address into the ASGI scope once per request, so the login lock,
the verification limiter and the audit log — which all ask :func:`client_ip` — see the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(host: str, networks: tuple[Network, ...]) -> bool:
    address = _address(host)
    return address is not None and any(address in network for network in networks)


def real_client(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> str:
    """The address the request came from: the peer itself unless it is a trusted proxy; then, reading
    ``X-Forwarded-For`` from the right (each proxy appends the address it saw), the first hop that is not a
    trusted proxy. Entries left of an untrusted hop were written by the client and are never believed."""
    if not networks or not forwarded_for or not _trusted(peer, networks):
        return peer
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break  # garbage in the chain: keep the last hop we could read
        client = str(address)
        if not _trusted(client, networks):
            break
    return client


def client_ip(connection: HTTPConnection) -> str:
    """The one place the application reads the client's address (already resolved by the middleware)."""
    return connection.client.host if connection.client else ""


class ProxyHeadersMiddleware:
    """Pure ASGI: replace ``scope["client"]`` (and the scheme) from a trusted proxy's forwarding headers."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks and scope.get("client"):
            peer, port = scope["client"]
            headers = {k.lower(): v for k, v in scope.get("headers", [])}
            # Several X-Forwarded-For headers count as one list, in order.
            raw = [v for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"]
            forwarded = b",".join(raw).decode("latin-1")
            if forwarded and _trusted(peer, self.networks):
                scope = dict(scope)
                scope["client"] = (real_client(peer, forwarded, self.networks), port)
                proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)
