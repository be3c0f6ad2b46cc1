"""An outside auditor's check: a retirements export against the published daily digests (tools/audit.py and
``linpiao audit``). A past retirement rewritten after its digest was published is caught — re-hashed or not."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factories.certificates import paid_order
from kernel import clock
from registry.chain import entry_hash, hashed_content, verify_chain
from registry.digests import RegisterDigest
from registry.models import ChainHead, EntryKind, RegisterEntry
from registry.quotas import open_quota
from tools import audit as tool

DAY1 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 Beijing
DAY2 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)


async def _history() -> None:
    with clock.use(clock.FixedClock(DAY1)) as fixed:
        quota = await open_quota(units=1000)
        await paid_order(10, name="甲", batch=quota, purpose="travel")
        await paid_order(20, name="乙", batch=quota, purpose="meeting")
        fixed.set(DAY2)
        await paid_order(30, name="丙", batch=quota, purpose="event")


async def _save(client, tmp_path: Path, name: str, url: str) -> Path:
    response = await client.get(url)
    assert response.status_code == 200
    path = tmp_path / name
    path.write_bytes(response.content)
    return path


async def _rewrite(seq: int, *, rehash: bool, **changes) -> None:  # type: ignore[no-untyped-def]
    """What a dishonest operator would do: change a past entry and, with ``rehash``, re-hash every entry after it
    and the head, so that ``verify-register`` still passes."""
    await RegisterEntry.filter(seq=seq).update(**changes)
    if not rehash:
        return
    rewritten = await RegisterEntry.get(seq=seq)  # its batch's chain: every later entry of it, and its head
    previous = (await RegisterEntry.get(batch_id=rewritten.batch_id, chain_seq=rewritten.chain_seq - 1)).hash
    later = RegisterEntry.filter(batch_id=rewritten.batch_id, chain_seq__gte=rewritten.chain_seq)
    for entry in await later.order_by("chain_seq"):
        entry.prev_hash = previous
        entry.hash = entry_hash(hashed_content(entry))
        await entry.save(update_fields=["prev_hash", "hash"])
        previous = entry.hash
    await ChainHead.filter(chain=rewritten.batch_id).update(last_hash=previous)


def _run(export: Path, digest: Path, capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = tool.main(["--export", str(export), "--digest", str(digest)])
    return code, capsys.readouterr().out


async def test_an_intact_export_checks_out(client, db, tmp_path, capsys):
    await _history()
    with clock.use(clock.FixedClock(LATER)):
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
        digest = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")
    code, out = _run(export, digest, capsys)
    assert code == 0, out
    assert "3 rows: 3 intact and covered by a digest, 0 failed, 0 pending" in out
    rows = list(csv.DictReader(io.StringIO(export.read_text("utf-8-sig"))))
    assert [r["digest_day"] for r in rows] == ["2026-03-02", "2026-03-02", "2026-03-03"]
    # the JSON pages are an export too
    pages = await _save(client, tmp_path, "page.json", "/api/v1/retirements")
    code, out = _run(pages, digest, capsys)
    assert code == 0 and "3 intact" in out


async def test_a_rewritten_and_rehashed_past_retirement_is_caught(client, db, tmp_path, capsys):
    await _history()
    with clock.use(clock.FixedClock(LATER)):
        saved = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")  # the auditor keeps it
    first = await RegisterEntry.filter(kind=EntryKind.RETIREMENT).order_by("seq").first()
    await _rewrite(first.seq, rehash=True, quantity=1, purpose="改写")
    assert (await verify_chain()).ok  # the register's own check cannot see it: every hash was redone
    await RegisterDigest.all().delete()  # and the operator even publishes fresh digests
    with clock.use(clock.FixedClock(LATER)):
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
        fresh = await _save(client, tmp_path, "fresh.json", "/api/v1/register/digests")
    code, out = _run(export, saved, capsys)
    assert code == 1
    assert f"FAIL seq={first.seq}: not covered by the digest of 2026-03-02" in out
    # every later entry was re-hashed with it, so none of them is covered by the saved digests either
    assert "3 rows: 0 intact and covered by a digest, 3 failed" in out
    # against the forged digests the export looks fine: that is why an auditor keeps the digests published
    assert _run(export, fresh, capsys)[0] == 0
    assert (
        json.loads(fresh.read_text())["items"][-1]["entries_root"]
        != json.loads(saved.read_text())["items"][-1]["entries_root"]
    )


async def test_an_entry_edited_without_rehashing_is_caught(client, db, tmp_path, capsys):
    await _history()
    with clock.use(clock.FixedClock(LATER)):
        saved = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")
    last = await RegisterEntry.filter(kind=EntryKind.RETIREMENT).order_by("-seq").first()
    await _rewrite(last.seq, rehash=False, quantity=3)
    with clock.use(clock.FixedClock(LATER)):
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
    code, out = _run(export, saved, capsys)
    assert code == 1 and f"FAIL seq={last.seq}: the entry does not match its hash" in out


async def test_an_export_whose_columns_were_changed_is_caught(client, db, tmp_path, capsys):
    await _history()
    with clock.use(clock.FixedClock(LATER)):
        saved = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
    rows = list(csv.DictReader(io.StringIO(export.read_text("utf-8-sig"))))
    rows[0]["quantity"] = "999"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    export.write_text(buffer.getvalue(), "utf-8")
    code, out = _run(export, saved, capsys)
    assert code == 1 and "the quantity shown (999) is not the one hashed (10)" in out


async def test_rows_of_an_open_day_are_pending_and_a_forged_digest_is_refused(client, db, tmp_path, capsys):
    await _history()
    with clock.use(clock.FixedClock(DAY2)):  # day 2 is still open
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
        digest = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")
    code, out = _run(export, digest, capsys)
    assert code == 0 and "2 intact and covered by a digest, 0 failed, 1 pending" in out
    forged = json.loads(digest.read_text())
    forged["items"][0]["merkle_root"] = "0" * 64
    digest.write_text(json.dumps(forged))
    code, out = _run(export, digest, capsys)
    assert code == 1 and "merkle_root is not the root over its chain heads" in out
    assert tool.main(["--export", str(tmp_path / "missing.csv"), "--digest", str(digest)]) == 2


async def test_linpiao_audit_runs_the_same_check(client, db, tmp_path, capsys):
    from linpiao import cli

    await _history()
    with clock.use(clock.FixedClock(LATER)):
        export = await _save(client, tmp_path, "retirements.csv", "/api/v1/retirements.csv")
        digest = await _save(client, tmp_path, "digests.json", "/api/v1/register/digests")
    assert cli.main(["audit", "--export", str(export), "--digest", str(digest), "--quiet"]) == 0
    assert "3 intact" in capsys.readouterr().out


@pytest.mark.slow
async def test_the_tool_reads_the_digests_from_the_register_by_url(live_server, tmp_path, capsys):
    """``--digest URL``: the tool fetches /api/v1/register/digests and follows its pages."""
    import httpx

    start = datetime.now(UTC) - timedelta(days=40)
    with clock.use(clock.FixedClock(start)):
        quota = await open_quota(units=1000)
        await paid_order(10, name="甲", batch=quota)
    export = tmp_path / "retirements.csv"
    export.write_bytes(httpx.get(f"{live_server}/api/v1/retirements.csv", timeout=30).content)
    code = tool.main(["--export", str(export), "--digest", f"{live_server}/api/v1/register/digests"])
    out = capsys.readouterr().out
    assert code == 0 and "1 intact" in out
    assert int(out.rsplit("; ", 1)[1].split()[0]) >= 40  # more than one page of 31 digests was followed
