#!/usr/bin/env python3
"""Check a Linpiao retirements export against the register's published daily digests.

    python tools/audit.py --export retirements.csv --digest https://…/api/v1/register/digests
    python tools/audit.py --export retirements.csv --digest digests-saved-last-month.json
    linpiao audit --export retirements.csv --digest …        (the same check, installed with the project)

One file, the Python standard library only: an outside auditor can read all of it. For every row of the export
(``/api/v1/retirements.csv`` or the JSON pages of ``/api/v1/retirements``) it

1. recomputes the SHA-256 of the row's ``entry`` (canonical JSON: sorted keys, no spaces, UTF-8) and compares it
   with the row's ``hash`` — an entry edited without re-hashing fails here;
2. checks that the row's visible columns say what the hashed entry says (number, quantity, purpose, serials,
   previous hash, Beijing date);
3. follows the row's Merkle ``proof`` from that hash to the ``entries_root`` of the digest of its day, taken from
   ``--digest`` — an entry rewritten and re-hashed after that digest was published fails here, because the
   digest (which you fetched or saved back then) no longer covers it.

Rows of a day whose digest is not published yet are reported as pending. Each digest is checked too: its
``merkle_root`` must be the Merkle root over its chain heads. Pairing rule: leaf = sha256(0x00 ‖ data), node =
sha256(0x01 ‖ left ‖ right), an odd node carried up unchanged; chain-head data ``"{chain}:{head_seq}:{head_hash}"``
(heads sorted by chain), entry data the 32 bytes of the entry hash; proof steps ``L<hex>`` / ``R<hex>``.

Exit status: 0 every checked row is intact, 1 a row or a digest failed, 2 the inputs could not be read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

BEIJING = timezone(timedelta(hours=8))  # China has kept UTC+8 all year since 1991
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
MAX_PAGES = 10_000


# --- hashing, exactly as the register does --------------------------------------------------------------------


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> str:
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        above = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            above.append(level[-1])
        level = above
    return level[0].hex()


def heads_root(chains: Iterable[dict[str, Any]]) -> str:
    ordered = sorted(chains, key=lambda c: str(c["chain"]))
    return merkle_root([leaf(f"{c['chain']}:{c['head_seq']}:{c['head_hash']}".encode()) for c in ordered])


def proof_root(entry_hash_hex: str, proof: Sequence[str]) -> str:
    current = leaf(bytes.fromhex(entry_hash_hex))
    for step in proof:
        side, sibling = step[:1], bytes.fromhex(step[1:])
        if side not in ("L", "R") or len(sibling) != 32:
            raise ValueError(f"bad proof step {step[:10]}…")
        current = node(sibling, current) if side == "L" else node(current, sibling)
    return current.hex()


# --- reading the inputs ---------------------------------------------------------------------------------------


class InputError(Exception):
    """An export or a digest that cannot be read."""


def _cell(value: str) -> str:
    """Undo the export's spreadsheet guard (a leading apostrophe before a formula character)."""
    return value[1:] if value.startswith("'") and value[1:2] in FORMULA_PREFIXES and value[1:2] != "" else value


def _read(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 - the auditor names the URL
            return bytes(response.read())
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: {exc.strerror or exc}") from None


def load_export(source: str) -> list[dict[str, Any]]:
    """The rows of a CSV export, or of the JSON pages (one page, a list of pages, or a list of rows)."""
    data = _read(source).decode("utf-8-sig")
    if data.lstrip().startswith(("{", "[")):
        parsed = json.loads(data)
        pages = parsed if isinstance(parsed, list) else [parsed]
        rows: list[dict[str, Any]] = []
        for page in pages:
            rows += page["items"] if isinstance(page, dict) and "items" in page else [page]
        return rows
    rows = []
    for raw in csv.DictReader(io.StringIO(data)):
        row: dict[str, Any] = {key: _cell(value or "") for key, value in raw.items() if key}
        try:
            row["entry"] = json.loads(raw["entry"])
        except (KeyError, ValueError):
            raise InputError(f"row {raw.get('seq')}: the entry column is not JSON") from None
        row["seq"] = int(row["seq"])
        row["quantity"] = int(row["quantity"])
        row["serial_ranges"] = [s for s in row.get("serial_ranges", "").split("; ") if s]
        row["proof"] = row["proof"].split() if row.get("proof") else None
        row["digest_day"] = row.get("digest_day") or None
        rows.append(row)
    return rows


def _pages(source: str) -> Iterable[Any]:
    """The digest document, following ``next_before`` when it was fetched from the register."""
    seen = 0
    url = source
    while True:
        document = json.loads(_read(url).decode("utf-8-sig"))
        yield document
        seen += 1
        nxt = document.get("next_before") if isinstance(document, dict) else None
        if not nxt or not source.startswith(("http://", "https://")) or seen >= MAX_PAGES:
            return
        parts = urllib.parse.urlsplit(source)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query["before"] = nxt
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def load_digests(source: str) -> dict[str, dict[str, Any]]:
    """Digests by day, from a URL or a saved file: a page (``items``), a list, or one digest."""
    found: dict[str, dict[str, Any]] = {}
    for document in _pages(source):
        items = document.get("items", [document]) if isinstance(document, dict) else document
        for digest in items:
            found[str(digest["day"])] = digest
    return found


# --- checking -------------------------------------------------------------------------------------------------


@dataclass
class Report:
    checked: int = 0
    pending: int = 0
    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, what: str) -> None:
        self.failures.append(what)
        self.lines.append("FAIL " + what)


def _serial_numbers(text: str) -> list[int]:
    """``YC-TH-2026-001-00000001 – YC-TH-2026-001-00000010`` → [1, 10]; one serial → [n, n]."""
    parts = [p.strip() for p in text.split("–")]
    numbers = [int(p.rsplit("-", 1)[1]) for p in parts]
    return numbers if len(numbers) == 2 else numbers * 2


def _beijing_date(created_at: str) -> str:
    moment = datetime.fromisoformat(created_at)
    return moment.astimezone(BEIJING).date().isoformat()


def check_row(row: dict[str, Any], digests: dict[str, dict[str, Any]], report: Report) -> None:
    seq = row.get("seq")
    entry = row.get("entry")
    if not isinstance(entry, dict):
        report.fail(f"seq={seq}: no entry")
        return
    if entry_hash(entry) != row.get("hash"):
        report.fail(f"seq={seq}: the entry does not match its hash (edited without re-hashing)")
        return
    said = {
        "seq": (entry.get("seq"), seq),
        "quantity": (entry.get("quantity"), row.get("quantity")),
        "purpose": (entry.get("purpose"), row.get("purpose_label")),
        "previous hash": (entry.get("prev"), row.get("prev_hash")),
        "date": (_beijing_date(str(entry.get("created_at"))), row.get("date")),
        "serials": (sorted(tuple(r) for r in entry.get("ranges", [])), None),
    }
    try:
        said["serials"] = (said["serials"][0], sorted(tuple(_serial_numbers(s)) for s in row.get("serial_ranges", [])))
    except (IndexError, ValueError):
        said["serials"] = (said["serials"][0], "unreadable")
    for name, (hashed, shown) in said.items():
        if hashed != shown:
            report.fail(f"seq={seq}: the {name} shown ({shown}) is not the one hashed ({hashed})")
            return
    day = row.get("digest_day")
    if not day:
        if row.get("date") in digests:
            report.fail(f"seq={seq}: no proof, although the digest of {row.get('date')} is published")
        else:
            report.pending += 1
            report.lines.append(f"PENDING seq={seq}: its day {row.get('date')} has no published digest yet")
        return
    if day != row.get("date"):
        report.fail(f"seq={seq}: proved against {day}, but retired on {row.get('date')}")
        return
    digest = digests.get(day)
    if digest is None:
        report.fail(f"seq={seq}: no digest of {day} in the digests given")
        return
    try:
        root = proof_root(str(row["hash"]), row.get("proof") or [])
    except ValueError as exc:
        report.fail(f"seq={seq}: {exc}")
        return
    if root != digest.get("entries_root"):
        report.fail(f"seq={seq}: not covered by the digest of {day} — rewritten after it was published?")
        return
    report.checked += 1
    report.lines.append(f"OK seq={seq} ({day})")


def audit(rows: Iterable[dict[str, Any]], digests: dict[str, dict[str, Any]]) -> Report:
    report = Report()
    for day, digest in sorted(digests.items()):
        if heads_root(digest.get("chains", [])) != digest.get("merkle_root"):
            report.fail(f"digest {day}: merkle_root is not the root over its chain heads")
    for row in rows:
        check_row(row, digests, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit", description="Check a retirements export against the digests.")
    parser.add_argument("--export", required=True, help="the CSV (or JSON) export of /api/v1/retirements")
    parser.add_argument("--digest", required=True, help="URL of /api/v1/register/digests, or a saved copy")
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    args = parser.parse_args(argv)
    try:
        rows = load_export(args.export)
        digests = load_digests(args.digest)
    except (InputError, OSError, ValueError, KeyError) as exc:
        print(f"cannot read the inputs: {exc}", file=sys.stderr)
        return 2
    report = audit(rows, digests)
    for line in report.lines:
        if not args.quiet or line.startswith("FAIL"):
            print(line)
    print(
        f"{len(rows)} rows: {report.checked} intact and covered by a digest, {len(report.failures)} failed, "
        f"{report.pending} pending (no digest yet); {len(digests)} digests read"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
