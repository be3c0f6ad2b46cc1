"""A county's upload waits for the clerk's confirmation encrypted with the ID key (registry.idcrypt.seal_file):
the stored bytes never hold an ID number, the file is emptied once imported and deleted when abandoned (the
hourly job ``county_import.forget_stale``, after registry.county_import.STAGED_HOURS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise import connections

from factories import resident_id
from kernel import clock
from registry import county_import, idcrypt, jobs
from registry.county_import import CountyImport
from registry.models import StaffRole
from tests.admin.test_county_import import HOLDER_HEADER, csv_bytes, people, token_of, upload
from tests.registry.test_idcrypt import assert_nowhere, raw_text


async def stored_content() -> list[bytes]:
    """The ``content`` column as the database holds it."""
    rows = await connections.get("default").execute_query_dict("SELECT content FROM county_import")
    return [bytes(row["content"]) for row in rows]


async def test_the_waiting_file_is_stored_encrypted_and_emptied_once_imported(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    data = csv_bytes([HOLDER_HEADER, *people(3)])
    numbers = [resident_id("640104", seq=i) for i in (1, 2, 3)]
    assert all(n.encode() in data for n in numbers)  # the file as uploaded carries them in plain text
    preview = await upload(clerk, data, "农户名册.csv")
    assert preview.status_code == 200, preview.text
    (blob,) = await stored_content()
    assert idcrypt.is_sealed_file(blob) and blob != data and "农户".encode() not in blob
    for number in numbers:
        assert number.encode() not in blob and number[:17].encode() not in blob
    assert_nowhere(await raw_text(), *numbers)  # nor anywhere else in the database before the import

    staged = await CountyImport.get()
    assert idcrypt.open_file(blob, f"county_import:{staged.token}") == data  # what the import reads back
    with pytest.raises(idcrypt.IdentityKeyError):
        idcrypt.open_file(blob, "county_import:another-token")  # bound to its own upload
    confirmed = await clerk.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert confirmed.status_code == 303
    assert await stored_content() == [b""]  # the people are holders now; the file is not kept twice
    assert_nowhere(await raw_text(), *numbers)


async def test_a_tampered_or_unencrypted_waiting_file_is_not_imported(sign_in):
    clerk = await sign_in(StaffRole.ISSUER)
    preview = await upload(clerk, csv_bytes([HOLDER_HEADER, *people(2)]), "名册.csv")
    await CountyImport.all().update(content=csv_bytes([HOLDER_HEADER, *people(2)]))  # as stored before encryption
    refused = await clerk.post("/admin/import/confirm", {"token": token_of(preview.text)})
    assert refused.status_code == 404 and "重新上传" in refused.text
    assert await CountyImport.all().count() == 0  # forgotten: the clerk uploads it again


async def test_an_abandoned_upload_is_deleted_by_the_hourly_job(sign_in, settings):
    clerk = await sign_in(StaffRole.ISSUER)
    assert jobs.spec("county_import.forget_stale").cron == "17 * * * *"
    await upload(clerk, csv_bytes([HOLDER_HEADER, *people(2)]), "名册.csv")
    await upload(clerk, csv_bytes([HOLDER_HEADER, *people(2, start=10)]), "名册2.csv")
    assert await county_import.forget_stale() == 0  # both still waiting
    old = clock.now() - timedelta(hours=county_import.STAGED_HOURS, minutes=1)
    first = await CountyImport.all().order_by("id").first()
    assert first is not None
    await CountyImport.filter(id=first.id).update(created_at=old)
    await county_import.forget_stale_job(jobs.JobContext(settings=settings, name="county_import.forget_stale"))
    assert [c.filename for c in await CountyImport.all()] == ["名册2.csv"]
