"""A wrong LINPIAO_ID_KEY is caught from the first start: the first start records a key-check value (a sealed
canary in the audit log), and a second start under another key fails loudly, before any ID number exists."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys

import pytest

from planting.domain.models import PlantingPurchase
from registry import idcrypt, sealing
from registry.idcrypt import IdentityKeyError
from registry.models import AuditLog, Holder
from tests.schema import ROOT


@pytest.fixture
def key_restored():  # type: ignore[no-untyped-def]
    yield
    idcrypt.configure(None)


def a_key() -> bytes:
    return base64.b64decode(idcrypt.new_key())


async def test_a_second_start_with_another_key_fails_before_any_id_is_stored(db, key_restored):
    assert await Holder.filter(id_cipher__not_isnull=True).count() == 0
    assert await PlantingPurchase.filter(id_cipher__not_isnull=True).count() == 0
    first = a_key()
    idcrypt.configure(first)
    await sealing.check_key()  # first start: records the key-check value
    recorded = await AuditLog.get(action=sealing.KEY_CHECK_ACTION)
    assert recorded.target == f"key {idcrypt.key_id()}" and sealing.KEY_CHECK_CANARY not in str(recorded.details)
    await sealing.check_key()  # the same key again: starts, and writes nothing more
    assert await AuditLog.filter(action=sealing.KEY_CHECK_ACTION).count() == 1

    idcrypt.configure(a_key())
    with pytest.raises(IdentityKeyError, match="LINPIAO_ID_KEY is key"):
        await sealing.check_key()
    with pytest.raises(IdentityKeyError):
        await sealing.seal_plaintext_ids()  # the data step never seals under a foreign key
    assert await AuditLog.filter(action=sealing.KEY_CHECK_ACTION).count() == 1  # the wrong key records nothing
    idcrypt.configure(None)  # the development key is another key too
    with pytest.raises(IdentityKeyError):
        await sealing.check_key()
    idcrypt.configure(first)
    await sealing.check_key()


async def test_a_tampered_key_check_value_is_refused(db, key_restored):
    idcrypt.configure(a_key())
    await sealing.check_key()
    other = idcrypt.encrypt("something else")
    await AuditLog.filter(action=sealing.KEY_CHECK_ACTION).update(details={"sealed": other})
    with pytest.raises(IdentityKeyError, match="not this application's"):
        await sealing.check_key()


async def test_the_migration_step_checks_but_does_not_record(db, key_restored):
    await sealing.seal_plaintext_ids()
    assert await AuditLog.filter(action=sealing.KEY_CHECK_ACTION).count() == 0  # the first start records it


def _command(database_url: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINPIAO_DATABASE_URL": database_url, "LINPIAO_ENV": "development", "LINPIAO_ID_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "linpiao.cli", "verify-register"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_second_command_with_another_key_stops_loudly(db):
    first_key, other_key = idcrypt.new_key(), idcrypt.new_key()
    first = await asyncio.to_thread(_command, db, first_key)
    assert first.returncode == 0, first.stderr
    assert await AuditLog.filter(action=sealing.KEY_CHECK_ACTION).count() == 1
    second = await asyncio.to_thread(_command, db, other_key)
    assert second.returncode != 0 and "IdentityKeyError" in second.stderr and "LINPIAO_ID_KEY is key" in second.stderr
    again = await asyncio.to_thread(_command, db, first_key)
    assert again.returncode == 0, again.stderr
