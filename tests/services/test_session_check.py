"""A page's session is resolved once and then re-checked through its revocation epoch in
Redis: no database while nothing changed, and every revocation seen at the next check, in
every process."""

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis

from photoai.services import accounts, session_check
from photoai.services.accounts import NewSession
from photoai.services.admin import access, users_admin
from photoai.services.privacy import deletion
from photoai.settings import PROJECT_ROOT, get_settings
from tests import async_support

GOOD = "correct horse 42"

# "Another backend": its own process, its own memory, the same Redis and database.
OTHER_BACKEND = """
import asyncio, sys
from photoai.services import session_check

async def main(token):
    known = await session_check.check(token, None)
    print("resolved" if known else "nobody", flush=True)
    sys.stdin.readline()  # the test revokes in between
    again = await session_check.check(token, known)
    print("still signed in" if again else "signed out", flush=True)

asyncio.run(main(sys.argv[1]))
"""


def sign_in(email: str) -> NewSession:
    uid = accounts.user_id_for_email(email)
    assert uid is not None
    return accounts.redeem_login_ticket(accounts.create_login_ticket(uid, None), "ua", "ip")


def check(token: str | None, known: session_check.Resolved | None) -> Any:
    return async_support.run(session_check.check(token, known))


@pytest.fixture
def db_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each session resolution that reached the database."""
    reads: list[str] = []
    real = accounts.resolve_session_until

    def counted(token: str | None) -> Any:
        reads.append(token or "")
        return real(token)

    monkeypatch.setattr(accounts, "resolve_session_until", counted)
    return reads


def test_a_resolved_session_is_rechecked_without_the_database(
    pg: str, redis_conn: redis.Redis, db_reads: list[str]
) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    known = check(session.token, None)
    assert known is not None and known.user.user_id == uid
    for _ in range(3):
        assert check(session.token, known) is known
    assert len(db_reads) == 1


@pytest.mark.parametrize("how", ["sign out", "everywhere", "password", "deletion", "blocked"])
def test_every_revocation_is_seen_at_the_next_check(
    pg: str, redis_conn: redis.Redis, how: str
) -> None:
    uid = accounts.register("ada@example.com", GOOD)
    admin = accounts.register("admin@example.com", GOOD)
    access.set_admin("admin@example.com", True)
    here, elsewhere = sign_in("ada@example.com"), sign_in("ada@example.com")
    cached = check(elsewhere.token, None)
    assert check(elsewhere.token, cached) is cached
    revoke: dict[str, Callable[[], object]] = {
        "sign out": lambda: accounts.revoke_session(elsewhere.token),
        "everywhere": lambda: accounts.revoke_all_sessions(uid),
        "password": lambda: accounts.change_password(
            uid, GOOD, "brand new pass 2", keep_session_id=check(here.token, None).user.session_id
        ),
        "deletion": lambda: deletion.request_deletion(uid, GOOD),
        "blocked": lambda: users_admin.set_blocked(admin, uid, True, "chargeback fraud"),
    }
    revoke[how]()
    assert check(elsewhere.token, cached) is None


def test_a_lost_epoch_sends_the_check_back_to_the_database(
    pg: str, redis_conn: redis.Redis, db_reads: list[str]
) -> None:
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    known = check(session.token, None)
    redis_conn.flushdb()  # Redis restarted without its data, or the key expired
    again = check(session.token, known)
    assert again is not None and again is not known
    assert len(db_reads) == 2
    accounts.revoke_session(session.token)
    assert check(session.token, again) is None


def test_another_cookie_is_resolved_afresh(pg: str, redis_conn: redis.Redis) -> None:
    """A tab that reconnects with another session's cookie never keeps the first user."""
    ada = accounts.register("ada@example.com", GOOD)
    bob = accounts.register("bob@example.com", GOOD)
    known = check(sign_in("ada@example.com").token, None)
    other = check(sign_in("bob@example.com").token, known)
    assert known.user.user_id == ada and other.user.user_id == bob
    assert check("forged", known) is None and check(None, known) is None


def test_an_old_resolution_is_reread_whatever_redis_says(
    pg: str, redis_conn: redis.Redis, db_reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    known = check(session.token, None)
    monkeypatch.setattr(session_check, "MAX_AGE_SECONDS", 0.0)
    assert check(session.token, known) is not known
    assert len(db_reads) == 2


def test_without_redis_every_check_reads_the_database(
    pg: str, monkeypatch: pytest.MonkeyPatch, db_reads: list[str]
) -> None:
    monkeypatch.setenv("PHOTOAI_REDIS_URL", "")
    get_settings.cache_clear()
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    known = check(session.token, None)
    assert check(session.token, known) is not None
    assert len(db_reads) == 2
    accounts.revoke_session(session.token)
    assert check(session.token, known) is None


def test_a_sign_out_takes_effect_at_the_next_event_in_another_process(
    pg: str, redis_conn: redis.Redis
) -> None:
    """Two backends: this process and a child with its own memory, both holding a cached
    resolution; a sign-out here reaches the other one's very next check."""
    accounts.register("ada@example.com", GOOD)
    session = sign_in("ada@example.com")
    known = check(session.token, None)
    env = {k: v for k, v in os.environ.items() if k.startswith("PHOTOAI_")}
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_BACKEND, session.token],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    try:
        assert other.stdout.readline().strip() == "resolved"
        accounts.revoke_session(session.token)
        other.stdin.write("go\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "signed out"
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    assert check(session.token, known) is None
