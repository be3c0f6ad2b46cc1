"""A fake WeChat Pay API v3 (public-key mode) and official-account OAuth on loopback, for the app's real signing,
verification and decryption code.

It knows the merchant's public key and checks every request's ``WECHATPAY2-SHA256-RSA2048`` Authorization (merchant
id, certificate serial, a fresh timestamp, the signature over method, path, timestamp, nonce and body), signs every
answer and notification with its own key (the app gets the public half and its id), and encrypts notifications with
the APIv3 key (AEAD_AES_256_GCM). It speaks Native, H5 and JSAPI orders, query, close, refund, the trade bill and
its download, and ``connect/oauth2/authorize`` + ``sns/oauth2/access_token``; its H5 page and its
:meth:`FakeWechatPay.pay` stand in for the payer. Nothing here touches the network."""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakegateway import FakeGateway, new_key, private_pem, public_pem, sign, verify, write

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
APP_SECRET = "fake-official-account-secret"
CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026"
APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
BEIJING = ZoneInfo("Asia/Shanghai")
_AUTH = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Trade:
    out_trade_no: str
    kind: str  # NATIVE | MWEB | JSAPI
    amount_fen: int
    description: str
    notify_url: str
    time_expire: str
    payload: dict[str, Any]
    prepay: str
    transaction_id: str
    state: str = "NOTPAY"
    openid: str = ""
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    paid_on: date | None = None
    paid_at: datetime | None = None  # when the payer paid (Beijing time)


class FakeWechatPay(FakeGateway):
    def __init__(self) -> None:
        super().__init__()
        self.wechat_key = new_key()  # WeChat Pay's ("public-key mode"): signs answers and notifications
        self.merchant_key = new_key()  # the merchant's: the fake knows its public half
        self.trades: dict[str, Trade] = {}
        self.requests: list[dict[str, Any]] = []
        # a line with a "day" (the Beijing date it happened) is only in that day's bill; one without, in every bill
        self.bill_lines: list[dict[str, Any]] = []
        self.bill_days: list[str] = []  # the bill_date of every bill asked for
        self.codes: dict[str, str] = {}  # OAuth code → openid
        self.openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
        self.down = False
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.trades.clear()
        self.requests.clear()
        self.bill_lines.clear()
        self.bill_days.clear()
        self.codes.clear()
        self.delivered.clear()
        self.down = False

    def key_files(self, folder: Path) -> tuple[str, str]:
        """``(merchant private key file, WeChat Pay public key file)``."""
        return (
            write(folder / "wechatpay_apiclient_key.pem", private_pem(self.merchant_key)),
            write(folder / "wechatpay_pub_key.pem", public_pem(self.wechat_key)),
        )

    # --- signing -----------------------------------------------------------------------------------------

    def _check(self, request: Request, body: str) -> str | None:
        """The refusal of a request's Authorization, or None when the merchant signed it now."""
        header = request.headers.get("authorization", "")
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return "no WECHATPAY2-SHA256-RSA2048 authorization"
        fields = dict(_AUTH.findall(header))
        if fields.get("mchid") != MCHID or fields.get("serial_no") != CERT_SERIAL:
            return "unknown merchant or certificate"
        if abs(int(fields.get("timestamp", "0")) - int(time.time())) > 300:
            return "stale timestamp"
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = f"{request.method}\n{path}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n{body}\n"
        if not verify(self.merchant_key.public_key(), message, fields.get("signature", "")):
            return "signature does not verify"
        return None

    def signed_headers(self, body: str, *, key: Any = None, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(key or self.wechat_key, f"{stamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def answer(self, status: int, content: dict[str, Any] | None = None) -> Response:
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")) if content is not None else ""
        headers = self.signed_headers(body)
        if content is None:
            return Response(status_code=status, headers=headers)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    def encrypt(
        self, resource: dict[str, Any], *, key: str = APIV3_KEY, associated: str = "transaction"
    ) -> dict[str, str]:
        nonce = secrets.token_hex(6)
        plain = json.dumps(resource, ensure_ascii=False).encode()
        cipher = AESGCM(key.encode()).encrypt(nonce.encode(), plain, associated.encode())
        return {
            "original_type": associated,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(cipher).decode(),
            "associated_data": associated,
            "nonce": nonce,
        }

    def transaction(self, trade: Trade) -> dict[str, Any]:
        return {
            "mchid": MCHID,
            "appid": APPID,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.kind,
            "trade_state": trade.state,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭"}.get(trade.state, ""),
            "bank_type": "OTHERS",
            "success_time": (trade.paid_at or datetime.now(BEIJING)).isoformat(timespec="seconds"),
            "payer": {"openid": trade.openid or self.openid},
            "amount": {"total": trade.amount_fen, "payer_total": trade.amount_fen, "currency": "CNY"},
        }

    def notification(
        self,
        resource: dict[str, Any],
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        key: Any = None,
        timestamp: int | None = None,
        apiv3_key: str = APIV3_KEY,
    ) -> tuple[dict[str, str], bytes]:
        """``(headers, body)`` of a notification about ``resource``, encrypted and signed as WeChat Pay does."""
        associated = "refund" if event_type.startswith("REFUND") else "transaction"
        body = json.dumps(
            {
                "id": f"EV-{next(self._ids):018d}",
                "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功" if event_type == "TRANSACTION.SUCCESS" else "退款",
                "resource": self.encrypt(resource, key=apiv3_key, associated=associated),
            },
            ensure_ascii=False,
        )
        headers = {**self.signed_headers(body, key=key, timestamp=timestamp), "Content-Type": "application/json"}
        return headers, body.encode()

    # --- the payer --------------------------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        """The payer pays; returns the notification WeChat Pay then sends."""
        trade = self.trades[out_trade_no]
        assert trade.state == "NOTPAY", trade.state
        trade.state = "SUCCESS"
        trade.paid_at = datetime.now(BEIJING)
        trade.paid_on = trade.paid_at.date()
        self.bill_lines.append(
            {
                "state": "SUCCESS",
                "trade": trade.out_trade_no,
                "amount_fen": trade.amount_fen,
                "day": trade.paid_on.isoformat(),
            }
        )
        return self.notification(self.transaction(trade))

    def trade_by_code(self, code_url: str) -> Trade:
        return next(t for t in self.trades.values() if t.prepay == code_url)

    def trade_for(self, order_id: int) -> Trade:
        return [t for t in self.trades.values() if t.out_trade_no.startswith(f"LP{order_id}_")][-1]

    async def pay_and_notify(self, out_trade_no: str) -> int:
        """The payer pays, and WeChat Pay delivers the notification to the trade's ``notify_url``."""
        headers, body = self.pay(out_trade_no)
        return await self.deliver(self.trades[out_trade_no].notify_url, content=body, headers=headers)

    def refund_notification(self, out_refund_no: str) -> tuple[dict[str, str], bytes]:
        trade = next(t for t in self.trades.values() if out_refund_no in t.refunds)
        refund = trade.refunds[out_refund_no]
        resource = {
            "mchid": MCHID,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": "SUCCESS",
            "success_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
            "amount": {"total": trade.amount_fen, "refund": refund["amount"], "payer_total": trade.amount_fen},
        }
        return self.notification(resource, event_type="REFUND.SUCCESS")

    # --- HTTP ----------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/pay/transactions/{kind}", self._order, methods=["POST"]),
                Route("/v3/pay/transactions/out-trade-no/{no}", self._query),
                Route("/v3/pay/transactions/out-trade-no/{no}/close", self._close, methods=["POST"]),
                Route("/v3/refund/domestic/refunds", self._refund, methods=["POST"]),
                Route("/v3/bill/tradebill", self._bill),
                Route("/v3/billdownload/file", self._bill_file),
                Route("/h5pay", self._h5_page, methods=["GET", "POST"]),
                Route("/connect/oauth2/authorize", self._authorize),
                Route("/sns/oauth2/access_token", self._access_token),
            ]
        )

    async def _read(self, request: Request) -> tuple[str, Response | None]:
        body = (await request.body()).decode()
        self.requests.append({"method": request.method, "path": request.url.path, "body": body})
        if self.down:
            return body, JSONResponse({"code": "SYSTEM_ERROR", "message": "系统繁忙"}, status_code=500)
        refusal = self._check(request, body)
        if refusal:
            return body, JSONResponse({"code": "SIGN_ERROR", "message": refusal}, status_code=401)
        return body, None

    async def _order(self, request: Request) -> Response:
        body, failure = await self._read(request)
        if failure is not None:
            return failure
        kind = request.path_params["kind"]
        payload = json.loads(body)
        if payload.get("mchid") != MCHID or payload.get("appid") != APPID:
            return self.answer(400, {"code": "PARAM_ERROR", "message": "appid和mch_id不匹配"})
        amount = payload["amount"]
        assert isinstance(amount["total"], int) and amount["currency"] == "CNY"
        if kind == "jsapi" and not payload.get("payer", {}).get("openid"):
            return self.answer(400, {"code": "PARAM_ERROR", "message": "缺少openid"})
        if kind == "h5" and not payload.get("scene_info", {}).get("payer_client_ip"):
            return self.answer(400, {"code": "PARAM_ERROR", "message": "缺少payer_client_ip"})
        out_trade_no = payload["out_trade_no"]
        trade = self.trades.get(out_trade_no)
        mine = {k: v for k, v in payload.items() if k != "scene_info"}
        if trade is not None and trade.payload != mine:
            return self.answer(400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"})
        if trade is not None and trade.state != "NOTPAY":
            return self.answer(400, {"code": "ORDERPAID" if trade.state == "SUCCESS" else "ORDER_CLOSED"})
        if trade is None:
            serial = next(self._ids)
            prepay = {
                "native": f"weixin://wxpay/bizpayurl?pr=FAKE{serial:06d}",
                "h5": f"{self.url}/h5pay?prepay_id=wx{serial:020d}",
                "jsapi": f"wx{serial:020d}",
            }[kind]
            trade = Trade(
                out_trade_no=out_trade_no,
                kind={"native": "NATIVE", "h5": "MWEB", "jsapi": "JSAPI"}[kind],
                amount_fen=amount["total"],
                description=payload["description"],
                notify_url=payload["notify_url"],
                time_expire=payload.get("time_expire", ""),
                payload=mine,
                prepay=prepay,
                transaction_id=f"42000{serial:023d}",
                openid=payload.get("payer", {}).get("openid", ""),
            )
            self.trades[out_trade_no] = trade
        key = {"native": "code_url", "h5": "h5_url", "jsapi": "prepay_id"}[kind]
        return self.answer(200, {key: trade.prepay})

    async def _query(self, request: Request) -> Response:
        _body, failure = await self._read(request)
        if failure is not None:
            return failure
        if request.query_params.get("mchid") != MCHID:
            return self.answer(400, {"code": "PARAM_ERROR", "message": "mchid"})
        trade = self.trades.get(request.path_params["no"])
        if trade is None:
            return self.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        return self.answer(200, self.transaction(trade))

    async def _close(self, request: Request) -> Response:
        body, failure = await self._read(request)
        if failure is not None:
            return failure
        assert json.loads(body) == {"mchid": MCHID}
        trade = self.trades.get(request.path_params["no"])
        if trade is None:
            return self.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        if trade.state == "SUCCESS":
            return self.answer(400, {"code": "ORDERPAID", "message": "订单已支付"})
        trade.state = "CLOSED"
        return self.answer(204)

    async def _refund(self, request: Request) -> Response:
        body, failure = await self._read(request)
        if failure is not None:
            return failure
        payload = json.loads(body)
        trade = self.trades.get(payload.get("out_trade_no", ""))
        if trade is None:
            return self.answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        amount = payload["amount"]
        out_refund_no = payload["out_refund_no"]
        if out_refund_no not in trade.refunds:
            refunded = sum(r["amount"] for r in trade.refunds.values())
            if trade.state not in ("SUCCESS", "REFUND") or amount["total"] != trade.amount_fen:
                return self.answer(400, {"code": "INVALID_REQUEST", "message": "订单状态或金额不符"})
            if refunded + amount["refund"] > trade.amount_fen:
                return self.answer(400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单金额"})
            trade.refunds[out_refund_no] = {"refund_id": f"50300{next(self._ids):024d}", "amount": amount["refund"]}
            trade.state = "REFUND"
            self.bill_lines.append(
                {
                    "state": "REFUND",
                    "trade": trade.out_trade_no,
                    "amount_fen": amount["refund"],
                    "refund": out_refund_no,
                    "day": datetime.now(BEIJING).date().isoformat(),
                }
            )
        refund = trade.refunds[out_refund_no]
        return self.answer(
            200,
            {
                "refund_id": refund["refund_id"],
                "out_refund_no": out_refund_no,
                "transaction_id": trade.transaction_id,
                "out_trade_no": trade.out_trade_no,
                "status": "SUCCESS",
                "amount": {"refund": refund["amount"], "total": trade.amount_fen, "currency": "CNY"},
            },
        )

    def bill_csv(self, day: str | None = None) -> bytes:
        """The trade bill of a Beijing date: the lines of that day (a line without a "day" is in every bill)."""
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
            "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
            "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
        )
        lines = [header]
        listed = [line for line in self.bill_lines if day is None or line.get("day", day) == day]
        for line in listed:
            trade = self.trades.get(line["trade"])
            yuan = f"{line['amount_fen'] // 100}.{line['amount_fen'] % 100:02d}"
            transaction = trade.transaction_id if trade else "4200000000000000000000000000"
            refund = line["state"] == "REFUND"
            cells = [
                "2026-01-01 10:00:00", APPID, MCHID, "0", "", transaction, line["trade"], self.openid, "NATIVE",
                line["state"], "OTHERS", "CNY", "0.00" if refund else yuan, "0.00", "503000" if refund else "0",
                line.get("refund", "0"), yuan if refund else "0.00", "0.00", "ORIGINAL" if refund else "",
                "SUCCESS" if refund else "", "碳汇林票", "", "0.00", "0.60%", yuan, yuan if refund else "0.00", "",
            ]  # fmt: skip
            lines.append(",".join(f"`{c}" for c in cells))
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(f"`{len(listed)},`0.00,`0.00,`0.00,`0.00,`0.00,`0.00")
        return ("\n".join(lines) + "\n").encode()

    async def _bill(self, request: Request) -> Response:
        _body, failure = await self._read(request)
        if failure is not None:
            return failure
        day = request.query_params["bill_date"]
        self.bill_days.append(day)
        data = self.bill_csv(day)
        return self.answer(
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(data).hexdigest(),
                "download_url": f"{self.url}/v3/billdownload/file?token=BILL{day.replace('-', '')}",
            },
        )

    async def _bill_file(self, request: Request) -> Response:
        _body, failure = await self._read(request)
        if failure is not None:
            return failure
        token = request.query_params.get("token", "")
        day = f"{token[4:8]}-{token[8:10]}-{token[10:12]}"  # BILLyyyymmdd
        return Response(self.bill_csv(day), media_type="application/octet-stream")

    async def _h5_page(self, request: Request) -> Response:
        """WeChat Pay's H5 middle page: the payer confirms, WeChat Pay notifies, the payer goes back."""
        if request.method == "POST":
            form = dict(parse_qsl((await request.body()).decode()))
            trade = next(t for t in self.trades.values() if t.prepay.endswith(f"prepay_id={form['prepay_id']}"))
            await self.pay_and_notify(trade.out_trade_no)
            return RedirectResponse(form["redirect_url"], status_code=303)
        prepay_id = request.query_params["prepay_id"]
        back = request.query_params.get("redirect_url", "")
        trade = next(t for t in self.trades.values() if t.prepay.endswith(f"prepay_id={prepay_id}"))
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>微信支付</title>"
            "<meta name='viewport' content='width=device-width'></head><body>"
            f"<h1>微信支付</h1><p id='h5-amount'>¥{trade.amount_fen // 100}.{trade.amount_fen % 100:02d}</p>"
            "<form method='post' action='/h5pay'>"
            f"<input type='hidden' name='prepay_id' value='{html.escape(prepay_id)}'>"
            f"<input type='hidden' name='redirect_url' value='{html.escape(back)}'>"
            "<button id='wechat-h5-confirm' type='submit'>确认支付</button></form></body></html>"
        )
        return HTMLResponse(page)

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        assert params.get("appid") == APPID and params.get("scope") == "snsapi_base", dict(params)
        code = f"CODE{next(self._ids):08d}"
        self.codes[code] = self.openid
        target = params["redirect_uri"]
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(
            f"{target}{joiner}{urlencode({'code': code, 'state': params['state']})}", status_code=302
        )

    async def _access_token(self, request: Request) -> Response:
        params = request.query_params
        if params.get("appid") != APPID or params.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        openid = self.codes.pop(params.get("code", ""), None)
        if openid is None:
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse({"access_token": "ACCESS", "expires_in": 7200, "openid": openid, "scope": "snsapi_base"})
