"""A real S3 protocol server on loopback for the object-storage tests: moto's server mode (``moto[server]``,
``ThreadedMotoServer``), started once per test session in this process. The application talks to it through
boto3 exactly as it would to AWS S3, MinIO or Aliyun OSS — signed HTTP requests, multipart uploads, listings —
and each test gets a bucket of its own (:func:`s3_bucket`). Child processes (uvicorn servers, ``linpiao
worker``) reach the same server through the ``LINPIAO_S3_*`` variables of :func:`s3_env`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from kernel.settings import Settings
from tests.live import free_port

ACCESS_KEY = "linpiao-test-key"
SECRET_KEY = "linpiao-test-secret"
REGION = "cn-northwest-1"  # Ningxia, as a deployment in Yinchuan would name its region


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket."""
    name = f"linpiao-{uuid.uuid4().hex[:16]}"
    s3_server.client().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def with_s3(settings: Settings, server: S3Server, bucket: str, prefix: str = "") -> Settings:
    return settings.with_(
        s3_bucket=bucket,
        s3_endpoint=server.endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region=REGION,
        s3_prefix=prefix,
        s3_addressing_style="path",
    )


def s3_env(server: S3Server, bucket: str) -> dict[str, str]:
    return {
        "LINPIAO_S3_BUCKET": bucket,
        "LINPIAO_S3_ENDPOINT": server.endpoint,
        "LINPIAO_S3_ACCESS_KEY": ACCESS_KEY,
        "LINPIAO_S3_SECRET_KEY": SECRET_KEY,
        "LINPIAO_S3_REGION": REGION,
        "LINPIAO_S3_ADDRESSING_STYLE": "path",
    }


def objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    """Every object of the bucket, read straight from the server (not through the application)."""
    client = server.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found
