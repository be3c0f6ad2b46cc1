"""WeChat Pay (微信支付) API v3 directly: JSAPI inside WeChat, H5 in other phone browsers, Native (a QR code of the
``code_url`` on our page) on desktops; query, close, refund and the daily trade bill.

Public-key mode: requests are signed with the merchant's private key (``WECHATPAY2-SHA256-RSA2048``), every answer
and notification is verified with the WeChat Pay public key named by ``LINPIAO_WECHATPAY_PUBLIC_KEY_ID`` — nothing
is downloaded at start-up — and notifications are decrypted with the APIv3 key (AEAD_AES_256_GCM). Signed with
``cryptography`` directly rather than ``wechatpayv3`` (see the README's "Libraries, and why"); calls go through
``httpx.AsyncClient`` on the event loop. Amounts are integers in fen."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel import clock
from kernel.money import parse_yuan
from kernel.settings import Settings
from registry.models import Order
from shop import purposes
from shop.payments import rsa
from shop.payments.base import (
    BillLine,
    CheckoutStart,
    InvalidNotification,
    NotForUs,
    PaymentContext,
    PaymentError,
    RemoteStatus,
    RemoteTrade,
    checkout_expires_at,
    provider_time,
)
from shop.payments.events import EventKind, PaymentEvent
from shop.payments.trades import TradeProvider, new_trade_no, order_id_of, refund_no

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
# A signed answer or notification older (or newer) than this is refused: a replay, or a clock gone wrong.
MAX_SKEW_SECONDS = 300
TRADE_STATE = {
    "SUCCESS": RemoteStatus.PAID,
    "REFUND": RemoteStatus.PAID,  # paid, then (partly) refunded
    "NOTPAY": RemoteStatus.OPEN,
    "USERPAYING": RemoteStatus.OPEN,
    "CLOSED": RemoteStatus.EXPIRED,
    "REVOKED": RemoteStatus.EXPIRED,
    "PAYERROR": RemoteStatus.FAILED,
}
# Closing a trade that is already paid, closed or unknown needs nothing more (reconcile reads the state again).
_CLOSED_ALREADY = {"ORDER_CLOSED", "ORDERPAID", "ORDER_PAID", "ORDERNOTEXIST", "ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"}


def _header(headers: Mapping[str, str], name: str) -> str:
    return str(headers.get(name) or headers.get(name.lower()) or "")


class WechatPayProvider(TradeProvider):
    name = "wechat_pay"
    label = "WeChat Pay"
    is_demo = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mchid = settings.wechatpay_mchid
        self.appid = settings.wechatpay_appid
        self._private_key = rsa.private_key(settings.wechatpay_private_key_file)
        self._wechat_key = rsa.public_key(settings.wechatpay_public_key_file)
        self._aead = AESGCM(settings.wechatpay_apiv3_key.encode())
        self._http = httpx.AsyncClient(timeout=20)

    # --- signing and verifying ----------------------------------------------------------------------------

    def authorization(self, method: str, path: str, body: str) -> str:
        """The ``Authorization`` header of a request: the merchant's signature over method, path with query,
        timestamp, nonce and body."""
        timestamp = str(int(clock.now().timestamp()))
        nonce = secrets.token_hex(16).upper()
        signature = rsa.sign(self._private_key, f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n")
        return (
            f'{SCHEMA} mchid="{self.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self.settings.wechatpay_cert_serial}"'
        )

    def verify_signed(self, headers: Mapping[str, str], body: str) -> None:
        """WeChat Pay's signature over an answer or a notification, by its public key, made within five minutes
        of our clock; :class:`InvalidNotification` otherwise."""
        serial = _header(headers, "Wechatpay-Serial")
        timestamp = _header(headers, "Wechatpay-Timestamp")
        nonce = _header(headers, "Wechatpay-Nonce")
        signature = _header(headers, "Wechatpay-Signature")
        kind = _header(headers, "Wechatpay-Signature-Type") or SCHEMA
        if kind != SCHEMA or serial != self.settings.wechatpay_public_key_id:
            raise InvalidNotification(f"signed by an unknown key {serial!r} ({kind})")
        if not timestamp.isdigit() or abs(int(clock.now().timestamp()) - int(timestamp)) > MAX_SKEW_SECONDS:
            raise InvalidNotification("stale or future timestamp")
        if not rsa.verify(self._wechat_key, f"{timestamp}\n{nonce}\n{body}\n", signature):
            raise InvalidNotification("signature does not verify")

    def decrypt(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidNotification(f"unknown algorithm {resource.get('algorithm')!r}")
        try:
            plain = self._aead.decrypt(
                str(resource["nonce"]).encode(),
                base64.b64decode(str(resource["ciphertext"])),
                str(resource.get("associated_data") or "").encode(),
            )
            data = json.loads(plain)
        except (KeyError, ValueError, InvalidTag, binascii.Error) as exc:
            raise InvalidNotification("cannot decrypt the resource") from exc
        if not isinstance(data, dict):
            raise InvalidNotification("the resource is not an object")
        return data

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(notification, decrypted resource)`` of a verified notification for this merchant and app."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidNotification("not UTF-8") from exc
        self.verify_signed(headers, text)
        try:
            notification = json.loads(text)
        except ValueError as exc:
            raise InvalidNotification("not JSON") from exc
        if not isinstance(notification, dict) or not isinstance(notification.get("resource"), dict):
            raise InvalidNotification("no resource")
        resource = self.decrypt(notification["resource"])
        if resource.get("mchid") != self.mchid:
            raise NotForUs(f"for another merchant: {resource.get('mchid')!r}")
        if "appid" in resource and resource.get("appid") != self.appid:
            raise NotForUs(f"for another app: {resource.get('appid')!r}")
        return notification, resource

    async def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """WeChat Pay's notification, verified and decrypted (:meth:`verify_notification`), as an event."""
        notification, resource = self.verify_notification(headers, body)
        return notification_event(notification, resource)

    # --- server calls -------------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, signed_answer: bool = True
    ) -> tuple[int, Any]:
        """Send a signed request to ``path`` (with its query); returns ``(status, JSON or bytes)``. A 2xx answer's
        signature is verified before anything in it is believed; a transport failure or a bad signature is
        :class:`PaymentError`, a refusal (4xx) comes back with WeChat Pay's ``{"code", "message"}``."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": self.authorization(method, path, body),
            "Accept": "application/json",
            "Wechatpay-Serial": self.settings.wechatpay_public_key_id,
            "User-Agent": "linpiao",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, self.settings.wechatpay_gateway + path, content=body.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            raise PaymentError(f"WeChat Pay {method} {path}: {exc}") from exc
        if response.status_code >= 500:
            raise PaymentError(f"WeChat Pay {method} {path}: HTTP {response.status_code}")
        if 200 <= response.status_code < 300 and signed_answer:
            try:
                self.verify_signed(response.headers, response.text)
            except InvalidNotification as exc:
                raise PaymentError(f"WeChat Pay {method} {path}: {exc}") from exc
        if not response.content:
            return response.status_code, {}
        if "json" not in response.headers.get("content-type", ""):
            return response.status_code, response.content
        try:
            return response.status_code, response.json()
        except ValueError as exc:
            raise PaymentError(f"WeChat Pay {method} {path}: not JSON") from exc

    @staticmethod
    def _refused(what: str, status: int, answer: Any) -> PaymentError:
        code = answer.get("code") if isinstance(answer, dict) else ""
        message = answer.get("message") if isinstance(answer, dict) else ""
        return PaymentError(f"WeChat Pay {what}: HTTP {status} {code} {message}")

    # --- the interface ------------------------------------------------------------------------------------

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """What ``WeixinJSBridge.invoke("getBrandWCPayRequest", …)`` takes, signed with the merchant key."""
        params = {
            "appId": self.appid,
            "timeStamp": str(int(clock.now().timestamp())),
            "nonceStr": secrets.token_hex(16),
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
        }
        message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        params["paySign"] = rsa.sign(self._private_key, message)
        return params

    async def create_checkout(self, order: Order, context: PaymentContext | None = None) -> CheckoutStart:
        """A new trade: Native (a ``code_url`` for our QR code) on desktops, H5 (WeChat's page) on other phones,
        JSAPI (parameters for the page's bridge call) inside WeChat with the payer's openid."""
        context = context or PaymentContext()
        channel = context.channel or {"desktop": "native", "phone": "h5", "wechat": "jsapi"}[context.device]
        base = self.settings.base_url
        trade_no = context.trade_no or new_trade_no(order)
        payload: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": purposes.of(order).subject_of(order),
            "out_trade_no": trade_no,
            "time_expire": clock.local(checkout_expires_at(order)).isoformat(timespec="seconds"),
            "notify_url": f"{base}/webhooks/wechatpay",
            "amount": {"total": int(order.amount_fen), "currency": "CNY"},
        }
        if channel == "jsapi":
            if not context.openid:
                raise PaymentError("WeChat Pay JSAPI needs the payer's openid")
            payload["payer"] = {"openid": context.openid}
        elif channel == "h5":
            payload["scene_info"] = {"payer_client_ip": context.client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
        elif channel != "native":
            raise PaymentError(f"WeChat Pay: unknown channel {channel!r}")
        status, answer = await self.request("POST", f"/v3/pay/transactions/{channel}", payload)
        if status != 200 or not isinstance(answer, dict):
            raise self._refused(f"{channel} order", status, answer)
        pay_page = f"{base}/pay/{order.token}"
        if channel == "native":
            return CheckoutStart(url=pay_page, ref=trade_no, qr=str(answer["code_url"]), channel=channel)
        if channel == "h5":
            h5_url = str(answer["h5_url"])
            back = quote(f"{pay_page}/return", safe="")
            joiner = "&" if "?" in h5_url else "?"
            return CheckoutStart(url=f"{h5_url}{joiner}redirect_url={back}", ref=trade_no, channel=channel)
        params = self.jsapi_params(str(answer["prepay_id"]))
        return CheckoutStart(url=pay_page, ref=trade_no, jsapi=params, channel=channel)

    async def query(self, trade_no: str) -> dict[str, Any] | None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(trade_no)}?{urlencode({'mchid': self.mchid})}"
        status, answer = await self.request("GET", path)
        if status == 404:
            return None
        if status != 200 or not isinstance(answer, dict):
            raise self._refused("query", status, answer)
        if answer.get("mchid") != self.mchid or answer.get("out_trade_no") != trade_no:
            raise PaymentError("WeChat Pay answered about another trade")
        return answer

    async def retrieve_trade(self, order: Order) -> RemoteTrade:
        if not order.provider_ref:
            return RemoteTrade(RemoteStatus.UNKNOWN)
        answer = await self.query(order.provider_ref)
        if answer is None:
            return RemoteTrade(RemoteStatus.UNKNOWN)
        status = TRADE_STATE.get(str(answer.get("trade_state")), RemoteStatus.UNKNOWN)
        amount = answer.get("amount") or {}
        paid = int(amount["total"]) if status is RemoteStatus.PAID and "total" in amount else None
        if paid is not None and amount.get("currency", "CNY") != "CNY":
            paid = -1  # never fulfil a payment in another currency
        return RemoteTrade(status, paid, str(answer.get("transaction_id", "")), answer)

    async def close_trade(self, trade_no: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(trade_no)}/close"
        status, answer = await self.request("POST", path, {"mchid": self.mchid})
        if status in (200, 204):
            return
        if isinstance(answer, dict) and answer.get("code") in _CLOSED_ALREADY:
            return
        raise self._refused("close", status, answer)

    async def refund_trade(self, trade_no: str, amount_fen: int, total_fen: int, *, number: int = 1) -> str:
        """Refund ``amount_fen`` of a trade of ``total_fen`` under the refund's own ``out_refund_no`` — the same on
        every retry of this refund, so WeChat Pay refunds once. Returns it."""
        out_refund_no = refund_no(trade_no, number)
        status, answer = await self.request(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": trade_no,
                "out_refund_no": out_refund_no,
                "reason": "林票订单退款",
                "notify_url": f"{self.settings.base_url}/webhooks/wechatpay",
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            },
        )
        if status != 200 or not isinstance(answer, dict) or answer.get("status") in ("CLOSED", "ABNORMAL"):
            raise self._refused("refund", status, answer)
        return out_refund_no

    async def bill(self, day: date) -> list[BillLine]:
        """The trade bill (交易账单) of a Beijing date: its download address, then the file itself (signed request;
        the file is checked against the SHA1 the first, signed, answer gave)."""
        query = urlencode({"bill_date": day.isoformat(), "bill_type": "ALL"})
        status, answer = await self.request("GET", f"/v3/bill/tradebill?{query}")
        if status != 200 or not isinstance(answer, dict):
            raise self._refused("trade bill", status, answer)
        url = urlsplit(str(answer["download_url"]))
        path = url.path + (f"?{url.query}" if url.query else "")
        status, content = await self.request("GET", path, signed_answer=False)
        if status != 200:
            raise self._refused("bill download", status, content)
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        if answer.get("hash_type", "SHA1") == "SHA1" and hashlib.sha1(data).hexdigest() != answer.get("hash_value"):  # noqa: S324 - WeChat Pay's own checksum
            raise PaymentError("WeChat Pay bill: the file does not match its SHA1")
        return parse_bill_csv(data.decode("utf-8-sig"))

    # --- official-account OAuth (the payer's openid for JSAPI) ----------------------------------------------

    def oauth_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {
                "appid": self.appid,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
            }
        )
        return f"{self.settings.wechat_oauth_base}/connect/oauth2/authorize?{query}#wechat_redirect"

    async def openid_for_code(self, code: str) -> str:
        """Exchange the OAuth ``code`` for the payer's openid (``sns/oauth2/access_token``)."""
        query = urlencode(
            {
                "appid": self.appid,
                "secret": self.settings.wechatpay_app_secret,
                "code": code,
                "grant_type": "authorization_code",
            }
        )
        try:
            response = await self._http.get(f"{self.settings.wechat_api_base}/sns/oauth2/access_token?{query}")
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PaymentError(f"WeChat OAuth: {exc}") from exc
        if not isinstance(answer, dict) or not answer.get("openid"):
            errcode = answer.get("errcode") if isinstance(answer, dict) else ""
            raise PaymentError(f"WeChat OAuth refused the code: {errcode}")
        return str(answer["openid"])

    async def aclose(self) -> None:
        await self._http.aclose()


def paid_at(resource: Mapping[str, Any]) -> datetime | None:
    """When the payer paid: ``success_time`` (RFC 3339)."""
    return provider_time(resource.get("success_time"))


def notification_event(notification: dict[str, Any], resource: dict[str, Any]) -> PaymentEvent:
    """A verified, decrypted notification as an event about the trade ``out_trade_no`` (which names its order).

    ``TRANSACTION.SUCCESS`` is a payment of ``amount.total`` fen (CNY only); ``REFUND.SUCCESS`` a refund of
    ``amount.refund`` fen (settlement counts a refund of the whole amount; less, or another refund state, is kept as
    evidence). Deduplicated by WeChat Pay's transaction (or refund) id and state."""
    kind_name = str(notification.get("event_type", ""))
    out_trade_no = str(resource.get("out_trade_no", ""))
    amount_info = resource.get("amount") or {}
    amount = refunded = None
    if kind_name == "TRANSACTION.SUCCESS" and resource.get("trade_state") == "SUCCESS":
        kind = EventKind.PAID
        total = amount_info.get("total")
        amount = int(total) if isinstance(total, int) and amount_info.get("currency", "CNY") == "CNY" else -1
        event_id = f"wechat_pay:{resource.get('transaction_id') or out_trade_no}:SUCCESS"
    elif kind_name.startswith("REFUND."):
        refund = amount_info.get("refund")
        success = resource.get("refund_status") == "SUCCESS" and isinstance(refund, int)
        kind = EventKind.REFUNDED if success else EventKind.NOTE
        refunded = refund if success else None
        event_id = f"wechat_pay:refund:{resource.get('refund_id') or resource.get('out_refund_no')}:{kind_name}"
    else:
        kind = EventKind.NOTE
        event_id = f"wechat_pay:{notification.get('id', '')}:{kind_name}"
    return PaymentEvent(
        provider="wechat_pay",
        event_id=event_id,
        kind=kind,
        amount_fen=amount,
        payload={
            "out_trade_no": out_trade_no,
            "trade_no": str(resource.get("transaction_id", "")),
            "notification": {**notification, "resource": resource},
        },
        event_type=f"wechat_pay.{kind_name.lower() or 'unknown'}",
        order_id=order_id_of(out_trade_no),
        trade_no=out_trade_no,
        paid_at=paid_at(resource) if kind is EventKind.PAID else None,
        refund_fen=refunded,
    )


def parse_bill_csv(text: str) -> list[BillLine]:
    """WeChat Pay's trade bill: a header of column names, one row per payment or refund with every cell
    prefixed by a backtick, then a summary (总交易单数…) that is not a trade."""
    lines: list[BillLine] = []
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip().lstrip("`") for c in row]
        if not cells or not cells[0]:
            continue
        if header is None:
            header = cells
            continue
        if cells[0].startswith("总交易单数"):
            break
        record = dict(zip(header, cells, strict=False))
        out_trade_no = record.get("商户订单号", "")
        if not out_trade_no:
            continue
        if record.get("交易状态") == "REFUND":
            lines.append(
                BillLine(
                    out_trade_no=out_trade_no,
                    trade_no=record.get("微信订单号", ""),
                    kind="refund",
                    amount_fen=parse_yuan(record.get("退款金额", "0") or "0"),
                    refund_no=record.get("商户退款单号", ""),
                )
            )
        elif record.get("交易状态") == "SUCCESS":
            lines.append(
                BillLine(
                    out_trade_no=out_trade_no,
                    trade_no=record.get("微信订单号", ""),
                    kind="payment",
                    amount_fen=parse_yuan(record.get("订单金额") or record.get("应结订单金额") or "0"),
                )
            )
    return lines
