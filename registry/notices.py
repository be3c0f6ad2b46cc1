"""Public notices (公示) before land-ticket money or tickets move: a dividend distribution (分红) and a collective
issuance (集体林地林票发放) are published for a notice period the issuer sets (default 7 days) on the public notice
board (``/notices``); the clerk records objections (异议) received during the period and how each was settled.

**Nothing takes effect before its notice closes**: :func:`record_dividend_payment` refuses a dividend, and
:func:`registry.applications.issue_application` a collective issuance,
with no notice, a notice still open, an objection not yet settled, or an objection settled as upheld (异议成立:
the application is then returned, or the dividend recorded anew, and published again). The period is counted in
Beijing days: a notice published on day D for N days closes at 00:00 of day D + N.

A notice states what the records say, never a person's name or identifier: amounts and counts for a dividend; for
an issuance the parcel, its area, the applicant as the public may see it (a person's name masked).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from kernel.money import format_yuan
from registry import access, audit
from registry.applications import ApplicationStatus, IssuanceApplication
from registry.districts import district_name
from registry.dividends import Dividend, DividendShare
from registry.errors import InvalidState, RegisterError
from registry.idempotency import InvalidFormToken, check_token, earlier_result, remember
from registry.identity import mask_name
from registry.models import Batch, Holder, HolderKind, Parcel, TicketKind

DEFAULT_DAYS = 7
MAX_DAYS = 60
MAX_TEXT = 500


class NoticeKind(StrEnum):
    DIVIDEND = "dividend"  # 分红公示
    COLLECTIVE_ISSUANCE = "collective_issuance"  # 集体林地林票发放公示


class InvalidNotice(RegisterError):
    code = "invalid_notice"
    message = "公示期须为1至60天，异议须写明内容和收到日期（在公示期内）"


class NoticeStillOpen(RegisterError):
    code = "notice_open"
    message = "公示期未满，不能发放分红"


class NoticeMissing(RegisterError):
    code = "notice_missing"
    message = "该分红尚未公示，不能发放"


class ObjectionPending(RegisterError):
    code = "objection_pending"
    message = "公示期内收到的异议尚未处理完毕，不能发放分红"


class ObjectionUpheld(RegisterError):
    code = "objection_upheld"
    message = "公示期内的异议经核实成立，不能发放分红"


class ObjectionSettled(RegisterError):
    code = "objection_settled"
    message = "该异议已处理，不能再次处理"


class AlreadyPaid(RegisterError):
    code = "already_paid"
    message = "该分红已经发放"


class PublicNotice(Model):
    """One notice on the public board; ``body`` is all it says in public."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(NoticeKind, max_length=24)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    district_code = fields.CharField(max_length=6, default="", db_index=True)
    batch: fields.ForeignKeyNullableRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="notices", null=True, on_delete=fields.RESTRICT
    )
    dividend: fields.OneToOneNullableRelation[Dividend] = fields.OneToOneField(
        "models.Dividend", related_name="notice", null=True, on_delete=fields.RESTRICT
    )
    application: fields.OneToOneNullableRelation[IssuanceApplication] = fields.OneToOneField(
        "models.IssuanceApplication", related_name="notice", null=True, on_delete=fields.RESTRICT
    )
    period_days = fields.IntField(default=DEFAULT_DAYS)
    opens_at = fields.DatetimeField()
    closes_at = fields.DatetimeField(db_index=True)
    published_by = fields.CharField(max_length=100, default="")
    paid_at = fields.DatetimeField(null=True)  # a dividend's payment, recorded after the notice closed
    payment_ref = fields.CharField(max_length=200, default="")

    class Meta:
        table = "public_notice"

    @property
    def is_open(self) -> bool:
        return clock.now() < self.closes_at

    @property
    def opens_on(self) -> date:
        return clock.local_date(self.opens_at)

    @property
    def closes_on(self) -> date:
        """The last day of the period (the notice closes at the end of it)."""
        return clock.local_date(self.closes_at) - timedelta(days=1)


class NoticeObjection(Model):
    """An objection (异议) to a notice, as the clerk recorded it; only the count and dates are public."""

    id = fields.IntField(primary_key=True)
    notice: fields.ForeignKeyRelation[PublicNotice] = fields.ForeignKeyField(
        "models.PublicNotice", related_name="objections", on_delete=fields.RESTRICT
    )
    received_on = fields.DateField()
    summary = fields.TextField()
    resolution = fields.TextField(default="")
    upheld = fields.BooleanField(default=False)  # the outcome once resolved: 异议成立 (True) or 不成立 (False)
    recorded_by = fields.CharField(max_length=100, default="")
    resolved_by = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice_objection"


def _period(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidNotice(str(days)[:10])
    return days


def _window(days: int) -> tuple[datetime, datetime]:
    now = clock.now()
    return now, clock.day_start(clock.local_date(now) + timedelta(days=days))


def _public_name(holder: Holder) -> str:
    return mask_name(holder.name) if holder.kind is HolderKind.INDIVIDUAL else holder.name


async def publish_dividend_notice(
    dividend: Dividend, *, actor: audit.Actor, period_days: int = DEFAULT_DAYS
) -> PublicNotice:
    """Publish a recorded dividend for ``period_days`` (once: publishing again returns the same notice)."""
    days = _period(period_days)
    batch = await Batch.get(id=dividend.batch_id)
    access.check(actor, access.Action.DIVIDEND_RECORD, access.batch_target(batch))
    async with in_transaction():
        existing = await PublicNotice.get_or_none(dividend_id=dividend.id)
        if existing is not None:
            return existing
        shares = await DividendShare.filter(dividend_id=dividend.id)
        collective = sum(int(s.amount_fen) for s in shares if s.stays_with_collective)
        others = sum(int(s.amount_fen) for s in shares) - collective
        opens, closes = _window(days)
        body = (
            f"{batch.serial_prefix}（{district_name(batch.district_code)}）"
            f"经营收入 ¥{format_yuan(int(dividend.income_fen))}"
            f"（{dividend.source}），以 {dividend.record_date.isoformat()} 为登记日，按持有林票份额分配给 "
            f"{len(shares)} 个持有人：村集体 ¥{format_yuan(collective)}，其他持有人 ¥{format_yuan(others)}。"
        )
        notice = await PublicNotice.create(
            kind=NoticeKind.DIVIDEND,
            title=f"{batch.serial_prefix} 分红公示",
            body=body,
            district_code=batch.district_code,
            batch=batch,
            dividend=dividend,
            period_days=days,
            opens_at=opens,
            closes_at=closes,
            published_by=actor.label,
        )
        await audit.record(actor, "notice.publish", f"notice:{notice.id}", dividend=dividend.id, days=days)
    return notice


async def publish_issuance_notice(
    application: IssuanceApplication, *, actor: audit.Actor, period_days: int = DEFAULT_DAYS
) -> PublicNotice:
    """Publish a collective issuance application (submitted or approved) for ``period_days``."""
    days = _period(period_days)
    if application.kind is not TicketKind.COLLECTIVE:
        raise InvalidState("only collective issuance is published")
    if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED):
        raise InvalidState(str(application.status))
    access.check(actor, access.Action.APPLICATION_HANDLE, access.place(application.district_code, application.kind))
    async with in_transaction():
        existing = await PublicNotice.get_or_none(application_id=application.id)
        if existing is not None:
            return existing
        parcel = await Parcel.get(id=application.parcel_id)
        applicant = await Holder.get(id=application.applicant_id)
        place = "".join(p for p in (district_name(parcel.district_code), parcel.township, parcel.village) if p)
        opens, closes = _window(days)
        body = (
            f"{_public_name(applicant)} 申请以 {place} 林地（{Decimal(parcel.area_mu).normalize():f} 亩，"
            f"林权证 {parcel.forest_right_cert_no or '—'}）发放集体林地林票。"
        )
        notice = await PublicNotice.create(
            kind=NoticeKind.COLLECTIVE_ISSUANCE,
            title=f"{place} 集体林地林票发放公示",
            body=body,
            district_code=application.district_code,
            application=application,
            period_days=days,
            opens_at=opens,
            closes_at=closes,
            published_by=actor.label,
        )
        await audit.record(actor, "notice.publish", f"notice:{notice.id}", application=application.id, days=days)
    return notice


async def _check_may_handle(notice: PublicNotice, actor: audit.Actor) -> None:
    if notice.kind is NoticeKind.DIVIDEND:
        batch = await Batch.get(id=notice.batch_id)
        access.check(actor, access.Action.DIVIDEND_RECORD, access.batch_target(batch))
    else:
        access.check(actor, access.Action.APPLICATION_HANDLE, access.place(notice.district_code, TicketKind.COLLECTIVE))


async def record_objection(
    notice: PublicNotice, *, received_on: date, summary: str, actor: audit.Actor
) -> NoticeObjection:
    """The clerk records an objection received during the notice period."""
    text = summary.strip()
    if not text or len(text) > MAX_TEXT or not notice.opens_on <= received_on <= notice.closes_on:
        raise InvalidNotice(text[:20])
    if received_on > clock.today():
        raise InvalidNotice(received_on.isoformat())
    await _check_may_handle(notice, actor)
    async with in_transaction():
        objection = await NoticeObjection.create(
            notice=notice, received_on=received_on, summary=text, recorded_by=actor.label
        )
        await audit.record(actor, "notice.objection", f"notice:{notice.id}", objection=objection.id)
    return objection


async def resolve_objection(
    objection: NoticeObjection, *, resolution: str, actor: audit.Actor, upheld: bool = False
) -> NoticeObjection:
    """Settle an objection once, with its outcome: ``upheld`` (异议成立) stops what the notice announced."""
    text = resolution.strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidNotice(text[:20])
    notice = await PublicNotice.get(id=objection.notice_id)
    await _check_may_handle(notice, actor)
    async with in_transaction():
        current = await NoticeObjection.filter(id=objection.id).select_for_update().get()
        if current.resolved_at is not None:
            raise ObjectionSettled(str(objection.id))
        objection.resolution, objection.resolved_by, objection.resolved_at = text, actor.label, clock.now()
        objection.upheld = bool(upheld)
        await objection.save(update_fields=["resolution", "upheld", "resolved_by", "resolved_at"])
        await audit.record(
            actor, "notice.resolve", f"notice:{notice.id}", objection=objection.id, upheld=objection.upheld
        )
    return objection


async def _objections_state(notice: PublicNotice) -> tuple[bool, bool]:
    """Whether ``notice`` has an objection still pending, and whether one was upheld."""
    rows = await NoticeObjection.filter(notice_id=notice.id).values_list("resolved_at", "upheld")
    return any(r is None for r, _ in rows), any(r is not None and u for r, u in rows)


async def record_dividend_payment(
    dividend: Dividend, *, payment_ref: str, actor: audit.Actor, form_token: str | None = None
) -> PublicNotice:
    """Record that a dividend was paid out: only after its notice closed, every objection settled. A form token
    (:mod:`registry.idempotency`) already used for this payment returns the notice as the first one left it."""
    batch = await Batch.get(id=dividend.batch_id)
    access.check(actor, access.Action.DIVIDEND_RECORD, access.batch_target(batch))
    token = check_token(form_token)
    reference = payment_ref.strip()
    if not reference or len(reference) > 200:
        raise InvalidNotice(reference[:20])
    async with in_transaction():
        notice = await PublicNotice.filter(dividend_id=dividend.id).select_for_update().first()
        if notice is None:
            raise NoticeMissing(str(dividend.id))
        earlier = await earlier_result(token, "dividend.pay")
        if earlier is not None:
            if earlier != notice.id:  # the token of another dividend's payment
                raise InvalidFormToken(str(token)[:20])
            return notice
        if notice.paid_at is not None:
            raise AlreadyPaid(str(dividend.id))
        if notice.is_open:
            raise NoticeStillOpen(notice.closes_on.isoformat())
        pending, upheld = await _objections_state(notice)
        if pending:
            raise ObjectionPending(str(notice.id))
        if upheld:
            raise ObjectionUpheld(str(notice.id))
        notice.paid_at, notice.payment_ref = clock.now(), reference
        await notice.save(update_fields=["paid_at", "payment_ref"])
        await audit.record(actor, "dividend.pay", f"dividend:{dividend.id}", payment_ref=reference)
        await remember(token, "dividend.pay", notice.id)
    return notice


async def board(*, limit: int = 100) -> tuple[list[PublicNotice], list[PublicNotice], dict[int, tuple[int, int]]]:
    """Open notices (closing soonest first), closed ones (latest first), and each notice's objections as
    ``(received, settled)``."""
    now = clock.now()
    open_ = await PublicNotice.filter(closes_at__gt=now).order_by("closes_at", "id").limit(limit)
    closed = await PublicNotice.filter(closes_at__lte=now).order_by("-closes_at", "-id").limit(limit)
    ids = [n.id for n in (*open_, *closed)]
    counts: dict[int, tuple[int, int]] = {}
    for row in await NoticeObjection.filter(notice_id__in=ids).values("notice_id", "resolved_at"):
        received, settled = counts.get(row["notice_id"], (0, 0))
        counts[row["notice_id"]] = (received + 1, settled + (row["resolved_at"] is not None))
    return open_, closed, counts


async def upheld_counts(notice_ids: list[int]) -> dict[int, int]:
    """How many objections to each notice were settled as upheld (异议成立): the board says so."""
    counts: dict[int, int] = {}
    for row in await NoticeObjection.filter(notice_id__in=notice_ids, upheld=True).values("notice_id"):
        counts[int(row["notice_id"])] = counts.get(int(row["notice_id"]), 0) + 1
    return counts
