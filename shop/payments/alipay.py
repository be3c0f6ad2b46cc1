"""Alipay (支付宝) directly: 手机网站支付 ``alipay.trade.wap.pay`` on phones, 电脑网站支付 ``alipay.trade.page.pay``
on desktops (Alipay's own page and QR code), query, close, refund and the daily bill.

Signed with RSA2 (SHA256withRSA) both ways, with ``cryptography`` directly rather than ``python-alipay-sdk``
(see the README's "Libraries, and why"): requests are signed with the app's private key, every answer and every
asynchronous notification is verified with Alipay's public key. Server calls go through ``httpx.AsyncClient`` on
the event loop. Amounts are yuan strings with two decimals, made from fen by integer arithmetic and read back
exactly (:func:`kernel.money.parse_yuan`)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from kernel import clock
from kernel.money import parse_yuan, yuan_amount
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
    UnreadableNotification,
    checkout_expires_at,
    provider_time,
)
from shop.payments.events import EventKind, PaymentEvent
from shop.payments.trades import TradeProvider, new_trade_no, order_id_of, refund_no

SUCCESS = "10000"
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
TRADE_STATUS = {
    "WAIT_BUYER_PAY": RemoteStatus.OPEN,
    "TRADE_SUCCESS": RemoteStatus.PAID,
    "TRADE_FINISHED": RemoteStatus.PAID,
    "TRADE_CLOSED": RemoteStatus.EXPIRED,
}


def signing_string(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",), skip_empty: bool = True) -> str:
    """``k1=v1&k2=v2…`` over the parameters sorted by name, values as they are (not URL-encoded): what Alipay
    signs. A request leaves out ``sign`` and empty values; a notification leaves out ``sign`` and ``sign_type``."""
    items = sorted((k, str(v)) for k, v in params.items() if k not in exclude and not (skip_empty and v in ("", None)))
    return "&".join(f"{k}={v}" for k, v in items)


def response_content(text: str, key: str) -> tuple[str, str | None]:
    """The exact text of ``key``'s JSON value in an Alipay answer (what Alipay signed), and the signature."""
    decoder = json.JSONDecoder()
    try:
        whole = json.loads(text)
    except ValueError as exc:
        raise PaymentError("Alipay answered with something that is not JSON") from exc
    if not isinstance(whole, dict):
        raise PaymentError("Alipay answered with something that is not an object")
    name = key if key in whole else "error_response"
    at = text.find(f'"{name}"')
    if at < 0 or name not in whole:
        raise PaymentError(f"Alipay answered without {key}")
    start = text.index(":", at + len(name) + 2) + 1
    while text[start] in " \t\r\n":
        start += 1
    _value, end = decoder.raw_decode(text, start)
    sign = whole.get("sign")
    return text[start:end], sign if isinstance(sign, str) else None


class AlipayProvider(TradeProvider):
    name = "alipay"
    label = "Alipay"
    is_demo = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app_id = settings.alipay_app_id
        self._private_key = rsa.private_key(settings.alipay_private_key_file)
        self._alipay_key = rsa.public_key(settings.alipay_public_key_file)
        self._http = httpx.AsyncClient(timeout=20)

    # --- signing ------------------------------------------------------------------------------------------

    def signed_params(self, method: str, biz: dict[str, Any], **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": clock.local_now().strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **{k: v for k, v in extra.items() if v},
        }
        params["sign"] = rsa.sign(self._private_key, signing_string(params))
        return params

    def verify_notification(self, params: Mapping[str, str]) -> dict[str, str]:
        """The notification's parameters when Alipay's signature over them verifies and they are for this app
        (and this seller, when ``LINPIAO_ALIPAY_SELLER_ID`` is set); :class:`InvalidNotification` otherwise."""
        signature = params.get("sign", "")
        if params.get("sign_type", "RSA2") != "RSA2" or not signature:
            raise InvalidNotification("unsigned or not RSA2")
        message = signing_string(params, exclude=("sign", "sign_type"), skip_empty=False)
        if not rsa.verify(self._alipay_key, message, signature):
            raise InvalidNotification("signature does not verify")
        if params.get("app_id") != self.app_id:
            raise NotForUs(f"for another app: {params.get('app_id')!r}")
        seller = self.settings.alipay_seller_id
        if seller and params.get("seller_id") != seller:
            raise NotForUs(f"for another seller: {params.get('seller_id')!r}")
        return dict(params)

    async def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Alipay's asynchronous notification (a form body), verified (:meth:`verify_notification`), as an event."""
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise UnreadableNotification("not UTF-8") from exc
        return notification_event(self.verify_notification(params))

    # --- server calls -------------------------------------------------------------------------------------

    async def call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        """Call ``method`` on the gateway; the answer's signature is verified before anything in it is believed.
        A business refusal comes back as the answer (``code`` ≠ 10000); a transport failure or a bad signature
        is :class:`PaymentError`."""
        try:
            response = await self._http.post(
                self.settings.alipay_gateway,
                content=urlencode(self.signed_params(method, biz)).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise PaymentError(f"Alipay {method}: {exc}") from exc
        if response.status_code != 200:
            raise PaymentError(f"Alipay {method}: HTTP {response.status_code}")
        content, signature = response_content(response.text, method.replace(".", "_") + "_response")
        answer = json.loads(content)
        if signature is None:
            # Alipay leaves some refusals unsigned; they carry no payment facts, but a success must be signed.
            if answer.get("code") == SUCCESS:
                raise PaymentError(f"Alipay {method}: unsigned success")
            return dict(answer)
        if not rsa.verify(self._alipay_key, content, signature):
            raise PaymentError(f"Alipay {method}: the answer's signature does not verify")
        return dict(answer)

    @staticmethod
    def _refused(method: str, answer: dict[str, Any]) -> PaymentError:
        said = " ".join(str(answer[k]) for k in ("code", "sub_code", "sub_msg") if answer.get(k))  # what Alipay gave
        return PaymentError(f"Alipay {method}: {said or 'refused'}")

    # --- the interface ------------------------------------------------------------------------------------

    async def create_checkout(self, order: Order, context: PaymentContext | None = None) -> CheckoutStart:
        """The signed address of Alipay's cashier for a new trade: wap on phones, page (with Alipay's QR code)
        on desktops. The trade closes itself when the payment page would (``time_expire``)."""
        context = context or PaymentContext()
        channel = context.channel or ("page" if context.device == "desktop" else "wap")
        base = self.settings.base_url
        trade_no = context.trade_no or new_trade_no(order)
        biz: dict[str, Any] = {
            "out_trade_no": trade_no,
            "total_amount": yuan_amount(int(order.amount_fen)),
            "subject": purposes.of(order).subject_of(order),
            "product_code": "FAST_INSTANT_TRADE_PAY" if channel == "page" else "QUICK_WAP_WAY",
            "time_expire": clock.local(checkout_expires_at(order)).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if channel == "wap":
            biz["quit_url"] = f"{base}/pay/{order.token}"
        method = "alipay.trade.page.pay" if channel == "page" else "alipay.trade.wap.pay"
        params = self.signed_params(
            method, biz, notify_url=f"{base}/webhooks/alipay", return_url=f"{base}/pay/{order.token}/return"
        )
        return CheckoutStart(url=f"{self.settings.alipay_gateway}?{urlencode(params)}", ref=trade_no, channel=channel)

    async def query(self, trade_no: str) -> dict[str, Any] | None:
        """``alipay.trade.query``; ``None`` when Alipay has no such trade (the payer never opened the cashier)."""
        answer = await self.call("alipay.trade.query", {"out_trade_no": trade_no})
        if answer.get("code") == SUCCESS:
            return answer
        if answer.get("sub_code") == TRADE_NOT_EXIST:
            return None
        raise self._refused("alipay.trade.query", answer)

    async def retrieve_trade(self, order: Order) -> RemoteTrade:
        if not order.provider_ref:
            return RemoteTrade(RemoteStatus.UNKNOWN)
        answer = await self.query(order.provider_ref)
        if answer is None:
            return RemoteTrade(RemoteStatus.UNKNOWN)
        if answer.get("out_trade_no") not in (None, order.provider_ref):
            raise PaymentError("Alipay answered about another trade")
        status = TRADE_STATUS.get(str(answer.get("trade_status")), RemoteStatus.UNKNOWN)
        amount = parse_yuan(str(answer["total_amount"])) if status is RemoteStatus.PAID else None
        return RemoteTrade(status, amount, str(answer.get("trade_no", "")), answer)

    async def close_trade(self, trade_no: str) -> None:
        """``alipay.trade.close``: a trade Alipay never saw, or one already paid or closed, needs nothing more
        (reconcile reads the status again)."""
        answer = await self.call("alipay.trade.close", {"out_trade_no": trade_no})
        if answer.get("code") == SUCCESS or answer.get("sub_code") in (TRADE_NOT_EXIST, "ACQ.TRADE_STATUS_ERROR"):
            return
        raise self._refused("alipay.trade.close", answer)

    async def refund_trade(self, trade_no: str, amount_fen: int, total_fen: int, *, number: int = 1) -> str:
        """Refund ``amount_fen`` of a trade under the refund's own ``out_request_no`` — the same on every retry
        of this refund, so Alipay refunds once. Returns it."""
        request_no = refund_no(trade_no, number)
        answer = await self.call(
            "alipay.trade.refund",
            {
                "out_trade_no": trade_no,
                "refund_amount": yuan_amount(amount_fen),
                "out_request_no": request_no,
                "refund_reason": "林票订单退款",
            },
        )
        if answer.get("code") != SUCCESS:
            raise self._refused("alipay.trade.refund", answer)
        return request_no

    async def bill(self, day: date) -> list[BillLine]:
        """The trade bill (对账单) of a Beijing date: ``alipay.data.dataservice.bill.downloadurl.query`` gives a
        short-lived address of a zip whose 业务明细 CSV (GB18030) lists every payment and refund."""
        method = "alipay.data.dataservice.bill.downloadurl.query"
        answer = await self.call(method, {"bill_type": "trade", "bill_date": day.isoformat()})
        if answer.get("code") != SUCCESS:
            raise self._refused(method, answer)
        try:
            response = await self._http.get(str(answer["bill_download_url"]))
        except httpx.HTTPError as exc:
            raise PaymentError(f"Alipay bill download: {exc}") from exc
        if response.status_code != 200:
            raise PaymentError(f"Alipay bill download: HTTP {response.status_code}")
        return parse_bill_zip(response.content)

    async def aclose(self) -> None:
        await self._http.aclose()


def _fen(text: str | None) -> int | None:
    try:
        return parse_yuan(text or "")
    except ValueError:
        return None


def paid_at(params: Mapping[str, Any]) -> datetime | None:
    """When the payer paid: ``gmt_payment``, Beijing time ``YYYY-MM-DD HH:MM:SS``."""
    return provider_time(params.get("gmt_payment"))


def notification_event(params: dict[str, str]) -> PaymentEvent:
    """A verified notification as an event about the trade ``out_trade_no`` (which names its order).

    ``TRADE_SUCCESS`` / ``TRADE_FINISHED`` are payments of ``total_amount``; with a ``refund_fee`` they report a
    partial refund, kept as evidence. ``TRADE_CLOSED`` with a ``refund_fee`` is a refund of that much; without one
    the trade closed unpaid (settlement ends the order only when it is the order's current trade). Deduplicated by
    Alipay's trade number, status and refund request, so retries and replays are recorded once."""
    status = params.get("trade_status", "")
    out_trade_no = params.get("out_trade_no", "")
    refund_fee = _fen(params.get("refund_fee")) or 0
    amount = refunded = None
    if status in ("TRADE_SUCCESS", "TRADE_FINISHED") and not refund_fee:
        kind = EventKind.PAID
        amount = _fen(params.get("total_amount"))
        amount = -1 if amount is None else amount  # an unreadable amount is never the order's
    elif status == "TRADE_CLOSED" and refund_fee:
        kind, refunded = EventKind.REFUNDED, refund_fee
    elif status == "TRADE_CLOSED":
        kind = EventKind.EXPIRED
    else:
        kind = EventKind.NOTE
    trade = params.get("trade_no") or out_trade_no
    return PaymentEvent(
        provider="alipay",
        event_id=f"alipay:{trade}:{status}:{params.get('out_biz_no', '')}",
        kind=kind,
        amount_fen=amount,
        payload={"out_trade_no": out_trade_no, "trade_no": params.get("trade_no", ""), "notification": params},
        event_type=f"alipay.{status.lower() or 'unknown'}",
        order_id=order_id_of(out_trade_no),
        trade_no=out_trade_no,
        paid_at=paid_at(params) if kind is EventKind.PAID else None,
        refund_fen=refunded,
    )


def _zip_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:  # UTF-8 names
        return info.filename
    try:  # Alipay's zips name their files in GBK without saying so
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def parse_bill_zip(data: bytes) -> list[BillLine]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PaymentError("Alipay bill: not a zip") from exc
    with archive:
        details = [i for i in archive.infolist() if _zip_name(i).endswith("业务明细.csv")]
        if not details:
            raise PaymentError("Alipay bill: no 业务明细 file")
        return parse_bill_csv(archive.read(details[0]).decode("gb18030"))


def parse_bill_csv(text: str) -> list[BillLine]:
    """Rows of the 业务明细 CSV: comment lines start with ``#``; the header names the columns."""
    lines: list[BillLine] = []
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if header is None:
            if "商户订单号" in cells:
                header = cells
            continue
        record = dict(zip(header, cells, strict=False))
        out_trade_no = record.get("商户订单号", "")
        if not out_trade_no:
            continue
        amount = parse_yuan(record.get("订单金额（元）", "0").lstrip("-"))
        refund = record.get("业务类型") == "退款"
        lines.append(
            BillLine(
                out_trade_no=out_trade_no,
                trade_no=record.get("支付宝交易号", ""),
                kind="refund" if refund else "payment",
                amount_fen=amount,
                refund_no=record.get("退款批次号/请求号", "") if refund else "",
            )
        )
    return lines
