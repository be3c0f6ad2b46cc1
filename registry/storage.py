"""Stored files (文件存储): one interface for every file the application keeps — parcel documents and the public
renditions of published photos, the certificate zips of rosters, background register exports.

Two implementations, chosen by configuration (:func:`open_storage`):

* :class:`LocalStorage` — a folder (``LINPIAO_DATA_DIR``), the default: one machine, or a volume every server
  and worker mounts;
* :class:`S3Storage` — an S3-compatible object store (AWS S3, MinIO, Aliyun OSS, Tencent COS, …) when a bucket is
  configured, so several app servers and workers on several machines share the files with no shared volume. It
  uses ``boto3`` (AWS's own client, maintained with every S3 change); boto3 is synchronous, so each call runs in
  a worker thread (:func:`asyncio.to_thread`) and the event loop keeps answering while a file moves.

Keys are relative ``/``-separated names built by the code from ids and random tokens, never from what a user
typed; :func:`check_key` refuses anything else (``..``, absolute paths, odd characters) before it reaches a disk or
a bucket. A write is whole or absent: the folder writes a partial file and renames it, S3 makes an object visible
only when its upload completes. Reads stream in chunks (:meth:`Storage.open`), so a large zip never sits in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Protocol

from kernel.settings import S3Config, Settings

CHUNK = 256 * 1024
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
PARTIAL = ".part"


def check_key(key: str) -> str:
    """``key`` when it is a safe relative name (no ``..``, no leading dot or slash, ASCII letters, digits,
    ``._-`` and ``/`` only), else :class:`ValueError`."""
    if len(key) > 500 or not _KEY.fullmatch(key) or key.endswith(PARTIAL):
        raise ValueError(f"not a storage key: {key[:80]!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # aware, UTC


class Download:
    """An open stored file: its size, its first bytes (to check what it really is before answering) and the
    rest as chunks. Iterate :meth:`chunks` once; it closes the file at the end, or when abandoned."""

    def __init__(self, size: int, head: bytes, rest: AsyncIterator[bytes]) -> None:
        self.size = size
        self.head = head
        self._rest = rest

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            if self.head:
                yield self.head
            async for chunk in self._rest:
                yield chunk
        finally:
            await self.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def close(self) -> None:
        aclose = getattr(self._rest, "aclose", None)
        if aclose is not None:
            await aclose()


class Storage(Protocol):
    """What the application needs from a file store."""

    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None: ...

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> int:
        """Write the chunks as one file; returns its size. Nothing is visible under ``key`` until the end."""
        ...

    async def open(self, key: str) -> Download | None:
        """The file to stream, or ``None`` when there is none."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the file; a missing one is no error."""
        ...

    async def list(self, prefix: str) -> list[StoredObject]:
        """Every file whose key starts with ``prefix`` (a folder ``a/b/`` or a name's beginning ``a/b-``)."""
        ...


# --- a folder ---------------------------------------------------------------------------------------------------


class LocalStorage:
    """Files under one folder, named by their keys."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._write, self.path(key), lambda out: out.write(data))

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> int:
        path = self.path(key)
        partial = path.with_name(path.name + PARTIAL)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        size = 0
        out = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk)
                size += len(chunk)
        except BaseException:
            out.close()
            partial.unlink(missing_ok=True)
            raise
        out.close()
        await asyncio.to_thread(os.replace, partial, path)
        return size

    @staticmethod
    def _write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + PARTIAL)
        try:
            with partial.open("wb") as out:
                write(out)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    async def open(self, key: str) -> Download | None:
        path = self.path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        try:
            size = os.fstat(handle.fileno()).st_size
            head = await asyncio.to_thread(handle.read, CHUNK)
        except BaseException:
            handle.close()
            raise
        return Download(size, head, _file_chunks(handle))

    async def get(self, key: str) -> bytes | None:
        download = await self.open(key)
        return None if download is None else await download.read()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def list(self, prefix: str) -> list[StoredObject]:
        check_key(prefix.rstrip("/"))
        folder = self.root / prefix.rpartition("/")[0]

        def walk() -> list[StoredObject]:
            if not folder.is_dir():
                return []
            found = []
            for path in sorted(folder.rglob("*")):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and path.is_file() and not path.name.endswith(PARTIAL):
                    stat = path.stat()
                    found.append(StoredObject(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
            return found

        return await asyncio.to_thread(walk)


async def _file_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


# --- S3-compatible object storage -------------------------------------------------------------------------------


class S3Storage:
    """Objects of one bucket, named ``prefix/key``, through boto3 in worker threads."""

    def __init__(self, config: S3Config) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self.prefix = config.prefix.strip("/") + "/" if config.prefix.strip("/") else ""
        self.bucket = config.bucket
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint or None,
            aws_access_key_id=config.access_key or None,
            aws_secret_access_key=config.secret_key or None,
            region_name=config.region or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": config.addressing_style},
                retries={"max_attempts": 4, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=self.name(key), Body=data, ContentType=content_type
        )

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> int:
        """Spooled to a temporary file (in memory up to 8 MiB), then uploaded by boto3's transfer manager, in
        parts when large; the object appears only when the upload completes."""
        name = self.name(key)
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            async for chunk in chunks:
                await asyncio.to_thread(spool.write, chunk)
                size += len(chunk)
            spool.seek(0)
            await asyncio.to_thread(
                self.client.upload_fileobj, spool, self.bucket, name, ExtraArgs={"ContentType": content_type}
            )
        return size

    async def open(self, key: str) -> Download | None:
        name = self.name(key)
        try:
            answer = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=name)
        except self.client.exceptions.NoSuchKey:
            return None
        body = answer["Body"]
        try:
            head = await asyncio.to_thread(body.read, CHUNK)
        except BaseException:
            body.close()
            raise
        return Download(int(answer["ContentLength"]), head, _body_chunks(body))

    async def get(self, key: str) -> bytes | None:
        download = await self.open(key)
        return None if download is None else await download.read()

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self.name(key))

    async def list(self, prefix: str) -> list[StoredObject]:
        check_key(prefix.rstrip("/"))
        start = self.prefix + prefix

        def walk() -> list[StoredObject]:
            found = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    modified = item["LastModified"]
                    found.append(StoredObject(item["Key"][len(self.prefix) :], int(item["Size"]), modified))
            return found

        return await asyncio.to_thread(walk)


async def _body_chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, CHUNK):
            yield chunk
    finally:
        with contextlib.suppress(Exception):
            body.close()


# --- choosing one -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def open_storage(root: Path, s3: S3Config | None = None) -> Storage:
    """The folder ``root``, or the bucket when ``s3`` is given. One instance per configuration and process:
    boto3's client keeps its connection pool, and is safe to share between threads."""
    return S3Storage(s3) if s3 is not None else LocalStorage(root)


def storage_of(settings: Settings) -> Storage:
    """Where files are kept: the bucket when ``s3_bucket`` is set, else the folder ``data_dir``."""
    return open_storage(Path(settings.data_dir), settings.s3)
