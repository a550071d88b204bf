"""One lazily created engine per process and short sessions per unit of work.

The engine is made on first use; a forked child (RQ forks a work horse per job) keeps it, with
its dialect set up and its statements compiled, but gets a pool of its own, so a connection is
never shared between processes.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from photoai.settings import get_settings

_engine: Engine | None = None
_engine_pid: int | None = None
_engine_url: str | None = None
_shared: ContextVar[Session | None] = ContextVar("photoai_shared_session", default=None)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Build an engine with the settings each backend needs to behave under concurrency."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    global _engine, _engine_pid, _engine_url
    url = get_settings().resolved_database_url
    if _engine is not None and _engine_pid != os.getpid():
        # In a forked child the pooled connections belong to the parent: a fresh pool, without
        # closing them (which would end the parent's sessions too). The engine itself stays,
        # with its dialect set up and its compiled statements (SQLAlchemy's recipe for fork).
        _engine.dispose(close=False)
        _engine_pid = os.getpid()
    if _engine is None or _engine_url != url:
        if _engine is not None:
            _engine.dispose()  # this process's own pool by now
        _engine = make_engine(url)
        _engine_pid = os.getpid()
        _engine_url = url
    return _engine


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error; inside `one_session`
    it is that block's session, which commits or rolls back when the block ends."""
    shared = _shared.get()
    if shared is not None:
        yield shared
        return
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def one_session() -> Iterator[Session]:
    """Every service call inside the block uses one session: a page that reads its data
    through several services checks out one connection (one pre-ping, one transaction)
    instead of one per call. Meant for reads: an error inside rolls the whole block back."""
    shared = _shared.get()
    if shared is not None:
        yield shared
        return
    with session_scope() as session:
        token = _shared.set(session)
        try:
            yield session
        finally:
            _shared.reset(token)


@contextmanager
def use_session(session: Session | None) -> Iterator[Session]:
    """Join the caller's transaction when given one, else run in a fresh committed scope.

    Lets a webhook record its event id and apply its effect in one transaction while the same
    service function stays callable on its own.
    """
    if session is not None:
        yield session
        return
    with session_scope() as own:
        yield own


def insert_for(session: Session) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike.

    Idempotency keys rely on it: the unique index decides, and a duplicate changes nothing.
    """
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
