"""Every string the certificate pages show has an English translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from certificates.service import KIND_LABELS, STATUS_LABELS

ROOT = Path(__file__).resolve().parents[2] / "certificates"


def test_every_msgid_is_translated() -> None:
    catalog: dict[str, Message] = {}  # every catalog of the package, as kernel.i18n loads them
    for po_path in sorted((ROOT / "locale/en/LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as handle:
            catalog.update({m.id: m for m in read_po(handle, locale="en") if m.id})
    used = set(KIND_LABELS.values()) | set(STATUS_LABELS.values())
    for path in [*ROOT.glob("templates/*.html"), *ROOT.glob("*.py")]:
        used |= set(re.findall(r'_\("([^"]+)"', path.read_text("utf-8")))
    missing = sorted(m for m in used if not (m in catalog and catalog[m].string))
    assert missing == []
