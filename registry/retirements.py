"""The public list of retirements (注销公示): every retirement entry of the register, as anyone may see it.

:class:`PublicRetirement` is an index of the register's retirement entries — one row per entry, with what the
public list filters and adds up by (kind of retirement, purpose, Beijing month and year, district, quantity,
grams of CO2e). It holds no name and no identifier, only facts that never change once a retirement is written,
so it is filled after the fact: :func:`sync` appends the rows of retirement entries newer than its last one
(every public read calls it; it costs two indexed queries when nothing is new). What can change — a
certificate refunded, revoked or reissued — and the entry itself (its serials, hash and hashed content) are read
live from the register when a page is shown.

Kinds: ``carbon`` (a shop order of carbon tickets, with the shop's purpose code), ``planting`` (obligatory tree
planting, 义务植树尽责), ``green_land_offset`` (绿地占补平衡, against a project), ``compensation`` (生态补偿,
against a case number — the offender is never named), ``other`` (any other retirement of held units).

The beneficiary is shown as the certificate's public verification shows it: a person's name masked by
:func:`registry.identity.mask_name` (张三丰 → 张*丰), a body's name in full; an ecological compensation case by
its case number only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.functions import Sum
from tortoise.models import Model
from tortoise.transactions import in_transaction

from kernel import clock
from registry import sqlrows
from registry.chain import hashed_content, settled_seq
from registry.donations import PLANTING_PURPOSE
from registry.errors import RegisterError
from registry.identity import mask_name
from registry.models import (
    Batch,
    Certificate,
    CertificateStatus,
    EntryKind,
    Holder,
    HolderKind,
    Holding,
    HoldingState,
    Order,
    RegisterEntry,
    TicketKind,
)

SYNC_PAGE = 500
MAX_LIMIT = 200
MAX_QUERY = 100
PLANTING_ORDER_PURPOSE = PLANTING_PURPOSE  # Order.purpose of tree-planting orders
CARBON_PURPOSES = ("travel", "meeting", "event", "daily", "other")  # Order.purpose of the shop's carbon orders


class RetirementKind(StrEnum):
    CARBON = "carbon"  # 碳汇林票抵消
    PLANTING = "planting"  # 义务植树尽责
    GREEN_LAND_OFFSET = "green_land_offset"  # 绿地占补平衡
    COMPENSATION = "compensation"  # 生态补偿
    OTHER = "other"


PURPOSES: tuple[str, ...] = (*CARBON_PURPOSES, "planting", "green_land_offset", "compensation")


class InvalidRetirementQuery(RegisterError):
    code = "invalid_query"
    message = "查询条件无效"


class InvalidCursor(RegisterError):
    code = "invalid_cursor"
    message = "翻页标记无效"


class PublicRetirement(Model):
    """One retirement entry of the register, indexed for the public list and the impact figures."""

    id = fields.IntField(primary_key=True)
    entry: fields.OneToOneRelation[RegisterEntry] = fields.OneToOneField(
        "models.RegisterEntry", related_name="public_retirement", on_delete=fields.RESTRICT
    )
    seq = fields.BigIntField(unique=True)  # the entry's place in the register: the list's keyset
    kind = fields.CharEnumField(RetirementKind, max_length=24)
    purpose = fields.CharField(max_length=32, default="")
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        "models.Batch", related_name="public_retirements", on_delete=fields.RESTRICT
    )
    ticket_kind = fields.CharEnumField(TicketKind, max_length=16)
    district_code = fields.CharField(max_length=6, default="")
    quantity = fields.BigIntField()
    g_co2e = fields.BigIntField(default=0)  # grams of CO2e the retired carbon tickets stand for
    day = fields.DateField()  # Beijing date of the retirement
    month = fields.CharField(max_length=7)  # "YYYY-MM", Beijing
    year = fields.IntField()
    case_number = fields.CharField(max_length=100, default="", db_index=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "public_retirement"
        indexes = (
            ("kind", "seq"),
            ("purpose", "seq"),
            ("month", "seq"),
            ("batch", "seq"),
            ("year", "kind"),
            ("district_code",),
        )


class RetirementTotal(Model):
    """The public retirements added up by everything /impact groups by: one row per kind, purpose, ticket kind,
    district and Beijing month. Kept by :func:`sync` in the transaction that indexes the entries, so the impact
    figures read a few hundred rows whether one or a million retirements were made."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(RetirementKind, max_length=24)
    purpose = fields.CharField(max_length=32, default="")
    ticket_kind = fields.CharEnumField(TicketKind, max_length=16)
    district_code = fields.CharField(max_length=6, default="")
    month = fields.CharField(max_length=7)
    year = fields.IntField()
    quantity = fields.BigIntField(default=0)
    g_co2e = fields.BigIntField(default=0)
    retirements = fields.BigIntField(default=0)

    class Meta:
        table = "retirement_total"
        unique_together = (("kind", "purpose", "ticket_kind", "district_code", "month"),)


class RetirementIndexMark(Model):
    """One row: the ``seq`` of the last retirement entry indexed and added up. :func:`sync` writes it first in
    its transaction, which makes concurrent syncs take turns (the same trick as the register's head row)."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)

    class Meta:
        table = "retirement_index_mark"


# --- keeping the index ------------------------------------------------------------------------------------


def _order_id(entry: RegisterEntry) -> int | None:
    value = entry.details.get("order") if isinstance(entry.details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def classify(entry: RegisterEntry, batch: Batch, order_purpose: str | None) -> tuple[RetirementKind, str]:
    """The kind of a retirement and its purpose code, from the register entry (and its order's purpose)."""
    details = entry.details if isinstance(entry.details, dict) else {}
    if batch.kind is TicketKind.CARBON:
        if order_purpose == PLANTING_ORDER_PURPOSE:
            return RetirementKind.PLANTING, "planting"
        if order_purpose in CARBON_PURPOSES:
            return RetirementKind.CARBON, str(order_purpose)
        return RetirementKind.CARBON, "other"
    if details.get("compensation_case"):
        return RetirementKind.COMPENSATION, "compensation"
    if details.get("green_land_offset"):
        return RetirementKind.GREEN_LAND_OFFSET, "green_land_offset"
    return RetirementKind.OTHER, ""


_TOTAL_KEY = ("kind", "purpose", "ticket_kind", "district_code", "month", "year")
_CREATE_MARK_SQL = 'INSERT INTO "retirement_index_mark" ("id", "seq") VALUES (1, 0) ON CONFLICT DO NOTHING'
_LOCK_MARK_SQL = 'UPDATE "retirement_index_mark" SET "seq" = "seq" WHERE "id" = 1 RETURNING "seq"'


async def _mark() -> int:
    row = await RetirementIndexMark.get_or_none(id=1)
    return int(row.seq) if row else 0


async def sync() -> int:
    """Index every retirement entry newer than the last one indexed, and add it to the totals; returns how many
    rows were added.

    Entries of different batches commit in any order on PostgreSQL, so the entries read go no further than
    :func:`registry.chain.settled_seq` (every earlier one is committed): the mark (the last ``seq`` indexed) is
    then a safe place to go on from. When nothing is new this costs two indexed
    reads and writes nothing; otherwise each page of entries is indexed and added up in one transaction that
    first writes the mark row, so two readers arriving together take turns and nothing is counted twice."""
    mark = await _mark()
    if not await RegisterEntry.filter(kind=EntryKind.RETIREMENT, seq__gt=mark).exists():
        return 0
    settled = await settled_seq()  # PostgreSQL: batches commit in any order; go no further than what is settled
    added = 0
    while True:
        async with in_transaction():
            await sqlrows.execute(_CREATE_MARK_SQL)
            locked = await sqlrows.rows(_LOCK_MARK_SQL)
            mark = int(locked[0]["seq"])
            news = RegisterEntry.filter(kind=EntryKind.RETIREMENT, seq__gt=mark)
            if settled is not None:
                news = news.filter(seq__lte=settled)
            entries = await news.order_by("seq").limit(SYNC_PAGE)
            if not entries:
                return added
            rows = await _index_rows(entries)
            await PublicRetirement.bulk_create(rows)
            await _add_to_totals(rows)
            await RetirementIndexMark.filter(id=1).update(seq=int(entries[-1].seq))
        added += len(rows)


async def _index_rows(entries: list[RegisterEntry]) -> list[PublicRetirement]:
    batches = {b.id: b for b in await Batch.filter(id__in={e.batch_id for e in entries})}
    order_ids = {i for i in (_order_id(e) for e in entries) if i is not None}
    purposes = dict(await Order.filter(id__in=order_ids).values_list("id", "purpose")) if order_ids else {}
    rows = []
    for entry in entries:
        batch = batches[entry.batch_id]
        order_id = _order_id(entry)
        kind, purpose = classify(entry, batch, purposes.get(order_id) if order_id is not None else None)
        local = clock.local(entry.created_at)
        case = entry.details.get("compensation_case", "") if kind is RetirementKind.COMPENSATION else ""
        rows.append(
            PublicRetirement(
                entry_id=entry.id,
                seq=entry.seq,
                kind=kind,
                purpose=purpose,
                batch_id=batch.id,
                ticket_kind=batch.kind,
                district_code=batch.district_code or "",
                quantity=int(entry.quantity),
                g_co2e=int(entry.quantity) * int(batch.g_co2e_per_unit or 0),
                day=local.date(),
                month=local.strftime("%Y-%m"),
                year=local.year,
                case_number=str(case)[:100],
                created_at=entry.created_at,
            )
        )
    return rows


async def _add_to_totals(rows: Iterable[PublicRetirement]) -> None:
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        key = tuple(str(getattr(row, name)) for name in _TOTAL_KEY)
        total = sums.setdefault(key, [0, 0, 0])
        total[0] += int(row.quantity)
        total[1] += int(row.g_co2e)
        total[2] += 1
    columns = ", ".join(f'"{name}"' for name in _TOTAL_KEY)
    for key, (quantity, grams, count) in sorted(sums.items()):
        await sqlrows.execute(  # column names are this module's constants; every value is a parameter
            f'INSERT INTO "retirement_total" ({columns}, "quantity", "g_co2e", "retirements") '  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, CAST(? AS INT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)) "
            'ON CONFLICT ("kind", "purpose", "ticket_kind", "district_code", "month") DO UPDATE SET '
            '"quantity" = "retirement_total"."quantity" + excluded."quantity", '
            '"g_co2e" = "retirement_total"."g_co2e" + excluded."g_co2e", '
            '"retirements" = "retirement_total"."retirements" + excluded."retirements"',
            [*key[:5], int(key[5]), quantity, grams, count],
        )


# --- the public list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetirementQuery:
    """Filters of the public list; ``seqs`` narrows it to what a search found."""

    kind: RetirementKind | None = None
    purpose: str | None = None
    month: str | None = None  # "YYYY-MM"
    batch: str | None = None  # serial prefix
    seqs: tuple[int, ...] | None = None


_MONTH = re.compile(r"(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])")
_CURSOR = re.compile(r"[1-9][0-9]{0,17}")
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_BATCH = re.compile(r"[A-Za-z0-9-]{1,40}")


def parse_month(value: str | None) -> str | None:
    """``YYYY-MM`` (1900–2999); empty or absent: no filter."""
    if not value:
        return None
    if not _MONTH.fullmatch(value):
        raise InvalidRetirementQuery(value[:20])
    return value


def parse_kind(value: str | None) -> RetirementKind | None:
    if not value:
        return None
    try:
        return RetirementKind(value)
    except ValueError:
        raise InvalidRetirementQuery(value[:40]) from None


def parse_purpose(value: str | None) -> str | None:
    if not value:
        return None
    if value not in PURPOSES:
        raise InvalidRetirementQuery(value[:40])
    return value


def parse_batch(value: str | None) -> str | None:
    if not value:
        return None
    if not _BATCH.fullmatch(value):
        raise InvalidRetirementQuery(value[:40])
    return value


def parse_cursor(value: str | None) -> int | None:
    """The ``seq`` below which the next page starts; empty or absent: the first page."""
    if not value:
        return None
    if not _CURSOR.fullmatch(value):
        raise InvalidCursor(value[:40])
    return int(value)


def parse_limit(value: str | None, default: int = 50) -> int:
    if value is None:
        return default
    if not _LIMIT.fullmatch(value) or int(value) > MAX_LIMIT:
        raise InvalidRetirementQuery(value[:20])
    return int(value)


async def _seqs(query: Any) -> tuple[int, ...]:
    return tuple(int(row["seq"]) for row in await query.values("seq"))


async def find_by_serial(text: str) -> tuple[int, ...]:
    """The retirement whose serials include ``PREFIX-NNNNNNNN`` (one serial number, as printed)."""
    prefix, _, number = text.strip().upper().rpartition("-")
    if not prefix or not number.isascii() or not number.isdigit() or len(number) > 12:
        return ()
    batch = await Batch.get_or_none(serial_prefix=prefix)
    if batch is None:
        return ()
    holding = (
        await Holding.filter(batch_id=batch.id, first_no__lte=int(number)).order_by("-first_no").first()
    )  # ranges of a batch never overlap: the one starting at or below the number is the only candidate
    if holding is None or holding.last_no < int(number) or holding.state is not HoldingState.RETIRED:
        return ()
    return await _seqs(RegisterEntry.filter(id=holding.retirement_id))


async def find_by_case(text: str) -> tuple[int, ...]:
    number = text.strip()
    if not number or len(number) > MAX_QUERY:
        return ()
    return await _seqs(PublicRetirement.filter(case_number=number))


async def retirement_of_certificate(certificate: Certificate) -> tuple[int, ...]:
    """The retirement a carbon, planting or honour certificate was issued for (through any reissues)."""
    seen = set()
    while certificate.data.get("reissue_of") and certificate.id not in seen:
        seen.add(certificate.id)
        original = await Certificate.get_or_none(id=certificate.data["reissue_of"])
        if original is None:
            return ()
        certificate = original
    if certificate.entry_id is None:
        return ()
    return await _seqs(PublicRetirement.filter(entry_id=certificate.entry_id))


async def search(text: str) -> tuple[int, ...]:
    """A serial number or a compensation case number (certificate codes are looked up by the web layer,
    which counts failed look-ups)."""
    if len(text) > MAX_QUERY:
        raise InvalidRetirementQuery(text[:20])
    return await find_by_serial(text) or await find_by_case(text)


def _filtered(query: RetirementQuery) -> Any:
    rows = PublicRetirement.all()
    if query.kind is not None:
        rows = rows.filter(kind=query.kind)
    if query.purpose is not None:
        rows = rows.filter(purpose=query.purpose)
    if query.month is not None:
        rows = rows.filter(month=query.month)
    if query.batch is not None:
        rows = rows.filter(batch__serial_prefix=query.batch)
    if query.seqs is not None:
        rows = rows.filter(seq__in=list(query.seqs))
    return rows


async def page(
    query: RetirementQuery, *, cursor: int | None = None, limit: int = 50
) -> tuple[list[Retirement], int | None]:
    """One page of the list, newest first, and the cursor of the next page (``None`` on the last)."""
    await sync()
    rows = _filtered(query)
    if cursor is not None:
        rows = rows.filter(seq__lt=cursor)
    found = await rows.order_by("-seq").limit(limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return await _views(found), (int(found[-1].seq) if more and found else None)


async def every(query: RetirementQuery, *, chunk: int = 500) -> AsyncIterator[Retirement]:
    """Every matching retirement, oldest first, a chunk at a time (for exports)."""
    await sync()
    mark = 0
    while True:
        found = await _filtered(query).filter(seq__gt=mark).order_by("seq").limit(chunk)
        if not found:
            return
        for view in await _views(found):
            yield view
        mark = int(found[-1].seq)


# --- what a row shows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retirement:
    seq: int
    retired_at: datetime
    kind: RetirementKind
    purpose: str
    purpose_label: str  # as the register records it
    batch: str
    ticket_kind: TicketKind
    district_code: str
    serial_ranges: list[str]
    ranges: list[list[int]]
    quantity: int
    g_co2e: int
    beneficiary: str
    case_number: str
    certificate_status: str  # none | valid | revoked | refunded | mixed
    certificates: int
    entry: RegisterEntry

    @property
    def day(self) -> date:
        return clock.local_date(self.retired_at)

    @property
    def kg_co2e(self) -> str | None:
        if self.ticket_kind is not TicketKind.CARBON:
            return None
        kg = Decimal(self.g_co2e) / 1000
        text = format(kg, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text

    @property
    def hashed_content(self) -> dict[str, Any]:
        return hashed_content(self.entry)


def public_holder_name(name: str, kind: HolderKind | str | None) -> str:
    """A name as a stranger may see it (the rule of :func:`certificates.service.public_name`): a person's name
    masked, a body's name in full."""
    return mask_name(name) if (kind or HolderKind.INDIVIDUAL) == HolderKind.INDIVIDUAL else name


async def _current_certificates(entry_ids: Iterable[int]) -> dict[int, list[Certificate]]:
    """Each entry's certificates as they stand now: a reissued certificate replaced by its replacement."""
    originals = await Certificate.filter(entry_id__in=list(entry_ids)).order_by("id")
    current = {c.id: c for c in originals}
    owner = {c.id: c.entry_id for c in originals}
    pending = [c for c in originals if c.replaced_by_id is not None]
    while pending:
        replacements = {c.id: c for c in await Certificate.filter(id__in=[c.replaced_by_id for c in pending])}
        nxt = []
        for old in pending:
            new = replacements.get(old.replaced_by_id)
            if new is None or new.id in owner:
                continue
            current.pop(old.id, None)
            current[new.id] = new
            owner[new.id] = owner[old.id]
            if new.replaced_by_id is not None:
                nxt.append(new)
        pending = nxt
    by_entry: dict[int, list[Certificate]] = {}
    for certificate in current.values():
        by_entry.setdefault(owner[certificate.id], []).append(certificate)
    return by_entry


def _status(certificates: Sequence[Certificate]) -> str:
    statuses = {str(c.status) for c in certificates}
    if not statuses:
        return "none"
    if len(statuses) > 1:
        return "mixed"
    status = statuses.pop()
    return status if status != CertificateStatus.REISSUED else "valid"  # pragma: no cover - replaced above


async def _views(rows: Sequence[PublicRetirement]) -> list[Retirement]:
    if not rows:
        return []
    entries = {e.id: e for e in await RegisterEntry.filter(id__in=[r.entry_id for r in rows])}
    batches = {b.id: b for b in await Batch.filter(id__in={r.batch_id for r in rows})}
    holder_ids = {e.to_holder_id for e in entries.values() if e.to_holder_id is not None}
    holders = {h["id"]: h for h in await Holder.filter(id__in=holder_ids).values("id", "name", "kind")}
    certificates = await _current_certificates(entries)
    originals = {
        c["entry_id"]: c
        for c in await Certificate.filter(entry_id__in=list(entries)).values("entry_id", "holder_name", "data")
    }
    views = []
    for row in rows:
        entry = entries[row.entry_id]
        batch = batches[row.batch_id]
        current = certificates.get(entry.id, [])
        if row.kind is RetirementKind.COMPENSATION:
            beneficiary = ""  # the case number is the public trace; the offender is never shown
        elif len(current) == 1 and entry.id in originals:
            printed = originals[entry.id]
            data = printed["data"] if isinstance(printed["data"], dict) else {}
            beneficiary = public_holder_name(printed["holder_name"], data.get("holder_kind"))
        else:
            holder = holders.get(entry.to_holder_id)
            beneficiary = public_holder_name(holder["name"], holder["kind"]) if holder else ""
        ranges = [[int(a), int(b)] for a, b in entry.ranges]
        views.append(
            Retirement(
                seq=int(row.seq),
                retired_at=entry.created_at,
                kind=RetirementKind(row.kind),
                purpose=row.purpose,
                purpose_label=entry.purpose,
                batch=batch.serial_prefix,
                ticket_kind=TicketKind(batch.kind),
                district_code=row.district_code,
                serial_ranges=[batch.serial_range(a, b) for a, b in sorted(ranges)],
                ranges=ranges,
                quantity=int(entry.quantity),
                g_co2e=int(row.g_co2e),
                beneficiary=beneficiary,
                case_number=row.case_number,
                certificate_status=_status(current),
                certificates=len(current),
                entry=entry,
            )
        )
    return views


# --- figures for /impact ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    key: str
    quantity: int
    g_co2e: int
    retirements: int

    @property
    def kg_co2e(self) -> int:
        return self.g_co2e // 1000


async def totals_by(column: str, **filters: Any) -> list[Total]:
    """Tickets, grams of CO2e and retirements grouped by one column, from the totals kept by :func:`sync`
    (one aggregate over a few hundred rows, however many retirements there are)."""
    if column not in _TOTAL_KEY:
        raise ValueError(column)
    await sync()
    rows = (
        await RetirementTotal.filter(**filters)
        .annotate(q=Sum("quantity"), g=Sum("g_co2e"), n=Sum("retirements"))
        .group_by(column)
        .order_by(column)
        .values(column, "q", "g", "n")
    )
    return [Total(str(r[column]), int(r["q"] or 0), int(r["g"] or 0), int(r["n"] or 0)) for r in rows]
