"""A fake Alipay open-platform gateway on loopback, for the app's real RSA2 signing and verification code.

It holds its own RSA key pair (the app gets the public half as ``LINPIAO_ALIPAY_PUBLIC_KEY_FILE``) and knows the
app's public key, so it checks every request's signature — refusing a bad one as Alipay does — and signs every
answer and notification. It speaks the cashier (``alipay.trade.page.pay`` / ``wap.pay`` by GET, with a "pay"
button that notifies the app and returns the payer), ``alipay.trade.query``, ``close``, ``refund`` and the bill
(``alipay.data.dataservice.bill.downloadurl.query`` and the zip it points to). Nothing here touches the network."""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakegateway import FakeGateway, new_key, private_pem, public_base64, public_pem, sign, verify, write

APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
BEIJING = ZoneInfo("Asia/Shanghai")


def fen(amount: str) -> int:
    value = Decimal(amount) * 100
    assert value == value.to_integral_value(), amount
    return int(value)


def yuan(amount_fen: int) -> str:
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def signing_string(params: dict[str, str], exclude: tuple[str, ...]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v != "")


@dataclass
class Trade:
    out_trade_no: str
    amount_fen: int
    subject: str
    product_code: str
    notify_url: str
    return_url: str
    time_expire: str
    trade_no: str
    status: str = "WAIT_BUYER_PAY"
    refunds: dict[str, int] = field(default_factory=dict)  # out_request_no → fen
    paid_on: date | None = None
    paid_at: datetime | None = None  # when the payer paid (Beijing time)


class _GbkName(zipfile.ZipInfo):
    """Alipay's zips name their files in GBK without the UTF-8 flag."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


class FakeAlipay(FakeGateway):
    def __init__(self) -> None:
        super().__init__()
        self.alipay_key = new_key()  # Alipay's own: signs answers and notifications
        self.app_key = new_key()  # the merchant app's: the fake knows its public half
        self.trades: dict[str, Trade] = {}
        self.requests: list[dict[str, Any]] = []
        # what the bills list (tests may add or change lines); a line with a "day" (the Beijing date it happened)
        # is only in that day's bill, as Alipay's are; one without is in every bill
        self.bill_lines: list[dict[str, Any]] = []
        self.down = False
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.trades.clear()
        self.requests.clear()
        self.bill_lines.clear()
        self.delivered.clear()
        self.down = False

    def key_files(self, folder: Path) -> tuple[str, str]:
        """``(app private key file, Alipay public key file)``: PKCS #1 PEM and the bare base64 Alipay shows."""
        return (
            write(folder / "alipay_app_private.pem", private_pem(self.app_key, pkcs1=True)),
            write(folder / "alipay_public.txt", public_base64(self.alipay_key)),
        )

    def app_public_pem(self) -> bytes:
        return public_pem(self.app_key)

    # --- signing -----------------------------------------------------------------------------------------

    def _check(self, params: dict[str, str]) -> str | None:
        """Alipay's refusal of a request (as a sub_code), or None when it is well signed and for our app."""
        if params.get("app_id") != APP_ID:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or params.get("charset") != "utf-8":
            return "isv.invalid-signature-type"
        if not verify(self.app_key.public_key(), signing_string(params, ("sign",)), params.get("sign", "")):
            return "isv.invalid-signature"
        stamp = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        if abs(stamp - datetime.now(BEIJING)) > timedelta(minutes=30):  # Beijing time, not UTC
            return "isv.invalid-timestamp"
        return None

    def signed_answer(self, method: str, content: dict[str, Any], *, key: Any = None) -> Response:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        signature = sign(key or self.alipay_key, text)
        name = method.replace(".", "_") + "_response"
        body = f'{{"{name}":{text},"sign":"{signature}"}}'
        return Response(body, media_type="application/json;charset=utf-8")

    def notification(
        self, out_trade_no: str, status: str = "TRADE_SUCCESS", *, key: Any = None, **changes: str
    ) -> dict[str, str]:
        """The signed form Alipay posts to ``notify_url`` about a trade (``changes`` alter fields before signing)."""
        trade = self.trades[out_trade_no]
        now = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        paid = trade.paid_at.strftime("%Y-%m-%d %H:%M:%S") if trade.paid_at else now
        params = {
            "notify_time": now,
            "notify_type": "trade_status_sync",
            "notify_id": f"ntf{next(self._ids):08d}",
            "app_id": APP_ID,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": out_trade_no,
            "buyer_id": "2088102177846880",
            "seller_id": SELLER_ID,
            "trade_status": status,
            "total_amount": yuan(trade.amount_fen),
            "receipt_amount": yuan(trade.amount_fen),
            "subject": trade.subject,
            "gmt_create": now,
            "gmt_payment": paid,
            **changes,
        }
        params["sign"] = sign(key or self.alipay_key, signing_string(params, ("sign", "sign_type")))
        params["sign_type"] = "RSA2"
        return params

    @staticmethod
    def encode(params: dict[str, str]) -> bytes:
        return urlencode(params).encode()

    # --- the payer --------------------------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> dict[str, str]:
        """The payer pays in Alipay's cashier; returns the notification Alipay then sends."""
        trade = self.trades[out_trade_no]
        assert trade.status == "WAIT_BUYER_PAY", trade.status
        trade.status = "TRADE_SUCCESS"
        trade.paid_at = datetime.now(BEIJING)
        trade.paid_on = trade.paid_at.date()
        self.bill_lines.append(
            {
                "kind": "交易",
                "out_trade_no": out_trade_no,
                "trade_no": trade.trade_no,
                "amount_fen": trade.amount_fen,
                "day": trade.paid_on.isoformat(),
            }
        )
        return self.notification(out_trade_no)

    def trade_for(self, order_id: int) -> Trade:
        [trade] = [t for t in self.trades.values() if t.out_trade_no.startswith(f"LP{order_id}_")][-1:]
        return trade

    # --- HTTP ----------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/gateway.do", self._gateway, methods=["GET", "POST"]),
                Route("/cashier/pay", self._cashier_pay, methods=["POST"]),
                Route("/bills/{name}", self._bill_file),
            ]
        )

    async def _gateway(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(parse_qsl((await request.body()).decode(), keep_blank_values=True)))
        method = params.get("method", "")
        self.requests.append({"method": method, "params": params, "http": request.method})
        refusal = self._check(params)
        if method in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
            if refusal:
                return HTMLResponse(f"<h1>错误 {refusal}</h1>", status_code=400)
            return self._cashier(method, params)
        if self.down:
            return Response("busy", status_code=502)
        if refusal:
            return self.signed_answer(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": refusal})
        biz = json.loads(params.get("biz_content") or "{}")
        handler = {
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }.get(method)
        if handler is None:
            return self.signed_answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "unknown"})
        return self.signed_answer(method, handler(biz))

    def _cashier(self, method: str, params: dict[str, str]) -> Response:
        biz = json.loads(params["biz_content"])
        out_trade_no = biz["out_trade_no"]
        expected = "FAST_INSTANT_TRADE_PAY" if method == "alipay.trade.page.pay" else "QUICK_WAP_WAY"
        assert biz["product_code"] == expected, biz
        amount = fen(biz["total_amount"])
        assert biz["total_amount"] == yuan(amount), biz["total_amount"]  # exactly two decimals
        trade = self.trades.get(out_trade_no)
        if trade is None:
            trade = Trade(
                out_trade_no=out_trade_no,
                amount_fen=amount,
                subject=biz["subject"],
                product_code=biz["product_code"],
                notify_url=params.get("notify_url", ""),
                return_url=params.get("return_url", ""),
                time_expire=biz.get("time_expire", ""),
                trade_no=f"2026{next(self._ids):024d}",
            )
            self.trades[out_trade_no] = trade
        elif trade.status != "WAIT_BUYER_PAY":
            return HTMLResponse("<h1>交易已关闭或已支付</h1>", status_code=400)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>支付宝收银台</title>"
            "<meta name='viewport' content='width=device-width'></head><body>"
            f"<h1>支付宝</h1><p id='cashier-subject'>{html.escape(trade.subject)}</p>"
            f"<p id='cashier-amount'>¥{yuan(trade.amount_fen)}</p><p id='cashier-kind'>{html.escape(method)}</p>"
            f"<form method='post' action='/cashier/pay'><input type='hidden' name='out_trade_no' "
            f"value='{html.escape(out_trade_no)}'><button id='alipay-confirm' type='submit'>确认付款</button></form>"
            "</body></html>"
        )
        return HTMLResponse(page)

    async def _cashier_pay(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        trade = self.trades[form["out_trade_no"]]
        notification = self.pay(trade.out_trade_no)
        await self.deliver(
            trade.notify_url,
            content=self.encode(notification),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        return RedirectResponse(f"{trade.return_url}?out_trade_no={trade.out_trade_no}", status_code=303)

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return {
                "code": "40004",
                "msg": "Business Failed",
                "sub_code": "ACQ.TRADE_NOT_EXIST",
                "sub_msg": "交易不存在",
            }
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": yuan(trade.amount_fen),
            "buyer_logon_id": "159****5620",
        }

    def _close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        if trade.status != "WAIT_BUYER_PAY":
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        request_no = biz.get("out_request_no") or trade.out_trade_no
        amount = fen(biz["refund_amount"])
        if request_no in trade.refunds:  # the same refund asked again: nothing more moves
            fund_change = "N"
        else:
            if trade.status not in ("TRADE_SUCCESS",) or sum(trade.refunds.values()) + amount > trade.amount_fen:
                return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
            trade.refunds[request_no] = amount
            fund_change = "Y"
            self.bill_lines.append(
                {
                    "kind": "退款",
                    "out_trade_no": trade.out_trade_no,
                    "trade_no": trade.trade_no,
                    "amount_fen": amount,
                    "refund_no": request_no,
                    "day": datetime.now(BEIJING).date().isoformat(),
                }
            )
            if sum(trade.refunds.values()) == trade.amount_fen:
                trade.status = "TRADE_CLOSED"
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "fund_change": fund_change,
            "refund_fee": yuan(sum(trade.refunds.values())),
        }

    def _bill_url(self, biz: dict[str, Any]) -> dict[str, Any]:
        assert biz.get("bill_type") == "trade"
        day = biz["bill_date"]
        return {"code": "10000", "msg": "Success", "bill_download_url": f"{self.url}/bills/{day}.zip"}

    def bill_zip(self, day: str) -> bytes:
        """The day's bill as Alipay ships it: a zip whose GBK-named CSVs are in GB18030."""
        rows = io.StringIO()
        writer = csv.writer(rows)
        rows.write(
            f"#支付宝业务明细查询\n#账号：[{SELLER_ID}]\n#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]\n"
        )
        writer.writerow(
            ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
             "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
             "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
             "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"]
        )  # fmt: skip
        for line in self.bill_lines:
            if line.get("day", day) != day:
                continue
            amount = yuan(line["amount_fen"])
            refund = line["kind"] == "退款"
            writer.writerow(
                [f"{line['trade_no']}\t", f"{line['out_trade_no']}\t", line["kind"], "碳汇林票", f"{day} 10:00:00",
                 f"{day} 10:01:00", "", "", "", "", "159****5620", f"-{amount}" if refund else amount,
                 f"-{amount}" if refund else amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
                 line.get("refund_no", "") if refund else "", "0.00", "0.00", ""]
            )  # fmt: skip
        rows.write("#-----------------------------------------业务明细列表结束------------------------------------\n")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            base = f"{SELLER_ID}0156_{day.replace('-', '')}"
            for name, text in ((f"{base}_业务明细.csv", rows.getvalue()), (f"{base}_业务明细(汇总).csv", "#汇总\n")):
                archive.writestr(_GbkName(name), text.encode("gb18030"))
        return buffer.getvalue()

    async def _bill_file(self, request: Request) -> Response:
        day = request.path_params["name"].removesuffix(".zip")
        return Response(self.bill_zip(day), media_type="application/zip")
