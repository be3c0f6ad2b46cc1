"""The wave-3 data step: resident ID numbers written in plain text before :mod:`registry.idcrypt` are sealed;
and the start-up check that the configured key is the one they were sealed with (:func:`check_key`).

The check works from the first start: the first start writes a *key-check value* — a fixed canary sealed with the
key (:func:`registry.idcrypt.encrypt`) — into the audit log (action ``id_key.check``, no new table); every later
start (the app, every CLI command; this data step checks without recording) decrypts the newest one and stops with
:class:`~registry.idcrypt.IdentityKeyError` when the configured key is another, before any ID number is sealed
or looked up under it. A database sealed before the canary existed is checked by one stored ciphertext first.

Run once by ``linpiao migrate`` after the migration that adds the columns (``linpiao/migrations.py: AFTER``);
running it again finds nothing left to do. Per table:

* ``holder`` — a person's number is encrypted, blind-indexed and its last four kept, the plain column emptied;
  a body's credit code stays (public registration data) and gains its blind index;
* ``planting_purchase`` — blind index and masked form; a citizen's own purchase (no roster row) also keeps the
  ciphertext, since an unpaid one still becomes a holder when paid; the plain column emptied;
* ``planting_roster_member`` — blind index and masked form only; the plain column emptied.

The two planting tables belong to ``planting/``, above the register: it registers how each is sealed
(:func:`register`) when its models are imported, as every start does (the ORM loads them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tortoise.models import Model

from registry import audit, idcrypt
from registry.holders import holder_identifier_fields
from registry.models import AuditLog, Holder, HolderKind

CHUNK = 500


@dataclass(frozen=True)
class SealedTable:
    """A table outside the register that stores resident ID numbers, as its package registers it."""

    name: str
    seal: Callable[[], Awaitable[int]]  # seals every plain-text number left; returns how many rows changed
    ciphers: type[Model] | None = None  # a model whose ``id_cipher`` keeps numbers sealed with the key


_tables: dict[str, SealedTable] = {}


def register(table: SealedTable) -> None:
    """Add (or replace, by name) a table the data step seals and the key check reads."""
    _tables[table.name] = table


KEY_CHECK_ACTION = "id_key.check"
KEY_CHECK_CANARY = "linpiao resident-id key check"  # not an ID number: only proves which key sealed it
_STARTER = audit.Actor(None, system="start")


async def check_key(*, record: bool = True) -> None:
    """Stop the start when ``LINPIAO_ID_KEY`` is not the key of this database: the newest key-check value (and
    one stored ciphertext) must decrypt under it. The first start records the key-check value, so a wrong key is
    caught from the second start on, even before any ID number is stored. Raises
    :class:`~registry.idcrypt.IdentityKeyError` rather than letting every look-up by ID number silently find
    nothing, or sealing new numbers under a key that cannot read the old ones. ``record=False`` (the migration's
    data step) checks without recording: the first start of the app or of a command records the key."""
    for model in (Holder, *(t.ciphers for t in _tables.values() if t.ciphers is not None)):
        stored = model.filter(id_cipher__not_isnull=True).order_by("-id").limit(1)
        tokens = await stored.values_list("id_cipher", flat=True)
        if tokens:
            idcrypt.decrypt(str(tokens[0]))
            break
    check = await AuditLog.filter(action=KEY_CHECK_ACTION).order_by("-id").first()
    if check is None:  # the first start under this database: remember which key it is
        if not record:
            return
        sealed = idcrypt.encrypt(KEY_CHECK_CANARY)
        await audit.record(_STARTER, KEY_CHECK_ACTION, f"key {idcrypt.key_id()}", sealed=sealed)
        return
    try:
        opened = idcrypt.decrypt(str(check.details.get("sealed", "")))
    except idcrypt.IdentityKeyError as exc:
        raise idcrypt.IdentityKeyError(
            f"this database's ID numbers are sealed with the key recorded on {check.created_at:%Y-%m-%d} "
            f"({check.target}), but LINPIAO_ID_KEY is key {idcrypt.key_id()}: set the key it was started with "
            f"(see README, 'ID numbers at rest'). {exc}"
        ) from None
    if opened != KEY_CHECK_CANARY:
        raise idcrypt.IdentityKeyError("the ID key-check value in the audit log is not this application's")


async def seal_plaintext_ids() -> dict[str, int]:
    """Seal every plain-text ID number still stored; returns how many rows of each table were changed."""
    await check_key(record=False)  # never seal under a key that is not this database's
    done = {"holder": 0}
    while people := await Holder.filter(kind=HolderKind.INDIVIDUAL, id_number__not_isnull=True).limit(CHUNK):
        for holder in people:
            values = holder_identifier_fields(str(holder.id_number), HolderKind.INDIVIDUAL)
            values.pop("region_code")  # what the clerk or an earlier migration recorded stays
            for key, value in values.items():
                setattr(holder, key, value)
        await Holder.bulk_update(people, fields=["id_number", "id_cipher", "id_digest", "id_last4"])
        done["holder"] += len(people)
    while bodies := await Holder.filter(id_digest__isnull=True, id_number__not_isnull=True).limit(CHUNK):
        for holder in bodies:
            holder.id_digest = idcrypt.digest(str(holder.id_number))
        await Holder.bulk_update(bodies, fields=["id_digest"])
        done["holder"] += len(bodies)
    for table in _tables.values():
        done[table.name] = await table.seal()
    return done
