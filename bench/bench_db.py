"""A throwaway PostgreSQL database for a benchmark: created, migrated, photoai's settings
pointed at it, dropped afterwards. Benchmarks run as scripts, so they import this as
`bench_db` (their own folder is first on the path)."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from alembic import command
from alembic.config import Config

from photoai import db
from photoai.settings import PROJECT_ROOT, get_settings

ADMIN_DSN = os.environ.get("PHOTOAI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def bench_database(prefix: str) -> Iterator[str]:
    """A fresh, migrated database, and photoai's settings pointed at it; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            os.environ["PHOTOAI_DATABASE_URL"] = url
            os.environ["PHOTOAI_DATA_DIR"] = data_dir
            get_settings.cache_clear()
            cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
            cfg.attributes["url"] = url
            cfg.attributes["configure_logger"] = False
            command.upgrade(cfg, "head")
            yield url
    finally:
        db.get_engine().dispose()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
