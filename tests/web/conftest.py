"""The whole app (Reflex and our routes) in this process, over PostgreSQL."""

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.web.reflex_site import site


@pytest.fixture
def client(pg: str) -> Iterator[TestClient]:
    with site() as client:
        yield client
