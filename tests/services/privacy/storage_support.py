"""Storage for privacy tests: the local folder, or S3 through moto's server over HTTP."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

from photoai.services.storage import S3Storage, Storage, get_storage
from photoai.settings import get_settings


@contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    bucket = f"photoai-retention-{uuid.uuid4().hex[:8]}"  # moto's buckets outlive its server
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": f"http://{host}:{port}",
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(f"PHOTOAI_{name}", value)
    get_settings.cache_clear()
    store = get_storage()
    assert isinstance(store, S3Storage)
    store.client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    try:
        yield
    finally:
        server.stop()


def keys_under(store: Storage, prefix: str) -> list[str]:
    if isinstance(store, S3Storage):
        pages = store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    root = get_settings().storage_dir
    return sorted(str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file())
