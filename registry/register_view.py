"""Reading the register (查阅登记簿): filtered entries with their serial ranges, CSV/XLSX export, holder statements.

Holdings at any past moment are *reconstructed from the register entries* (:mod:`registry.ownership`): the
entries are append-only and hash-chained, so a balance on a past date is as trustworthy as the chain, needs no
snapshot table, and is checked against the live holdings by the register's property test. A unit counts as
owned by its holder while held or reserved for an order; a retirement or withdrawal ends ownership (the units
are spent), reservations and releases change nothing.

Exports neutralise text cells that a spreadsheet would run as a formula (CSV/formula injection): a cell
beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from tortoise.expressions import Q

from kernel import clock
from kernel.money import yuan_text
from registry.dividends import DividendShare
from registry.models import Batch, EntryKind, Holder, RegisterEntry, TicketKind
from registry.ownership import ownership_changes

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

ENTRY_LABELS: dict[EntryKind, str] = {
    EntryKind.ISSUE: "发放",
    EntryKind.TRANSFER: "转让",
    EntryKind.SUBSCRIPTION: "认购",
    EntryKind.INHERITANCE: "继承",
    EntryKind.REISSUE: "补发",
    EntryKind.RESERVATION: "预留",
    EntryKind.RELEASE: "释放",
    EntryKind.RETIREMENT: "注销",
    EntryKind.WITHDRAWAL: "收回",
    EntryKind.DIVIDEND: "分红",
}

KIND_LABELS: dict[TicketKind, str] = {
    TicketKind.CARBON: "碳汇林票",
    TicketKind.COLLECTIVE: "集体林地林票",
    TicketKind.STATE: "国有林地林票",
}


# ---------------------------------------------------------------------------------------------------------
# Filtered entries
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFilter:
    batch_id: int | None = None
    holder_id: int | None = None
    ticket_kind: TicketKind | None = None
    entry_kind: EntryKind | None = None
    date_from: date | None = None  # local calendar dates, inclusive
    date_to: date | None = None
    # the batches the reader may see (registry.access.readable_batch_ids); None: every batch
    within: frozenset[int] | None = None


@dataclass(frozen=True)
class EntryRow:
    seq: int
    created_at: datetime
    entry_kind: EntryKind
    batch: str
    ticket_kind: TicketKind | None
    from_holder: str
    to_holder: str
    quantity: int
    serial_ranges: str
    price_fen: int | None
    purpose: str
    actor: str
    hash: str

    @property
    def kind_label(self) -> str:
        return ENTRY_LABELS.get(self.entry_kind, str(self.entry_kind))


def _query(flt: EntryFilter) -> Any:
    query = RegisterEntry.all()
    if flt.within is not None:
        query = query.filter(batch_id__in=sorted(flt.within))
    if flt.batch_id is not None:
        query = query.filter(batch_id=flt.batch_id)
    if flt.ticket_kind is not None:
        query = query.filter(batch__kind=TicketKind(flt.ticket_kind))
    if flt.entry_kind is not None:
        query = query.filter(kind=EntryKind(flt.entry_kind))
    if flt.date_from is not None:
        query = query.filter(created_at__gte=clock.day_start(flt.date_from))
    if flt.date_to is not None:
        query = query.filter(created_at__lt=clock.day_end(flt.date_to))
    if flt.holder_id is not None:
        # heirs appear only in an inheritance entry's details: include the deceased's inheritance entries and
        # keep those that name the holder (below)
        query = query.filter(
            Q(from_holder_id=flt.holder_id) | Q(to_holder_id=flt.holder_id) | Q(kind=EntryKind.INHERITANCE)
        )
    return query


def _names_holder(entry: RegisterEntry, holder_id: int) -> bool:
    if holder_id in (entry.from_holder_id, entry.to_holder_id):
        return True
    return any(int(m.get("to", 0)) == holder_id for m in entry.details.get("moves", []))


def format_ranges(batch: Batch | None, ranges: Sequence[Sequence[int]]) -> str:
    if batch is None:
        return ""
    return "; ".join(batch.serial_range(int(first), int(last)) for first, last in ranges)


async def find_entries(
    flt: EntryFilter, *, limit: int | None = 200, offset: int = 0, after_seq: int | None = None
) -> list[EntryRow]:
    """Register entries matching ``flt``, oldest first, with holder names and serial ranges spelled out.

    ``after_seq`` (keyset: the last entry of the page before) makes a page cost the same however far into the
    register it is; each filter is an indexed column (batch, holders, kind: ``register_entry`` indexes)."""
    query = _query(flt).order_by("seq")
    if after_seq is not None:
        query = query.filter(seq__gt=after_seq)
    if flt.holder_id is None:
        if limit is not None:
            query = query.offset(offset).limit(limit)
        return await _rows(list(await query))
    # a holder's entries, with the inheritance entries that name it as an heir (read with them, kept when they do)
    entries: list[RegisterEntry] = []
    skipped, cursor, chunk = 0, after_seq or 0, max(limit or 0, 200)
    while limit is None or len(entries) < limit:
        batch = list(await query.filter(seq__gt=cursor).limit(chunk))
        for entry in batch:
            cursor = int(entry.seq)
            if not _names_holder(entry, flt.holder_id):
                continue
            if skipped < offset:
                skipped += 1
                continue
            entries.append(entry)
            if limit is not None and len(entries) == limit:
                break
        if len(batch) < chunk:
            break
    return await _rows(entries)


async def count_entries(flt: EntryFilter) -> int:
    if flt.holder_id is None:
        return int(await _query(flt).count())
    return len([e for e in await _query(flt) if _names_holder(e, flt.holder_id)])


async def _rows(entries: Sequence[RegisterEntry]) -> list[EntryRow]:
    batch_ids = {e.batch_id for e in entries if e.batch_id is not None}
    holder_ids = {h for e in entries for h in (e.from_holder_id, e.to_holder_id) if h is not None}
    for e in entries:
        holder_ids.update(int(m["to"]) for m in e.details.get("moves", []) if "to" in m)
    batches = {b.id: b for b in await Batch.filter(id__in=batch_ids)} if batch_ids else {}
    holders = {h.id: h.name for h in await Holder.filter(id__in=holder_ids)} if holder_ids else {}
    rows = []
    for e in entries:
        batch = batches.get(e.batch_id)
        to_name = holders.get(e.to_holder_id, "")
        if e.kind is EntryKind.INHERITANCE:
            to_name = "、".join(f"{holders.get(int(m['to']), '')}×{m['quantity']}" for m in e.details.get("moves", []))
        rows.append(
            EntryRow(
                seq=int(e.seq),
                created_at=e.created_at,
                entry_kind=e.kind,
                batch=batch.serial_prefix if batch else "",
                ticket_kind=batch.kind if batch else None,
                from_holder=holders.get(e.from_holder_id, ""),
                to_holder=to_name,
                quantity=int(e.quantity),
                serial_ranges=format_ranges(batch, e.ranges),
                price_fen=int(e.price_fen) if e.price_fen is not None else None,
                purpose=e.purpose,
                actor=e.actor,
                hash=e.hash,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------

EXPORT_HEADER = [
    "序号",
    "时间",
    "事项",
    "批次",
    "种类",
    "转出方",
    "转入方",
    "数量",
    "编号区间",
    "金额（元）",
    "用途",
    "经办人",
    "哈希",
]


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would evaluate as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _export_values(row: EntryRow) -> list[Any]:
    return [
        row.seq,
        clock.local(row.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        row.kind_label,
        row.batch,
        KIND_LABELS.get(row.ticket_kind, "") if row.ticket_kind else "",
        row.from_holder,
        row.to_holder,
        row.quantity,
        row.serial_ranges,
        "" if row.price_fen is None else yuan_text(row.price_fen),
        row.purpose,
        row.actor,
        row.hash,
    ]


def export_csv(rows: Iterable[EntryRow]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so spreadsheet programs read the Chinese correctly)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        writer.writerow([neutralise(v) for v in _export_values(row)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(rows: Iterable[EntryRow]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "登记簿"
    sheet.append(EXPORT_HEADER)
    for row in rows:
        cells = [neutralise(v) for v in _export_values(row)]
        sheet.append(cells)
    for row_cells in sheet.iter_rows(min_row=2):
        for cell in row_cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never let openpyxl guess a formula from text
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------
# Holder statement
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    seq: int | None  # None for a dividend part
    created_at: datetime
    kind: EntryKind
    batch: str
    change: int  # units gained (+) or given up (−)
    balance: int  # units of that batch owned after this line
    serial_ranges: str
    amount_fen: int | None  # price paid or received, or dividend
    counterparty: str
    note: str = ""
    record_date: date | None = None  # dividends: the record date, units that earned, and 村集体所获收益由集体所有
    dividend_units: int | None = None
    stays_with_collective: bool = False

    @property
    def label(self) -> str:
        return ENTRY_LABELS.get(self.kind, str(self.kind))


@dataclass
class Statement:
    holder: Holder
    date_from: date | None
    date_to: date | None
    opening: dict[str, int] = field(default_factory=dict)  # by batch serial prefix
    lines: list[StatementLine] = field(default_factory=list)
    closing: dict[str, int] = field(default_factory=dict)
    dividends_fen: int = 0

    @property
    def opening_total(self) -> int:
        return sum(self.opening.values())

    @property
    def closing_total(self) -> int:
        return sum(self.closing.values())


def _dividend_line(share: Any, batch: Batch) -> StatementLine:
    dividend = share.dividend
    return StatementLine(
        seq=None,
        created_at=dividend.created_at,
        kind=EntryKind.DIVIDEND,
        batch=batch.serial_prefix,
        change=0,
        balance=0,
        serial_ranges="",
        amount_fen=int(share.amount_fen),
        counterparty=dividend.source,
        record_date=dividend.record_date,
        dividend_units=int(share.units),
        stays_with_collective=bool(share.stays_with_collective),
    )


async def holder_statement(
    holder: Holder,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    batch: Batch | None = None,
    within: frozenset[int] | None = None,
) -> Statement:
    """The holder's statement (持有人对账单): opening balances, every entry and dividend, closing balances — of
    the batches in ``within`` when given (what the reader may see: :func:`registry.access.readable_batch_ids`)."""
    start = clock.day_start(date_from) if date_from else None
    end = clock.day_end(date_to) if date_to else None
    query = RegisterEntry.filter(
        Q(from_holder_id=holder.id) | Q(to_holder_id=holder.id) | Q(kind=EntryKind.INHERITANCE)
    ).exclude(kind__in=[EntryKind.RESERVATION, EntryKind.RELEASE, EntryKind.DIVIDEND])
    if batch is not None:
        query = query.filter(batch_id=batch.id)
    if within is not None:
        query = query.filter(batch_id__in=sorted(within))
    if end is not None:
        query = query.filter(created_at__lt=end)
    entries = [e for e in await query.order_by("seq") if _names_holder(e, holder.id)]
    batch_ids = {e.batch_id for e in entries if e.batch_id is not None}
    share_query = DividendShare.filter(holder_id=holder.id).prefetch_related("dividend")
    shares = [
        s
        for s in await share_query
        if (batch is None or s.dividend.batch_id == batch.id)
        and (within is None or s.dividend.batch_id in within)
        and (end is None or s.dividend.created_at < end)
    ]
    batch_ids.update(s.dividend.batch_id for s in shares)
    batches = {b.id: b for b in await Batch.filter(id__in=batch_ids)} if batch_ids else {}
    counterpart_ids = {h for e in entries for h in (e.from_holder_id, e.to_holder_id) if h is not None}
    names = {h.id: h.name for h in await Holder.filter(id__in=counterpart_ids)} if counterpart_ids else {}

    statement = Statement(holder=holder, date_from=date_from, date_to=date_to)
    running: dict[str, int] = defaultdict(int)
    # register entries and dividend parts in time order (an entry before a dividend of the same instant)
    events: list[tuple[datetime, int, RegisterEntry | StatementLine]] = [(e.created_at, 0, e) for e in entries]
    for s in shares:
        events.append((s.dividend.created_at, 1, _dividend_line(s, batches[s.dividend.batch_id])))
    events.sort(key=lambda ev: (ev[0], ev[1]))
    for moment, _, item in events:
        in_period = start is None or moment >= start
        if isinstance(item, StatementLine):
            if in_period:
                statement.lines.append(replace(item, balance=running[item.batch]))
                statement.dividends_fen += int(item.amount_fen or 0)
            continue
        entry = item
        b = batches.get(entry.batch_id)
        prefix = b.serial_prefix if b else ""
        change = ownership_changes(entry).get(holder.id, 0)
        if not in_period:
            running[prefix] += change
            statement.opening[prefix] = running[prefix]
            continue
        statement.opening.setdefault(prefix, running[prefix])
        running[prefix] += change
        incoming = entry.to_holder_id == holder.id or change > 0
        counterparty_id = entry.from_holder_id if incoming else entry.to_holder_id
        ranges = list(entry.ranges)
        if entry.kind is EntryKind.INHERITANCE:
            mine = [r for m in entry.details.get("moves", []) if int(m["to"]) == holder.id for r in m["ranges"]]
            ranges = mine or ranges
        statement.lines.append(
            StatementLine(
                seq=int(entry.seq),
                created_at=entry.created_at,
                kind=entry.kind,
                batch=prefix,
                change=change,
                balance=running[prefix],
                serial_ranges=format_ranges(b, ranges),
                amount_fen=int(entry.price_fen) if entry.price_fen is not None else None,
                counterparty=names.get(counterparty_id, "") if counterparty_id != holder.id else "",
                note=entry.purpose,
            )
        )
    statement.closing = {prefix: units for prefix, units in running.items()}
    for prefix, units in statement.opening.items():
        statement.closing.setdefault(prefix, units)
    return statement
