"""`one_session`: the service calls of one page load share one session and one transaction."""

import os

import pytest
from sqlalchemy import select
from sqlmodel import col

from photoai import db
from photoai.models import User
from photoai.services import accounts
from tests.factories import make_user


def test_service_calls_inside_one_session_share_it(any_db: str) -> None:
    with db.session_scope() as first, db.session_scope() as second:
        assert first is not second
    with db.one_session() as shared:
        with db.session_scope() as inner, db.session_scope() as again:
            assert inner is shared and again is shared
        with db.one_session() as nested:
            assert nested is shared


def test_reads_inside_one_session_see_what_the_services_return(any_db: str) -> None:
    uid = make_user(balance=7)
    with db.one_session():
        profile = accounts.get_profile(uid)
        with pytest.raises(accounts.AccountError):
            accounts.get_profile(uid + 1000)  # a refusal inside does not end the block
        assert accounts.get_profile(uid) == profile
    assert profile.credit_balance == 7


def test_an_error_rolls_the_whole_block_back(any_db: str) -> None:
    uid = make_user()
    with pytest.raises(RuntimeError), db.one_session():
        accounts.update_name(uid, "Grace")
        raise RuntimeError("boom")
    with db.session_scope() as s:
        assert s.execute(select(col(User.name)).where(col(User.id) == uid)).scalar_one() == ""


def test_a_forked_child_keeps_the_engine_with_a_pool_of_its_own(any_db: str) -> None:
    """A work horse reuses its worker's engine (dialect set up, statements compiled) with a
    fresh pool, and the worker's own pooled connection goes on working after the child ends."""
    parent_engine = db.get_engine()
    uid = make_user()
    with parent_engine.connect() as conn:
        conn.execute(select(col(User.id)).where(col(User.id) == uid)).scalar_one()
    parent_pool = parent_engine.pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports and leaves without running any of pytest's teardown
        child_engine = db.get_engine()
        with db.session_scope() as s:
            found = s.execute(select(col(User.id)).where(col(User.id) == uid)).scalar_one()
        fresh_pool = child_engine.pool is not parent_pool
        os.write(write, b"ok" if child_engine is parent_engine and fresh_pool and found else b"no")
        os._exit(0)
    os.close(write)
    assert os.read(read, 2) == b"ok"
    os.waitpid(pid, 0)
    assert db.get_engine() is parent_engine and parent_engine.pool is parent_pool
    with db.session_scope() as s:
        assert s.execute(select(col(User.id)).where(col(User.id) == uid)).scalar_one() == uid
