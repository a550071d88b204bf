"""`one_session`: the service calls of one page load share one session and one transaction."""

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
