"""The customer-service desk (客服): find a shop order for a citizen who lost its link, read its timeline, resend
the link to the contact the buyer gave, and the seams for refunding and reissuing.

Everything here reads the register's own records — orders, the payment events the providers reported (the
:class:`~registry.models.Payment` rows the Stripe webhook and the other providers write), register entries,
certificates and the audit log — so the timeline is evidence, not a second story. Refunds go through the
payment provider, which the shop owns: the desk names what it needs (:class:`RefundDesk`) and the composition
root hands the back-office the shop's implementation, so the back-office never imports the shop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from tortoise import connections
from tortoise.expressions import Q

from kernel import clock
from registry import audit
from registry.chain import register_transaction
from registry.errors import RegisterError
from registry.models import (
    AuditLog,
    Batch,
    Certificate,
    CertificateStatus,
    EntryKind,
    Holding,
    Order,
    OrderStatus,
    Payment,
    RegisterEntry,
)

PAGE_SIZE = 25
MIN_LAST_DIGITS = 4  # fewer trailing digits would match half the shop
RESEND_LIMIT = 3  # link messages per order ...
RESEND_WINDOW = timedelta(hours=1)  # ... in this window (a clerk's slip must not flood a citizen's phone)
REFUNDABLE = (OrderStatus.PAID, OrderStatus.FULFILLED)
# A refund being asked of the provider holds the order this long at most (longer than a provider call may take),
# so a crash half-way does not lock the order for good: the retry then asks again under the same refund number.
REFUND_CLAIM_TTL = timedelta(minutes=2)
REFUND_CLAIM = "refund_claim"  # key of ``Order.details`` while a refund is being asked of the provider


class OrderNotFound(RegisterError):
    code = "order_not_found"
    message = "订单不存在"
    http_status = 404


class InvalidSearch(RegisterError):
    code = "invalid_search"
    message = "请至少填写一项查询条件：验证码、林票编号、联系方式、金额或日期"


class InvalidSerial(RegisterError):
    code = "invalid_serial"
    message = "林票编号格式应为“批次前缀-序号”，如 YC-TH-2026-001-00000123"


class InvalidContactSearch(RegisterError):
    code = "invalid_contact_search"
    message = "联系方式请填写完整的电子邮箱、手机号码，或手机号码的后四位以上"


class NoContact(RegisterError):
    code = "no_contact"
    message = "该订单没有可以发送的联系方式（电子邮箱或手机号码）"
    http_status = 409


class ResendLimited(RegisterError):
    code = "resend_limited"
    message = "该订单的链接在一小时内已发送三次，请稍后再试"
    http_status = 429


class ChannelUnavailable(RegisterError):
    code = "channel_unavailable"
    message = "未配置该发送方式（邮件服务器或短信通道），无法发送"
    http_status = 409


class DeliveryFailed(RegisterError):
    code = "delivery_failed"
    message = "发送失败，请稍后再试"
    http_status = 502  # the message channel failed, not the request


class NotRefundable(RegisterError):
    code = "not_refundable"
    message = "该订单尚未付款或已经退款，不能退款"
    http_status = 409


class RefundFailed(RegisterError):
    code = "refund_failed"
    message = "支付机构未能受理退款，订单未改变，请稍后再试"
    http_status = 502  # the payment provider failed, not the request


class RefundInProgress(RegisterError):
    code = "refund_in_progress"
    message = "该订单的退款正在办理中，请稍后刷新页面查看结果"
    http_status = 409


class ReasonRequired(RegisterError):
    code = "reason_required"
    message = "请填写原因"


# ---------------------------------------------------------------------------------------------------------
# Finding an order
# ---------------------------------------------------------------------------------------------------------

_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―－_"})
_SERIAL = re.compile(r"^(?P<prefix>[A-Z0-9][A-Z0-9-]*?)-(?P<number>\d{1,12})$")
_PHONE_CHARS = re.compile(r"^[\d\s+\-()]+$")


@dataclass(frozen=True)
class OrderSearch:
    """What a clerk knows about the order; every key given must match (AND).

    ``certificate_code`` is already normalised (the certificates package reads typed codes); ``serial`` is one
    ticket's serial as printed (``YC-TH-2026-001-00000123``; fewer leading zeros are fine); ``contact`` a full
    e-mail address or phone number, or the phone number's last digits; ``amount_fen`` the order's total;
    ``day`` the Beijing date the order was made."""

    certificate_code: str | None = None
    serial: str = ""
    contact: str = ""
    amount_fen: int | None = None
    day: date | None = None

    @property
    def empty(self) -> bool:
        return not (self.certificate_code or self.serial or self.contact or self.amount_fen is not None or self.day)


@dataclass(frozen=True)
class SerialNumber:
    prefix: str
    number: int


def parse_serial(typed: str) -> SerialNumber:
    """``YC-TH-2026-001-000123`` → prefix ``YC-TH-2026-001``, number 123 (dashes of any width, any case)."""
    text = re.sub(r"\s+", "", typed.translate(_DASHES)).upper()
    match = _SERIAL.match(text)
    if not match or int(match["number"]) < 1:
        raise InvalidSerial(typed[:60])
    return SerialNumber(match["prefix"], int(match["number"]))


def _contact_condition(typed: str) -> Q:
    text = typed.strip()
    if "@" in text:
        return Q(contact__iexact=text)
    digits = re.sub(r"\D", "", text)
    if _PHONE_CHARS.match(text) and len(digits) >= MIN_LAST_DIGITS:
        # the whole number as the buyer typed it, or the last digits a caller reads out
        return Q(contact=text) | Q(contact__endswith=digits)
    if len(text) >= MIN_LAST_DIGITS and not digits:
        return Q(contact__iexact=text)
    raise InvalidContactSearch(typed[:60])


async def _orders_holding_serial(serial: SerialNumber) -> list[int]:
    """The order a ticket was reserved for or retired to (holdings partition a batch, so at most one)."""
    batch = await Batch.get_or_none(serial_prefix__iexact=serial.prefix)
    if batch is None or serial.number > int(batch.total_units):
        return []
    holdings = Holding.filter(
        batch_id=batch.id, first_no__lte=serial.number, last_no__gte=serial.number, order_id__not_isnull=True
    )
    return [int(h["order_id"]) for h in await holdings.values("order_id")]


@dataclass(frozen=True)
class OrderPage:
    """One page of results, newest first; ``next_before`` is the keyset of the next page (``None`` at the end)."""

    orders: list[Order]
    next_before: int | None


async def search_orders(search: OrderSearch, *, before: int | None = None, limit: int = PAGE_SIZE) -> OrderPage:
    """Orders matching every key of ``search``, newest first, ``limit`` at a time (keyset on the order id, so a
    page costs the same however deep it is)."""
    if search.empty:
        raise InvalidSearch()
    query = Order.all()
    if search.certificate_code:
        order_ids = await Certificate.filter(code=search.certificate_code, order_id__not_isnull=True).values_list(
            "order_id", flat=True
        )
        query = query.filter(id__in=list(order_ids))
    if search.serial:
        query = query.filter(id__in=await _orders_holding_serial(parse_serial(search.serial)))
    if search.contact:
        query = query.filter(_contact_condition(search.contact))
    if search.amount_fen is not None:
        query = query.filter(amount_fen=search.amount_fen)
    if search.day is not None:
        query = query.filter(created_at__gte=clock.day_start(search.day), created_at__lt=clock.day_end(search.day))
    if before is not None:
        query = query.filter(id__lt=before)
    found = list(await query.order_by("-id").limit(limit + 1))
    more = len(found) > limit
    found = found[:limit]
    return OrderPage(found, found[-1].id if more and found else None)


async def get_order(order_id: int) -> Order:
    order = await Order.get_or_none(id=order_id)
    if order is None:
        raise OrderNotFound()
    return order


def mask_contact(contact: str) -> str:
    """What a results list shows of a contact: ``z***@example.com``, ``138****8000``."""
    text = contact.strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(text) <= 4:
        return "*" * len(text)
    return text[:3] + "*" * max(len(text) - 7, 1) + text[-4:]


# ---------------------------------------------------------------------------------------------------------
# The timeline
# ---------------------------------------------------------------------------------------------------------


class Step(StrEnum):
    """What a line of the timeline records (the page names each in words)."""

    CREATED = "created"
    PAYMENT = "payment"  # an event reported by the payment provider
    RESERVED = "reserved"
    RELEASED = "released"
    RETIRED = "retired"
    FULFILLED = "fulfilled"
    CERTIFICATE = "certificate"
    REISSUED = "reissued"
    REFUND = "refund"  # a refund decided at the desk
    RESEND = "resend"
    RESEND_FAILED = "resend_failed"


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    step: Step
    detail: str = ""
    actor: str = ""
    amount_fen: int | None = None
    code: str = ""  # a certificate's code


def _in_json(column: str, key: str) -> str:
    """SQL comparing ``column``'s JSON ``key`` with the first parameter, in the connection's dialect."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        return f"({column}->>'{key}') = $1"
    return f"json_extract({column}, '$.{key}') = ?"


async def order_entries(order: Order) -> list[RegisterEntry]:
    """The register entries of an order: its reservations, releases and retirement (``details.order``)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    kinds = [EntryKind.RESERVATION, EntryKind.RELEASE, EntryKind.RETIREMENT]
    marks = ", ".join(f"${i + 2}" if postgres else "?" for i in range(len(kinds)))
    sql = f"SELECT id FROM register_entry WHERE {_in_json('details', 'order')} AND kind IN ({marks})"  # noqa: S608
    rows = await conn.execute_query_dict(sql, [str(order.id) if postgres else order.id, *map(str, kinds)])
    return list(await RegisterEntry.filter(id__in=[r["id"] for r in rows]).order_by("seq"))


def _ranges_text(batch: Batch | None, ranges: Sequence[Sequence[int]]) -> str:
    if batch is None:
        return ""
    return "; ".join(batch.serial_ranges(ranges))


async def order_certificates(order: Order) -> list[Certificate]:
    return list(await Certificate.filter(order_id=order.id).order_by("id"))


async def timeline(order: Order) -> list[TimelineEvent]:
    """Everything that happened to an order, oldest first: created, each provider event, the register's
    reservations, releases and retirement, fulfilment, certificates and their reissues, and what staff did at the
    desk (refunds, link messages) as the audit log recorded it."""
    events = [TimelineEvent(order.created_at, Step.CREATED, amount_fen=int(order.amount_fen), actor=order.provider)]
    for payment in await Payment.filter(order_id=order.id).order_by("id"):
        events.append(
            TimelineEvent(
                payment.created_at,
                Step.PAYMENT,
                detail=payment.event_type,
                actor=payment.provider,
                amount_fen=int(payment.amount_fen) or None,
            )
        )
    entries = await order_entries(order)
    batches = {b.id: b for b in await Batch.filter(id__in={e.batch_id for e in entries})}
    steps = {EntryKind.RESERVATION: Step.RESERVED, EntryKind.RELEASE: Step.RELEASED, EntryKind.RETIREMENT: Step.RETIRED}
    for entry in entries:
        ranges = _ranges_text(batches.get(entry.batch_id), entry.ranges)
        reason = str(entry.details.get("reason", "")) if entry.kind is EntryKind.RELEASE else ""
        detail = f"#{entry.seq} · {int(entry.quantity):,} · {ranges}" + (f" · {reason}" if reason else "")
        events.append(TimelineEvent(entry.created_at, steps[entry.kind], detail=detail, actor=entry.actor))
    if order.fulfilled_at is not None:
        events.append(TimelineEvent(order.fulfilled_at, Step.FULFILLED))
    certificates = await order_certificates(order)
    reissue_entries = {
        e.id: e for e in await RegisterEntry.filter(id__in=[c.entry_id for c in certificates], kind=EntryKind.REISSUE)
    }
    for certificate in certificates:
        reissue = reissue_entries.get(certificate.entry_id)
        if reissue is not None:
            events.append(
                TimelineEvent(
                    certificate.issued_at,
                    Step.REISSUED,
                    detail=str(reissue.details.get("reason", "")),
                    actor=reissue.actor,
                    code=certificate.code,
                )
            )
        else:
            events.append(
                TimelineEvent(
                    certificate.issued_at, Step.CERTIFICATE, detail=certificate.holder_name, code=certificate.code
                )
            )
    actions = {"order.refund": Step.REFUND, "order.resend": Step.RESEND, "order.resend_failed": Step.RESEND_FAILED}
    for line in await AuditLog.filter(target=f"order:{order.id}", action__in=list(actions)).order_by("id"):
        details = line.details or {}
        if line.action == "order.refund":
            detail = " · ".join(str(details.get(k, "")) for k in ("reason", "refund_ref") if details.get(k))
        else:
            detail = " · ".join(str(details.get(k, "")) for k in ("channel", "to") if details.get(k))
        amount = details.get("amount_fen")
        events.append(
            TimelineEvent(
                line.created_at,
                actions[line.action],
                detail=detail,
                actor=line.username,
                amount_fen=int(amount) if amount is not None else None,
            )
        )
    events.sort(key=lambda e: clock.utc(e.at))
    return events


# ---------------------------------------------------------------------------------------------------------
# Resending the order link
# ---------------------------------------------------------------------------------------------------------


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


def contact_channel(contact: str) -> tuple[Channel, str] | None:
    """How to reach the contact the buyer gave: an e-mail address, or a mainland mobile number (11 digits, spaces,
    dashes and +86 tolerated); ``None`` for anything else."""
    text = contact.strip()
    if _EMAIL.match(text):
        return Channel.EMAIL, text
    number = _MOBILE.match(re.sub(r"[\s\-()]", "", text))
    if number:
        return Channel.SMS, number.group(1)
    return None


class Messenger(Protocol):
    """What the desk needs to reach a buyer (:mod:`linpiao.notify` has the SMTP mailer and the demo SMS sender).

    Sending raises :class:`ChannelUnavailable` when the channel is not configured, :class:`DeliveryFailed` when the
    server refused or could not be reached."""

    def available(self, channel: Channel) -> bool: ...

    async def send_email(self, to: str, subject: str, body: str) -> None: ...

    async def send_sms(self, to: str, text: str) -> None: ...


def order_link(base_url: str, order: Order) -> str:
    return f"{base_url.rstrip('/')}/orders/{order.token}"


def link_message(order: Order, link: str) -> tuple[str, str, str]:
    """(subject, e-mail body, SMS text). Both languages: the desk does not know which one the buyer reads."""
    subject = f"银川林票订单 {order.id} 的链接 / Your Yinchuan forest ticket order {order.id}"
    body = (
        f"您好：\n\n应您的要求，这是您在银川林票网上商店的订单（编号 {order.id}）的私人链接：\n{link}\n\n"
        "请勿转发此链接：持有链接的人可以查看订单和下载证书。\n\n"
        f"Hello,\n\nAs you asked, here is the private link to your order {order.id} at the Yinchuan forest "
        f"ticket shop:\n{link}\n\nPlease do not forward it: anyone with the link can see the order and download "
        "its certificate.\n"
    )
    sms = f"【银川林票】您的订单 {order.id} 链接：{link} 请勿转发。"
    return subject, body, sms


async def _claim_resend(order: Order, actor: audit.Actor, channel: Channel, to: str) -> None:
    """Count this message against the order's limit and audit it, under the register lock, so that two clerks
    clicking at once cannot both pass the limit."""
    async with register_transaction():
        since = clock.now() - RESEND_WINDOW
        sent = await AuditLog.filter(target=f"order:{order.id}", action="order.resend", created_at__gte=since).count()
        if sent >= RESEND_LIMIT:
            raise ResendLimited()
        await audit.record(actor, "order.resend", f"order:{order.id}", channel=str(channel), to=mask_contact(to))


async def resend_link(order: Order, *, messenger: Messenger, base_url: str, actor: audit.Actor) -> Channel:
    """Send the order's private link to the contact the buyer gave (never to another address: the link is the
    key to the order). At most :data:`RESEND_LIMIT` messages an order in :data:`RESEND_WINDOW`; each is audited,
    and a failed one is audited as failed too, and still counts."""
    reach = contact_channel(order.contact)
    if reach is None:
        raise NoContact()
    channel, to = reach
    if not messenger.available(channel):
        raise ChannelUnavailable(str(channel))
    await _claim_resend(order, actor, channel, to)
    subject, body, sms = link_message(order, order_link(base_url, order))
    try:
        if channel is Channel.EMAIL:
            await messenger.send_email(to, subject, body)
        else:
            await messenger.send_sms(to, sms)
    except (DeliveryFailed, ChannelUnavailable) as exc:
        await audit.record(
            actor, "order.resend_failed", f"order:{order.id}", channel=str(channel), to=mask_contact(to), error=str(exc)
        )
        raise
    return channel


# ---------------------------------------------------------------------------------------------------------
# Refunds (the provider is the shop's: see RefundDesk)
# ---------------------------------------------------------------------------------------------------------


def refundable(order: Order) -> bool:
    """Paid orders (fulfilled or not), and failed ones whose money is still due back."""
    due = order.status is OrderStatus.FAILED and bool(order.details.get("refund_due"))
    return order.status in REFUNDABLE or due


def _claim_is_live(order: Order) -> bool:
    claim = order.details.get(REFUND_CLAIM)
    if not isinstance(claim, dict):
        return False
    try:
        at = datetime.fromisoformat(str(claim.get("at", "")))
    except ValueError:
        return False
    return clock.now() - clock.utc(at) < REFUND_CLAIM_TTL


async def claim_refund(order: Order, actor: audit.Actor) -> None:
    """Hold ``order`` for one refund before the provider is asked, under the register lock: of two clicks (or two
    clerks) at once, one asks the provider and the other is refused with :class:`RefundInProgress` — so a refund
    request leaves once. :class:`NotRefundable` when the order, read again here, is not refundable any more.
    The hold ends with :func:`release_refund_claim` (the provider refused) or when the refund is recorded, and
    lapses by itself after :data:`REFUND_CLAIM_TTL`."""
    async with register_transaction():
        await order.refresh_from_db()
        if not refundable(order):
            raise NotRefundable(str(order.status))
        if _claim_is_live(order):
            raise RefundInProgress()
        claim = {"at": clock.now().isoformat(), "by": actor.username}
        order.details = {**order.details, REFUND_CLAIM: claim}
        await order.save(update_fields=["details"])


async def release_refund_claim(order: Order) -> None:
    """The provider did not refund: the order is as it was before :func:`claim_refund`."""
    async with register_transaction():
        await order.refresh_from_db()
        if REFUND_CLAIM in order.details:
            order.details = {k: v for k, v in order.details.items() if k != REFUND_CLAIM}
            await order.save(update_fields=["details"])


class RefundDesk(Protocol):
    """Refund an order in full through its payment provider, with the clerk's reason; the order and its
    certificates become refunded and the audit log records who, why and the provider's reference.

    Raises :class:`NotRefundable` for an order that is not paid or already refunded, :class:`RefundFailed` when
    the provider refuses (nothing is then changed), :class:`ReasonRequired` without a reason,
    :class:`RefundInProgress` while another request to refund the same order is with the provider."""

    async def refund(self, order: Order, *, reason: str, actor: audit.Actor) -> str: ...


def valid_certificates(certificates: Sequence[Certificate]) -> list[Certificate]:
    return [c for c in certificates if c.status is CertificateStatus.VALID]
