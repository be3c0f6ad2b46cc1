"""The file storage (registry/storage.py): the same promises from the local folder and from S3-compatible object
storage — the latter against a real S3 protocol server on loopback (moto's server mode, tests/fakes3.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel.settings import Settings, SettingsError, load_settings
from registry.storage import CHUNK, LocalStorage, S3Storage, Storage, check_key, storage_of
from tests.fakes3 import S3Server, objects, s3_bucket, s3_server, with_s3

__all__ = ["s3_bucket", "s3_server"]  # fixtures


@pytest.fixture(params=["local", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    base = Settings(data_dir=tmp_path / "var")
    if kind == "local":
        return storage_of(base)
    server: S3Server = request.getfixturevalue("s3_server")
    return storage_of(with_s3(base, server, request.getfixturevalue("s3_bucket")))


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_put_get_open_list_delete(storage: Storage) -> None:
    assert await storage.open("exports/1/none.csv") is None and await storage.get("exports/1/none.csv") is None
    await storage.put("exports/1/a.csv", b"one")
    await storage.put("exports/1/b.json", b"{}", content_type="application/json")
    await storage.put("exports/12/c.csv", b"other account")
    assert await storage.get("exports/1/a.csv") == b"one"
    assert await storage.exists("exports/1/a.csv") and not await storage.exists("exports/1/z.csv")
    listed = await storage.list("exports/1/")
    assert [(o.key, o.size) for o in listed] == [("exports/1/a.csv", 3), ("exports/1/b.json", 2)]
    assert all(o.modified.tzinfo is not None for o in listed)
    assert [o.key for o in await storage.list("exports/1")] != []  # a name's beginning matches exports/12 too
    await storage.put("exports/1/a.csv", b"replaced")
    assert await storage.get("exports/1/a.csv") == b"replaced"
    await storage.delete("exports/1/a.csv")
    await storage.delete("exports/1/a.csv")  # gone already: no error
    assert await storage.get("exports/1/a.csv") is None
    assert [o.key for o in await storage.list("certificate-zips/")] == []


async def test_a_large_file_streams_in_chunks_with_its_size(storage: Storage) -> None:
    body = bytes(range(256)) * (3 * CHUNK // 256 + 7)  # three chunks and a bit
    size = await storage.put_stream("certificate-zips/planting-1-x.zip", chunks(body[:1000], body[1000:]))
    assert size == len(body)
    download = await storage.open("certificate-zips/planting-1-x.zip")
    assert download is not None and download.size == len(body) and download.head == body[:CHUNK]
    parts = [part async for part in download.chunks()]
    assert len(parts) >= 4 and b"".join(parts) == body


async def test_a_stream_that_fails_half_way_leaves_nothing(storage: Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"half a zip"
        raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        await storage.put_stream("certificate-zips/planting-2-x.zip", broken())
    assert await storage.open("certificate-zips/planting-2-x.zip") is None
    assert await storage.list("certificate-zips/") == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", ".hidden", "a//b", "a/b/", "名字.pdf", "x.part"])
async def test_keys_that_could_leave_the_store_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        await storage.put(key, b"x")


async def test_the_local_folder_is_the_data_dir(tmp_path: Path) -> None:
    storage = storage_of(Settings(data_dir=tmp_path / "var"))
    assert isinstance(storage, LocalStorage)
    await storage.put("parcel-documents/1-abc.pdf", b"%PDF-")
    assert (tmp_path / "var" / "parcel-documents" / "1-abc.pdf").read_bytes() == b"%PDF-"
    assert not list((tmp_path / "var" / "parcel-documents").glob("*.part"))


async def test_objects_live_in_the_bucket_under_the_prefix(s3_server: S3Server, s3_bucket: str, tmp_path: Path):
    settings = with_s3(Settings(data_dir=tmp_path / "var"), s3_server, s3_bucket, prefix="yinchuan/")
    storage = storage_of(settings)
    assert isinstance(storage, S3Storage)
    await storage.put("exports/3/r.csv", b"a,b\n")
    assert objects(s3_server, s3_bucket) == {"yinchuan/exports/3/r.csv": b"a,b\n"}  # seen by any S3 client
    assert [o.key for o in await storage.list("exports/")] == ["exports/3/r.csv"]
    assert not (tmp_path / "var").exists()  # nothing on the local disk
    assert storage_of(settings) is storage  # one client (and connection pool) per configuration


def test_object_storage_settings_from_the_environment() -> None:
    env = {
        "LINPIAO_S3_BUCKET": "linpiao-files",
        "LINPIAO_S3_ENDPOINT": "https://oss-cn-beijing.aliyuncs.com",
        "LINPIAO_S3_ACCESS_KEY": "AK",
        "LINPIAO_S3_SECRET_KEY": "SK",
        "LINPIAO_S3_REGION": "oss-cn-beijing",
        "LINPIAO_S3_PREFIX": "prod",
        "LINPIAO_S3_ADDRESSING_STYLE": "virtual",
    }
    settings = load_settings(env, env_file="/nonexistent")
    assert (settings.s3_bucket, settings.s3_endpoint, settings.s3_region) == (
        "linpiao-files",
        "https://oss-cn-beijing.aliyuncs.com",
        "oss-cn-beijing",
    )
    assert (settings.s3_access_key, settings.s3_secret_key, settings.s3_prefix) == ("AK", "SK", "prod")
    settings.check()
    storage = storage_of(settings)
    assert isinstance(storage, S3Storage) and storage.prefix == "prod/"
    assert load_settings({}, env_file="/nonexistent").s3_bucket == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"s3_bucket": "b", "s3_access_key": "AK"}, "LINPIAO_S3_SECRET_KEY"),
        ({"s3_endpoint": "http://minio:9000"}, "LINPIAO_S3_BUCKET"),
        ({"s3_bucket": "b", "s3_addressing_style": "dns"}, "LINPIAO_S3_ADDRESSING_STYLE"),
    ],
)
def test_half_configured_object_storage_stops_the_start(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings().with_(**changes).check()
