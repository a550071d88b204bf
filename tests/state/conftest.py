"""Fixtures of the page-state tests."""

import pytest
import redis


@pytest.fixture
def db(pg: str, redis_conn: redis.Redis) -> None:
    """PostgreSQL, and a Redis queue that nothing works off."""
