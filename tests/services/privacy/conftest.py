"""The `store` fixture: every privacy test runs on local storage and on S3."""

from collections.abc import Iterator

import pytest
import redis

from photoai.services.storage import Storage, get_storage
from tests.services.privacy.storage_support import moto_s3
from tests.training_support import training_settings


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest,
    pg: str,
    redis_conn: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Storage]:
    training_settings(monkeypatch)
    if request.param == "s3":
        with moto_s3(monkeypatch):
            yield get_storage()
    else:
        yield get_storage()
