"""Reading the register: filters, serial ranges, CSV/XLSX export that spreadsheets cannot run, statements."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from fractions import Fraction

from openpyxl import load_workbook

from factories import make_batch, make_holder
from factories.trades import make_actor, village_batch
from kernel import clock
from registry import register
from registry.models import EntryKind, HolderKind, HoldingState, TicketKind
from registry.ownership import balances_before
from registry.register_view import (
    EXPORT_HEADER,
    EntryFilter,
    count_entries,
    export_csv,
    export_xlsx,
    find_entries,
    holder_statement,
    neutralise,
)
from registry.trades import record_transfer

TODAY = clock.today()
EVIL = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rx"]


def test_neutralise():
    for value in EVIL:
        assert neutralise(value) == "'" + value
    assert neutralise("张三") == "张三"
    assert neutralise(-5) == -5  # numbers are not text a spreadsheet would run
    assert neutralise(None) is None


async def _scene():  # type: ignore[no-untyped-def]
    batch, village = await village_batch(units=100)
    a = await make_holder('=HYPERLINK("http://evil","点我")')
    b = await make_holder("孙二")
    actor = await make_actor()
    await record_transfer(batch=batch, seller=village, buyer=a, quantity=30, price_fen=12_345, actor=actor)
    carbon = await make_batch(TicketKind.CARBON, units=50)
    return batch, village, a, b, carbon


async def test_filters_by_batch_holder_kind_entry_type_and_date(db):
    batch, village, a, b, carbon = await _scene()
    everything = await find_entries(EntryFilter())
    assert [r.entry_kind for r in everything] == [EntryKind.ISSUE, EntryKind.TRANSFER, EntryKind.ISSUE]
    rows = await find_entries(EntryFilter(batch_id=batch.id))
    assert (
        len(rows) == 2 and rows[1].serial_ranges == f"{batch.serial_prefix}-00000001 – {batch.serial_prefix}-00000030"
    )
    assert rows[1].from_holder == village.name and rows[1].to_holder == a.name and rows[1].price_fen == 12_345
    assert [r.seq for r in await find_entries(EntryFilter(holder_id=a.id))] == [rows[1].seq]
    assert len(await find_entries(EntryFilter(ticket_kind=TicketKind.CARBON))) == 1
    assert len(await find_entries(EntryFilter(entry_kind=EntryKind.TRANSFER))) == 1
    assert len(await find_entries(EntryFilter(date_from=TODAY, date_to=TODAY))) == 3
    assert await find_entries(EntryFilter(date_to=TODAY - timedelta(days=1))) == []
    assert await find_entries(EntryFilter(date_from=TODAY + timedelta(days=1))) == []
    assert await count_entries(EntryFilter(batch_id=batch.id)) == 2
    assert await count_entries(EntryFilter(holder_id=village.id)) == 2
    page = await find_entries(EntryFilter(), limit=1, offset=1)
    assert [r.seq for r in page] == [everything[1].seq]
    assert b.id and carbon.id


async def test_holder_filter_finds_heirs_of_an_inheritance(db):
    _batch, village = await village_batch(units=10)
    heir_a, heir_b = await make_holder(), await make_holder()
    await register.inherit_units(
        deceased=village,
        heirs=[register.Heir(heir_a, Fraction(7, 10)), register.Heir(heir_b, Fraction(3, 10))],
        died_on=TODAY,
    )
    rows = await find_entries(EntryFilter(holder_id=heir_b.id))
    assert len(rows) == 1 and rows[0].entry_kind is EntryKind.INHERITANCE
    assert heir_a.name in rows[0].to_holder and heir_b.name in rows[0].to_holder
    assert await count_entries(EntryFilter(holder_id=heir_b.id)) == 1


async def test_csv_export_round_trips_with_formulas_neutralised(db):
    await _scene()
    rows = await find_entries(EntryFilter())
    data = export_csv(rows)
    assert data.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert parsed[0] == EXPORT_HEADER
    transfer = parsed[2]
    assert transfer[2] == "转让" and transfer[9] == "123.45"
    assert transfer[6] == '\'=HYPERLINK("http://evil","点我")'
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for line in parsed for cell in line)


async def test_xlsx_export_round_trips_through_openpyxl(db):
    _batch, _village, a, _b, _carbon = await _scene()
    rows = await find_entries(EntryFilter())
    workbook = load_workbook(io.BytesIO(export_xlsx(rows)))
    sheet = workbook["登记簿"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == EXPORT_HEADER
    assert len(values) == 1 + len(rows)
    for row, exported in zip(rows, values[1:], strict=True):
        assert exported[0] == row.seq and exported[7] == row.quantity and exported[8] == row.serial_ranges
        assert exported[12] == row.hash
    assert values[2][6] == "'" + a.name
    for line in sheet.iter_rows():
        for cell in line:
            assert cell.data_type != "f"  # no formulas anywhere


async def test_export_neutralises_every_dangerous_prefix(db):
    batch, village = await village_batch(units=10)
    actor = await make_actor()
    for name in EVIL:
        holder = await make_holder(name)
        await record_transfer(batch=batch, seller=village, buyer=holder, quantity=1, price_fen=1, actor=actor)
    rows = await find_entries(EntryFilter(entry_kind=EntryKind.TRANSFER))
    sheet = load_workbook(io.BytesIO(export_xlsx(rows))).active
    names = [line[6].value for line in sheet.iter_rows(min_row=2)]
    assert names[:5] == ["'" + n for n in EVIL[:5]]
    assert names[5] in ("'\rx", "'\nx")  # XML keeps a lone CR as a line break


async def test_holder_statement_opening_entries_and_closing(db):
    batch, village = await village_batch(units=100)
    a = await make_holder()
    coop = await make_holder(kind=HolderKind.ENTERPRISE)
    actor = await make_actor()
    await record_transfer(batch=batch, seller=village, buyer=a, quantity=40, price_fen=4_000, actor=actor)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=coop, quantity=15, price_fen=99)
    await register.retire_held_units(batch=batch, holder=a, quantity=5, purpose="自愿注销")
    statement = await holder_statement(a, date_from=TODAY, date_to=TODAY)
    prefix = batch.serial_prefix
    assert statement.opening == {prefix: 0}
    assert [(line.label, line.change, line.balance) for line in statement.lines] == [
        ("转让", 40, 40),
        ("转让", -15, 25),
        ("注销", -5, 20),
    ]
    assert statement.lines[0].counterparty == village.name and statement.lines[0].amount_fen == 4_000
    assert statement.lines[1].counterparty == coop.name
    assert statement.closing == {prefix: 20} and statement.closing_total == 20
    live = await register.holder_total(a, batch=batch, state=HoldingState.HELD)
    assert statement.closing[prefix] == live
    later = await holder_statement(a, date_from=TODAY + timedelta(days=1))
    assert later.opening == {prefix: 20} and later.lines == [] and later.closing == {prefix: 20}
    earlier = await holder_statement(a, date_to=TODAY - timedelta(days=1))
    assert earlier.lines == [] and earlier.closing_total == 0
    only_batch = await holder_statement(village, batch=batch)
    assert only_batch.closing == {prefix: 60}


async def test_reconstructed_balances_match_the_live_holdings(db):
    batch, village = await village_batch(units=100)
    a, b = await make_holder(), await make_holder()
    await register.transfer_units(batch=batch, from_holder=village, to_holder=a, quantity=30)
    await register.transfer_units(batch=batch, from_holder=a, to_holder=b, quantity=10, serials=(5, 14))
    await register.retire_held_units(batch=batch, holder=b, quantity=2, purpose="x", beneficiary=a)
    balances = await balances_before(batch, clock.now() + timedelta(seconds=1))
    for holder in (village, a, b):
        live = await register.holder_total(holder, batch=batch, state=HoldingState.HELD)
        assert balances.get(holder.id, 0) == live


async def test_an_heirs_statement_shows_its_own_serials(db):
    batch, village = await village_batch(units=10)
    heir_a, heir_b = await make_holder(), await make_holder()
    await register.inherit_units(
        deceased=village,
        heirs=[register.Heir(heir_a, Fraction(7, 10)), register.Heir(heir_b, Fraction(3, 10))],
        died_on=TODAY,
    )
    statement = await holder_statement(heir_b)
    (line,) = statement.lines
    assert line.label == "继承" and line.change == 3 and line.balance == 3
    assert line.serial_ranges == batch.serial_range(8, 10) and line.counterparty == village.name
    assert statement.closing == {batch.serial_prefix: 3}
