"""A fake Stripe API on loopback, speaking the few endpoints the shop uses, for the real ``stripe`` library.

It keeps Checkout Sessions and refunds in memory, honours idempotency keys, refuses what Stripe refuses
(expiry outside 30 min–24 h, amounts under the settlement minimum) and builds signed webhook events with
the same scheme ``stripe.Webhook.construct_event`` verifies. Nothing here touches the network."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any

import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live import free_port

WEBHOOK_SECRET = "whsec_test_fake_secret"
API_KEY = "sk_test_fake_key"
MIN_AMOUNT_FEN = 400  # about USD 0.50 in CNY: below this Stripe answers amount_too_small


def parse_form(body: str) -> dict[str, Any]:
    """``a[b][0][c]=1`` → ``{"a": {"b": [{"c": "1"}]}}`` (Stripe's form encoding)."""
    from urllib.parse import parse_qsl

    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if nxt_is_index else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return root


def _error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status_code=status)


class FakeStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0  # answer that many requests with HTTP 500 (the library retries them)
        self.down = False  # answer every request with HTTP 500
        self._ids = itertools.count(1)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        self.sessions.clear()
        self.refunds.clear()
        self.idempotent.clear()
        self.requests.clear()
        self.fail_next = 0
        self.down = False

    # --- HTTP ---------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{sid}", self._get_session, methods=["GET"]),
                Route("/v1/checkout/sessions/{sid}/expire", self._expire_session, methods=["POST"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
            ]
        )

    async def _record(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = (await request.body()).decode()
        params = parse_form(body)
        self.requests.append(
            {"method": request.method, "path": request.url.path, "params": params, "headers": dict(request.headers)}
        )
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return params, _error(401, "invalid_api_key", "Invalid API Key provided")
        if self.down:
            return params, _error(500, "api_error", "down", "api_error")
        if self.fail_next > 0:
            self.fail_next -= 1
            return params, _error(500, "api_error", "temporary", "api_error")
        return params, None

    def _idem(self, request: Request) -> str | None:
        key = request.headers.get("idempotency-key")
        return f"{request.url.path}:{key}" if key else None

    async def _create_session(self, request: Request) -> Response:
        params, failure = await self._record(request)
        if failure is not None:
            return failure
        key = self._idem(request)
        if key and key in self.idempotent:
            return JSONResponse(self.idempotent[key])
        now = int(time.time())
        expires_at = int(params.get("expires_at", now + 86400))
        if not now + 1800 - 5 <= expires_at <= now + 86400:
            return _error(400, "parameter_invalid_integer", "expires_at must be 30 minutes to 24 hours ahead")
        items = params.get("line_items", [])
        amount = sum(int(i["price_data"]["unit_amount"]) * int(i["quantity"]) for i in items)
        currency = items[0]["price_data"]["currency"] if items else params.get("currency")
        if amount < MIN_AMOUNT_FEN:
            return _error(400, "amount_too_small", "Amount must convert to at least 50 cents.")
        sid = f"cs_test_{next(self._ids):06d}"
        session = {
            "id": sid,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{sid}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "expires_at": expires_at,
            "mode": params.get("mode"),
            "payment_method_types": params.get("payment_method_types", []),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "_payment_intent_data": params.get("payment_intent_data", {}),
        }
        self.sessions[sid] = session
        if key:
            self.idempotent[key] = session
        return JSONResponse(session)

    async def _get_session(self, request: Request) -> Response:
        _params, failure = await self._record(request)
        if failure is not None:
            return failure
        session = self.sessions.get(request.path_params["sid"])
        if session is None:
            return _error(404, "resource_missing", "No such checkout.session")
        return JSONResponse(session)

    async def _expire_session(self, request: Request) -> Response:
        _params, failure = await self._record(request)
        if failure is not None:
            return failure
        session = self.sessions.get(request.path_params["sid"])
        if session is None:
            return _error(404, "resource_missing", "No such checkout.session")
        if session["status"] != "open":
            return _error(400, "checkout_session_not_open", "Only open sessions can be expired")
        session["status"] = "expired"
        return JSONResponse(session)

    async def _create_refund(self, request: Request) -> Response:
        params, failure = await self._record(request)
        if failure is not None:
            return failure
        key = self._idem(request)
        if key and key in self.idempotent:
            return JSONResponse(self.idempotent[key])
        intent = params.get("payment_intent")
        session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
        if session is None:
            return _error(400, "resource_missing", "No such payment_intent")
        rid = f"re_test_{next(self._ids):06d}"
        refund = {
            "id": rid,
            "object": "refund",
            "amount": session["amount_total"],
            "payment_intent": intent,
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
        }
        self.refunds[rid] = refund
        if key:
            self.idempotent[key] = refund
        return JSONResponse(refund)

    # --- test helpers -------------------------------------------------------------------------------

    def pay(self, sid: str, *, async_pending: bool = False) -> dict[str, Any]:
        """The buyer completes the session (paid, or awaiting an asynchronous payment)."""
        session = self.sessions[sid]
        session["status"] = "complete"
        session["payment_status"] = "unpaid" if async_pending else "paid"
        session["payment_intent"] = f"pi_{sid}"
        return session

    def public(self, session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def event(self, kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        return {
            "id": event_id or f"evt_{next(self._ids):06d}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
        }

    def session_event(self, kind: str, sid: str, **kwargs: Any) -> dict[str, Any]:
        return self.event(kind, self.public(self.sessions[sid]), **kwargs)

    def charge_refunded_event(self, sid: str, *, full: bool = True) -> dict[str, Any]:
        session = self.sessions[sid]
        charge = {
            "id": f"ch_{sid}",
            "object": "charge",
            "payment_intent": session["payment_intent"],
            "amount": session["amount_total"],
            "refunded": full,
            "amount_refunded": session["amount_total"] if full else 1,
            "metadata": session["_payment_intent_data"].get("metadata", {}),
        }
        return self.event("charge.refunded", charge)

    @staticmethod
    def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)

    @staticmethod
    def dumps(event: dict[str, Any]) -> str:
        return json.dumps(event)

    # --- serving ------------------------------------------------------------------------------------

    def start(self) -> str:
        port = free_port()
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none", http="h11"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Stripe did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
