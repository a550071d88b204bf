"""Real parts for tests: a PostgreSQL database of our own, a SQLite file, Redis on loopback.

Each test session creates `photoai_test_<pid>` on the local PostgreSQL server, migrates it
with Alembic, and drops it at the end; Redis tests use database 11, flushed before and after.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from photoai import db
from photoai.services import redis_conn as redis_probe
from photoai.services import throttle
from photoai.settings import PROJECT_ROOT, get_settings

PG_ADMIN_DSN = os.environ.get("PHOTOAI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("PHOTOAI_TEST_REDIS", "redis://127.0.0.1:6379/11")
TABLES = (
    "audit_log, consents, processed_events, subscriptions, credit_entries, credit_holds, "
    "generated_images, training_photos, personal_models, jobs, password_reset_tokens, "
    "login_tickets, auth_sessions, pending_registrations, users"
)


def migrate(url: str) -> None:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"photoai_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{url}/{name}"
    migrate(url)
    yield url
    db.get_engine().dispose()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[None]:
    """Point photoai's settings at test folders; the cache is cleared before and after."""
    monkeypatch.setenv("PHOTOAI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PHOTOAI_REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("PHOTOAI_STARTER_CREDITS", "20")
    monkeypatch.setenv("PHOTOAI_BCRYPT_ROUNDS", "4")
    # A training's quality sample is a job of its own and a provider call; the tests that are
    # about it (test_model_quality.py, the browser journeys) turn it on.
    monkeypatch.setenv("PHOTOAI_MODEL_QUALITY_SAMPLES", "0")
    monkeypatch.setattr(throttle, "_local", {})
    get_settings.cache_clear()
    redis_probe.reset_cache()
    yield
    get_settings.cache_clear()
    redis_probe.reset_cache()


@pytest.fixture
def pg(pg_url: str, settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """PostgreSQL with empty tables for this test."""
    monkeypatch.setenv("PHOTOAI_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with db.get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    yield pg_url


@pytest.fixture
def sqlite_db(settings_env: None, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file of this test's own (the embedded default)."""
    url = f"sqlite:///{data_dir / 'test.db'}"
    monkeypatch.setenv("PHOTOAI_DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Run a test on both databases the product supports."""
    fixture = "pg" if request.param == "postgresql" else "sqlite_db"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def redis_conn(settings_env: None) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_TEST_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()
