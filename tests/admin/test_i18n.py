"""Every string the back-office shows goes through the catalog and has an English translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from kernel.i18n import lookup_order
from registry import applications, holders, parcels, staff
from registry.errors import RegisterError

ROOT = Path(__file__).resolve().parents[2]
CALL = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _catalog() -> dict[str, str]:
    """What a back-office page reads in English: its own catalogs over the shared ones it falls back on (the
    register's refusals, the kernel's phrases), as ``kernel.i18n.lookup_order("admin")`` orders them."""
    merged: dict[str, str] = {}
    for package in reversed(lookup_order("admin")):
        for path in sorted((ROOT / package / "locale/en/LC_MESSAGES").glob("*.po")):
            with path.open("rb") as handle:
                merged.update({str(m.id): str(m.string) for m in read_po(handle) if m.id})
    return merged


def test_every_admin_string_has_an_english_translation():
    catalog = _catalog()
    sources = [*sorted((ROOT / "admin/templates").glob("*.html")), *sorted((ROOT / "admin").glob("*.py"))]
    used = {a or b for path in sources for a, b in CALL.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 150
    missing = sorted(s for s in used if not catalog.get(s))
    assert missing == []


def test_every_refusal_of_the_back_office_has_an_english_message():
    catalog = _catalog()
    refusals = [
        value
        for module in (applications, holders, parcels, staff)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, RegisterError) and value.__module__ == module.__name__
    ]
    assert len(refusals) >= 10
    assert [r.__name__ for r in refusals if not catalog.get(r.message)] == []
