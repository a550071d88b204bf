"""The whole app in this process, over PostgreSQL, for the authorisation tests."""

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.security.reflex_site import site


@pytest.fixture
def client(pg: str) -> Iterator[TestClient]:
    with site() as client:
        yield client
