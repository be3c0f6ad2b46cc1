"""The certificates of an organisation's roster, made in the background, and the zip of them all.

An organisation's payment retires its tickets in the payment event's own transaction (the register's part: one
retirement entry, whatever the roster's size). Each person's certificate carries their own consecutive serials of
that entry. Up to :data:`INLINE_CERTIFICATES` people they are made in that same transaction; a larger roster's are
left to the job ``planting.certify``, so the payment event's request returns at once whatever the roster's size,
and the management page shows "已生成 1,200 / 5,000 张证书" while they are made. When they are all made,
``planting.zip`` renders every PDF (cached on the certificate) and writes the zip the page offers, so a download of
thousands of certificates is a file already on disk.

Both jobs are idempotent. ``planting.certify`` makes certificates in chunks, each chunk in its own transaction that
first writes the order's row: a chunk is all made or not at all, a second run (a retry racing a slow worker, a run
after a crash) takes its turn and only makes what is still missing, and a person never gets two certificates. A
refund recorded meanwhile stops it and the certificates made are marked refunded. ``planting.zip`` writes to a
partial file and renames it, and its name is a digest of the certificates and their statuses: the same zip is not
built twice, and a certificate reissued or refunded later gives a new one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from starlette.responses import Response
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from certificates.bulk import manifest_words, stream_zip
from certificates.service import issue_honour_certificate, issue_planting_certificate, mark_refunded
from kernel import clock, i18n
from kernel.settings import Settings
from linpiao.downloads import stored_response
from planting.domain.models import PaymentStatus, PlantingPurchase, RosterPayment, RosterSubmission
from planting.domain.rosters import allot_serials
from registry import jobs
from registry.models import Certificate, CertificateKind, Holder, Order, OrderStatus, RegisterEntry
from registry.storage import storage_of

log = logging.getLogger("linpiao.shop.planting")

# More people than this on one payment: their certificates are made by the job, not in the payment's request.
INLINE_CERTIFICATES = 50
CHUNK = 50  # certificates per transaction of the job (SQLite serialises writers: keep each one short)
SWEEP_WINDOW = timedelta(days=2)


class CertificatesNotReady(RuntimeError):
    """The order's payment has not committed yet (the job is retried with back-off)."""


@dataclass(frozen=True)
class Progress:
    made: int
    total: int

    @property
    def done(self) -> bool:
        return self.made >= self.total


async def certify_purchase(
    purchase: PlantingPurchase,
    order: Order,
    holder: Holder | None,
    entries: list[RegisterEntry],
    share: list[list[int]] | None = None,
) -> Certificate:
    """Issue one person's certificate (fulfilment or honour, as counting decided) and link it to the purchase."""
    fulfils = purchase.certificate_kind is CertificateKind.PLANTING
    issue = issue_planting_certificate if fulfils else issue_honour_certificate
    certificate = await issue(
        holder,
        year=purchase.year,
        trees=purchase.trees,
        name=purchase.name,
        entries=entries,
        order=order,
        share=share,
    )
    purchase.certificate = certificate
    return certificate


async def certify_roster(order: Order, entry: RegisterEntry, purchases: Sequence[PlantingPurchase]) -> None:
    """Every person's certificate at once (a small roster, inside the payment's transaction)."""
    shares = allot_serials(entry.ranges, [int(p.tickets) for p in purchases])
    certified = []
    for purchase, share in zip(purchases, shares, strict=True):
        if purchase.certificate_id is None:
            await certify_purchase(purchase, order, None, [entry], share)
            certified.append(purchase)
    if certified:
        await PlantingPurchase.bulk_update(certified, fields=["certificate_id"], batch_size=500)


def defer_details(entry: RegisterEntry, people: int) -> dict[str, int]:
    """What the order keeps for the job: the retirement whose serials the certificates share, and how many."""
    return {"entry": int(entry.id), "total": people}


async def _certify_chunk(
    order: Order, entry: RegisterEntry, part: Sequence[tuple[PlantingPurchase, list[list[int]]]]
) -> bool:
    """One chunk in one transaction; ``False`` when the order is no longer fulfilled (refunded meanwhile)."""
    async with in_transaction():
        # The order's row is written first: another run of this job waits for this chunk and then sees what it
        # made, and a refund being recorded is seen here.
        if not await Order.filter(id=order.id, status=OrderStatus.FULFILLED).update(fulfilled_at=F("fulfilled_at")):
            return False
        ids = [purchase.id for purchase, _share in part]
        missing = set(
            await PlantingPurchase.filter(id__in=ids, certificate_id__isnull=True).values_list("id", flat=True)
        )
        made = []
        for purchase, share in part:
            if purchase.id in missing:
                await certify_purchase(purchase, order, None, [entry], share)
                made.append(purchase)
        if made:
            await PlantingPurchase.bulk_update(made, fields=["certificate_id"], batch_size=500)
    return True


async def certify_order(order_id: int, *, chunk: int = CHUNK) -> Progress:
    """Make the certificates of a fulfilled roster order that are still missing (the job's body)."""
    order = await Order.get_or_none(id=order_id)
    if order is None:
        return Progress(0, 0)
    purchases = await PlantingPurchase.filter(order_id=order.id).order_by("id")
    made = PlantingPurchase.filter(order_id=order.id, certificate_id__isnull=False)
    if order.status is OrderStatus.REFUNDED:
        await mark_refunded(order)  # any made while the refund was being recorded
        return Progress(await made.count(), len(purchases))
    if order.status is not OrderStatus.FULFILLED:
        raise CertificatesNotReady(f"order {order_id} is {order.status}")
    info = order.details.get("certificates")
    if info:
        entry = await RegisterEntry.get(id=int(info["entry"]))
        shares = allot_serials(entry.ranges, [int(p.tickets) for p in purchases])
        pending = [(p, s) for p, s in zip(purchases, shares, strict=True) if p.certificate_id is None]
        for start in range(0, len(pending), chunk):
            if not await _certify_chunk(order, entry, pending[start : start + chunk]):
                await order.refresh_from_db()
                if order.status is OrderStatus.REFUNDED:
                    await mark_refunded(order)
                break
    return Progress(await made.count(), len(purchases))


async def certificate_progress(submission: RosterSubmission) -> Progress | None:
    """How many of the certificates the roster's fulfilled payments owe are made; ``None`` when all are."""
    owed = PlantingPurchase.filter(member__submission_id=submission.id, order__status=OrderStatus.FULFILLED)
    total = await owed.count()
    made = await owed.filter(certificate_id__isnull=False).count()
    return Progress(made, total) if made < total else None


# --- the zip ------------------------------------------------------------------------------------------------


async def certificate_rows(submission: RosterSubmission) -> list[tuple[int, str]]:
    """(certificate id, status) of the roster's paid people, in roster order (the zip's order)."""
    rows = (
        await PlantingPurchase.filter(member__submission_id=submission.id, certificate_id__isnull=False)
        .order_by("member__upload_no", "member__line_no", "id")
        .values_list("certificate_id", "certificate__status")
    )
    return [(int(ident), str(status)) for ident, status in rows]


ZIP_FOLDER = "certificate-zips"


def zip_key(submission: RosterSubmission, rows: Sequence[tuple[int, str]]) -> str:
    """The zip's key in the file storage: named by a digest of the certificates and their statuses, so a reissue
    or a refund makes a new one."""
    digest = hashlib.sha256("\n".join(f"{i}:{s}" for i, s in rows).encode()).hexdigest()[:24]
    return f"{ZIP_FOLDER}/planting-{submission.id}-{digest}.zip"


async def build_zip(settings: Settings, submission_id: int) -> str | None:
    """Render every certificate of the roster (each PDF is stored once) into the zip the page offers, written
    to the file storage (a folder or object storage) whole or not at all; returns its key."""
    submission = await RosterSubmission.get_or_none(id=submission_id)
    if submission is None:
        return None
    rows = await certificate_rows(submission)
    if not rows:
        return None
    storage = storage_of(settings)
    key = zip_key(submission, rows)
    if await storage.exists(key):
        return key
    locale = i18n.current_locale.set(i18n.DEFAULT_LOCALE)  # the stored zip's list is in Chinese
    try:
        words = manifest_words()
        chunks = stream_zip([ident for ident, _status in rows], settings.base_url, words=words)
        await storage.put_stream(key, chunks, content_type="application/zip")
    finally:
        i18n.current_locale.reset(locale)
    for older in await storage.list(f"{ZIP_FOLDER}/planting-{submission.id}-"):
        if older.key != key:
            await storage.delete(older.key)
    log.info("zip of %d certificates for roster %s: %s", len(rows), submission.id, key)
    return key


async def stored_zip(settings: Settings, submission: RosterSubmission, filename: str) -> Response | None:
    """The roster's zip as built by ``planting.zip``, when it is current and the page is in Chinese; otherwise
    ``None`` (the caller streams it), and for a large roster the job is asked to build it."""
    rows = await certificate_rows(submission)
    if not rows or i18n.current_locale.get() != i18n.DEFAULT_LOCALE:
        return None
    download = await storage_of(settings).open(zip_key(submission, rows))
    if download is not None:
        return stored_response(
            download,
            media_type="application/zip",
            filename=filename,
            headers={"X-Total-Count": str(len(rows)), "Cache-Control": "private, no-store"},
        )
    if len(rows) > INLINE_CERTIFICATES:
        await jobs.defer("planting.zip", submission_id=submission.id)
    return None


# --- jobs ---------------------------------------------------------------------------------------------------


@jobs.task("planting.certify", lock="planting.certify:{order_id}")
async def certify_job(ctx: jobs.JobContext, *, order_id: int) -> None:
    progress = await certify_order(order_id)
    log.info("certificates of order %s: %d / %d", order_id, progress.made, progress.total)
    payment = await RosterPayment.get_or_none(order_id=order_id)
    if payment is not None and progress.done and progress.total > INLINE_CERTIFICATES:
        await jobs.defer("planting.zip", submission_id=int(payment.submission_id))


@jobs.task("planting.zip", lock="planting.zip:{submission_id}")
async def zip_job(ctx: jobs.JobContext, *, submission_id: int) -> None:
    await build_zip(ctx.settings, submission_id)


@jobs.task("planting.sweep", cron="*/5 * * * *", retries=2)
async def sweep_job(ctx: jobs.JobContext) -> None:
    await sweep()


async def sweep() -> int:
    """A safety net for the last two days' roster payments: certificates never queued (the process stopped between
    the payment's commit and queueing the job) are queued, and certificates made while a refund was being recorded
    are marked refunded. Returns how many orders it acted on."""
    acted = 0
    since = clock.now() - SWEEP_WINDOW
    for payment in await RosterPayment.filter(status=PaymentStatus.PAID, paid_at__gte=since):
        order = await Order.get_or_none(id=payment.order_id)
        if order is None or not order.details.get("certificates"):
            continue
        if order.status is OrderStatus.REFUNDED:
            acted += bool(await mark_refunded(order))
        elif (
            order.status is OrderStatus.FULFILLED
            and await PlantingPurchase.filter(order_id=order.id, certificate_id__isnull=True).exists()
        ):
            await jobs.defer("planting.certify", order_id=order.id)
            acted += 1
    return acted
